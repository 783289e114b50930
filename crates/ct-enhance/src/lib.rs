#![deny(missing_docs)]
//! Contrast enhancement, contrast gating, resampling and maximum-intensity projection for
//! CT slices and volumes, exact against the libraries the seed used.
//!
//! * [`equalize_hist`]: OpenCV's `equalizeHist`, pixel-identical on u8;
//!   [`equalize_hist_float`] / [`equalize_hist_levels`]: scikit-image's `equalize_hist`.
//! * [`Clahe`]: OpenCV's CLAHE, pixel-identical on u8 and u16 for any size, clip limit and
//!   tile grid; HE followed by CLAHE in one call; whole volumes slice-parallel.
//! * [`GrayGate`] (the seed's `graygate`) and [`ContrastGate`] (a gate on a contrast
//!   statistic with a fitted threshold) split scans into high/low contrast groups.
//! * [`zoom`] / [`resample_to_spacing`] / [`resample_to_slices`] / [`resize_slices`]:
//!   `scipy.ndimage.zoom` (orders 0, 1, 3, `mode='nearest'`) as separable passes, plus
//!   Lanczos-3 and area (box) resampling.
//! * [`mip_slab`] and [`mip_axis`]: thick-slab and whole-axis maximum-intensity projections.
//!
//! # Example
//! ```
//! use ct_enhance::{equalize_hist, Clahe};
//! use ndarray::Array2;
//!
//! let img = Array2::from_shape_fn((64, 48), |(y, x)| (60 + (x + 2 * y) % 40) as u8);
//! let he = equalize_hist(img.view())?;
//! assert_eq!(*he.iter().max().unwrap(), 255);
//! let out = Clahe::seed().apply(img.view())?; // clip 2.0, 8x8 tiles, as cv2.createCLAHE(2.0, (8, 8))
//! assert_eq!(out.dim(), (64, 48));
//! assert!(Clahe { clip_limit: 0.0, ..Clahe::default() }.apply(img.view()).is_err());
//! # Ok::<(), ct_enhance::Error>(())
//! ```

mod clahe;
mod error;
mod gate;
mod hist;
mod mip;
mod resample;

pub use clahe::{Clahe, ClaheSample};
pub use error::{Error, Result};
pub use gate::{
    ContrastFeature, ContrastGate, ContrastStats, GrayGate, MIN_GROUP_SHARE, MIN_SEPARATION,
    ScanDecision, Separation, graygate, graygate_count,
};
pub use hist::{
    equalize_hist, equalize_hist_float, equalize_hist_levels, equalize_hist_volume, equalize_lut_u8,
};
pub use mip::{mip_axis, mip_slab};
pub use resample::{
    Interpolation, IsotropicTarget, Voxel, resample_to_isotropic, resample_to_slices,
    resample_to_spacing, resize_slices, zoom,
};
