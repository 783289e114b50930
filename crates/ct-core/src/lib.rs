#![deny(missing_docs)]
//! Core types shared by every covid-ct crate.
//!
//! * [`Volume`]: a 3-D array in `(z, y, x)` order with its voxel [`Spacing`] (mm) and origin.
//! * [`Label`] (Normal / CAP / COVID-19) and [`Contrast`] (the two export groups of SPGC-COVID).
//! * [`Scan`]: one subject's volume in Hounsfield units with its label and metadata.
//! * [`Window`]: the exact integer HU → u8 windowing rule, with the usual presets.
//! * [`SliceStats`]: running per-pixel mean / standard-deviation images (the seed's EDA).
//!
//! # Example
//! ```
//! use ct_core::{Volume, Spacing, Window};
//! use ndarray::Array3;
//!
//! let hu = Array3::<i16>::from_elem((2, 4, 4), -500);
//! let vol = Volume::new(hu, Spacing::new(2.5, 0.7, 0.7)?)?;
//! let u8v = vol.window(Window::LUNG);
//! assert_eq!(u8v.data()[[0, 0, 0]], 128); // (−500 + 1250)·255/1500 = 127.5, rounded half up
//! # Ok::<(), ct_core::Error>(())
//! ```

mod cpu_time;
mod error;
mod label;
mod stats;
mod volume;
mod window;

pub use cpu_time::process_cpu_ns;
pub use error::{Error, Result};
pub use label::{Contrast, Label};
pub use stats::SliceStats;
pub use volume::{Meta, Scan, Spacing, Volume};
pub use window::Window;

/// Re-export of the ndarray version used in every public signature.
pub use ndarray;
