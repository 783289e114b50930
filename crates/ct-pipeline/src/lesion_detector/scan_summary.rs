//! The per-scan summary of the voxel probabilities (the first [`VOXEL_SUMMARY_LEN`] lesion
//! features).

use ct_core::Spacing;

use super::*;
use crate::Result;
use crate::named::NamedFeatures;

/// Names of the per-scan lesion features appended to the feature table: the first
/// [`VOXEL_SUMMARY_LEN`] summarise the voxel probabilities ([`lesion_features`]), the rest the
/// scored components ([`component_scan_features`]).
pub const LESION_FEATURE_NAMES: [&str; 36] = [
    "lesion_pct",
    "lesion_prob_pct",
    "lesion_top1_ml",
    "lesion_top2_ml",
    "lesion_top3_ml",
    "lesion_foci_0.07ml",
    "lesion_foci_0.2ml",
    "lesion_consolidation_share",
    "lesion_mean_hu",
    "lesion_bilateral_balance",
    "lesion_lung_fraction_20mm",
    "lesion_y_relative",
    "lesion_z_relative",
    "lesion_max_prob",
    "lesion_top1_mean_hu",
    "scan_noise_hu",
    "aerated_lr_ratio",
    "hull_fill_min_side",
    "hull_fill_max_side",
    "slice_asymmetry_p90",
    "lesion_strong_pct",
    "lesion_top1_mean_prob",
    "lesion_top1_z_extent_mm",
    "lesion_top1_bbox_fill",
    "lesion_top1_y_relative",
    "lesion_top1_aerated_fraction",
    "lesion_top20_mean_prob",
    "lesion_top200_mean_prob",
    "comp_max_score",
    "comp_scored_ml",
    "comp_scored_consolidation_ml",
    "comp_scored_ggo_ml",
    "comp_scored_balance",
    "comp_confident_count",
    "comp_confident_bilateral",
    "comp_top_mean_hu",
];

const HU_3X3: usize = voxel_column("hu_3x3");
const AERATED_20MM: usize = voxel_column("aerated_fraction_20mm");
const Z_RELATIVE: usize = voxel_column("z_relative");
const Y_RELATIVE: usize = voxel_column("y_relative");
const SCAN_NOISE: usize = voxel_column("scan_noise");

/// How many of [`LESION_FEATURE_NAMES`] [`lesion_features`] yields.
pub const VOXEL_SUMMARY_LEN: usize = 28;

/// Summarises candidate probabilities into the first [`VOXEL_SUMMARY_LEN`] of
/// [`LESION_FEATURE_NAMES`].
pub fn lesion_features(c: &Candidates, p: &[f64], spacing: Spacing) -> Result<NamedFeatures> {
    let nl = c.lung_voxels.max(1) as f64;
    let sp = spacing.to_array();
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    let noise = c
        .features
        .column(SCAN_NOISE)
        .first()
        .copied()
        .unwrap_or(0.0);
    let hit: Vec<usize> = (0..p.len()).filter(|&i| p[i] >= 0.5).collect();
    let psum: f64 = p.iter().sum();
    let max_p = p.iter().cloned().fold(0.0, f64::max);
    // Mean of the k most confident voxels: a small, sure focus (a subtle lesion) against
    // scattered middling scores (noise, confounders), without a threshold.
    let mut sorted = p.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let top_mean = |k: usize| {
        let n = k.min(sorted.len());
        if n == 0 {
            0.0
        } else {
            sorted[..n].iter().sum::<f64>() / k as f64
        }
    };
    let (top20, top200) = (top_mean(20), top_mean(200));
    if hit.is_empty() {
        return Ok({
            let mut f = NamedFeatures::new();
            f.push("lesion_pct", 0.0);
            f.push("lesion_prob_pct", 100.0 * psum / nl);
            f.push("lesion_top1_ml", 0.0);
            f.push("lesion_top2_ml", 0.0);
            f.push("lesion_top3_ml", 0.0);
            f.push("lesion_foci_0.07ml", 0.0);
            f.push("lesion_foci_0.2ml", 0.0);
            f.push("lesion_consolidation_share", 0.0);
            f.push("lesion_mean_hu", -900.0);
            f.push("lesion_bilateral_balance", 0.0);
            f.push("lesion_lung_fraction_20mm", 1.0);
            f.push("lesion_y_relative", 0.5);
            f.push("lesion_z_relative", 0.5);
            f.push("lesion_max_prob", max_p);
            f.push("lesion_top1_mean_hu", -900.0);
            f.push("scan_noise_hu", noise);
            f.push("aerated_lr_ratio", c.shape_features[0]);
            f.push("hull_fill_min_side", c.shape_features[1]);
            f.push("hull_fill_max_side", c.shape_features[2]);
            f.push("slice_asymmetry_p90", c.shape_features[3]);
            f.push("lesion_strong_pct", 0.0);
            f.push("lesion_top1_mean_prob", 0.0);
            f.push("lesion_top1_z_extent_mm", 0.0);
            f.push("lesion_top1_bbox_fill", 0.0);
            f.push("lesion_top1_y_relative", 0.5);
            f.push("lesion_top1_aerated_fraction", 1.0);
            f.push("lesion_top20_mean_prob", top20);
            f.push("lesion_top200_mean_prob", top200);
            f
        });
    }
    // 3-D components of the detected voxels (26-connectivity).
    let (hit_label, n) = label_hits(c, &hit)?;
    let mut comp_p = vec![0f64; n + 1];
    let mut comp_hu = vec![0f64; n + 1];
    let mut comp_n = vec![0f64; n + 1];
    for (&i, &l) in hit.iter().zip(&hit_label) {
        let l = l as usize;
        comp_p[l] += p[i];
        comp_hu[l] += c.features[[i, HU_3X3]];
        comp_n[l] += 1.0;
    }
    let mut order: Vec<usize> = (1..=n).collect();
    order.sort_by(|&a, &b| comp_p[b].total_cmp(&comp_p[a]));
    let top = |k: usize| order.get(k).map(|&l| comp_p[l] * voxel_ml).unwrap_or(0.0);
    let foci = |ml: f64| (1..=n).filter(|&l| comp_n[l] * voxel_ml >= ml).count() as f64;
    let nh = hit.len() as f64;
    let mean_col = |col: usize| hit.iter().map(|&i| c.features[[i, col]]).sum::<f64>() / nh;
    let consolidation = hit
        .iter()
        .filter(|&&i| c.features[[i, HU_3X3]] > -300.0)
        .count() as f64
        / nh;
    let mid = c.x_mid;
    let (mut left, mut right) = (0f64, 0f64);
    for &i in &hit {
        if (c.positions[i][2] as f64) < mid {
            left += 1.0;
        } else {
            right += 1.0;
        }
    }
    let top1 = order[0];
    // Shape and context of the strongest component: atelectasis bands are dependent and
    // flat, nodules small and round, opacities spread over slices.
    let (mut zr, mut yr, mut xr) = ((u32::MAX, 0u32), (u32::MAX, 0u32), (u32::MAX, 0u32));
    let (mut t_y, mut t_air, mut t_p) = (0f64, 0f64, 0f64);
    for (&i, &l) in hit.iter().zip(&hit_label) {
        let q = c.positions[i];
        if l as usize != top1 {
            continue;
        }
        zr = (zr.0.min(q[0]), zr.1.max(q[0]));
        yr = (yr.0.min(q[1]), yr.1.max(q[1]));
        xr = (xr.0.min(q[2]), xr.1.max(q[2]));
        t_y += c.features[[i, Y_RELATIVE]];
        t_air += c.features[[i, AERATED_20MM]];
        t_p += p[i];
    }
    let tn = comp_n[top1].max(1.0);
    let bbox = ((zr.1 - zr.0 + 1) * (yr.1 - yr.0 + 1) * (xr.1 - xr.0 + 1)) as f64;
    let strong = p.iter().filter(|&&v| v >= 0.9).count() as f64;
    Ok({
        let mut f = NamedFeatures::new();
        f.push("lesion_pct", 100.0 * nh / nl);
        f.push("lesion_prob_pct", 100.0 * psum / nl);
        f.push("lesion_top1_ml", top(0));
        f.push("lesion_top2_ml", top(1));
        f.push("lesion_top3_ml", top(2));
        f.push("lesion_foci_0.07ml", foci(0.07));
        f.push("lesion_foci_0.2ml", foci(0.2));
        f.push("lesion_consolidation_share", consolidation);
        f.push("lesion_mean_hu", mean_col(HU_3X3));
        f.push(
            "lesion_bilateral_balance",
            left.min(right) / left.max(right).max(1.0),
        );
        f.push("lesion_lung_fraction_20mm", mean_col(AERATED_20MM));
        f.push("lesion_y_relative", mean_col(Y_RELATIVE));
        f.push("lesion_z_relative", mean_col(Z_RELATIVE));
        f.push("lesion_max_prob", max_p);
        f.push("lesion_top1_mean_hu", comp_hu[top1] / comp_n[top1].max(1.0));
        f.push("scan_noise_hu", noise);
        f.push("aerated_lr_ratio", c.shape_features[0]);
        f.push("hull_fill_min_side", c.shape_features[1]);
        f.push("hull_fill_max_side", c.shape_features[2]);
        f.push("slice_asymmetry_p90", c.shape_features[3]);
        f.push("lesion_strong_pct", 100.0 * strong / nl);
        f.push("lesion_top1_mean_prob", t_p / tn);
        f.push("lesion_top1_z_extent_mm", (zr.1 - zr.0 + 1) as f64 * sp[0]);
        f.push("lesion_top1_bbox_fill", tn / bbox);
        f.push("lesion_top1_y_relative", t_y / tn);
        f.push("lesion_top1_aerated_fraction", t_air / tn);
        f.push("lesion_top20_mean_prob", top20);
        f.push("lesion_top200_mean_prob", top200);
        f
    })
}
