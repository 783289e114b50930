#![deny(missing_docs)]
//! The covid-ct diagnosis pipeline as a library; the example program `pipeline` only parses
//! its command line and calls [`run`].
//!
//! Stages (see `docs/pipeline.md`):
//! 1. data: the built-in phantom cohort written as DICOM in the COVID-CT-MD layout and read
//!    back through `ct-io`, or a real data set;
//! 2. per scan, one volume in memory per worker ([`preprocess`]): cleaning of out-of-place
//!    slices (seed's hash rule), lung segmentation (3-D morphology), radiomic [`features`],
//!    [`lesion`] features from a voxel-level lesion detector trained on a separate phantom
//!    cohort (shipped: [`shipped_detector`]), [`cnn`] features from a lesion-pattern U-Net
//!    (CAP-like / COVID-19-like lesion pixels; trained on a GPU on its own phantom cohort and
//!    shipped: [`cnn::PatternNet::shipped`]) and from its 3-D [`foci`] scored by a shipped
//!    focus model ([`foci::FocusModel::shipped`]),
//!    contrast statistics, CLAHE, resampling, EDA accumulators;
//! 3. OTDD between contrast groups and between original and enhanced slices;
//! 4. [`classify`]: contrast gate, SVM + gradient-boosted trees (grid search, soft vote)
//!    joined by the pretrained [`scan_model`] (its vote weighted by k-fold log-loss on the
//!    run's training subjects), stratified k-fold and a held-out test split;
//! 5. the run folder: `config.json`, `metrics.json`, figures and `report.html`.

pub mod classify;
pub mod config;
mod data;
mod error;
pub mod features;
pub mod lesion_detector;
pub mod lesion_patterns;
mod models;
mod outputs;
pub mod preprocess;
mod report;
mod run;
pub mod scan_model;
mod summary;

pub use config::{DetectorSource, FeatureSet, LungRecipe, PipelineConfig, Stage};
pub use error::{Error, Result};
pub use models::{LESION_SEED_OFFSET, shipped_detector, train_lesion_detector};
pub use run::run;
pub use summary::{
    ComponentEval, DetectorTraining, Failure, FeatureTable, OtddSummary, Summary, metrics_json,
    peak_rss_mib,
};
