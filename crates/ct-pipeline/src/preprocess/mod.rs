//! Per-scan preprocessing: one scan in memory per worker, passed through an ordered list of
//! stages ([`STAGES`]), then a separate evaluation pass against known truth (phantoms).
//!
//! | stage | output |
//! |---|---|
//! | `clean` | the scan without out-of-place slices (the seed's hash rule) |
//! | `segment` | the lung mask by recipe and its lesion-inclusive closing |
//! | `features` | radiomic features of the lung |
//! | `gate` | contrast statistics and the seed's gray-gate counts |
//! | `enhance` | the lung box after CLAHE and its statistics |
//! | `lesion` | the voxel lesion detector's per-scan summary and scored components |
//! | `pattern` | the lesion-pattern U-Net's features and foci (when configured) |
//! | `thumbs` | OTDD thumbnails |
//! | `eda` | EDA accumulators and preview pictures |
//!
//! An error in a stage names it: `stage lesion: …`.

mod eda;
mod evaluate;
mod masks;
mod record;
mod stages;

use std::collections::BTreeMap;
use std::time::Instant;

use ct_core::Scan;

pub use eda::{
    Eda, HU_HIST_BINS, HU_HIST_LO, HU_HIST_STEP, THUMB_BUDGET_FACTOR, THUMB_SIDE, THUMB_SLICES,
    ThumbKind, keeps_thumbnails, thumb_matrix, thumbnail_stride,
};
pub use evaluate::cleaning_scores;
pub(crate) use masks::drop_slices;
pub use masks::{lesion_inclusive_mask, lung_mask, pack_bits};
pub use record::{ENHANCED_NAMES, KnownTruth, Processed, ScanRecord, feature_names};

use crate::config::PipelineConfig;
use crate::lesion_detector::LesionDetector;
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::{Error, Result};
use stages::ScanContext;

/// The per-scan stages in the order they run (the keys of a record's `timings`).
pub const STAGES: [&str; 9] = [
    "clean", "segment", "features", "gate", "enhance", "lesion", "pattern", "thumbs", "eda",
];

/// Seconds per stage of one scan.
struct Clock {
    tick: Instant,
    timings: BTreeMap<String, f64>,
}

impl Clock {
    /// Runs one stage, records its time, and names it in its error.
    fn stage<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let out = f().map_err(|e| e.in_stage(name))?;
        self.timings
            .insert(name.to_string(), self.tick.elapsed().as_secs_f64());
        self.tick = Instant::now();
        Ok(out)
    }
}

/// Runs every per-scan stage on one scan, then the evaluation against `truth` (where known).
pub fn process_scan(
    scan: &Scan,
    truth: &KnownTruth,
    cfg: &PipelineConfig,
    detector: &LesionDetector,
    pattern: Option<(&PatternNet, &FocusModel)>,
) -> Result<Processed> {
    let ctx = ScanContext { scan, truth, cfg };
    let mut clock = Clock {
        tick: Instant::now(),
        timings: BTreeMap::new(),
    };
    let cleaned = clock.stage("clean", || stages::clean(&ctx))?;
    let lungs = clock.stage("segment", || stages::segment(&ctx, &cleaned))?;
    let mut features = clock.stage("features", || stages::radiomics(&ctx, &cleaned, &lungs))?;
    let (contrast_stats, graygate_counts) = clock.stage("gate", || stages::gate(&cleaned))?;
    let enhanced = clock.stage("enhance", || stages::enhance(&cleaned, &lungs))?;
    features.append(enhanced.features.clone());
    let lesions = clock.stage("lesion", || {
        stages::lesions(&ctx, &cleaned, &lungs, detector)
    })?;
    features.append(lesions.features.clone());
    let patterns = if cfg.pattern_net {
        let models = pattern.ok_or_else(|| Error::Config {
            name: "pattern_net",
            why: "the configuration asks for it but none was loaded".to_string(),
        })?;
        let p = clock.stage("pattern", || {
            stages::patterns(&ctx, &cleaned, &lungs, &lesions, models)
        })?;
        features.append(p.features.clone());
        Some(p)
    } else {
        None
    };
    let thumbs = clock.stage("thumbs", || stages::otdd_thumbs(&enhanced))?;
    let (eda, [preview, preview_enhanced]) =
        clock.stage("eda", || stages::eda(&ctx, &cleaned, &lungs, &enhanced))?;

    let features = features.into_values_checked(&feature_names(cfg), "scan features")?;
    let ev = evaluate::evaluate(&ctx, &cleaned, &lungs, &lesions);
    let (pattern_foci, preview_pattern) = match patterns {
        Some(p) => (p.foci, p.preview),
        None => (Vec::new(), None),
    };
    Ok(Processed {
        record: ScanRecord {
            id: scan.id.clone(),
            label: scan.label,
            contrast: truth.contrast.or(scan.meta.contrast),
            n_slices: scan.volume.n_slices(),
            spacing: scan.volume.spacing().to_array(),
            removed: cleaned.removed,
            injected: truth.injected.clone(),
            lung_voxels: lungs.voxels,
            lung_dice: ev.lung_dice,
            lung_dice_closed: ev.lung_dice_closed,
            lesion_dice: ev.lesion_dice,
            lesion_components: ev.lesion_components,
            pattern_foci,
            features,
            contrast_stats,
            graygate_counts,
            thumbs: thumbs.original,
            thumbs_enhanced: thumbs.clahe,
            thumbs_he: thumbs.he,
            thumbs_he_clahe: thumbs.he_clahe,
            timings: clock.timings,
            warnings: scan.meta.warnings.clone(),
        },
        eda,
        preview: Some(preview),
        preview_enhanced: Some(preview_enhanced),
        preview_pattern,
    })
}
