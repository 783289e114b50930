#![deny(missing_docs)]
//! Binary morphology and connected components in 1-, 2- and 3-D with `scipy.ndimage`
//! semantics, and lung segmentation.
//!
//! * Structuring elements: [`generate_binary_structure`], [`iterate_structure`],
//!   [`Structure::boxed`], [`Structure::ball`], [`Structure::from_mask`].
//! * [`binary_erosion`], [`binary_dilation`], [`binary_opening`], [`binary_closing`]
//!   (iterations and `border_value` as scipy, origin 0) and [`binary_fill_holes`]: outputs
//!   equal scipy's voxel for voxel, borders included (golden-tested).
//! * [`label`] (numbering identical to `scipy.ndimage.label`), [`component_stats`],
//!   [`keep_largest`], [`remove_border_components`].
//! * [`PackedMask`] (one bit per voxel) and [`Components`] for chaining passes without
//!   converting back to `bool` arrays; [`lung::segment`] (the seed's recipe) and
//!   [`lung_field::segment_lung_field`] (body first, then lung field, airways, right and left
//!   lung: the one that holds on real chest CT) are built on them.
//! * [`image`]: grey-level 2-D kernels (min/max filters, grey opening, masked box means,
//!   Hessian eigenvalues, city-block distance, convex hull), each golden-tested.
//!
//! Masks are bit-packed 64 voxels to a word, so a pass over a 64×512×512 volume touches 2 MB;
//! iterated crosses and boxes are decomposed into unit passes (exact, see
//! [`binary_erosion`]'s module notes), labelling is run-based union-find, and rows are
//! spread over rayon's pool (run inside a 1-thread pool to stay single-threaded).
//!
//! # Example
//! ```
//! use ct_morph::{binary_closing, generate_binary_structure, iterate_structure, label, MorphParams};
//! use ndarray::Array3;
//!
//! let mut m = Array3::from_elem((5, 9, 9), false);
//! m.slice_mut(ndarray::s![1..4, 2..7, 2..7]).fill(true);
//! m[[2, 4, 4]] = false; // a one-voxel hole
//! let cross = generate_binary_structure(3, 1)?;
//! let closed = binary_closing(m.view(), &cross, &MorphParams::default())?;
//! assert!(closed[[2, 4, 4]]);
//! let (labels, n) = label(closed.view(), &cross)?;
//! assert_eq!((n, labels[[2, 4, 4]]), (1, 1));
//! assert_eq!(iterate_structure(&cross, 2)?.shape(), vec![5, 5, 5]);
//! # Ok::<(), ct_morph::Error>(())
//! ```

mod error;
pub mod image;
mod label;
pub mod lung;
pub mod lung_field;
mod morph;
mod packed;
mod structure;

pub use error::{Error, Result};
pub use label::{
    ComponentStats, Components, binary_fill_holes, component_stats, keep_largest, label,
    remove_border_components,
};
pub use morph::{MorphParams, binary_closing, binary_dilation, binary_erosion, binary_opening};
pub use packed::PackedMask;
pub use structure::{Structure, generate_binary_structure, iterate_structure};
