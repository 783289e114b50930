//! The training loop of one fold: epochs of shuffled (or class-balanced) batches, the loss,
//! a NaN guard, gradient steps on a schedule, validation, checkpoints and early stopping;
//! resumable from the fold's last checkpoint with the same result.

use std::time::Instant;

use covnet_models::burn::optim::{GradientsParams, ModuleOptimizer};
use covnet_models::burn::prelude::*;
use covnet_models::burn::tensor::activation::softmax;
use covnet_models::{Device, array_from_tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::batch::{batch_tensor, epoch_order, slice_batch_tensor};
use crate::checkpoint::{FoldCheckpoints, FoldState};
use crate::config::{Level, TrainConfig};
use crate::dataset::{ScanDataset, ScanItem};
use crate::error::{Error, Result};
use crate::metrics::{MetricLine, MetricsLog};
use crate::model::Net;

/// What the loop reports while it runs (progress bars, logs).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An optimiser step finished.
    Step {
        /// Fold.
        fold: usize,
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based) and the epoch's steps.
        step: (usize, usize),
        /// The batch's loss.
        loss: f64,
    },
    /// An epoch finished.
    Epoch {
        /// Fold.
        fold: usize,
        /// Epoch (1-based) and the epochs asked for.
        epoch: (usize, usize),
        /// Training loss and accuracy.
        train: (f64, f64),
        /// Validation loss and accuracy.
        val: (f64, f64),
    },
}

/// Receives [`Event`]s.
pub trait Observer: Sync {
    /// Called on every event.
    fn event(&self, _event: &Event) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// A fold's training and validation scans (indices into the data set).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldPlan {
    /// Fold index.
    pub fold: usize,
    /// Training scans.
    pub train: Vec<usize>,
    /// Validation scans.
    pub val: Vec<usize>,
}

/// The result of one fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldOutcome {
    /// Fold index.
    pub fold: usize,
    /// Validation scans.
    pub val: Vec<usize>,
    /// Class probabilities of the validation scans from the best epoch's weights.
    pub probabilities: Vec<Vec<f32>>,
    /// The best epoch (1-based) and its validation loss.
    pub best: (usize, f64),
    /// Epochs run.
    pub epochs: usize,
    /// Whether early stopping ended the fold.
    pub early_stopped: bool,
}

/// Whether a fold ran to its end or was asked to stop early (`stop_after`).
#[derive(Debug, Clone, PartialEq)]
pub enum FoldEnd {
    /// Finished: the outcome.
    Done(FoldOutcome),
    /// Stopped after the epoch budget of this session; resume to continue.
    Paused {
        /// Epochs done so far.
        epochs: usize,
    },
}

/// Trains folds of one data set under one configuration.
pub struct Trainer<'a> {
    /// The scans.
    pub data: &'a ScanDataset,
    /// The configuration.
    pub config: &'a TrainConfig,
    /// The (non-autodiff) device; training uses its autodiff twin.
    pub device: Device,
    /// Progress receiver.
    pub observer: &'a dyn Observer,
}

/// A seed for (run seed, fold, epoch): independent streams for every epoch, so a resumed
/// run draws what the uninterrupted one would have drawn.
fn stream_seed(seed: u64, fold: usize, epoch: usize) -> u64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in [
        (fold as u64).wrapping_add(1),
        (epoch as u64).wrapping_add(1),
    ] {
        x = (x ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 31;
    }
    x
}

fn label_of(item: &ScanItem) -> usize {
    item.label.map_or(0, |l| l.index())
}

/// Inverse class frequencies of `idx`, normalised to mean 1 over present classes.
fn class_weights(items: &[ScanItem], idx: &[usize], k: usize) -> Vec<f32> {
    let mut counts = vec![0usize; k];
    for &i in idx {
        counts[label_of(&items[i]).min(k - 1)] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f32;
    let total = idx.len().max(1) as f32;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                total / (present * c as f32)
            }
        })
        .collect()
}

fn accuracy(probs: &[Vec<f32>], targets: &[usize]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let right = probs
        .iter()
        .zip(targets)
        .filter(|(p, t)| argmax(p) == **t)
        .count();
    right as f64 / targets.len() as f64
}

/// Index of the largest value (the first on ties).
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let a = array_from_tensor(t);
    a.outer_iter()
        .map(|r| r.iter().copied().collect())
        .collect()
}

/// One training example: a scan, or one slice of a scan, with its target class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// Index of the scan in the data set.
    pub item: usize,
    /// The slice (slice level).
    pub slice: Option<usize>,
    /// Target class.
    pub target: usize,
}

/// Pools slice probabilities `(S, K)` of one scan into scan probabilities: each disease
/// class (1..K) by its largest slice probability, Normal (0) by what is left, normalised.
pub fn pool_slice_probabilities(slices: &[Vec<f32>]) -> Vec<f32> {
    let k = slices.first().map_or(0, Vec::len);
    if k == 0 {
        return Vec::new();
    }
    let mut p = vec![0f32; k];
    for c in 1..k {
        p[c] = slices.iter().map(|s| s[c]).fold(0.0, f32::max);
    }
    p[0] = (1.0 - p[1..].iter().copied().fold(0.0, f32::max)).max(1e-6);
    let total: f32 = p.iter().sum();
    p.iter().map(|v| v / total).collect()
}

impl Trainer<'_> {
    /// Examples per optimiser step.
    fn batch_examples(&self) -> usize {
        match self.config.level {
            Level::Scan => self.config.batch_size,
            Level::Slice => self.config.batch_size * self.config.slices,
        }
    }

    /// The fold's training examples: its scans, or every slice of its scans that carry
    /// lesion flags.
    pub fn examples(&self, train: &[usize]) -> Result<Vec<Example>> {
        let items = self.data.items();
        match self.config.level {
            Level::Scan => Ok(train
                .iter()
                .map(|&i| Example {
                    item: i,
                    slice: None,
                    target: label_of(&items[i]),
                })
                .collect()),
            Level::Slice => {
                let mut out = Vec::new();
                for &i in train {
                    let Some(flags) = &items[i].lesion_slices else {
                        continue;
                    };
                    for (z, &lesion) in flags.iter().enumerate() {
                        out.push(Example {
                            item: i,
                            slice: Some(z),
                            target: if lesion { label_of(&items[i]) } else { 0 },
                        });
                    }
                }
                if out.is_empty() {
                    return Err(crate::error::invalid(
                        "level",
                        "slice-level training needs per-slice lesion flags (phantoms have them; this data set does not)",
                    ));
                }
                Ok(out)
            }
        }
    }

    /// The input tensor of a batch of examples (augmented from `rng`).
    fn example_batch(&self, batch: &[Example], rng: &mut ChaCha8Rng, device: &Device) -> Tensor<5> {
        let cfg = self.config;
        let items = self.data.items();
        match cfg.level {
            Level::Scan => {
                let scans: Vec<&ScanItem> = batch.iter().map(|e| &items[e.item]).collect();
                batch_tensor(
                    &scans,
                    cfg.slices,
                    cfg.model.in_channels,
                    Some((&cfg.augment, rng)),
                    device,
                )
            }
            Level::Slice => {
                let slices: Vec<(&ScanItem, usize)> = batch
                    .iter()
                    .map(|e| (&items[e.item], e.slice.unwrap_or(0)))
                    .collect();
                slice_batch_tensor(
                    &slices,
                    cfg.model.in_channels,
                    Some((&cfg.augment, rng)),
                    device,
                )
            }
        }
    }

    /// Trains one fold, continuing from `ckpt`'s last state when `resume` holds one;
    /// `stop_after` pauses after that many epochs of this call (preemptible jobs, tests).
    pub fn train_fold(
        &self,
        plan: &FoldPlan,
        ckpt: &FoldCheckpoints,
        log: &mut MetricsLog,
        resume: Option<FoldState>,
        stop_after: Option<usize>,
    ) -> Result<FoldEnd> {
        let cfg = self.config;
        let ad = self.device.clone().autodiff();
        let (mut net, mut optim, mut state) = match resume {
            Some(state) => {
                let net = ckpt.load_weights(&cfg.model, "last", &ad)?;
                let optim = ckpt.load_optimizer(cfg.optimizer.init(cfg.grad_clip))?;
                (net, optim, state)
            }
            None => {
                let net = cfg
                    .model
                    .init_seeded(&ad, stream_seed(cfg.seed, plan.fold, usize::MAX))?;
                (
                    net,
                    cfg.optimizer.init(cfg.grad_clip),
                    FoldState::start(&cfg.model),
                )
            }
        };
        let items = self.data.items();
        let k = cfg.model.num_classes;
        let weights = class_weights(items, &plan.train, k);
        let examples = self.examples(&plan.train)?;
        let total_steps = examples.len().div_ceil(self.batch_examples()) * cfg.epochs;
        let mut run_now = 0;
        while !state.finished && state.epoch < cfg.epochs {
            if stop_after.is_some_and(|n| run_now >= n) {
                return Ok(FoldEnd::Paused {
                    epochs: state.epoch,
                });
            }
            let epoch = state.epoch;
            let (trained, train_stats) = self.train_epoch(
                plan,
                &examples,
                net,
                &mut optim,
                &mut state,
                &weights,
                total_steps,
                log,
            )?;
            net = trained;
            let t = Instant::now();
            let (val_loss, val_probs) = self.evaluate(&net.valid(), &plan.val, &weights)?;
            let val_targets: Vec<usize> = plan.val.iter().map(|&i| label_of(&items[i])).collect();
            let val_acc = accuracy(&val_probs, &val_targets);
            let secs = t.elapsed().as_secs_f64();
            log.write(&MetricLine {
                kind: "epoch".into(),
                fold: plan.fold,
                epoch: epoch + 1,
                split: "val".into(),
                loss: val_loss,
                accuracy: val_acc,
                step: None,
                lr: None,
                seconds: Some(secs),
                scans_per_s: Some(plan.val.len() as f64 / secs.max(1e-9)),
            })?;
            self.observer.event(&Event::Epoch {
                fold: plan.fold,
                epoch: (epoch + 1, cfg.epochs),
                train: train_stats,
                val: (val_loss, val_acc),
            });
            state.epoch = epoch + 1;
            let is_best = state.best.is_none_or(|(b, _)| val_loss < b);
            if is_best {
                state.best = Some((val_loss, epoch + 1));
                state.stale_epochs = 0;
            } else {
                state.stale_epochs += 1;
            }
            let early = cfg.early_stop.is_some_and(|p| state.stale_epochs >= p);
            state.finished = early || state.epoch >= cfg.epochs;
            state.metrics_bytes = log.len()?;
            ckpt.save(&net, &optim, &state, is_best)?;
            run_now += 1;
        }
        self.outcome(plan, ckpt, &state, &weights)
            .map(FoldEnd::Done)
    }

    /// One epoch of optimiser steps; returns the network and the epoch's (loss, accuracy).
    #[allow(clippy::too_many_arguments)]
    fn train_epoch(
        &self,
        plan: &FoldPlan,
        examples: &[Example],
        mut net: Net,
        optim: &mut ModuleOptimizer,
        state: &mut FoldState,
        weights: &[f32],
        total_steps: usize,
        log: &mut MetricsLog,
    ) -> Result<(Net, (f64, f64))> {
        let cfg = self.config;
        let items = self.data.items();
        let ad = self.device.clone().autodiff();
        let epoch = state.epoch;
        let targets_all: Vec<usize> = examples.iter().map(|e| e.target).collect();
        let all: Vec<usize> = (0..examples.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, plan.fold, epoch));
        crate::model::seed_device(&ad, stream_seed(cfg.seed ^ 1, plan.fold, epoch));
        let order = epoch_order(&all, &targets_all, cfg.balanced, &mut rng);
        let per_step = self.batch_examples();
        let n_steps = order.len().div_ceil(per_step);
        let t = Instant::now();
        let (mut loss_sum, mut right, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = cfg.lr;
        for (b, chunk) in order.chunks(per_step).enumerate() {
            lr = cfg.schedule.rate(cfg.lr, state.step, total_steps, epoch);
            let batch: Vec<Example> = chunk.iter().map(|&j| examples[j]).collect();
            let scans: Vec<&ScanItem> = batch.iter().map(|e| &items[e.item]).collect();
            let targets: Vec<usize> = batch.iter().map(|e| e.target).collect();
            let x = self.example_batch(&batch, &mut rng, &ad);
            let logits = net.forward(x)?;
            let loss = cfg.loss.forward(logits.clone(), &targets, weights)?;
            let value = loss.clone().into_scalar::<f32>();
            state.step += 1;
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss {
                    value,
                    fold: plan.fold,
                    epoch: epoch + 1,
                    step: state.step,
                    batch: scans
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let probs = rows(softmax(logits.detach(), 1));
            let batch_right = probs
                .iter()
                .zip(&targets)
                .filter(|(p, t)| argmax(p) == **t)
                .count();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
            loss_sum += f64::from(value) * chunk.len() as f64;
            right += batch_right;
            seen += chunk.len();
            log.write(&MetricLine {
                kind: "step".into(),
                fold: plan.fold,
                epoch: epoch + 1,
                split: "train".into(),
                loss: f64::from(value),
                accuracy: batch_right as f64 / chunk.len() as f64,
                step: Some(state.step),
                lr: Some(lr),
                seconds: None,
                scans_per_s: None,
            })?;
            self.observer.event(&Event::Step {
                fold: plan.fold,
                epoch: epoch + 1,
                step: (b + 1, n_steps),
                loss: f64::from(value),
            });
        }
        let secs = t.elapsed().as_secs_f64();
        let stats = (
            loss_sum / seen.max(1) as f64,
            right as f64 / seen.max(1) as f64,
        );
        log.write(&MetricLine {
            kind: "epoch".into(),
            fold: plan.fold,
            epoch: epoch + 1,
            split: "train".into(),
            loss: stats.0,
            accuracy: stats.1,
            step: Some(state.step),
            lr: Some(lr),
            seconds: Some(secs),
            scans_per_s: Some(seen as f64 / secs.max(1e-9)),
        })?;
        Ok((net, stats))
    }

    /// Mean loss and class probabilities of `idx` (evenly spaced slices, no augmentation).
    pub fn evaluate(
        &self,
        net: &Net,
        idx: &[usize],
        weights: &[f32],
    ) -> Result<(f64, Vec<Vec<f32>>)> {
        let cfg = self.config;
        let items = self.data.items();
        let mut probs = Vec::with_capacity(idx.len());
        let mut loss_sum = 0.0;
        for chunk in idx.chunks(cfg.batch_size) {
            let scans: Vec<&ScanItem> = chunk.iter().map(|&i| &items[i]).collect();
            let targets: Vec<usize> = scans.iter().map(|s| label_of(s)).collect();
            let x = batch_tensor::<ChaCha8Rng>(
                &scans,
                cfg.slices,
                cfg.model.in_channels,
                None,
                &self.device,
            );
            if cfg.level == Level::Slice {
                // Every slice on its own, then pooled per scan; the loss is the pooled
                // probabilities' negative log-likelihood.
                let [b, s, c, h, w] = x.dims();
                let logits = net.forward(x.reshape([b * s, 1, c, h, w]))?;
                let slice_probs = rows(softmax(logits, 1));
                for (scan, t) in slice_probs.chunks(s).zip(&targets) {
                    let p = pool_slice_probabilities(scan);
                    loss_sum -= f64::from(p.get(*t).copied().unwrap_or(0.0).max(1e-7)).ln();
                    probs.push(p);
                }
                continue;
            }
            let logits = net.forward(x)?;
            let loss = cfg.loss.forward(logits.clone(), &targets, weights)?;
            loss_sum += f64::from(loss.into_scalar::<f32>()) * chunk.len() as f64;
            probs.extend(rows(softmax(logits, 1)));
        }
        Ok((loss_sum / idx.len().max(1) as f64, probs))
    }

    /// The fold's outcome from its best weights.
    fn outcome(
        &self,
        plan: &FoldPlan,
        ckpt: &FoldCheckpoints,
        state: &FoldState,
        weights: &[f32],
    ) -> Result<FoldOutcome> {
        let best = ckpt.load_weights(&self.config.model, "best", &self.device)?;
        let (_, probabilities) = self.evaluate(&best, &plan.val, weights)?;
        let (best_loss, best_epoch) = state.best.unwrap_or((f64::NAN, 0));
        Ok(FoldOutcome {
            fold: plan.fold,
            val: plan.val.clone(),
            probabilities,
            best: (best_epoch, best_loss),
            epochs: state.epoch,
            early_stopped: state.epoch < self.config.epochs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_seeds_differ_by_fold_and_epoch() {
        let a = stream_seed(1, 0, 0);
        assert_ne!(a, stream_seed(1, 0, 1));
        assert_ne!(a, stream_seed(1, 1, 0));
        assert_ne!(a, stream_seed(2, 0, 0));
        assert_eq!(a, stream_seed(1, 0, 0));
    }

    #[test]
    fn slice_probabilities_pool_per_class() {
        let p = pool_slice_probabilities(&[vec![0.9, 0.05, 0.05], vec![0.2, 0.1, 0.7]]);
        // COVID 0.7, CAP 0.1, Normal 1 − 0.7 = 0.3: normalised by 1.1.
        let want = [0.3 / 1.1, 0.1 / 1.1, 0.7 / 1.1];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
        let normal = pool_slice_probabilities(&vec![vec![0.98, 0.01, 0.01]; 4]);
        assert_eq!(argmax(&normal), 0);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }
}
