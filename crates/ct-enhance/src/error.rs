/// Errors of `ct-enhance`: every message names the parameter or shape at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An image or volume with a zero-length axis.
    #[error("empty {what} of shape {shape:?}: every axis needs at least one pixel")]
    Empty {
        /// What was empty (`image`, `volume`, ...).
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// An image with a single pixel: there is no contrast to enhance.
    #[error("{what} of shape {shape:?} has a single pixel: at least 2 are needed")]
    SinglePixel {
        /// The operation that refused it.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A CLAHE tile grid with a zero count or more tiles than pixels along an axis.
    #[error(
        "tile grid {tiles_x}x{tiles_y} (x by y) does not fit an image of {width}x{height} pixels: \
         each count must be in 1..=the image size along its axis"
    )]
    TileGrid {
        /// Tiles along x (columns).
        tiles_x: usize,
        /// Tiles along y (rows).
        tiles_y: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// A clip limit that is not a finite positive number.
    #[error("invalid CLAHE clip limit {0}: must be finite and > 0")]
    ClipLimit(f64),
    /// A number of histogram bins below 1.
    #[error("invalid number of histogram bins {0}: must be >= 1")]
    Bins(usize),
    /// NaN or infinity in floating-point input.
    #[error("non-finite value {value} at flat index {index} in the {what}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat (row-major) index of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A requested output shape with a zero axis.
    #[error("invalid output shape {0:?}: every axis must be >= 1")]
    OutputShape(Vec<usize>),
    /// A parameter outside its domain.
    #[error("invalid {name} = {value}: {reason}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// The rejected value, as text.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// Inputs whose lengths should agree but do not.
    #[error("length mismatch in {what}: expected {expected}, got {got}")]
    Length {
        /// What was compared.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An error of `ct-core` (spacing, volume construction).
    #[error(transparent)]
    Core(#[from] ct_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Rejects empty and single-pixel 2-D images.
pub(crate) fn check_image(what: &'static str, (h, w): (usize, usize)) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(Error::Empty {
            what: "image",
            shape: vec![h, w],
        });
    }
    if h * w == 1 {
        return Err(Error::SinglePixel {
            what,
            shape: vec![h, w],
        });
    }
    Ok(())
}

/// First non-finite value of a float iterator, as an error.
pub(crate) fn check_finite<'a, I>(what: &'static str, it: I) -> Result<()>
where
    I: IntoIterator<Item = &'a f64>,
{
    for (index, &value) in it.into_iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::NonFinite { what, index, value });
        }
    }
    Ok(())
}
