#![deny(missing_docs)]
//! The covid-ct diagnosis pipeline as a library; the example program `pipeline` only parses
//! its command line and calls [`run`].
//!
//! Stages (see `docs/pipeline.md`):
//! 1. models: the voxel [`lesion_detector`] (shipped: [`shipped_detector`], loaded, or
//!    trained on its own phantom cohort), the [`lesion_patterns`] U-Net with its focus model,
//!    and the pretrained [`scan_model`];
//! 2. data: the built-in phantom cohort written as DICOM in the COVID-CT-MD layout and read
//!    back through `ct-io`, or a real data set;
//! 3. per scan, one volume in memory per worker: the ordered stages of [`preprocess`]
//!    (cleaning of out-of-place slices, lung segmentation, radiomic [`features`], contrast
//!    statistics, CLAHE, the lesion detector, the pattern U-Net and its foci, OTDD
//!    thumbnails, EDA), then the evaluation against known truth where there is one;
//! 4. OTDD between contrast groups and between original and enhanced slices;
//! 5. [`classify`]: contrast gate, SVM + gradient-boosted trees (grid search, soft vote)
//!    joined by the pretrained [`scan_model`] (its vote weighted by k-fold log-loss on the
//!    run's training subjects), stratified k-fold and a held-out test split;
//! 6. the run folder: `config.json`, `features.csv`, `foci.csv`, `predictions.csv`,
//!    `metrics.json`, figures and `report.html`.
//!
//! ```no_run
//! use ct_pipeline::{PipelineConfig, run};
//!
//! // The built-in phantom cohort, 4 scans per class, into runs/example/.
//! let cfg = PipelineConfig {
//!     name: "example".into(),
//!     n_per_class: 4,
//!     ..PipelineConfig::default()
//! };
//! let summary = run(&cfg)?;
//! if let Some(c) = &summary.classification {
//!     println!("accuracy {:.3} on {} scans", c.accuracy, summary.n_scans);
//! }
//! for f in &summary.failures {
//!     eprintln!("skipped {}: {}", f.id, f.error);
//! }
//! # Ok::<(), ct_pipeline::Error>(())
//! ```

mod bundle;
pub mod classify;
pub mod config;
mod csv_table;
mod data;
mod error;
mod feature_model;
pub mod features;
mod file_times;
pub mod lesion_detector;
pub mod lesion_patterns;
mod models;
mod named;
mod outputs;
mod predict;
pub mod preprocess;
mod progress;
mod report;
mod run;
pub mod scan_model;
mod shards;
mod summary;

pub use bundle::{
    BUNDLE_DIR, BUNDLE_FILE, BUNDLE_FORMAT, BUNDLE_VERSION, Bundle, BundledFile, Outside,
    RANGE_SLACK, Range, TrainedOn, TrainingRanges,
};
pub use config::{DetectorSource, FeatureSet, LungRecipe, PipelineConfig, Stage};
pub use error::{Error, Result};
pub use feature_model::{FeatureModel, SvmTrees};
pub use file_times::{
    FileTimes, KindSummary, SEPARATES_AT, SEPARATION_MIN_SUBJECTS, Separation, Spread,
    SubjectTimes, survey as survey_file_times,
};
pub use models::{
    LESION_SEED_OFFSET, Loaded, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestEntry,
    ModelFile, ModelSource, ModelUse, Problem, ShippedModel, sha256_hex, shipped_detector,
    train_lesion_detector,
};
pub use named::NamedFeatures;
pub use predict::{MIN_SLICES, Prediction, Predictor};
pub use report::write_prediction_page;
pub use run::run;
pub use shards::{MERGE_TIME_SETTINGS, SHARD_FORMAT, SHARD_VERSION, ShardFile, ShardManifest};
pub use summary::{
    AugmentationGuidance, ClassGuidance, ComponentEval, DetectorTraining, Failure, FeatureTable,
    OtddSummary, Summary, metrics_json, peak_rss_mib,
};
