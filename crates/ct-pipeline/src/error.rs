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
    /// A stage failed (the message names the cause).
    #[error("{stage} failed: {message}")]
    Stage {
        /// Which stage.
        stage: &'static str,
        /// The underlying error.
        message: String,
    },
    /// A file could not be read or written. The message holds the cause, so it is not
    /// repeated as a `source()` (error reporters print the chain).
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// An error from ct-core.
    #[error(transparent)]
    Core(#[from] ct_core::Error),
}

/// `Result` with the pipeline's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
