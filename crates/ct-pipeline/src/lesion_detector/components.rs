//! The second stage: 3-D components of the detected voxels, their features and the
//! per-scan features of the scored components.

use ct_core::Spacing;
use ct_morph::{Components, PackedMask, generate_binary_structure};
use ndarray::{Array2, Array3, ArrayView3};

use super::*;
use crate::named::NamedFeatures;
use crate::{Error, Result};

/// 3-D components (26-connectivity) of the candidates `hit`: the component (1-based) of each
/// hit, and how many there are.
pub(super) fn label_hits(c: &Candidates, hit: &[usize]) -> Result<(Vec<u32>, usize)> {
    let mut mask = Array3::<bool>::from_elem(c.shape, false);
    for &i in hit {
        let q = c.positions[i];
        mask[[q[0] as usize, q[1] as usize, q[2] as usize]] = true;
    }
    let comps = Components::new(
        &PackedMask::from_bool(mask.view())?,
        &generate_binary_structure(3, 3)?,
    )?;
    let labels = comps.labels();
    let per_hit = hit
        .iter()
        .map(|&i| {
            let q = c.positions[i];
            labels[[q[0] as usize, q[1] as usize, q[2] as usize]]
        })
        .collect();
    Ok((per_hit, comps.len()))
}

/// Voxel-feature columns whose mean and maximum over a component describe it: density, its
/// excess over the background, the 4 mm opening, the aerated surroundings, the position, the
/// share outside the aerated lung, the blob-ness and the wider context.
const COMPONENT_VOXEL_FEATURES: [&str; 12] = [
    "hu_3x3",
    "hu_minus_background",
    "opening_4mm_minus_background",
    "aerated_fraction_20mm",
    "z_relative",
    "y_relative",
    "x_lateral",
    "outside_aerated_lung",
    "hessian_min_2mm",
    "hessian_min_5mm",
    "mean_10mm_minus_background",
    "mean_20mm_minus_background",
];
const COMPONENT_VOXEL_COLUMNS: [usize; 12] = {
    let mut out = [0; 12];
    let mut i = 0;
    while i < 12 {
        out[i] = voxel_column(COMPONENT_VOXEL_FEATURES[i]);
        i += 1;
    }
    out
};
const SCAN_NOISE: usize = voxel_column("scan_noise");
const MEAN_HU_3X3: usize = crate::named::index_of(&COMPONENT_FEATURE_NAMES, "mean_hu_3x3");

/// Names of the per-component features of the second (false-positive reduction) stage.
pub const COMPONENT_FEATURE_NAMES: [&str; 32] = [
    "log_volume_ul",
    "mean_prob",
    "max_prob",
    "z_extent_mm",
    "in_plane_extent_mm",
    "bbox_fill",
    "strong_share",
    "scan_noise",
    "mean_hu_3x3",
    "max_hu_3x3",
    "mean_hu_minus_background",
    "max_hu_minus_background",
    "mean_opening_4mm",
    "max_opening_4mm",
    "mean_aerated_fraction_20mm",
    "max_aerated_fraction_20mm",
    "mean_z_relative",
    "max_z_relative",
    "mean_y_relative",
    "max_y_relative",
    "mean_x_lateral",
    "max_x_lateral",
    "mean_outside_aerated_lung",
    "max_outside_aerated_lung",
    "mean_hessian_min_2mm",
    "max_hessian_min_2mm",
    "mean_hessian_min_5mm",
    "max_hessian_min_5mm",
    "mean_mean_10mm",
    "max_mean_10mm",
    "mean_mean_20mm",
    "max_mean_20mm",
];

/// The detected components of one scan (voxels with probability ≥ ½, 26-connected).
#[derive(Debug, Clone)]
pub struct ComponentTable {
    /// One row per component, columns [`COMPONENT_FEATURE_NAMES`].
    pub features: Array2<f64>,
    /// Voxels of each component.
    pub voxels: Vec<usize>,
    /// Mean column of each component (for the left/right side against [`Candidates::x_mid`]).
    pub mean_x: Vec<f64>,
    /// Share of each component's voxels inside the reference lesion mask, when one was given.
    pub lesion_share: Option<Vec<f64>>,
    /// Volume of one voxel (ml).
    pub voxel_ml: f64,
}

/// Groups the detected voxels (`p ≥ ½`) into components and describes each
/// ([`COMPONENT_FEATURE_NAMES`]); with a reference lesion `mask` (`(z, y, x)`), also the
/// share of each component inside it (the training label of the second stage).
pub fn component_table(
    c: &Candidates,
    p: &[f64],
    spacing: Spacing,
    mask: Option<ArrayView3<'_, u8>>,
) -> Result<ComponentTable> {
    if p.len() != c.positions.len() {
        return Err(Error::Inconsistent(format!(
            "{} probabilities for {} candidates",
            p.len(),
            c.positions.len()
        )));
    }
    if let Some(m) = &mask
        && m.dim() != c.shape
    {
        return Err(Error::Inconsistent(format!(
            "lesion mask {:?} does not match the scan {:?}",
            m.dim(),
            c.shape
        )));
    }
    let sp = spacing.to_array();
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    let hit: Vec<usize> = (0..p.len()).filter(|&i| p[i] >= 0.5).collect();
    let (hit_label, n) = label_hits(c, &hit)?;
    let nf = COMPONENT_FEATURE_NAMES.len();
    let nc = COMPONENT_VOXEL_COLUMNS.len();
    let mut cnt = vec![0f64; n];
    let mut psum = vec![0f64; n];
    let mut pmax = vec![0f64; n];
    let mut strong = vec![0f64; n];
    let mut xsum = vec![0f64; n];
    let mut inside = vec![0f64; n];
    let mut lo = vec![[u32::MAX; 3]; n];
    let mut hi = vec![[0u32; 3]; n];
    let mut csum = vec![0f64; n * nc];
    let mut cmax = vec![f64::NEG_INFINITY; n * nc];
    for (&i, &l) in hit.iter().zip(&hit_label) {
        let k = l as usize - 1;
        let q = c.positions[i];
        cnt[k] += 1.0;
        psum[k] += p[i];
        pmax[k] = pmax[k].max(p[i]);
        strong[k] += f64::from(u8::from(p[i] >= 0.9));
        xsum[k] += q[2] as f64;
        if let Some(m) = &mask {
            inside[k] += f64::from(u8::from(
                m[[q[0] as usize, q[1] as usize, q[2] as usize]] != 0,
            ));
        }
        for a in 0..3 {
            lo[k][a] = lo[k][a].min(q[a]);
            hi[k][a] = hi[k][a].max(q[a]);
        }
        for (j, &col) in COMPONENT_VOXEL_COLUMNS.iter().enumerate() {
            let v = c.features[[i, col]];
            csum[k * nc + j] += v;
            cmax[k * nc + j] = cmax[k * nc + j].max(v);
        }
    }
    let noise = c
        .features
        .column(SCAN_NOISE)
        .first()
        .copied()
        .unwrap_or(0.0);
    let mut features = Array2::<f64>::zeros((n, nf));
    for k in 0..n {
        let ext = |a: usize| (hi[k][a] - lo[k][a] + 1) as f64;
        let mut row = vec![
            (cnt[k] * voxel_ml * 1000.0).ln(),
            psum[k] / cnt[k],
            pmax[k],
            ext(0) * sp[0],
            (ext(1) * sp[1]).max(ext(2) * sp[2]),
            cnt[k] / (ext(0) * ext(1) * ext(2)),
            strong[k] / cnt[k],
            noise,
        ];
        for j in 0..nc {
            row.push(csum[k * nc + j] / cnt[k]);
            row.push(cmax[k * nc + j]);
        }
        features.row_mut(k).assign(&ndarray::Array1::from(row));
    }
    Ok(ComponentTable {
        features,
        voxels: cnt.iter().map(|&v| v as usize).collect(),
        mean_x: (0..n).map(|k| xsum[k] / cnt[k]).collect(),
        lesion_share: mask.map(|_| (0..n).map(|k| inside[k] / cnt[k]).collect()),
        voxel_ml,
    })
}

/// Summarises scored components (the last entries of [`LESION_FEATURE_NAMES`]): the best score, the score-weighted volume (`ln(1 + 10·ml)`)
/// in all, of consolidation density (mean > −300 HU) and of ground glass, the balance of the
/// weighted volume between the sides, how many components score above ½, whether they do on
/// both sides, and the mean density of the best one.
pub fn component_scan_features(t: &ComponentTable, scores: &[f64], x_mid: f64) -> NamedFeatures {
    let n = scores.len().min(t.voxels.len());
    if n == 0 {
        return {
            let mut f = NamedFeatures::new();
            f.push("comp_max_score", 0.0);
            f.push("comp_scored_ml", 0.0);
            f.push("comp_scored_consolidation_ml", 0.0);
            f.push("comp_scored_ggo_ml", 0.0);
            f.push("comp_scored_balance", 0.0);
            f.push("comp_confident_count", 0.0);
            f.push("comp_confident_bilateral", 0.0);
            f.push("comp_top_mean_hu", -900.0);
            f
        };
    }
    let hu = |k: usize| t.features[[k, MEAN_HU_3X3]];
    let (mut all, mut cons, mut ggo, mut left, mut right) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let (mut count, mut conf_l, mut conf_r) = (0f64, false, false);
    let mut best = 0;
    for k in 0..n {
        let w = scores[k] * t.voxels[k] as f64 * t.voxel_ml;
        all += w;
        if hu(k) > -300.0 {
            cons += w;
        } else {
            ggo += w;
        }
        let is_left = t.mean_x[k] < x_mid;
        if is_left {
            left += w;
        } else {
            right += w;
        }
        if scores[k] > 0.5 {
            count += 1.0;
            conf_l |= is_left;
            conf_r |= !is_left;
        }
        if scores[k] > scores[best] {
            best = k;
        }
    }
    let ml = |v: f64| (1.0 + 10.0 * v).ln();
    {
        let mut f = NamedFeatures::new();
        f.push("comp_max_score", scores[best]);
        f.push("comp_scored_ml", ml(all));
        f.push("comp_scored_consolidation_ml", ml(cons));
        f.push("comp_scored_ggo_ml", ml(ggo));
        f.push(
            "comp_scored_balance",
            if left.max(right) > 0.0 {
                left.min(right) / left.max(right)
            } else {
                0.0
            },
        );
        f.push("comp_confident_count", count);
        f.push(
            "comp_confident_bilateral",
            f64::from(u8::from(conf_l && conf_r)),
        );
        f.push("comp_top_mean_hu", hu(best));
        f
    }
}

/// Components sampled from one training scan for the second stage.
#[derive(Debug, Clone, Default)]
pub struct ComponentSample {
    /// Row-major rows of [`COMPONENT_FEATURE_NAMES`].
    pub rows: Vec<f64>,
    /// 1 = at least half of the component is lesion, 0 = false detection.
    pub labels: Vec<usize>,
}

impl ComponentSample {
    /// The rows and labels of a table made with a reference mask.
    pub fn from_table(t: &ComponentTable) -> Result<ComponentSample> {
        let share = t.lesion_share.as_ref().ok_or_else(|| {
            Error::MissingTruth("component table made without a reference lesion mask".into())
        })?;
        Ok(ComponentSample {
            rows: t.features.iter().copied().collect(),
            labels: share.iter().map(|&s| usize::from(s >= 0.5)).collect(),
        })
    }
}
