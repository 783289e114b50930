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
    /// An error from ct-core.
    #[error(transparent)]
    Core(#[from] ct_core::Error),
}

/// `Result` with the pipeline's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
