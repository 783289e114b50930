//! The crate's error type.

/// Everything that can go wrong in this crate; messages name the parameter or shape at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An input set or weight vector has no elements.
    #[error("empty input: {0}")]
    Empty(String),
    /// Two arrays that must agree in size do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A feature, weight or cost is NaN or infinite.
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// A parameter is outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    Param {
        /// The parameter's name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Weights are negative or the two marginals do not carry the same mass.
    #[error("invalid marginals: {0}")]
    Marginals(String),
    /// A label set problem (a class present in one data set only when that is forbidden, or no
    /// class left after dropping the small ones).
    #[error("labels: {0}")]
    Labels(String),
    /// The network simplex found the problem infeasible or unbounded.
    #[error("exact OT failed: {0}")]
    Infeasible(String),
    /// Sinkhorn hit a numerical breakdown (zero or non-finite scaling).
    #[error("numerical breakdown: {0}")]
    Numerical(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Error {
    Error::Param {
        name,
        reason: reason.into(),
    }
}

pub(crate) fn check_finite(what: &str, xs: impl IntoIterator<Item = f64>) -> Result<()> {
    if xs.into_iter().all(f64::is_finite) {
        Ok(())
    } else {
        Err(Error::NonFinite(what.to_string()))
    }
}
