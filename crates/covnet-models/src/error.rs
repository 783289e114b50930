//! The crate's error type.

use std::fmt;

/// One disagreement between a weight file and a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// The model has a tensor the file lacks.
    Missing {
        /// Key in PyTorch naming (after the architecture's key mapping).
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
    },
    /// The file has a tensor the model does not.
    Unexpected {
        /// Key as found in the file.
        key: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// Both have the key with different shapes.
    Shape {
        /// The key.
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { key, expected } => {
                write!(f, "missing key `{key}` (model expects shape {expected:?})")
            }
            Self::Unexpected { key, shape } => {
                write!(
                    f,
                    "unexpected key `{key}` with shape {shape:?} (not in the model)"
                )
            }
            Self::Shape {
                key,
                expected,
                found,
            } => write!(
                f,
                "key `{key}` has shape {found:?} in the file, the model expects {expected:?}"
            ),
        }
    }
}

fn list_problems(problems: &[KeyProblem]) -> String {
    let mut s = String::new();
    for p in problems.iter().take(8) {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    if problems.len() > 8 {
        s.push_str(&format!("\n  ... and {} more", problems.len() - 8));
    }
    s
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration parameter is out of its domain.
    #[error("invalid parameter `{param}`: {reason}")]
    InvalidParam {
        /// Name of the parameter.
        param: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An input tensor has the wrong rank or shape.
    #[error("input `{what}` has shape {found:?}, expected {expected}")]
    BadShape {
        /// Which input.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// The input's channel axis does not match the model's first convolution.
    #[error("input `{what}` has {found} channels, the model expects {expected}")]
    ChannelMismatch {
        /// Which input.
        what: &'static str,
        /// Channels the model was built for.
        expected: usize,
        /// Channels in the input.
        found: usize,
    },
    /// A scan with no slices was given to a slice-pooling model.
    #[error("input `{what}` has S = 0 slices; at least one slice per scan is needed")]
    NoSlices {
        /// Which input.
        what: &'static str,
    },
    /// A class index is out of range.
    #[error("target {index} is class {class}, but there are only {num_classes} classes")]
    BadTarget {
        /// Position in the batch.
        index: usize,
        /// The offending class.
        class: usize,
        /// Number of classes of the logits.
        num_classes: usize,
    },
    /// The weight file's keys or shapes do not match the model.
    #[error("weight file `{file}` does not match the model ({} problems):{}", problems.len(), list_problems(problems))]
    WeightMismatch {
        /// The file.
        file: String,
        /// Every disagreement, sorted by key.
        problems: Vec<KeyProblem>,
    },
    /// The weight file could not be read or applied.
    #[error("weight file `{file}`: {message}")]
    WeightFile {
        /// The file.
        file: String,
        /// What the reader said.
        message: String,
    },
    /// The model needs an autodiff device for this operation (Grad-CAM, training).
    #[error("{what} needs tensors on an autodiff device (use `device.autodiff()`)")]
    NeedsAutodiff {
        /// The operation.
        what: &'static str,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(param: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidParam {
        param,
        reason: reason.into(),
    }
}
