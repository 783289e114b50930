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

use crate::batch::{batch_tensor, epoch_order};
use crate::checkpoint::{FoldCheckpoints, FoldState};
use crate::config::TrainConfig;
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

impl Trainer<'_> {
    fn steps_per_epoch(&self, n_train: usize) -> usize {
        n_train.div_ceil(self.config.batch_size)
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
        let total_steps = self.steps_per_epoch(plan.train.len()) * cfg.epochs;
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
        let labels: Vec<usize> = items.iter().map(label_of).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, plan.fold, epoch));
        ad.seed(stream_seed(cfg.seed ^ 1, plan.fold, epoch));
        let order = epoch_order(&plan.train, &labels, cfg.balanced, &mut rng);
        let n_steps = order.len().div_ceil(cfg.batch_size);
        let t = Instant::now();
        let (mut loss_sum, mut right, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = cfg.lr;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            lr = cfg.schedule.rate(cfg.lr, state.step, total_steps, epoch);
            let scans: Vec<&ScanItem> = chunk.iter().map(|&i| &items[i]).collect();
            let targets: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
            let x = batch_tensor(
                &scans,
                cfg.slices,
                cfg.model.in_channels,
                Some((&cfg.augment, &mut rng)),
                &ad,
            );
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
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }
}
