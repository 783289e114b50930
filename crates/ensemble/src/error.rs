//! The crate's error type.

/// Everything that can go wrong in this crate. Messages name the parameter, shape or class at
/// fault so that the message alone explains the failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An input that must hold at least one sample (or feature, or grid value) is empty.
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// Two inputs that must agree in length (or a matrix and its expected shape) do not.
    #[error("length mismatch: {what}: expected {expected}, got {got}")]
    LengthMismatch {
        /// What was compared.
        what: String,
        /// The expected length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("non-finite feature value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value itself.
        value: f64,
    },
    /// The training labels hold a single class: nothing to discriminate.
    #[error("only one class ({class}) in the training labels: need at least two")]
    SingleClass {
        /// The only class present.
        class: usize,
    },
    /// Labels must be `0..n_classes` with every class present; this one has no sample.
    #[error("class {class} has no training sample (labels must cover 0..{n_classes}); {context}")]
    ClassMissing {
        /// The missing class.
        class: usize,
        /// The number of classes implied by the largest label.
        n_classes: usize,
        /// Where it happened.
        context: String,
    },
    /// Stratified k-fold cannot put every class into every training and test fold.
    #[error(
        "class {class} has {count} samples, fewer than n_splits={n_splits}: it would be missing from a fold"
    )]
    ClassMissingFromFold {
        /// The class that is too small.
        class: usize,
        /// Its number of samples.
        count: usize,
        /// The requested number of folds.
        n_splits: usize,
    },
    /// A label is outside `0..n_classes` of the fitted model (or of the given labels).
    #[error("label {label} is outside 0..{n_classes}")]
    UnknownLabel {
        /// The label.
        label: usize,
        /// The number of classes.
        n_classes: usize,
    },
    /// The matrix at prediction time does not have the training number of features.
    #[error("feature count mismatch: model was fitted on {expected} features, got {got}")]
    FeatureMismatch {
        /// Features at fit time.
        expected: usize,
        /// Features given now.
        got: usize,
    },
    /// `predict`/`predict_proba` before `fit`.
    #[error("{model} is not fitted: call fit first")]
    NotFitted {
        /// The model's name.
        model: String,
    },
    /// A hyper-parameter is out of its valid range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// Its value, as text.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A probability matrix is malformed (wrong width, negative, rows not summing to 1).
    #[error("invalid probabilities: {reason}")]
    InvalidProbabilities {
        /// What is wrong.
        reason: String,
    },
    /// An aggregated quantity is undefined (e.g. ROC-AUC of a class with no negatives).
    #[error("undefined metric: {reason}")]
    Undefined {
        /// Why.
        reason: String,
    },
    /// The SMO solver did not converge within its iteration limit.
    #[error("SVM solver reached max_iter={max_iter} without converging (tol={tol})")]
    NotConverged {
        /// The iteration limit.
        max_iter: usize,
        /// The stopping tolerance.
        tol: f64,
    },
    /// A routed (gated) sample's group has no trained model.
    #[error("no model for group {group}")]
    NoModelForGroup {
        /// The group's name.
        group: String,
    },
    /// A nearest-neighbour method needs more samples than the table (or class) holds.
    #[error("{what}: needs at least {needed} samples, got {got}")]
    TooFewNeighbours {
        /// The method and, where it applies, the class.
        what: String,
        /// The samples it needs (neighbours plus the sample itself).
        needed: usize,
        /// The samples there are.
        got: usize,
    },
    /// A saved model (JSON) that does not describe a valid fitted model.
    #[error("invalid saved model: {reason}")]
    InvalidModel {
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(name: &str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidParameter {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}
