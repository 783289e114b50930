/// Errors of `ct-similarity`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// Two images (or slices) that must have the same shape do not.
    #[error("shape mismatch: {what}: {a:?} vs {b:?}")]
    ShapeMismatch {
        /// Which inputs disagree.
        what: &'static str,
        /// Shape of the first input.
        a: Vec<usize>,
        /// Shape of the second input.
        b: Vec<usize>,
    },
    /// An image smaller than the SSIM window (scikit-image raises `ValueError` too).
    #[error(
        "SSIM window {win_size} exceeds the image extent {shape:?}: pass a smaller odd win_size"
    )]
    WindowTooLarge {
        /// The window side.
        win_size: usize,
        /// The image shape.
        shape: [usize; 2],
    },
    /// An empty image (a zero-length axis).
    #[error("empty image of shape {0:?}")]
    Empty([usize; 2]),
    /// A parameter outside its domain.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// The rejected value, printed.
        value: String,
        /// What the domain is.
        reason: &'static str,
    },
    /// Floating-point images need an explicit data range (as in scikit-image).
    #[error("data_range is required for floating-point images ({0})")]
    DataRangeRequired(&'static str),
    /// Values outside the range of the dtype when the PSNR data range comes from the dtype.
    #[error(
        "image_true has values in [{min}, {max}], outside the range [{lo}, {hi}] of {dtype}: pass data_range"
    )]
    OutOfDtypeRange {
        /// dtype name.
        dtype: &'static str,
        /// Smallest value seen.
        min: f64,
        /// Largest value seen.
        max: f64,
        /// dtype minimum.
        lo: f64,
        /// dtype maximum.
        hi: f64,
    },
    /// NaN or infinite input values.
    #[error("non-finite value (NaN or inf) in {0}")]
    NonFinite(&'static str),
    /// A pixel format the Pillow port does not handle.
    #[error("unsupported image format {0}: expected 8-bit grey/RGB/RGBA/LA or 16-bit grey")]
    UnsupportedImage(String),
    /// A hex string that is not an imagehash hash.
    #[error("invalid hash hex {hex:?}: {reason}")]
    InvalidHex {
        /// The string given.
        hex: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Hashes of different lengths compared.
    #[error("hashes of different sizes: {0} bits vs {1} bits")]
    HashSizeMismatch(usize, usize),
    /// A volume with too few slices for the operation.
    #[error("volume has {got} slices, need at least {need}")]
    TooFewSlices {
        /// Slices present.
        got: usize,
        /// Slices needed.
        need: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
