//! Per-scan preprocessing: cleaning, lung segmentation, windowing, enhancement, contrast
//! statistics, resampling and features. One scan in memory per worker.

use std::collections::BTreeMap;
use std::time::Instant;

use ct_core::{Contrast, Label, Meta, Scan, SliceStats, Volume, Window};
use ct_enhance::{Clahe, ContrastStats, GrayGate, Interpolation};
use ct_morph::lung::{LungParams, bounding_box, segment};
use ct_morph::lung_field::{LungFieldParams, segment_lung_field};
use ct_morph::{MorphParams, PackedMask, binary_fill_holes};
use ct_similarity::{Criterion, HashKind, outlier_slices};
use ndarray::{Array2, Array3, ArrayView3, Axis, s};
use serde::{Deserialize, Serialize};

use crate::config::{LungRecipe, PipelineConfig};
use crate::features::scan_features;
use crate::lesion_detector::{
    LESION_FEATURE_NAMES, LesionDetector, candidates, component_scan_features, component_table,
    hull_mask, lesion_features,
};
use crate::lesion_patterns::{
    Crop, PATTERN_FEATURE_NAMES, PatternMaps, PatternNet, downsample, downsample_factor,
    downsample_mask, pattern_features, pattern_overlay,
};
use crate::lesion_patterns::{FOCUS_SCAN_FEATURE_NAMES, Focus, FocusModel};
use crate::{Error, Result};

/// Lower edge and bin width of the HU histograms of the EDA (80 bins up to +500 HU).
pub const HU_HIST_LO: f64 = -1100.0;
/// Bin width of the EDA HU histograms.
pub const HU_HIST_STEP: f64 = 20.0;
/// Number of EDA HU histogram bins.
pub const HU_HIST_BINS: usize = 80;
/// Slices per scan kept as small thumbnails for OTDD.
pub const THUMB_SLICES: usize = 8;
/// Side of those thumbnails.
pub const THUMB_SIDE: usize = 16;

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
    /// Seconds per step.
    pub timings: BTreeMap<String, f64>,
    /// Reading warnings.
    pub warnings: Vec<String>,
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

/// Per-class and per-group accumulators of the EDA stage (mergeable across workers/shards).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eda {
    /// Mean/std images of lung-windowed slices resized to `eda_size²`, per class index.
    pub slices: Vec<SliceStats>,
    /// HU histogram per class index (all voxels).
    pub hu_class: Vec<Vec<f64>>,
    /// HU histogram per contrast group (`[high, low]`).
    pub hu_contrast: Vec<Vec<f64>>,
}

impl Eda {
    /// Empty accumulators.
    pub fn new(size: usize) -> Eda {
        Eda {
            slices: (0..3).map(|_| SliceStats::new(size, size)).collect(),
            hu_class: vec![vec![0.0; HU_HIST_BINS]; 3],
            hu_contrast: vec![vec![0.0; HU_HIST_BINS]; 2],
        }
    }

    /// Adds another accumulator.
    pub fn merge(&mut self, o: &Eda) -> Result<()> {
        for (a, b) in self.slices.iter_mut().zip(&o.slices) {
            a.merge(b)?;
        }
        for (a, b) in self.hu_class.iter_mut().zip(&o.hu_class) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.hu_contrast.iter_mut().zip(&o.hu_contrast) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        Ok(())
    }
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

fn hu_hist(v: ArrayView3<'_, i16>) -> Vec<f64> {
    let mut h = vec![0.0; HU_HIST_BINS];
    for &x in v.iter() {
        let b = ((x as f64 - HU_HIST_LO) / HU_HIST_STEP).floor();
        if b >= 0.0 && (b as usize) < HU_HIST_BINS {
            h[b as usize] += 1.0;
        }
    }
    h
}

/// Drops the slices listed in `removed` (sorted) from a volume.
fn drop_slices<T: Clone>(v: &Volume<T>, removed: &[usize]) -> Result<Volume<T>> {
    if removed.is_empty() {
        return Ok(v.clone());
    }
    let keep: Vec<usize> = (0..v.n_slices())
        .filter(|z| removed.binary_search(z).is_err())
        .collect();
    let data = v.data().select(Axis(0), &keep);
    Ok(Volume::with_origin(data, v.spacing(), v.origin())?)
}

/// Packs a 0/1 mask into bits (raster order).
pub fn pack_bits(mask: ArrayView3<'_, u8>) -> Vec<u64> {
    let mut out = vec![0u64; mask.len().div_ceil(64)];
    for (i, &m) in mask.iter().enumerate() {
        if m != 0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

fn dice_bits(a: &[u64], b: &[u64]) -> f64 {
    let (mut inter, mut sa, mut sb) = (0u64, 0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        inter += (x & y).count_ones() as u64;
        sa += x.count_ones() as u64;
        sb += y.count_ones() as u64;
    }
    if sa + sb == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (sa + sb) as f64
    }
}

fn thumbs(u8v: ArrayView3<'_, u8>, n: usize, side: usize) -> Result<Vec<Vec<f32>>> {
    let z = u8v.len_of(Axis(0));
    let picks: Vec<usize> = (0..n)
        .map(|k| ((k as f64 + 0.5) * z as f64 / n as f64) as usize)
        .collect();
    let sel = u8v.select(Axis(0), &picks);
    let small = ct_enhance::zoom(sel.view(), [n, side, side], Interpolation::Area)?;
    Ok(small
        .axis_iter(Axis(0))
        .map(|s| s.iter().map(|&v| v as f32 / 255.0).collect())
        .collect())
}

fn png_of(
    slice: ndarray::ArrayView2<'_, u8>,
    mask: Option<ndarray::ArrayView2<'_, u8>>,
) -> Result<Vec<u8>> {
    let img = match mask {
        Some(m) => ct_report::image::overlay_outline(slice, m, [255, 80, 0])?,
        None => ct_report::image::gray_u8(slice)?,
    };
    Ok(ct_report::image::png_bytes(&img)?)
}

/// The 0/1 lung mask the per-scan stages work inside, by `recipe` (the body-first recipe's
/// both lungs and airways, or the seed recipe's components).
pub fn lung_mask(hu: &Volume<i16>, meta: &Meta, recipe: LungRecipe) -> Result<Volume<u8>> {
    Ok(match recipe {
        LungRecipe::BodyFirst => {
            let m = segment_lung_field(hu, &LungFieldParams::for_meta(meta))?;
            m.labels.map(|&l| u8::from(l != 0))
        }
        LungRecipe::Seed => segment(hu, &LungParams::default())?.mask,
    })
}

/// The morphology recipe keeps air-like lung (below −400 HU): dense lesions that touch the
/// pleura (COVID-19's subpleural ground glass, CAP's lobar consolidation) fall outside it.
/// Radiomic features need them inside, so close the mask in-plane with a disk of
/// `radius_mm` and fill holes slice by slice: concavities bitten out by juxtapleural lesions
/// are restored, while the lung outline elsewhere is unchanged.
pub fn lesion_inclusive_mask(mask: &Volume<u8>, radius_mm: f64) -> Result<Array3<u8>> {
    if radius_mm <= 0.0 {
        return Ok(mask.data().clone());
    }
    let disk = crate::features::in_plane_disk(radius_mm, mask.spacing())?;
    let closed = PackedMask::from_u8(mask.view())?
        .close(&disk, &MorphParams::default())?
        .to_bool();
    let mut out = Array3::<u8>::zeros(closed.dim());
    for (z, sl) in closed.axis_iter(Axis(0)).enumerate() {
        let filled = binary_fill_holes(sl, None)?;
        out.index_axis_mut(Axis(0), z)
            .assign(&filled.mapv(u8::from));
    }
    Ok(out)
}

/// Runs every per-scan step on one scan.
pub fn process_scan(
    scan: &Scan,
    truth: &KnownTruth,
    cfg: &PipelineConfig,
    detector: &LesionDetector,
    pattern: Option<(&PatternNet, &FocusModel)>,
) -> Result<Processed> {
    let mut timings = BTreeMap::new();
    let mut tick = Instant::now();
    let mut lap = |name: &str, timings: &mut BTreeMap<String, f64>| {
        timings.insert(name.to_string(), tick.elapsed().as_secs_f64());
        tick = Instant::now();
    };
    let raw = &scan.volume;
    let n_slices = raw.n_slices();

    // 1. Cleaning: the seed's neighbour rule on perceptual hashes of lung-window slices
    //    (phash 8×8 at Hamming distance > 10: precision and recall 1.0 on the phantom sweep of
    //    docs/ct-similarity.md, where the seed's average hash at 5 found a third).
    let windowed = raw.window(Window::LUNG);
    let criterion = Criterion::Hash {
        kind: HashKind::Perceptual,
        hash_size: 8,
    };
    let removed = outlier_slices(windowed.view(), &criterion, cfg.clean_threshold)?.slices;
    let hu = drop_slices(raw, &removed)?;
    let windowed = drop_slices(&windowed, &removed)?;
    lap("clean", &mut timings);

    // 2. Lung segmentation (3-D morphology); Dice against the reference when known, which
    //    is defined on the uncleaned geometry, so the removed slices count as background.
    let lung_seg = lung_mask(&hu, &scan.meta, cfg.lung_recipe)?;
    let lung_voxels = lung_seg.data().iter().filter(|&&v| v != 0).count() as u64;
    let lung = lung_seg.with_data(lesion_inclusive_mask(&lung_seg, cfg.close_radius_mm)?)?;
    let dice_of = |m: &Volume<u8>| {
        truth.lung_bits.as_ref().map(|bits| {
            let mut full = Array3::<u8>::zeros(raw.data().dim());
            let kept = (0..n_slices).filter(|z| removed.binary_search(z).is_err());
            for (k, z) in kept.enumerate() {
                full.index_axis_mut(Axis(0), z)
                    .assign(&m.data().index_axis(Axis(0), k));
            }
            dice_bits(&pack_bits(full.view()), bits)
        })
    };
    let lung_dice = dice_of(&lung_seg);
    let lung_dice_closed = dice_of(&lung);
    lap("segment", &mut timings);

    // 3. Radiomic features of the segmented lung.
    let mut features = scan_features(
        &scan.id,
        hu.view(),
        lung.view(),
        hu.spacing(),
        &cfg.features,
    )?;
    lap("features", &mut timings);

    // 4. Contrast statistics and the seed's gray gate on the windowed scan.
    let contrast_stats = ContrastStats::of_volume(&windowed)?;
    let graygate_counts = GrayGate::counts(&windowed)?;
    lap("gate", &mut timings);

    // 5. Enhancement: CLAHE (the seed's clip 2.0, 8×8) on the lung box, then lung statistics.
    let b = bounding_box(&PackedMask::from_u8(lung_seg.view())?)
        .ok_or_else(|| ct_morph::Error::NoLung("the lung mask is empty".into()))?;
    let boxed = windowed
        .data()
        .slice(s![
            b.min[0]..=b.max[0],
            b.min[1]..=b.max[1],
            b.min[2]..=b.max[2]
        ])
        .to_owned();
    let boxed_mask = lung
        .data()
        .slice(s![
            b.min[0]..=b.max[0],
            b.min[1]..=b.max[1],
            b.min[2]..=b.max[2]
        ])
        .to_owned();
    let boxed = Volume::new(boxed, hu.spacing())?;
    let enhanced = if b.max[1] - b.min[1] >= 16 && b.max[2] - b.min[2] >= 16 {
        Clahe::seed().apply_volume(&boxed)?
    } else {
        boxed.clone()
    };
    let mut vals: Vec<u8> = enhanced
        .data()
        .iter()
        .zip(boxed_mask.iter())
        .filter(|(_, m)| **m != 0)
        .map(|(v, _)| *v)
        .collect();
    vals.sort_unstable();
    let n = vals.len().max(1) as f64;
    let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    let q = |p: f64| {
        vals.get(((vals.len().saturating_sub(1)) as f64 * p) as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    let bright = vals.iter().filter(|&&v| v >= 160).count() as f64 / n;
    features.extend([mean, std, q(0.1), q(0.5), q(0.9), bright]);
    lap("enhance", &mut timings);

    // 6. Lesion detector: candidate voxels scored, summarised per scan.
    let region = hull_mask(lung.view())?;
    let cands = candidates(hu.view(), region.view(), lung.view(), hu.spacing())?;
    let mut prob = detector.predict(&cands)?;
    // Raw slice index of each kept slice (candidate positions index the kept slices).
    let kept: Vec<usize> = (0..n_slices)
        .filter(|z| removed.binary_search(z).is_err())
        .collect();
    // The reference lesion mask at a candidate, when known.
    let (_, ny, nx) = raw.data().dim();
    let in_lesion = |bits: &[u64], q: &[u32; 3]| {
        let idx = (kept[q[0] as usize] * ny + q[1] as usize) * nx + q[2] as usize;
        bits[idx / 64] >> (idx % 64) & 1 == 1
    };
    if cfg.oracle_lesions {
        let bits = truth.lesion_bits.as_ref().ok_or_else(|| {
            Error::MissingTruth(format!(
                "--oracle-lesions: {} has no true lesion mask",
                scan.id
            ))
        })?;
        for (q, pv) in cands.positions.iter().zip(prob.iter_mut()) {
            *pv = f64::from(u8::from(in_lesion(bits, q)));
        }
    }
    features.extend(lesion_features(&cands, &prob, hu.spacing())?);
    let reference = truth.lesion_bits.as_ref().map(|bits| {
        let mut m = Array3::<u8>::zeros(cands.shape);
        for q in &cands.positions {
            m[[q[0] as usize, q[1] as usize, q[2] as usize]] = u8::from(in_lesion(bits, q));
        }
        m
    });
    let table = component_table(
        &cands,
        &prob,
        hu.spacing(),
        reference.as_ref().map(|m| m.view()),
    )?;
    let scores = detector.component_scores(&table)?;
    features.extend(component_scan_features(&table, &scores, cands.x_mid));
    let lesion_components = table.lesion_share.as_ref().map(|share| {
        scores
            .iter()
            .zip(share)
            .map(|(&p, &s)| (p, s >= 0.5))
            .collect()
    });
    drop(reference);
    let lesion_dice = match &truth.lesion_bits {
        Some(bits) if bits.iter().any(|&w| w != 0) => {
            let mut full = Array3::<u8>::zeros(raw.data().dim());
            for (q, &pv) in cands.positions.iter().zip(prob.iter()) {
                if pv >= 0.5 {
                    full[[kept[q[0] as usize], q[1] as usize, q[2] as usize]] = 1;
                }
            }
            Some(dice_bits(&pack_bits(full.view()), bits))
        }
        _ => None,
    };
    drop(cands);
    lap("lesion", &mut timings);

    // 6b. Lesion-pattern U-Net (CAP-like / COVID-19-like lesion pixels) on every
    //     `pattern_z_step`-th slice of the lung box, at half resolution, inside the search
    //     region (with `pattern_tta`, averaged with its output on the mirrored slices).
    let mut preview_pattern = None;
    let mut pattern_foci = Vec::new();
    if cfg.pattern_net {
        let (net, focus_model) = pattern.ok_or_else(|| Error::Config {
            name: "pattern_net",
            why: "the configuration asks for it but none was loaded".to_string(),
        })?;
        let sp = hu.spacing();
        let factor = downsample_factor(0.5 * (sp.y + sp.x));
        let vol = downsample(hu.view(), factor);
        let region_small = downsample_mask(region.view(), factor);
        let zs: Vec<usize> = (b.min[0]..=b.max[0]).step_by(cfg.pattern_z_step).collect();
        // The whole plane, as in training: a crop through the body gives the network an
        // edge it never saw (measured: 6× the lesion mass on normal scans).
        let (_, hy, hx) = vol.dim();
        let crop = Crop {
            y0: 0,
            x0: 0,
            h: hy.div_ceil(8) * 8,
            w: hx.div_ceil(8) * 8,
        };
        let f = if region_small.iter().any(|&v| v != 0) {
            let mut p = net.predict(&vol, &zs, crop, 8)?;
            if cfg.pattern_tta {
                // Mirror averaging (the training flipped slices at random): measured on six
                // cohorts, it lifts the separation of subtle lesions from normal lungs.
                p += &net.predict_flipped(&vol, &zs, crop, 8, true)?;
                p *= 0.5;
            }
            // The picture: the predicted slice with the most lesion probability.
            let k = (0..zs.len())
                .max_by(|&i, &j| {
                    let m = |k: usize| p.index_axis(Axis(0), k).slice(s![1..3, .., ..]).sum();
                    m(i).total_cmp(&m(j))
                })
                .unwrap_or(0);
            let img = pattern_overlay(
                windowed.data().index_axis(Axis(0), zs[k]),
                &p,
                k,
                crop,
                factor,
            )?;
            preview_pattern = Some(ct_report::image::png_bytes(&img)?);
            // The true lesion mask on the cleaned slices, when known.
            let truth_mask = truth.lesion_bits.as_ref().map(|bits| {
                let (kz, ky, kx) = hu.data().dim();
                Array3::from_shape_fn((kz, ky, kx), |(z, y, x)| {
                    let idx = (kept[z] * ny + y) * nx + x;
                    u8::from(bits[idx / 64] >> (idx % 64) & 1 == 1)
                })
            });
            let maps = PatternMaps {
                p: &p,
                vol: &vol,
                region: &region_small,
                zs: &zs,
                crop,
                spacing: hu.spacing(),
                factor,
                z_step: cfg.pattern_z_step,
            };
            pattern_foci =
                crate::lesion_patterns::pattern_foci(&maps, truth_mask.as_ref().map(|m| m.view()))?;
            let mut f = pattern_features(&maps)?;
            f.extend(focus_model.scan_features(&pattern_foci)?);
            f
        } else {
            let mut f = vec![0.0; PATTERN_FEATURE_NAMES.len()];
            f.extend(FocusModel::empty_scan_features());
            f
        };
        features.extend(f);
        lap("pattern", &mut timings);
    }

    // 7. Resampling to the fixed-length slice-model input (kept small here; the CNN stage
    //    consumes the same call) and OTDD thumbnails.
    let _fixed = ct_enhance::resample_to_slices(&boxed, cfg.resample_slices, Interpolation::Linear)
        .and_then(|v| {
            ct_enhance::resize_slices(
                &v,
                (cfg.resample_size, cfg.resample_size),
                Interpolation::Area,
            )
        })?;
    let th = thumbs(boxed.view(), THUMB_SLICES, THUMB_SIDE)?;
    let th_e = thumbs(enhanced.view(), THUMB_SLICES, THUMB_SIDE)?;
    lap("resample", &mut timings);

    // 8. EDA contributions.
    let mut eda = Eda::new(cfg.eda_size);
    if let Some(l) = scan.label {
        let small = ct_enhance::resize_slices(
            &windowed,
            (cfg.eda_size, cfg.eda_size),
            Interpolation::Area,
        )?;
        for sl in small.slices() {
            eda.slices[l.index()].push(sl)?;
        }
        let h = hu_hist(hu.view());
        eda.hu_class[l.index()] = h.clone();
        if let Some(c) = truth.contrast {
            eda.hu_contrast[(c == Contrast::Low) as usize] = h;
        }
    }
    let mid = (b.min[0] + b.max[0]) / 2;
    let preview = Some(png_of(windowed.slice(mid)?, Some(lung.slice(mid)?))?);
    let preview_enhanced = Some(png_of(enhanced.slice(mid - b.min[0])?, None)?);
    lap("eda", &mut timings);

    Ok(Processed {
        record: ScanRecord {
            id: scan.id.clone(),
            label: scan.label,
            contrast: truth.contrast.or(scan.meta.contrast),
            n_slices,
            spacing: raw.spacing().to_array(),
            removed,
            injected: truth.injected.clone(),
            lung_voxels,
            lung_dice,
            lung_dice_closed,
            lesion_dice,
            lesion_components,
            pattern_foci,
            features,
            contrast_stats,
            graygate_counts,
            thumbs: th,
            thumbs_enhanced: th_e,
            timings,
            warnings: scan.meta.warnings.clone(),
        },
        eda,
        preview,
        preview_enhanced,
        preview_pattern,
    })
}

/// Precision and recall of the cleaning rule against known out-of-place slices.
pub fn cleaning_scores(records: &[ScanRecord]) -> Option<(f64, f64, usize, usize)> {
    let (mut tp, mut flagged, mut truth) = (0usize, 0usize, 0usize);
    let mut any = false;
    for r in records {
        let Some(inj) = &r.injected else { continue };
        any = true;
        flagged += r.removed.len();
        truth += inj.len();
        tp += r.removed.iter().filter(|z| inj.contains(z)).count();
    }
    if !any {
        return None;
    }
    let p = if flagged > 0 {
        tp as f64 / flagged as f64
    } else {
        1.0
    };
    let rc = if truth > 0 {
        tp as f64 / truth as f64
    } else {
        1.0
    };
    Some((p, rc, flagged, truth))
}

/// Matrix of the thumbnails of some records (rows: slices) and their class labels.
pub fn thumb_matrix(records: &[&ScanRecord], enhanced: bool) -> (Array2<f64>, Vec<i64>) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for r in records {
        let Some(l) = r.label else { continue };
        for t in if enhanced {
            &r.thumbs_enhanced
        } else {
            &r.thumbs
        } {
            rows.extend(t.iter().map(|&v| v as f64));
            labels.push(l.index() as i64);
        }
    }
    let d = THUMB_SIDE * THUMB_SIDE;
    let n = labels.len();
    (
        Array2::from_shape_vec((n, d), rows).unwrap_or_else(|_| Array2::zeros((0, d))),
        labels,
    )
}
