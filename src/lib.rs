#![deny(missing_docs)]
//! # covid-ct
//!
//! Chest-CT diagnosis (Normal / CAP / COVID-19) in one Rust workspace: reading CT series,
//! procedural phantoms, morphology, similarity and perceptual hashes, enhancement, optimal
//! transport, models and ensembles. This facade only re-exports the workspace crates; each
//! crate's own page documents it.

/// SVM, gradient-boosted trees, voting, grid search, sklearn-identical metrics, gating.
pub use ::ensemble;
/// Optimal transport (exact, Sinkhorn, Gaussian W2) and the OT data-set distance (OTDD).
pub use ::otdd;
/// The model zoo on Burn: ResNet, DenseNet-169, CSRNet, COVNet, ConvLSTM, U-Net, losses, PyTorch import.
#[cfg(feature = "models")]
pub use covnet_models as models;
/// Core types: Volume, Spacing, Label, Contrast, Scan, HU windows, EDA statistics.
pub use ct_core as core;
/// Histogram equalisation and CLAHE (OpenCV-exact), the contrast gate, resampling, MIP.
pub use ct_enhance as enhance;
/// CT input/output: DICOM series (HU, sorted along the normal), NIfTI, .npy, slice folders, data sets.
pub use ct_io as io;
/// Binary morphology, connected components (scipy.ndimage semantics) and lung segmentation.
pub use ct_morph as morph;
/// Procedural chest-CT cohorts (Normal / CAP / COVID-19) with ground truth.
pub use ct_phantom as phantom;
/// The end-to-end diagnosis pipeline (the `pipeline` example's library; feature `pipeline`,
/// on by default).
#[cfg(feature = "pipeline")]
pub use ct_pipeline as pipeline;
/// Figures (PNG colour maps, SVG charts) and self-contained HTML reports.
pub use ct_report as report;
/// SSIM/PSNR (scikit-image-exact), imagehash-exact perceptual hashes, slice cleaning, near duplicates.
pub use ct_similarity as similarity;
/// Training the zoo on CT scans (feature `train`, on by default).
#[cfg(feature = "train")]
pub use ct_train as train;
