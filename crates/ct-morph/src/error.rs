/// Errors of `ct-morph`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// `generate_binary_structure` with a rank outside `1..=3` or a connectivity outside
    /// `1..=rank` (scipy clamps silently; we reject).
    #[error(
        "invalid structure request: rank {rank}, connectivity {connectivity} (need 1 <= rank <= 3 and 1 <= connectivity <= rank)"
    )]
    InvalidConnectivity {
        /// Requested rank.
        rank: usize,
        /// Requested connectivity.
        connectivity: usize,
    },
    /// A structuring element with an even extent along some axis (its centre, and so scipy's
    /// origin handling between erosion and dilation, would be ambiguous).
    #[error("structuring element of shape {shape:?} has an even extent: every axis must be odd")]
    EvenStructure {
        /// The element's shape.
        shape: Vec<usize>,
    },
    /// A structuring element with no true voxel.
    #[error("structuring element of shape {shape:?} is empty (no true voxel)")]
    EmptyStructure {
        /// The element's shape.
        shape: Vec<usize>,
    },
    /// The element's rank differs from the input's.
    #[error("structuring element has rank {structure}, input has rank {input}: they must agree")]
    RankMismatch {
        /// Rank of the structuring element.
        structure: usize,
        /// Rank of the input array.
        input: usize,
    },
    /// Inputs of rank 0 or above 3.
    #[error("unsupported rank {0}: only 1-, 2- and 3-D arrays are supported")]
    UnsupportedRank(usize),
    /// An input with a zero-length axis.
    #[error("empty input of shape {0:?}: every axis must have at least one voxel")]
    EmptyInput(Vec<usize>),
    /// Connectivity structures for labelling must be `3 x .. x 3` and symmetric (as in
    /// `scipy.ndimage.label`).
    #[error("connectivity structure of shape {shape:?} is not usable for labelling: {why}")]
    BadConnectivity {
        /// The element's shape.
        shape: Vec<usize>,
        /// What is wrong.
        why: &'static str,
    },
    /// More components (or runs) than `u32` labels can number.
    #[error("label overflow: {0} components/runs do not fit u32 labels")]
    LabelOverflow(u64),
    /// Two arrays that must share a shape do not.
    #[error("shape mismatch: expected {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Expected shape.
        expected: Vec<usize>,
        /// Given shape.
        got: Vec<usize>,
    },
    /// A parameter outside its valid range.
    #[error("invalid parameter {name}: {why}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// Lung segmentation found nothing dense enough to be a patient's body.
    #[error("no body found: {0}")]
    NoBody(String),
    /// Lung segmentation found nothing that looks like a lung.
    #[error("no lung found: {0}")]
    NoLung(String),
    /// An error from ct-core (volume geometry).
    #[error(transparent)]
    Core(#[from] ct_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
