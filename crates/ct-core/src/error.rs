/// Errors of `ct-core`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A voxel spacing that is not a finite positive number of millimetres.
    #[error("invalid spacing {axis}={value} mm: spacing must be finite and > 0")]
    InvalidSpacing {
        /// Axis name (`z`, `y` or `x`).
        axis: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A volume with a zero-length axis.
    #[error("empty volume of shape {0:?}: every axis must have at least one voxel")]
    EmptyVolume([usize; 3]),
    /// A label name or index that is not Normal / CAP / COVID-19.
    #[error("unknown label {0:?}: expected one of normal, cap, covid-19 (or 0, 1, 2)")]
    UnknownLabel(String),
    /// A contrast-group name that is not high / low.
    #[error("unknown contrast group {0:?}: expected high or low")]
    UnknownContrast(String),
    /// A window whose width is not positive.
    #[error("invalid window width {0}: must be > 0")]
    InvalidWindow(i32),
    /// Arrays whose shapes should agree but do not.
    #[error("shape mismatch: expected {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// The shape required.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A slice index past the end of the volume.
    #[error("slice {index} out of range for a volume with {len} slices")]
    SliceOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of slices.
        len: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
