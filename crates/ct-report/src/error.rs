use std::path::PathBuf;

/// Errors of `ct-report`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// PNG encoding failed.
    #[error("cannot encode PNG: {0}")]
    Png(#[from] ::image::ImageError),
    /// An empty image or a montage without tiles.
    #[error("nothing to draw: {0}")]
    Empty(&'static str),
    /// Tiles of a montage or overlays with different shapes.
    #[error("shape mismatch: {0:?} vs {1:?}")]
    ShapeMismatch(Vec<usize>, Vec<usize>),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
