use std::path::PathBuf;

/// Errors of `ct-phantom`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A [`crate::CohortConfig`] field outside its allowed range.
    #[error("invalid cohort config: {param} = {value}: {reason}")]
    InvalidConfig {
        /// The field at fault.
        param: &'static str,
        /// The rejected value, as text.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// A scan index past the end of the cohort.
    #[error("scan index {index} out of range for a cohort of {len} scans")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The cohort size (`3 · n_per_class`).
        len: usize,
    },
    /// An unknown output format name.
    #[error("unknown format {0:?}: expected dicom or nifti")]
    UnknownFormat(String),
    /// An error of `ct-core` (geometry checks).
    #[error(transparent)]
    Core(#[from] ct_core::Error),
    /// A file-system error, with the path at fault.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing a volume with `ct-io` failed.
    #[error("writing {path}: {message}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// `ct-io`'s message.
        message: String,
    },
    /// Encoding or decoding the ground-truth JSON failed.
    #[error("ground-truth JSON {path}: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
