//! The crate's error type: one enum, sources kept.

use std::path::PathBuf;

/// Boxed source error of another crate.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong while preparing data or training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter of the configuration is out of its range.
    #[error("invalid parameter {name}: {reason}")]
    Parameter {
        /// The parameter (the program's flag name where there is one).
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// No scan with a label is left to train on.
    #[error(
        "the data set has no labelled scan to train on ({skipped} scans could not be prepared)"
    )]
    EmptyDataset {
        /// Scans that failed pre-processing.
        skipped: usize,
    },
    /// All labelled scans have one class.
    #[error("the data set has only one class ({class}): a classifier needs at least two")]
    SingleClass {
        /// The only class.
        class: &'static str,
    },
    /// k-fold cannot give every fold a scan of every class.
    #[error("{class} has {count} labelled scans, fewer than the {folds} folds asked for")]
    TooFewForFolds {
        /// The class.
        class: &'static str,
        /// Its labelled scans.
        count: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// One scan could not be pre-processed (kept in the data set's skip list).
    #[error("scan {id}: {stage}")]
    Scan {
        /// The scan id.
        id: String,
        /// The pre-processing step.
        stage: &'static str,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} in fold {fold}, epoch {epoch}, step {step} (batch: {batch}); \
         lower the learning rate or turn on gradient clipping"
    )]
    NonFiniteLoss {
        /// The value (NaN or ±inf).
        value: f32,
        /// Fold index.
        fold: usize,
        /// Epoch (1-based).
        epoch: usize,
        /// Optimiser step (1-based, counted over the fold).
        step: usize,
        /// Ids of the batch's scans.
        batch: String,
    },
    /// A checkpoint does not belong to this run (another model, format or version).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// `--resume` with a configuration that differs from the run folder's.
    #[error(
        "cannot resume {path}: the run was started with another configuration (differs in: {fields})"
    )]
    ResumeMismatch {
        /// The run folder's config.json.
        path: PathBuf,
        /// Top-level fields that differ.
        fields: String,
    },
    /// The run folder holds an earlier run and neither resume nor overwrite was asked for.
    #[error(
        "run folder {0} already holds a run: pass --resume to continue it or choose another --out"
    )]
    RunExists(PathBuf),
    /// A model of the zoo failed (configuration or shapes).
    #[error("model")]
    Model(#[source] covnet_models::Error),
    /// Burn could not save or load a record.
    #[error("{what} {path}")]
    Record {
        /// What was saved or loaded.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// k-fold splitting.
    #[error("k-fold split")]
    Folds(#[source] ensemble::Error),
    /// Reading the data set.
    #[error("data set")]
    Dataset(#[source] ct_io::Error),
    /// Generating phantoms.
    #[error("phantom cohort")]
    Phantom(#[source] ct_phantom::Error),
    /// Writing a figure or the report.
    #[error("report")]
    Report(#[source] ct_report::Error),
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The error and its sources, `: `-joined (what a program prints).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

impl From<covnet_models::Error> for Error {
    fn from(e: covnet_models::Error) -> Self {
        Error::Model(e)
    }
}

/// `Error::Io` for a path.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// `Error::Json` for a path.
pub(crate) fn json(path: impl Into<PathBuf>) -> impl FnOnce(serde_json::Error) -> Error {
    let path = path.into();
    move |source| Error::Json { path, source }
}

/// `Error::Parameter`.
pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::Parameter {
        name,
        reason: reason.into(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
