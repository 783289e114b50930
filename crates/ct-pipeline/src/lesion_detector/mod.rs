//! A voxel-level lesion detector and the per-scan lesion features it yields.
//!
//! Hand-made density features alone do not separate the classes: lesions cover 0.01–13 % of
//! the lung while vessels, airway walls, dependent atelectasis and noise put 2–7 % of a normal
//! lung in the same HU ranges. What tells them apart is local context: a lesion is a blob that
//! is denser than the parenchyma *around it* (whose density varies with inspiration and with
//! the dependent gradient), that survives a grey opening (vessels are thin), and that continues
//! on the neighbouring slices. So every candidate voxel of the lung (denser than −700 HU or
//! 60 HU above its surroundings) is described by 22 context features ([`VOXEL_FEATURE_NAMES`]:
//! local and background density, openings, aerated fractions, in-plane Hessian eigenvalues)
//! and scored by gradient-boosted trees trained on lesion masks.
//!
//! The detector is trained on its own phantom cohort, generated from a different seed than the
//! data set it is applied to: no subject of the evaluated cohort (train or test split) is seen,
//! so it behaves like a pretrained segmentation model, and it is shipped as one
//! (`crate::shipped_detector`, saved with [`LesionDetector::to_json`]). On a real data set the
//! same detector is used (domain shift: train one on your own annotated masks with
//! [`LesionDetector::train`] and load it with `--detector PATH`).
//!
//! Per scan, the voxels with probability ≥ ½ are grouped into 3-D components and summarised by
//! [`LESION_FEATURE_NAMES`]: involvement, the largest components, how many foci, their density
//! (ground glass vs consolidation), laterality, periphery and position.
//!
//! A second stage scores each component as a whole ([`component_table`],
//! [`COMPONENT_FEATURE_NAMES`]: size, extent, compactness, probabilities, density, position,
//! blob-ness), the false-positive reduction step of nodule CAD systems: a voxel classifier sees
//! a few millimetres, while a vessel crossing, a heart-border sliver or a single-slice
//! artefact is plain from the component's shape. It is trained on the components the voxel
//! stage finds in its own training cohort, labelled by the masks, and its scores give the
//! last features of [`LESION_FEATURE_NAMES`] (score-weighted volumes by density and side).

mod candidates;
mod components;
mod detector;
mod region;
mod scan_summary;
#[cfg(test)]
mod tests;
mod training;

pub use candidates::{Candidates, VOXEL_FEATURE_NAMES, candidates};
pub use components::{
    COMPONENT_FEATURE_NAMES, ComponentSample, ComponentTable, component_scan_features,
    component_table,
};
pub use detector::{DetectorRecipe, LesionDetector};
pub use region::hull_mask;
pub use scan_summary::{LESION_FEATURE_NAMES, VOXEL_SUMMARY_LEN, lesion_features};
pub use training::{TrainingSample, sample_training};

use candidates::voxel_column;
use components::label_hits;
use training::{fit_trees, stack_samples};
