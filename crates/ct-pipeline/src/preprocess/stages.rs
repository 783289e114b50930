//! The per-scan stages, in order. Each takes the scan's context and the outputs of the
//! stages before it and returns its own typed output; none of them compares with known
//! truth, except where a stage's product depends on it by request (`--oracle-lesions`) or
//! carries a reference share beside its output for the evaluation pass (lesion components
//! and pattern foci on phantoms).

use ct_core::{Scan, Volume, Window};
use ct_enhance::{Clahe, ContrastStats, GrayGate, Interpolation};
use ct_morph::PackedMask;
use ct_morph::lung::{BoundingBox, bounding_box};
use ct_similarity::{Criterion, HashKind, outlier_slices};
use ndarray::{Array3, Axis, s};

use super::eda::{Eda, THUMB_SIDE, THUMB_SLICES, hu_hist, thumbs};
use super::masks::{drop_slices, lesion_inclusive_mask, lung_mask};
use super::record::KnownTruth;
use crate::config::PipelineConfig;
use crate::features::scan_features;
use crate::lesion_detector::{
    LesionDetector, candidates, component_scan_features, component_table, hull_mask,
    lesion_features,
};
use crate::lesion_patterns::{
    Crop, Focus, FocusModel, PATTERN_FEATURE_NAMES, PatternMaps, PatternNet, downsample,
    downsample_factor, downsample_mask, pattern_features, pattern_overlay,
};
use crate::named::NamedFeatures;
use crate::{Error, Result};

/// What every stage of one scan may read.
pub(super) struct ScanContext<'a> {
    /// The scan as read.
    pub scan: &'a Scan,
    /// Ground truth, when known (phantoms); only the evaluation pass and the oracle read it.
    pub truth: &'a KnownTruth,
    /// The run's configuration.
    pub cfg: &'a PipelineConfig,
}

/// Stage `clean`: the scan without its out-of-place slices.
pub(super) struct Cleaned {
    /// Slices removed (indices of the scan as read, sorted).
    pub removed: Vec<usize>,
    /// Raw slice index of each kept slice.
    pub kept: Vec<usize>,
    /// HU of the kept slices.
    pub hu: Volume<i16>,
    /// The same in the lung window.
    pub windowed: Volume<u8>,
}

/// The seed's neighbour rule on perceptual hashes of lung-window slices (phash 8×8 at
/// Hamming distance > 10: precision and recall 1.0 on the phantom sweep of
/// docs/ct-similarity.md, where the seed's average hash at 5 found a third).
pub(super) fn clean(ctx: &ScanContext<'_>) -> Result<Cleaned> {
    let raw = &ctx.scan.volume;
    let windowed = raw.window(Window::LUNG);
    let criterion = Criterion::Hash {
        kind: HashKind::Perceptual,
        hash_size: 8,
    };
    let removed = outlier_slices(windowed.view(), &criterion, ctx.cfg.clean_threshold)?.slices;
    let hu = drop_slices(raw, &removed)?;
    let windowed = drop_slices(&windowed, &removed)?;
    let kept = (0..raw.n_slices())
        .filter(|z| removed.binary_search(z).is_err())
        .collect();
    Ok(Cleaned {
        removed,
        kept,
        hu,
        windowed,
    })
}

/// Stage `segment`: the lung mask and the lesion-inclusive mask the later stages use.
pub(super) struct Lungs {
    /// The recipe's 0/1 lung mask.
    pub segmented: Volume<u8>,
    /// Its in-plane closing with holes filled ([`lesion_inclusive_mask`]).
    pub inclusive: Volume<u8>,
    /// Voxels of `segmented`.
    pub voxels: u64,
    /// The bounding box of `segmented`.
    pub bbox: BoundingBox,
}

/// The lung mask by the configured recipe and its lesion-inclusive closing.
pub(super) fn segment(ctx: &ScanContext<'_>, c: &Cleaned) -> Result<Lungs> {
    let segmented = lung_mask(&c.hu, &ctx.scan.meta, ctx.cfg.lung_recipe)?;
    let voxels = segmented.data().iter().filter(|&&v| v != 0).count() as u64;
    let inclusive =
        segmented.with_data(lesion_inclusive_mask(&segmented, ctx.cfg.close_radius_mm)?)?;
    let bbox = bounding_box(&PackedMask::from_u8(segmented.view())?)
        .ok_or_else(|| ct_morph::Error::NoLung("the lung mask is empty".into()))?;
    Ok(Lungs {
        segmented,
        inclusive,
        voxels,
        bbox,
    })
}

/// Stage `features`: the radiomic features of the lesion-inclusive lung.
pub(super) fn radiomics(ctx: &ScanContext<'_>, c: &Cleaned, l: &Lungs) -> Result<NamedFeatures> {
    scan_features(
        &ctx.scan.id,
        c.hu.view(),
        l.inclusive.view(),
        c.hu.spacing(),
        &ctx.cfg.features,
    )
}

/// Stage `gate`: contrast statistics and the seed's gray-gate counts of the windowed scan.
pub(super) fn gate(c: &Cleaned) -> Result<(ContrastStats, Vec<usize>)> {
    Ok((
        ContrastStats::of_volume(&c.windowed)?,
        GrayGate::counts(&c.windowed)?,
    ))
}

/// Stage `enhance`: the lung box in the lung window, after CLAHE, and the enhanced-image
/// features ([`super::ENHANCED_NAMES`]).
pub(super) struct Enhanced {
    /// The windowed lung box.
    pub boxed: Volume<u8>,
    /// The same after CLAHE (the seed's clip 2.0, 8×8; unchanged when the box is smaller
    /// than 16 pixels).
    pub enhanced: Volume<u8>,
    /// Mean, std, p10, p50, p90 and the share ≥ 160 of the enhanced lung.
    pub features: NamedFeatures,
}

/// CLAHE on the lung box, then statistics of the enhanced lung.
pub(super) fn enhance(c: &Cleaned, l: &Lungs) -> Result<Enhanced> {
    let b = &l.bbox;
    let boxed = c
        .windowed
        .data()
        .slice(s![
            b.min[0]..=b.max[0],
            b.min[1]..=b.max[1],
            b.min[2]..=b.max[2]
        ])
        .to_owned();
    let boxed_mask = l.inclusive.data().slice(s![
        b.min[0]..=b.max[0],
        b.min[1]..=b.max[1],
        b.min[2]..=b.max[2]
    ]);
    let boxed = Volume::new(boxed, c.hu.spacing())?;
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
    Ok(Enhanced {
        boxed,
        enhanced,
        features: {
            let mut f = NamedFeatures::new();
            f.push("clahe_lung_mean", mean);
            f.push("clahe_lung_std", std);
            f.push("clahe_lung_p10", q(0.1));
            f.push("clahe_lung_p50", q(0.5));
            f.push("clahe_lung_p90", q(0.9));
            f.push("clahe_lung_bright_frac", bright);
            f
        },
    })
}

/// Stage `lesion`: the voxel detector's output summarised per scan.
pub(super) struct Lesions {
    /// The search region (lung with juxtapleural bites filled).
    pub region: Array3<u8>,
    /// [`crate::lesion_detector::LESION_FEATURE_NAMES`].
    pub features: NamedFeatures,
    /// Candidates with probability ≥ ½ (`(z, y, x)` of the cleaned scan).
    pub detected: Vec<[u32; 3]>,
    /// The component stage's score of each component and its share inside the reference
    /// lesion mask, when one is known.
    pub components: Option<Vec<(f64, f64)>>,
}

/// The reference lesion mask at a voxel of the cleaned scan.
fn in_lesion(bits: &[u64], kept: &[usize], dims: (usize, usize), q: &[u32; 3]) -> bool {
    let (ny, nx) = dims;
    let idx = (kept[q[0] as usize] * ny + q[1] as usize) * nx + q[2] as usize;
    bits[idx / 64] >> (idx % 64) & 1 == 1
}

/// Candidate voxels scored by the detector (or by the truth, with `--oracle-lesions`),
/// their per-scan summary, and the scored components.
pub(super) fn lesions(
    ctx: &ScanContext<'_>,
    c: &Cleaned,
    l: &Lungs,
    detector: &LesionDetector,
) -> Result<Lesions> {
    let hu = &c.hu;
    let region = hull_mask(l.inclusive.view())?;
    let cands = candidates(hu.view(), region.view(), l.inclusive.view(), hu.spacing())?;
    let mut prob = detector.predict(&cands)?;
    let (_, ny, nx) = ctx.scan.volume.data().dim();
    let truth_bits = ctx.truth.lesion_bits.as_ref();
    if ctx.cfg.oracle_lesions {
        let bits = truth_bits.ok_or_else(|| {
            Error::MissingTruth(format!(
                "--oracle-lesions: {} has no true lesion mask",
                ctx.scan.id
            ))
        })?;
        for (q, pv) in cands.positions.iter().zip(prob.iter_mut()) {
            *pv = f64::from(u8::from(in_lesion(bits, &c.kept, (ny, nx), q)));
        }
    }
    let mut features = lesion_features(&cands, &prob, hu.spacing())?;
    let reference = truth_bits.map(|bits| {
        let mut m = Array3::<u8>::zeros(cands.shape);
        for q in &cands.positions {
            m[[q[0] as usize, q[1] as usize, q[2] as usize]] =
                u8::from(in_lesion(bits, &c.kept, (ny, nx), q));
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
    features.append(component_scan_features(&table, &scores, cands.x_mid));
    let components = table
        .lesion_share
        .as_ref()
        .map(|share| scores.iter().copied().zip(share.iter().copied()).collect());
    let detected = cands
        .positions
        .iter()
        .zip(prob.iter())
        .filter(|(_, p)| **p >= 0.5)
        .map(|(q, _)| *q)
        .collect();
    Ok(Lesions {
        region,
        features,
        detected,
        components,
    })
}

/// Stage `pattern`: the lesion-pattern U-Net's features, its foci and a picture.
pub(super) struct Patterns {
    /// [`PATTERN_FEATURE_NAMES`] then the focus model's per-scan features.
    pub features: NamedFeatures,
    /// The foci, largest first.
    pub foci: Vec<Focus>,
    /// PNG of the slice with the most lesion probability.
    pub preview: Option<Vec<u8>>,
}

/// The U-Net on every `pattern_z_step`-th slice of the lung box, at half resolution, inside
/// the search region (with `pattern_tta`, averaged with its output on the mirrored slices).
pub(super) fn patterns(
    ctx: &ScanContext<'_>,
    c: &Cleaned,
    l: &Lungs,
    les: &Lesions,
    (net, focus_model): (&PatternNet, &FocusModel),
) -> Result<Patterns> {
    let cfg = ctx.cfg;
    let hu = &c.hu;
    let b = &l.bbox;
    let sp = hu.spacing();
    let factor = downsample_factor(0.5 * (sp.y + sp.x));
    let vol = downsample(hu.view(), factor);
    let region_small = downsample_mask(les.region.view(), factor);
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
    if !region_small.iter().any(|&v| v != 0) {
        let mut features = NamedFeatures::new();
        features.push_all(&PATTERN_FEATURE_NAMES, &[0.0; PATTERN_FEATURE_NAMES.len()])?;
        features.append(FocusModel::empty_scan_features());
        return Ok(Patterns {
            features,
            foci: Vec::new(),
            preview: None,
        });
    }
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
        c.windowed.data().index_axis(Axis(0), zs[k]),
        &p,
        k,
        crop,
        factor,
    )?;
    let preview = Some(ct_report::image::png_bytes(&img)?);
    // The true lesion mask on the cleaned slices, when known (each focus's share in it).
    let (_, ny, nx) = ctx.scan.volume.data().dim();
    let truth_mask = ctx.truth.lesion_bits.as_ref().map(|bits| {
        let (kz, ky, kx) = hu.data().dim();
        Array3::from_shape_fn((kz, ky, kx), |(z, y, x)| {
            let idx = (c.kept[z] * ny + y) * nx + x;
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
    let foci = crate::lesion_patterns::pattern_foci(&maps, truth_mask.as_ref().map(|m| m.view()))?;
    let mut features = pattern_features(&maps)?;
    features.append(focus_model.scan_features(&foci)?);
    Ok(Patterns {
        features,
        foci,
        preview,
    })
}

/// The OTDD thumbnails of one scan's lung box: as windowed, and after each enhancement.
pub(super) struct Thumbs {
    pub original: Vec<Vec<f32>>,
    pub clahe: Vec<Vec<f32>>,
    pub he: Vec<Vec<f32>>,
    pub he_clahe: Vec<Vec<f32>>,
}

/// Stage `thumbs`: the OTDD thumbnails of the lung box, before and after CLAHE, HE and
/// HE + CLAHE (the enhancements of the seed's augmentation guidance).
pub(super) fn otdd_thumbs(e: &Enhanced) -> Result<Thumbs> {
    let he = ct_enhance::equalize_hist_volume(&e.boxed)?;
    let (_, h, w) = e.boxed.data().dim();
    // As for CLAHE alone: a box under 16 pixels is left as it is.
    let he_clahe = if h >= 16 && w >= 16 {
        Clahe::seed().apply_after_he_volume(&e.boxed)?
    } else {
        he.clone()
    };
    let small = |v: &Volume<u8>| thumbs(v.view(), THUMB_SLICES, THUMB_SIDE);
    Ok(Thumbs {
        original: small(&e.boxed)?,
        clahe: small(&e.enhanced)?,
        he: small(&he)?,
        he_clahe: small(&he_clahe)?,
    })
}

/// Stage `eda`: this scan's EDA contributions and its preview pictures (the middle lung
/// slice with the mask outline, and the same slice after CLAHE).
pub(super) fn eda(
    ctx: &ScanContext<'_>,
    c: &Cleaned,
    l: &Lungs,
    e: &Enhanced,
) -> Result<(Eda, [Vec<u8>; 2])> {
    let cfg = ctx.cfg;
    let mut eda = Eda::new(cfg.eda_size);
    if let Some(label) = ctx.scan.label {
        let small = ct_enhance::resize_slices(
            &c.windowed,
            (cfg.eda_size, cfg.eda_size),
            Interpolation::Area,
        )?;
        for sl in small.slices() {
            eda.slices[label.index()].push(sl)?;
        }
        let h = hu_hist(c.hu.view());
        eda.hu_class[label.index()] = h.clone();
        if let Some(g) = ctx.truth.contrast {
            eda.hu_contrast[(g == ct_core::Contrast::Low) as usize] = h;
        }
    }
    let b = &l.bbox;
    let mid = (b.min[0] + b.max[0]) / 2;
    let preview = png_of(c.windowed.slice(mid)?, Some(l.inclusive.slice(mid)?))?;
    let preview_enhanced = png_of(e.enhanced.slice(mid - b.min[0])?, None)?;
    Ok((eda, [preview, preview_enhanced]))
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
