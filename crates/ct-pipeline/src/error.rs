//! The pipeline's one error type.
//!
//! Each variant's message says what was being done; the cause is its `source()`, so that an
//! error reporter (`anyhow`'s `{:#}`, [`Error::chain`]) prints the whole chain, e.g.
//! `scan covid-003: stage lesion: morphology: structuring element …`.

use std::path::PathBuf;

/// A boxed error from a third-party library (Burn's record stores, …).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Volumes and masks of different shapes.
    #[error("shape mismatch: volume {volume:?} vs mask {mask:?}")]
    ShapeMismatch {
        /// The volume's shape.
        volume: [usize; 3],
        /// The mask's shape.
        mask: [usize; 3],
    },
    /// A lung mask without a single voxel: no lung features can be computed.
    #[error("empty lung mask for scan {0}: segmentation found no lung")]
    EmptyMask(String),
    /// A setting that cannot work.
    #[error("invalid setting {name}: {why}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Why.
        why: String,
    },
    /// Inputs of one step that disagree with each other (lengths, shapes, columns).
    #[error("{0}")]
    Inconsistent(String),
    /// Too little data for a learning step (labels, classes).
    #[error("{0}")]
    NotEnoughData(String),
    /// A step that needs known truth (a phantom's reference mask) ran without it.
    #[error("{0}")]
    MissingTruth(String),
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// JSON could not be written or read.
    #[error("JSON of {what}")]
    Json {
        /// What was being (de)serialised, or the file.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A model file that is not one this version can use (format, version, feature names,
    /// damaged trees).
    #[error("{model}: {why}")]
    ModelFile {
        /// Which model.
        model: &'static str,
        /// What is wrong with it.
        why: String,
        /// The parser's error, when there is one.
        source: Option<serde_json::Error>,
    },
    /// A model could not be loaded from the file the user named.
    #[error("{model} from {}", path.display())]
    LoadModel {
        /// Which model.
        model: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<Error>,
    },
    /// A saved pipeline (`<run>/model/`) that cannot be used: not a bundle, another format
    /// version, a missing or changed model file, features this build does not compute.
    #[error("model bundle {}: {why}", path.display())]
    Bundle {
        /// The bundle's folder or file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A model's command failed while the model chain was rebuilt.
    #[error("rebuilding {model}")]
    Rebuild {
        /// The model.
        model: String,
        /// The cause.
        source: Box<Error>,
    },
    /// A scan failed in one of the per-scan stages.
    #[error("stage {stage}")]
    Stage {
        /// The stage's name (`clean`, `segment`, `features`, …).
        stage: &'static str,
        /// The cause.
        source: Box<Error>,
    },
    /// A shard file of a sharded run that cannot be merged.
    #[error("shard {}: {why}", path.display())]
    Shard {
        /// The shard's file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A `features.csv` that cannot be read back.
    #[error("features.csv line {line}: {why}")]
    FeaturesCsv {
        /// 1-based line.
        line: usize,
        /// Why.
        why: String,
    },
    /// The phantom generator refused its configuration or failed.
    #[error("phantom cohort")]
    Phantom(#[source] Box<ct_phantom::Error>),
    /// The data set could not be opened or a scan not read.
    #[error("reading the data set")]
    Dataset(#[source] Box<ct_io::Error>),
    /// A phantom scan could not be written as DICOM.
    #[error("writing DICOM {}", path.display())]
    WriteDicom {
        /// The series folder.
        path: PathBuf,
        /// The cause.
        source: Box<ct_io::Error>,
    },
    /// Morphology or segmentation (ct-morph).
    #[error("morphology")]
    Morph(#[source] Box<ct_morph::Error>),
    /// Enhancement, resampling or the contrast gate (ct-enhance).
    #[error("enhancement")]
    Enhance(#[source] Box<ct_enhance::Error>),
    /// Slice cleaning (ct-similarity).
    #[error("slice cleaning")]
    Cleaning(#[source] Box<ct_similarity::Error>),
    /// A figure (ct-report).
    #[error("figure")]
    Figure(#[source] Box<ct_report::Error>),
    /// A classifier, a metric or a grid search (ensemble).
    #[error("classifier")]
    Learn(#[source] Box<ensemble::Error>),
    /// The lesion-pattern network (Burn, its weights).
    #[error("lesion pattern network")]
    Network(#[source] BoxError),
    /// An error from ct-core.
    #[error("volume")]
    Core(#[source] Box<ct_core::Error>),
}

impl Error {
    /// The message and every cause, joined by `: ` (what a log line or a failure record
    /// should hold).
    pub fn chain(&self) -> String {
        chain(self)
    }

    /// Wraps `self` as the failure of the per-scan stage `stage`.
    pub fn in_stage(self, stage: &'static str) -> Error {
        Error::Stage {
            stage,
            source: Box::new(self),
        }
    }

    /// `e` as a [`Error::Network`] error.
    pub(crate) fn network(e: impl Into<BoxError>) -> Error {
        Error::Network(e.into())
    }

    /// JSON of `what` that could not be written or read.
    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Error {
        let what = what.into();
        move |source| Error::Json { what, source }
    }

    /// A model file that is not usable, without a parser error.
    pub(crate) fn model_file(model: &'static str, why: impl Into<String>) -> Error {
        Error::ModelFile {
            model,
            why: why.into(),
            source: None,
        }
    }
}

/// `From` for the kernel crates' errors: boxed, so that `Result<T, Error>` stays small.
macro_rules! boxed_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}
boxed_from!(
    ct_morph::Error => Morph,
    ct_enhance::Error => Enhance,
    ct_similarity::Error => Cleaning,
    ct_report::Error => Figure,
    ensemble::Error => Learn,
    ct_core::Error => Core,
    ct_phantom::Error => Phantom,
);

/// Any error with its causes, joined by `: `.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        // `transparent` wrappers repeat their source's text.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// `Result` with the pipeline's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_every_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::Io {
            path: "a/b.json".into(),
            source: io,
        }
        .in_stage("features");
        assert_eq!(e.to_string(), "stage features");
        assert_eq!(e.chain(), "stage features: a/b.json: no such file");
        let core = Error::from(ct_core::Error::EmptyVolume([0, 1, 1]));
        assert!(
            core.chain().starts_with("volume: empty volume"),
            "{}",
            core.chain()
        );
        assert!(std::mem::size_of::<Error>() <= 64);
    }
}
