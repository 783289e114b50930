#![deny(missing_docs)]
//! The covid-ct diagnosis pipeline as a library: the example program `pipeline` only parses
//! its command line and calls [`run`].
//!
//! * [`features`]: per-scan radiomic features from a HU volume and its lung mask (lung HU
//!   histogram, ground-glass and consolidation fractions, texture, laterality, per-slice
//!   statistics).

mod error;
pub mod features;

pub use error::{Error, Result};
