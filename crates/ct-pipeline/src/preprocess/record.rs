//! What preprocessing keeps about one scan: the feature-table row and the ground truth it
//! is evaluated against.

use std::collections::BTreeMap;

use ct_core::{Contrast, Label};
use ct_enhance::ContrastStats;
use serde::{Deserialize, Serialize};

use super::*;
use crate::config::PipelineConfig;
use crate::lesion_detector::LESION_FEATURE_NAMES;
use crate::lesion_patterns::{FOCUS_SCAN_FEATURE_NAMES, Focus, PATTERN_FEATURE_NAMES};

/// Ground truth known for a scan (phantoms, or an index file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnownTruth {
    /// Contrast group.
    pub contrast: Option<Contrast>,
    /// Out-of-place slice indices.
    pub injected: Option<Vec<usize>>,
    /// Reference lung mask, bit-packed in raster order (phantoms only; not serialised).
    #[serde(skip)]
    pub lung_bits: Option<Vec<u64>>,
    /// Reference lesion mask, bit-packed in raster order (phantoms only; not serialised).
    #[serde(skip)]
    pub lesion_bits: Option<Vec<u64>>,
}

/// What preprocessing learned about one scan (one row of the feature table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// Subject id.
    pub id: String,
    /// Diagnosis, when known.
    pub label: Option<Label>,
    /// True contrast group, when known.
    pub contrast: Option<Contrast>,
    /// Slices as read.
    pub n_slices: usize,
    /// Voxel spacing `[z, y, x]` (mm).
    pub spacing: [f64; 3],
    /// Slices removed by the cleaning rule.
    pub removed: Vec<usize>,
    /// Truly out-of-place slices, when known.
    pub injected: Option<Vec<usize>>,
    /// Lung voxels found.
    pub lung_voxels: u64,
    /// Dice of the lung mask against the reference mask, when known.
    pub lung_dice: Option<f64>,
    /// Dice of the lesion-inclusive mask the features use ([`lesion_inclusive_mask`]).
    pub lung_dice_closed: Option<f64>,
    /// Dice of the lesion detector's voxels (probability ≥ ½) against the reference lesion
    /// mask, when one is known and not empty.
    #[serde(default)]
    pub lesion_dice: Option<f64>,
    /// The component stage's score of each detected component and whether at least half of
    /// it lies in the reference lesion mask, when one is known.
    #[serde(default)]
    pub lesion_components: Option<Vec<(f64, bool)>>,
    /// The pattern U-Net's foci ([`crate::lesion_patterns::pattern_foci`]), largest first.
    #[serde(default)]
    pub pattern_foci: Vec<Focus>,
    /// Radiomic features followed by the enhanced-image features (see [`feature_names`]).
    pub features: Vec<f64>,
    /// Contrast statistics of the lung-windowed scan (for the fitted gate).
    pub contrast_stats: ContrastStats,
    /// The seed's gray-gate count per slice (pixels equal to the slice maximum).
    pub graygate_counts: Vec<usize>,
    /// `THUMB_SLICES` lung-windowed slices of the lung box, `THUMB_SIDE`² each, in [0, 1].
    pub thumbs: Vec<Vec<f32>>,
    /// The same after CLAHE.
    pub thumbs_enhanced: Vec<Vec<f32>>,
    /// The same after global histogram equalisation (HE) of the lung box, and after HE then
    /// CLAHE: the OTDD augmentation guidance compares the three enhancements.
    #[serde(default)]
    pub thumbs_he: Vec<Vec<f32>>,
    /// See [`Self::thumbs_he`].
    #[serde(default)]
    pub thumbs_he_clahe: Vec<Vec<f32>>,
    /// Seconds per step.
    pub timings: BTreeMap<String, f64>,
    /// Reading warnings.
    pub warnings: Vec<String>,
}

impl ScanRecord {
    /// Forgets the OTDD thumbnails (a scan outside a large data set's thumbnail subset).
    pub fn drop_thumbnails(&mut self) {
        for t in [
            &mut self.thumbs,
            &mut self.thumbs_enhanced,
            &mut self.thumbs_he,
            &mut self.thumbs_he_clahe,
        ] {
            *t = Vec::new();
        }
    }
}

/// Names of the enhanced-image features appended to the radiomic ones.
pub const ENHANCED_NAMES: [&str; 6] = [
    "clahe_lung_mean",
    "clahe_lung_std",
    "clahe_lung_p10",
    "clahe_lung_p50",
    "clahe_lung_p90",
    "clahe_lung_bright_frac",
];

/// All feature names of a [`ScanRecord`].
pub fn feature_names(cfg: &PipelineConfig) -> Vec<String> {
    let mut n = crate::features::feature_names(&cfg.features);
    n.extend(ENHANCED_NAMES.iter().map(|s| s.to_string()));
    n.extend(LESION_FEATURE_NAMES.iter().map(|s| s.to_string()));
    if cfg.pattern_net {
        n.extend(PATTERN_FEATURE_NAMES.iter().map(|s| s.to_string()));
        n.extend(FOCUS_SCAN_FEATURE_NAMES.iter().map(|s| s.to_string()));
    }
    n
}

/// Everything kept about one scan: the record, its EDA contribution, and a preview picture
/// (middle lung slice with the mask outline) for the report.
pub struct Processed {
    /// The feature-table row.
    pub record: ScanRecord,
    /// This scan's EDA accumulators.
    pub eda: Eda,
    /// PNG bytes of the preview.
    pub preview: Option<Vec<u8>>,
    /// PNG bytes of the same slice after CLAHE.
    pub preview_enhanced: Option<Vec<u8>>,
    /// PNG bytes of the pattern U-Net's output on its most involved slice.
    pub preview_pattern: Option<Vec<u8>>,
}
