//! Lesion-pattern U-Net: a 2.5-D U-Net (`covnet-models`) that labels each lung pixel as
//! background, a CAP-like lesion or a COVID-19-like lesion.
//!
//! The voxel detector of [`crate::lesion_detector`] sees a few millimetres around each candidate and
//! says *lesion or not*; what tells CAP from COVID-19 is the pattern (a lobar or segmental
//! consolidation with air bronchograms against peripheral, multifocal ground glass), which
//! a convolutional network sees over several centimetres. The network here is the model
//! zoo's [`UNet`] (3 input channels: a slice and its two neighbours; 3 classes; 16 base
//! channels; depth 3), run at half the in-plane resolution (2×2 means of HU: 3 mm pixels on
//! the 256² phantoms, which also halves the noise). Its training target is the phantom's
//! lesion mask, coloured by the scan's diagnosis: lesion voxels of CAP scans are class 1,
//! of COVID-19 scans class 2.
//!
//! It is trained once, on its own phantom cohort (seed 2021 + [`PATTERN_SEED_OFFSET`], never
//! an evaluated cohort), by the example `train_pattern_unet` (on a GPU through libtorch, or
//! on the CPU), and shipped: [`PatternNet::shipped`]. Per scan, [`pattern_features`]
//! summarises its probabilities inside the lung search region in [`PATTERN_FEATURE_NAMES`].
//!
//! Its foci ([`pattern_foci`]) are scored by the [`FocusModel`].

mod constants;
mod foci;
mod focus_model;
#[cfg(test)]
mod focus_tests;
mod input;
mod maps;
mod network;
#[cfg(test)]
mod tests;
mod training;

pub use constants::{DOWNSAMPLE, PATTERN_CLASSES, PATTERN_SEED_OFFSET, TARGET_PIXEL_MM};
pub use foci::{FOCUS_FEATURE_NAMES, FOCUS_THRESHOLD, Focus, pattern_foci};
pub use focus_model::{
    FOCUS_LESION_SHARE, FOCUS_SCAN_FEATURE_NAMES, FocusModel, FocusRecipe, read_foci_csv,
};
pub use input::{Crop, downsample, downsample_factor, downsample_mask, input_batch, normalise};
pub use maps::{
    PATTERN_FEATURE_NAMES, PatternMaps, RegionExtent, pattern_features, pattern_overlay,
};
pub use network::{PatternNet, pattern_config};
pub use training::{pattern_loss, pattern_target, target_batch};
