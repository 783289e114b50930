//! [`TrainConfig`]: everything that decides a training run's result (written to the run
//! folder's `config.json`; `--resume` refuses a different one).

use covnet_models::FocalLoss;
use covnet_models::burn::grad_clipping::GradientClipping;
use covnet_models::burn::optim::decay::WeightDecayConfig;
use covnet_models::burn::optim::momentum::MomentumConfig;
use covnet_models::burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use covnet_models::burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::error::{Result, invalid};
use crate::model::ModelSpec;
use crate::recipe::Recipe;

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Cross-entropy.
    CrossEntropy,
    /// Cross-entropy weighted by inverse class frequency of the fold's training scans.
    WeightedCrossEntropy,
    /// Focal loss with focusing parameter `gamma` (2 in the paper).
    Focal {
        /// γ ≥ 0.
        gamma: f32,
    },
}

impl LossKind {
    /// The mean loss of logits `(B, K)` against classes, with per-class `weights` (used by
    /// the weighted kind).
    pub fn forward(
        &self,
        logits: Tensor<2>,
        targets: &[usize],
        weights: &[f32],
    ) -> Result<Tensor<1>> {
        Ok(match *self {
            LossKind::CrossEntropy => covnet_models::weighted_cross_entropy(logits, targets, &[])?,
            LossKind::WeightedCrossEntropy => {
                covnet_models::weighted_cross_entropy(logits, targets, weights)?
            }
            LossKind::Focal { gamma } => FocalLoss {
                alpha: Vec::new(),
                gamma,
            }
            .forward(logits, targets)?,
        })
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999), optional L2 weight decay.
    Adam {
        /// L2 penalty.
        weight_decay: f32,
    },
    /// AdamW (decoupled weight decay).
    AdamW {
        /// Decoupled weight decay.
        weight_decay: f32,
    },
    /// SGD with momentum (Nesterov off).
    Sgd {
        /// Momentum.
        momentum: f64,
        /// L2 penalty.
        weight_decay: f32,
    },
}

impl OptimizerKind {
    /// The Burn optimiser, with gradient-norm clipping when `clip` is set.
    pub fn init(&self, clip: Option<f32>) -> ModuleOptimizer {
        let decay = |w: f32| (w > 0.0).then(|| WeightDecayConfig::new(w));
        let optim = match *self {
            OptimizerKind::Adam { weight_decay } => AdamConfig::new()
                .with_weight_decay(decay(weight_decay))
                .init(),
            OptimizerKind::AdamW { weight_decay } => {
                AdamWConfig::new().with_weight_decay(weight_decay).init()
            }
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new().with_momentum(momentum)))
                .with_weight_decay(decay(weight_decay))
                .init(),
        };
        match clip {
            Some(c) => optim.with_grad_clipping(GradientClipping::Norm(c)),
            None => optim,
        }
    }
}

/// Learning-rate schedule over optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Linear warm-up over `warmup_steps`, then cosine decay to 0 at the last step.
    Cosine {
        /// Warm-up steps.
        warmup_steps: usize,
    },
    /// Multiply by `gamma` every `every_epochs` epochs.
    Step {
        /// Epochs between decays.
        every_epochs: usize,
        /// Factor.
        gamma: f64,
    },
}

impl Schedule {
    /// The rate at optimiser step `step` (0-based) of `total` steps, in epoch `epoch`
    /// (0-based). A pure function of its arguments, so a resumed run needs only the step.
    pub fn rate(&self, base: f64, step: usize, total: usize, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { warmup_steps } => {
                if step < warmup_steps {
                    base * (step + 1) as f64 / warmup_steps as f64
                } else {
                    let span = total.saturating_sub(warmup_steps).max(1) as f64;
                    let t = ((step - warmup_steps) as f64 / span).min(1.0);
                    base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
                }
            }
            Schedule::Step {
                every_epochs,
                gamma,
            } => base * gamma.powi((epoch / every_epochs.max(1)) as i32),
        }
    }
}

/// What one training example is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A scan (S slices) with its subject label: COVNet as published.
    #[default]
    Scan,
    /// A slice, labelled with its scan's class where it shows a lesion and Normal elsewhere
    /// (the seed's first level); needs per-slice lesion flags (phantoms). Validation and
    /// out-of-fold predictions stay per scan: slice probabilities of the S evenly spaced
    /// slices are pooled (each disease class by its largest slice probability, Normal by
    /// what is left, then normalised).
    Slice,
}

/// A whole training run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network.
    pub model: ModelSpec,
    /// Pre-processing.
    pub recipe: Recipe,
    /// Scan- or slice-level examples.
    #[serde(default)]
    pub level: Level,
    /// Slices per scan fed to the network (S); at slice level, the slices per scan pooled
    /// for scan predictions, and a batch holds `batch_size × slices` slices.
    pub slices: usize,
    /// Training augmentation.
    pub augment: Augment,
    /// Loss.
    pub loss: LossKind,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f64,
    /// Schedule.
    pub schedule: Schedule,
    /// Epochs per fold.
    pub epochs: usize,
    /// Scans per batch.
    pub batch_size: usize,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f32>,
    /// Stop a fold after this many epochs without a better validation loss.
    pub early_stop: Option<usize>,
    /// Class-balanced sampling of training scans.
    pub balanced: bool,
    /// Folds (k-fold on subjects, stratified by label × contrast group); 1 trains once on a
    /// stratified 80 / 20 split.
    pub folds: usize,
    /// Seed of every random choice (initial weights, order, augmentation, dropout).
    pub seed: u64,
}

impl TrainConfig {
    /// A configuration for `model` with the defaults of the `train` program.
    pub fn new(model: ModelSpec) -> TrainConfig {
        TrainConfig {
            model,
            recipe: Recipe::default(),
            level: Level::Scan,
            slices: 16,
            augment: Augment::default(),
            loss: LossKind::CrossEntropy,
            optimizer: OptimizerKind::Adam { weight_decay: 0.0 },
            lr: 1e-3,
            schedule: Schedule::Cosine { warmup_steps: 10 },
            epochs: 20,
            batch_size: 4,
            grad_clip: Some(5.0),
            early_stop: None,
            balanced: false,
            folds: 5,
            seed: 2021,
        }
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.recipe.validate()?;
        self.augment.validate()?;
        if !(1..=512).contains(&self.slices) {
            return Err(invalid("slices", "must be 1–512"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            return Err(invalid(
                "lr",
                format!("must be in (0, 10], got {}", self.lr),
            ));
        }
        if !(1..=100_000).contains(&self.epochs) {
            return Err(invalid("epochs", "must be 1–100000"));
        }
        if !(1..=4096).contains(&self.batch_size) {
            return Err(invalid("batch", "must be 1–4096"));
        }
        if self.grad_clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return Err(invalid("clip", "must be finite and > 0"));
        }
        if self.early_stop == Some(0) {
            return Err(invalid("early-stop", "patience must be at least 1 epoch"));
        }
        if !(1..=50).contains(&self.folds) {
            return Err(invalid("folds", "must be 1–50"));
        }
        if let LossKind::Focal { gamma } = self.loss
            && !(gamma.is_finite() && (0.0..=10.0).contains(&gamma))
        {
            return Err(invalid("focal-gamma", "must be 0–10"));
        }
        match self.optimizer {
            OptimizerKind::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                return Err(invalid("momentum", "must be in [0, 1)"));
            }
            OptimizerKind::Adam { weight_decay }
            | OptimizerKind::AdamW { weight_decay }
            | OptimizerKind::Sgd { weight_decay, .. }
                if !(weight_decay.is_finite() && (0.0..1.0).contains(&weight_decay)) =>
            {
                return Err(invalid("weight-decay", "must be in [0, 1)"));
            }
            _ => {}
        }
        if let Schedule::Step { gamma, .. } = self.schedule
            && !(gamma.is_finite() && gamma > 0.0 && gamma <= 1.0)
        {
            return Err(invalid("lr-gamma", "must be in (0, 1]"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;

    #[test]
    fn schedules() {
        let c = Schedule::Cosine { warmup_steps: 4 };
        assert!((c.rate(1.0, 0, 20, 0) - 0.25).abs() < 1e-12);
        assert!((c.rate(1.0, 3, 20, 0) - 1.0).abs() < 1e-12);
        assert!((c.rate(1.0, 4, 20, 0) - 1.0).abs() < 1e-12);
        assert!(c.rate(1.0, 20, 20, 0).abs() < 1e-12);
        let s = Schedule::Step {
            every_epochs: 2,
            gamma: 0.1,
        };
        assert!((s.rate(1.0, 99, 100, 3) - 0.1).abs() < 1e-12);
        assert_eq!(Schedule::Constant.rate(0.5, 7, 10, 9), 0.5);
    }

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let c = TrainConfig::new(ModelSpec::new(ModelKind::CovnetResnet18));
        c.validate().unwrap();
        for bad in [
            TrainConfig {
                lr: f64::NAN,
                ..c.clone()
            },
            TrainConfig {
                epochs: 0,
                ..c.clone()
            },
            TrainConfig {
                batch_size: 0,
                ..c.clone()
            },
            TrainConfig {
                grad_clip: Some(-1.0),
                ..c.clone()
            },
            TrainConfig {
                folds: 0,
                ..c.clone()
            },
            TrainConfig {
                loss: LossKind::Focal {
                    gamma: f32::INFINITY,
                },
                ..c.clone()
            },
            TrainConfig {
                optimizer: OptimizerKind::Sgd {
                    momentum: 1.5,
                    weight_decay: 0.0,
                },
                ..c.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        // config.json round trip.
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), c);
    }
}
