#![deny(missing_docs)]
//! # ct-train
//!
//! Training the covid-ct model zoo ([`covnet_models`]) on CT scans, on Burn: the same code on
//! the CPU (`flex`, default) and on a GPU (`tch`, `wgpu` features).
//!
//! - [`Recipe`]: the COVNet pre-processing chain (lung ROI, window, MIP, z sampling, resize),
//!   cached on disk by the recipe's digest ([`cache`]);
//! - [`ScanDataset`]: the labelled scans of any `ct_io` data set or a phantom cohort, scans
//!   that fail listed, not fatal;
//! - [`Augment`] and [`batch`]: flips, rotations, scales, intensity jitter, random slice
//!   subsets, class-balanced sampling, deterministic from the seed;
//! - [`TrainConfig`]: model ([`ModelSpec`]), loss (cross-entropy, weighted, focal),
//!   optimiser (Adam, AdamW, SGD + momentum), schedule (constant, warm-up + cosine, step),
//!   gradient clipping, early stopping, k-fold;
//! - [`train_run`]: k-fold on subjects (stratified by label × contrast group), checkpoints
//!   with optimiser state, `--resume` that continues the same curve, `metrics.jsonl`,
//!   out-of-fold predictions (`oof.csv`) for a second level, `report.html`;
//! - [`evaluate_external`]: the fold models' averaged vote on scans the run never saw.
//!
//! # Example
//!
//! ```no_run
//! use ct_train::{ModelKind, ModelSpec, PrepareOptions, Quiet, RunOptions, ScanDataset, TrainConfig};
//!
//! # fn main() -> ct_train::Result<()> {
//! let mut config = TrainConfig::new(ModelSpec { width: 8, ..ModelSpec::new(ModelKind::CovnetResnet18) });
//! config.recipe.size = 64;
//! let cohort = ct_phantom::CohortConfig { n_per_class: 10, size: 128, ..Default::default() };
//! let data = ScanDataset::from_phantoms(&cohort, &config.recipe, &PrepareOptions::default(), &|_, _| {})?;
//! let opts = RunOptions {
//!     out: "runs/tiny".into(),
//!     resume: false,
//!     stop_after: None,
//!     device: covnet_models::cpu_device(),
//! };
//! let end = ct_train::train_run(&data, &config, &opts, &Quiet)?;
//! # Ok(())
//! # }
//! ```

pub mod augment;
pub mod batch;
pub mod cache;
pub mod checkpoint;
mod config;
mod dataset;
mod error;
mod external;
pub mod interpret;
pub mod metrics;
mod model;
mod recipe;
pub mod report;
mod run;
mod tally;
pub mod tensorboard;
mod trainer;

pub use augment::Augment;
pub use config::{Level, LossKind, OptimizerKind, Schedule, TrainConfig};
pub use dataset::{PrepareOptions, ScanDataset, ScanItem, Skipped};
pub use error::{Error, Result};
pub use external::{ExternalSummary, evaluate_external};
pub use model::{BlockAttention, ModelKind, ModelSpec, Net, Pooling};
pub use recipe::{HuWindow, LungRoi, Prepared, RECIPE_VERSION, Recipe, ZSampling};
pub use run::{FoldSummary, RunEnd, RunOptions, RunSummary, SkippedScan, plan_folds, train_run};
pub use trainer::{Event, FoldEnd, FoldOutcome, FoldPlan, Observer, Quiet, Trainer, argmax};
