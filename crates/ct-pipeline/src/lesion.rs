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

use ct_core::Spacing;
use ct_morph::{Components, PackedMask, generate_binary_structure};
use ensemble::{Classifier, Gbdt, GbdtParams};
use ndarray::{Array2, Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Names of the per-voxel context features.
pub const VOXEL_FEATURE_NAMES: [&str; 22] = [
    "hu_3x3",
    "hu_minus_background",
    "mean_10mm_minus_background",
    "std_6mm",
    "opening_4mm_minus_background",
    "opening_8mm_minus_background",
    "aerated_fraction_20mm",
    "dense_fraction_8mm",
    "hu_3slices_minus_background",
    "z_relative",
    "y_relative",
    "scan_noise",
    "background",
    "aerated_fraction_8mm",
    "x_lateral",
    "opening_4mm_min_3slices_minus_background",
    "mean_20mm_minus_background",
    "outside_aerated_lung",
    "hessian_min_2mm",
    "hessian_max_2mm",
    "hessian_min_5mm",
    "hessian_max_5mm",
];

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

/// How many of [`LESION_FEATURE_NAMES`] [`lesion_features`] yields.
pub const VOXEL_SUMMARY_LEN: usize = 28;

/// Candidate voxels of one scan: their context features and positions.
#[derive(Debug, Clone)]
pub struct Candidates {
    /// One row per candidate, columns [`VOXEL_FEATURE_NAMES`].
    pub features: Array2<f64>,
    /// `(z, y, x)` of each candidate.
    pub positions: Vec<[u32; 3]>,
    /// Lung voxels of the scan.
    pub lung_voxels: usize,
    /// Shape of the volume.
    pub shape: (usize, usize, usize),
    /// Column halfway between the lung's leftmost and rightmost columns (left/right split).
    pub x_mid: f64,
    /// Shape features of the aerated lung against the searched region: aerated volume ratio
    /// of the smaller to the larger side, the hull's added volume relative to the aerated
    /// volume on the less and the more filled side, and the 90th percentile over slices of
    /// the left/right area asymmetry `|L − R| / (L + R)`. A large consolidation takes a bite
    /// out of one lung; these see it even where the detector cannot.
    pub shape_features: [f64; 4],
}

/// Masked box mean over a `(2r+1)²` window clipped at the borders, from integral images of
/// `a·w` and `w`; where the window holds no mask, `fallback`.
fn masked_box_mean(a: &Array2<f32>, w: &Array2<f32>, r: usize, fallback: f32) -> Array2<f32> {
    let (h, wd) = a.dim();
    let mut ia = vec![0f64; (h + 1) * (wd + 1)];
    let mut iw = vec![0f64; (h + 1) * (wd + 1)];
    for y in 0..h {
        let (mut ra, mut rw) = (0f64, 0f64);
        for x in 0..wd {
            ra += (a[[y, x]] * w[[y, x]]) as f64;
            rw += w[[y, x]] as f64;
            let i = (y + 1) * (wd + 1) + x + 1;
            ia[i] = ia[i - wd - 1] + ra;
            iw[i] = iw[i - wd - 1] + rw;
        }
    }
    let sum = |ii: &[f64], y0: usize, y1: usize, x0: usize, x1: usize| {
        ii[y1 * (wd + 1) + x1] - ii[y0 * (wd + 1) + x1] - ii[y1 * (wd + 1) + x0]
            + ii[y0 * (wd + 1) + x0]
    };
    Array2::from_shape_fn((h, wd), |(y, x)| {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(wd));
        let sw = sum(&iw, y0, y1, x0, x1);
        if sw > 1e-9 {
            (sum(&ia, y0, y1, x0, x1) / sw) as f32
        } else {
            fallback
        }
    })
}

/// Separable min (`max = false`) or max filter over a `(2r+1)²` square clipped at the borders.
fn square_filter(a: &Array2<f32>, r: usize, max: bool) -> Array2<f32> {
    let (h, w) = a.dim();
    let pick = |p: f32, q: f32| if max { p.max(q) } else { p.min(q) };
    let mut tmp = Array2::<f32>::zeros((h, w));
    for y in 0..h {
        for x in 0..w {
            let mut v = a[[y, x]];
            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                v = pick(v, a[[y, xx]]);
            }
            tmp[[y, x]] = v;
        }
    }
    let mut out = Array2::<f32>::zeros((h, w));
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        let mut row = tmp.row(y0).to_owned();
        for yy in y0 + 1..y1 {
            for (o, &v) in row.iter_mut().zip(tmp.row(yy).iter()) {
                *o = pick(*o, v);
            }
        }
        out.row_mut(y).assign(&row);
    }
    out
}

/// Eigenvalues (smaller, larger) of the in-plane Hessian of `a` smoothed by two box passes of
/// radius `r` (close to a Gaussian of σ ≈ 0.8·r), scaled by r² so scales compare. A bright
/// blob has both strongly negative, a vessel one, a plate or flat parenchyma neither.
fn hessian_eigen(a: &Array2<f32>, r: usize) -> (Array2<f32>, Array2<f32>) {
    let ones = Array2::<f32>::ones(a.dim());
    let s = masked_box_mean(&masked_box_mean(a, &ones, r, 0.0), &ones, r, 0.0);
    let (h, w) = s.dim();
    let d = r.max(1);
    let at = |y: isize, x: isize| {
        s[[
            y.clamp(0, h as isize - 1) as usize,
            x.clamp(0, w as isize - 1) as usize,
        ]]
    };
    let (mut lo, mut hi) = (Array2::zeros((h, w)), Array2::zeros((h, w)));
    let di = d as isize;
    let norm = (r * r) as f32 / (d * d) as f32;
    for y in 0..h as isize {
        for x in 0..w as isize {
            let c = at(y, x);
            let hxx = at(y, x + di) - 2.0 * c + at(y, x - di);
            let hyy = at(y + di, x) - 2.0 * c + at(y - di, x);
            let hxy = (at(y + di, x + di) - at(y + di, x - di) - at(y - di, x + di)
                + at(y - di, x - di))
                / 4.0;
            let tr = 0.5 * (hxx + hyy);
            let disc = (0.25 * (hxx - hyy) * (hxx - hyy) + hxy * hxy).sqrt();
            lo[[y as usize, x as usize]] = (tr - disc) * norm;
            hi[[y as usize, x as usize]] = (tr + disc) * norm;
        }
    }
    (lo, hi)
}

fn opening(a: &Array2<f32>, r: usize) -> Array2<f32> {
    square_filter(&square_filter(a, r, false), r, true)
}

/// Convex hull (monotone chain) of integer points, counter-clockwise, no repeated end point.
fn convex_hull(mut pts: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    pts.sort_unstable();
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(i64, i64)> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = h.len();
        let it: Box<dyn Iterator<Item = &(i64, i64)>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in it {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
    }
    h
}

/// The lesion-inclusive lung for the detector: per slice, the convex hull of each lung
/// component (the two lungs), kept only lateral of the component's aerated lung in each row,
/// united with the mask.
///
/// Dense consolidation against the chest wall is not air, so threshold-and-morphology
/// segmentation leaves a bite where it is (in the phantom cohort 95–98 % of a large CAP
/// consolidation falls outside the closed mask); the hull of the aerated lung around it puts
/// it back. The plain hull also fills the heart notch, where an unenhanced heart has the
/// density of consolidation (the largest false detections in normal low-contrast scans); a
/// bite against the chest wall has aerated lung on its medial side in the same row, the notch
/// has lung only lateral of it, so fill is kept only where lung lies medial of it (rows with
/// no lung of that component get none). The midline is halfway between the lungs' extreme
/// columns over the volume.
pub fn hull_mask(lung: ArrayView3<'_, u8>) -> Result<Array3<u8>> {
    let (nz, ny, nx) = lung.dim();
    // Midline: halfway between the lung's leftmost and rightmost columns over the volume.
    let cols: Vec<usize> = (0..nx)
        .filter(|&x| lung.index_axis(Axis(2), x).iter().any(|&v| v != 0))
        .collect();
    let x_mid = match (cols.first(), cols.last()) {
        (Some(&a), Some(&b)) => (a + b) as f64 / 2.0,
        _ => return Ok(lung.to_owned()),
    };
    let s8 = generate_binary_structure(2, 2)?;
    let slices: Vec<Result<Array2<u8>>> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let m = lung.index_axis(Axis(0), z);
            let mut out = m.to_owned();
            if !m.iter().any(|&v| v != 0) {
                return Ok(out);
            }
            let (labels, n) = ct_morph::label(m.mapv(|v| v != 0).view(), &s8)?;
            // Per component and row: leftmost and rightmost pixel.
            let mut ext = vec![vec![(usize::MAX, 0usize); ny]; n + 1];
            let mut count = vec![0usize; n + 1];
            let mut xsum = vec![0f64; n + 1];
            for ((y, x), &l) in labels.indexed_iter() {
                if l != 0 {
                    let e = &mut ext[l as usize][y];
                    e.0 = e.0.min(x);
                    e.1 = e.1.max(x);
                    count[l as usize] += 1;
                    xsum[l as usize] += x as f64;
                }
            }
            for l in 1..=n {
                if count[l] < 20 {
                    continue;
                }
                let pts: Vec<(i64, i64)> = ext[l]
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.0 != usize::MAX)
                    .flat_map(|(y, e)| [(e.0 as i64, y as i64), (e.1 as i64, y as i64)])
                    .collect();
                let h = convex_hull(pts);
                if h.len() < 3 {
                    continue;
                }
                // Only fill lateral of aerated lung in the same row: a bite against the chest
                // wall has lung on its medial side, the heart notch (whose unenhanced density
                // is consolidation's) has lung only lateral of it.
                let medial_is_left = xsum[l] / count[l] as f64 > x_mid;
                let ymin = h.iter().map(|p| p.1).min().unwrap_or(0);
                let ymax = h.iter().map(|p| p.1).max().unwrap_or(0);
                for y in ymin..=ymax {
                    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                    for k in 0..h.len() {
                        let (a, b) = (h[k], h[(k + 1) % h.len()]);
                        if (a.1 <= y && y <= b.1) || (b.1 <= y && y <= a.1) {
                            let xs = if a.1 == b.1 {
                                [a.0 as f64, b.0 as f64]
                            } else {
                                let t = (y - a.1) as f64 / (b.1 - a.1) as f64;
                                let x = a.0 as f64 + t * (b.0 - a.0) as f64;
                                [x, x]
                            };
                            for x in xs {
                                lo = lo.min(x);
                                hi = hi.max(x);
                            }
                        }
                    }
                    let row = ext[l][y as usize];
                    if row.0 == usize::MAX {
                        continue;
                    }
                    if medial_is_left {
                        lo = lo.max(row.0 as f64);
                    } else {
                        hi = hi.min(row.1 as f64);
                    }
                    if lo.is_finite() && lo <= hi {
                        let (x0, x1) = (lo.ceil().max(0.0) as usize, hi.floor() as usize);
                        for x in x0..=x1.min(nx - 1) {
                            out[[y as usize, x]] = 1;
                        }
                    }
                }
            }
            Ok(out)
        })
        .collect();
    let mut out = Array3::<u8>::zeros((nz, ny, nx));
    for (z, sl) in slices.into_iter().enumerate() {
        out.index_axis_mut(Axis(0), z).assign(&sl?);
    }
    Ok(out)
}

/// Computes the context features of every candidate voxel of the lung.
///
/// `hu` is the scan in HU, `lung` the region searched (the [`hull_mask`]) and `aerated` the
/// segmented lung, all `(z, y, x)`.
pub fn candidates(
    hu: ArrayView3<'_, i16>,
    lung: ArrayView3<'_, u8>,
    aerated: ArrayView3<'_, u8>,
    spacing: Spacing,
) -> Result<Candidates> {
    if hu.dim() != lung.dim() || hu.dim() != aerated.dim() {
        return Err(Error::Inconsistent(format!(
            "volume {:?} and lung mask {:?} differ in shape",
            hu.dim(),
            lung.dim()
        )));
    }
    let (nz, ny, nx) = hu.dim();
    let px = spacing.to_array()[2].max(1e-3);
    let r = |mm: f64| ((mm / px).round() as usize).max(1);
    let lung_voxels = lung.iter().filter(|&&v| v != 0).count();
    if lung_voxels == 0 {
        return Ok(Candidates {
            features: Array2::zeros((0, VOXEL_FEATURE_NAMES.len())),
            positions: Vec::new(),
            lung_voxels,
            shape: (nz, ny, nx),
            x_mid: nx as f64 / 2.0,
            shape_features: [1.0, 0.0, 0.0, 0.0],
        });
    }
    // Pass 1: smoothed HU (3×3 masked mean) per slice; outside the lung −1000.
    let smooth: Vec<Array2<f32>> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let h = hu.index_axis(Axis(0), z).mapv(|v| v as f32);
            let w = lung.index_axis(Axis(0), z).mapv(|v| (v != 0) as u8 as f32);
            let g = masked_box_mean(&h, &w, 1, -1000.0);
            Array2::from_shape_fn(
                (ny, nx),
                |(y, x)| {
                    if w[[y, x]] > 0.0 { g[[y, x]] } else { -1000.0 }
                },
            )
        })
        .collect();
    // Grey opening (4 mm square) of every slice, for the 3-slice persistence feature.
    let op4_all: Vec<Array2<f32>> = smooth.par_iter().map(|g| opening(g, r(2.0))).collect();
    // Scan noise: std of the residual HU − smoothed HU over the lung.
    let (mut s1, mut s2, mut n) = (0f64, 0f64, 0f64);
    for z in 0..nz {
        for ((&h, &m), &g) in hu
            .index_axis(Axis(0), z)
            .iter()
            .zip(lung.index_axis(Axis(0), z).iter())
            .zip(smooth[z].iter())
        {
            if m != 0 {
                let d = h as f64 - g as f64;
                s1 += d;
                s2 += d * d;
                n += 1.0;
            }
        }
    }
    let noise = ((s2 / n - (s1 / n).powi(2)).max(0.0)).sqrt();
    // Rows spanned by the lung (for the dependent position).
    let rows: Vec<usize> = (0..ny)
        .filter(|&y| lung.index_axis(Axis(1), y).iter().any(|&v| v != 0))
        .collect();
    let (y0, y1) = (rows[0], *rows.last().unwrap_or(&rows[0]));
    let yspan = (y1 - y0).max(1) as f64;
    let cols: Vec<usize> = (0..nx)
        .filter(|&x| lung.index_axis(Axis(2), x).iter().any(|&v| v != 0))
        .collect();
    let x_mid = (cols[0] + cols[cols.len() - 1]) as f64 / 2.0;
    let x_half = ((cols[cols.len() - 1] - cols[0]) as f64 / 2.0).max(1.0);
    let zspan = (nz.max(2) - 1) as f64;

    let per_slice: Vec<(Vec<f64>, Vec<[u32; 3]>)> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let m = lung.index_axis(Axis(0), z);
            let mut feats = Vec::new();
            let mut pos = Vec::new();
            if !m.iter().any(|&v| v != 0) {
                return (feats, pos);
            }
            let h = hu.index_axis(Axis(0), z).mapv(|v| v as f32);
            let w = m.mapv(|v| (v != 0) as u8 as f32);
            let g1 = &smooth[z];
            let clipped = h.mapv(|v| v.clamp(-1000.0, -600.0));
            let bg = masked_box_mean(&clipped, &w, r(25.0), -850.0);
            let m10 = masked_box_mean(&h, &w, r(5.0), -850.0);
            let m6 = masked_box_mean(&h, &w, r(3.0), -850.0);
            let sq6 = masked_box_mean(&h.mapv(|v| v * v), &w, r(3.0), 0.0);
            let op4 = &op4_all[z];
            let op8 = opening(g1, r(4.0));
            let ones = Array2::<f32>::ones((ny, nx));
            let air = aerated
                .index_axis(Axis(0), z)
                .mapv(|v| (v != 0) as u8 as f32);
            let lf = masked_box_mean(&air, &ones, r(10.0), 0.0);
            let lf4 = masked_box_mean(&air, &ones, r(4.0), 0.0);
            let m20 = masked_box_mean(&h, &w, r(10.0), -850.0);
            let dense_ind = Array2::from_shape_fn((ny, nx), |(y, x)| {
                (g1[[y, x]] > bg[[y, x]] + 100.0) as u8 as f32
            });
            let dense = masked_box_mean(&dense_ind, &w, r(4.0), 0.0);
            let body = h.mapv(|v| v.clamp(-1000.0, 100.0));
            let (e2lo, e2hi) = hessian_eigen(&body, r(2.0));
            let (e5lo, e5hi) = hessian_eigen(&body, r(5.0));
            let (za, zb) = (z.saturating_sub(1), (z + 1).min(nz - 1));
            for y in 0..ny {
                for x in 0..nx {
                    if m[[y, x]] == 0 {
                        continue;
                    }
                    let g = g1[[y, x]];
                    let b = bg[[y, x]];
                    if !(g > -700.0 || g - b > 60.0) {
                        continue;
                    }
                    let g3 = (smooth[za][[y, x]] + g + smooth[zb][[y, x]]) / 3.0;
                    let var = (sq6[[y, x]] - m6[[y, x]] * m6[[y, x]]).max(0.0);
                    feats.extend([
                        g as f64,
                        (g - b) as f64,
                        (m10[[y, x]] - b) as f64,
                        (var as f64).sqrt(),
                        (op4[[y, x]] - b) as f64,
                        (op8[[y, x]] - b) as f64,
                        lf[[y, x]] as f64,
                        dense[[y, x]] as f64,
                        (g3 - b) as f64,
                        z as f64 / zspan,
                        (y as f64 - y0 as f64) / yspan,
                        noise,
                        b as f64,
                        lf4[[y, x]] as f64,
                        (x as f64 - x_mid).abs() / x_half,
                        (op4[[y, x]]
                            .min(op4_all[za][[y, x]])
                            .min(op4_all[zb][[y, x]])
                            - b) as f64,
                        (m20[[y, x]] - b) as f64,
                        (air[[y, x]] == 0.0) as u8 as f64,
                        e2lo[[y, x]] as f64,
                        e2hi[[y, x]] as f64,
                        e5lo[[y, x]] as f64,
                        e5hi[[y, x]] as f64,
                    ]);
                    pos.push([z as u32, y as u32, x as u32]);
                }
            }
            (feats, pos)
        })
        .collect();
    let total: usize = per_slice.iter().map(|(_, p)| p.len()).sum();
    let mut data = Vec::with_capacity(total * VOXEL_FEATURE_NAMES.len());
    let mut positions = Vec::with_capacity(total);
    for (f, p) in per_slice {
        data.extend(f);
        positions.extend(p);
    }
    let features = Array2::from_shape_vec((total, VOXEL_FEATURE_NAMES.len()), data)
        .map_err(|e| Error::Inconsistent(format!("voxel feature matrix: {e}")))?;
    Ok(Candidates {
        features,
        positions,
        lung_voxels,
        shape: (nz, ny, nx),
        x_mid,
        shape_features: shape_features(lung, aerated, x_mid),
    })
}

fn shape_features(region: ArrayView3<'_, u8>, aerated: ArrayView3<'_, u8>, x_mid: f64) -> [f64; 4] {
    let (mut air, mut reg) = ([0f64; 2], [0f64; 2]);
    let mut asym = Vec::new();
    for z in 0..region.dim().0 {
        let mut a = [0f64; 2];
        for ((y, x), &v) in aerated.index_axis(Axis(0), z).indexed_iter() {
            let side = (x as f64 >= x_mid) as usize;
            if v != 0 {
                a[side] += 1.0;
            }
            if region[[z, y, x]] != 0 {
                reg[side] += 1.0;
            }
        }
        air[0] += a[0];
        air[1] += a[1];
        if a[0] + a[1] > 0.0 {
            asym.push((a[0] - a[1]).abs() / (a[0] + a[1]));
        }
    }
    asym.sort_by(f64::total_cmp);
    let p90 = asym
        .get(((asym.len().saturating_sub(1)) as f64 * 0.9) as usize)
        .copied()
        .unwrap_or(0.0);
    let fill = |s: usize| (reg[s] - air[s]).max(0.0) / air[s].max(1.0);
    [
        air[0].min(air[1]) / air[0].max(air[1]).max(1.0),
        fill(0).min(fill(1)),
        fill(0).max(fill(1)),
        p90,
    ]
}

/// Gradient-boosted trees that score candidate voxels as lesion / not lesion, and a second
/// stage that scores the detected components (false-positive reduction, as in nodule CAD).
///
/// A trained detector saves to JSON ([`LesionDetector::to_json`]) and loads back
/// ([`LesionDetector::from_json`], which checks that it was made for this version's features).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LesionDetector {
    model: Gbdt,
    components: Option<Gbdt>,
    /// Training voxels (lesion, other).
    pub training_voxels: (usize, usize),
    /// Training components of the second stage (lesion, false), `(0, 0)` until
    /// [`LesionDetector::train_components`] ran.
    pub training_components: (usize, usize),
    /// How its phantom training cohort was made, when it was trained on phantoms.
    #[serde(default)]
    pub recipe: Option<DetectorRecipe>,
}

/// The phantom cohort and settings a detector was trained with. Saved with the detector; the
/// pipeline uses a saved detector on phantoms only when its own phantoms match the recipe
/// (same slice size and slice range: the candidates' context features are in millimetres, but
/// small foci look different at another resolution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorRecipe {
    /// Phantom in-plane size.
    pub phantom_size: usize,
    /// Phantom slice-count range.
    pub phantom_slices: (usize, usize),
    /// Scans per class of the training cohort.
    pub per_class: usize,
    /// Seed of the training cohort (an evaluated cohort with the same seed would be seen).
    pub cohort_seed: u64,
    /// Boosting rounds of the voxel stage.
    pub rounds: usize,
    /// Radius (mm) of the closing that made the lesion-inclusive lung mask.
    pub close_radius_mm: f64,
}

/// The file form of a [`LesionDetector`]: the feature lists it was trained on travel with it.
#[derive(Serialize, Deserialize)]
struct SavedDetector {
    format: String,
    version: u32,
    voxel_features: Vec<String>,
    component_features: Vec<String>,
    detector: LesionDetector,
}

const DETECTOR_FORMAT: &str = "covid-ct lesion detector";
const DETECTOR_VERSION: u32 = 1;

/// Labelled voxels sampled from one scan for training the detector.
#[derive(Debug, Clone, Default)]
pub struct TrainingSample {
    /// Row-major rows of [`VOXEL_FEATURE_NAMES`].
    pub rows: Vec<f64>,
    /// 1 = lesion, 0 = other.
    pub labels: Vec<usize>,
}

/// Samples at most `per_scan` lesion candidates, `per_scan` blob-like other candidates and
/// `per_scan` remaining ones from one scan (evenly spaced in raster order, so the result is
/// deterministic); `mask` is the reference lesion
/// mask (`(z, y, x)`, non-zero = lesion).
pub fn sample_training(
    c: &Candidates,
    mask: ArrayView3<'_, u8>,
    per_scan: usize,
) -> Result<TrainingSample> {
    if mask.dim() != c.shape {
        return Err(Error::Inconsistent(format!(
            "lesion mask {:?} does not match the scan {:?}",
            mask.dim(),
            c.shape
        )));
    }
    let is_lesion: Vec<bool> = c
        .positions
        .iter()
        .map(|p| mask[[p[0] as usize, p[1] as usize, p[2] as usize]] != 0)
        .collect();
    // Negatives in two halves: blob-like dense voxels (surviving the 4 mm opening 80 HU
    // above the background: nodules, atelectasis, effusion, vessel crossings, the hard
    // confounders) and the rest; an even draw over all candidates would be mostly easy
    // parenchyma and vessel walls.
    let blob = |i: usize| c.features[[i, 4]] > 80.0;
    let strata: [(&dyn Fn(usize) -> bool, usize, usize); 3] = [
        (&|i| is_lesion[i], per_scan, 1),
        (&|i| !is_lesion[i] && blob(i), per_scan, 0),
        (&|i| !is_lesion[i] && !blob(i), per_scan, 0),
    ];
    let mut out = TrainingSample::default();
    for (keep, cap, label) in strata {
        let idx: Vec<usize> = (0..is_lesion.len()).filter(|&i| keep(i)).collect();
        let step = (idx.len() as f64 / cap.max(1) as f64).max(1.0);
        let mut k = 0.0;
        while (k as usize) < idx.len() {
            out.rows.extend(c.features.row(idx[k as usize]).iter());
            out.labels.push(label);
            k += step;
        }
    }
    Ok(out)
}

/// Stacks labelled rows of `width` columns (`(rows, labels)` per scan) into one matrix, freeing
/// each scan's rows as they are copied, so that they are held once; also counts the label-1
/// rows.
fn stack_samples(
    samples: Vec<(Vec<f64>, Vec<usize>)>,
    width: usize,
    what: &str,
) -> Result<(Array2<f64>, Vec<usize>, usize)> {
    let total: usize = samples.iter().map(|s| s.0.len()).sum();
    let mut rows: Vec<f64> = Vec::with_capacity(total);
    let mut y: Vec<usize> = Vec::with_capacity(total / width.max(1));
    for (r, l) in samples {
        if r.len() != l.len() * width {
            return Err(Error::Inconsistent(format!(
                "{what} sample has {} values for {} labels",
                r.len(),
                l.len()
            )));
        }
        rows.extend_from_slice(&r);
        y.extend_from_slice(&l);
    }
    let n_pos = y.iter().filter(|&&v| v == 1).count();
    let x = Array2::from_shape_vec((y.len(), width), rows)
        .map_err(|e| Error::Inconsistent(format!("{what} matrix: {e}")))?;
    Ok((x, y, n_pos))
}

/// Boosted trees (subsample 0.8, the library's other defaults) fitted to `x`, `y`.
fn fit_trees(
    x: &Array2<f64>,
    y: &[usize],
    rounds: usize,
    learning_rate: f64,
    max_depth: usize,
    seed: u64,
) -> Result<Gbdt> {
    let mut model = Gbdt::new(GbdtParams {
        n_estimators: rounds,
        learning_rate,
        max_depth,
        subsample: 0.8,
        seed,
        ..GbdtParams::default()
    })?;
    model.fit(x.view(), y)?;
    Ok(model)
}

impl LesionDetector {
    /// Trains the trees on labelled voxels sampled from several scans ([`sample_training`]).
    /// Takes the samples by value and frees each as it is copied into the training matrix, so
    /// that the voxels are held once.
    pub fn train(samples: Vec<TrainingSample>, rounds: usize, seed: u64) -> Result<LesionDetector> {
        let samples = samples.into_iter().map(|s| (s.rows, s.labels)).collect();
        let (x, y, n_pos) = stack_samples(samples, VOXEL_FEATURE_NAMES.len(), "training")?;
        if n_pos == 0 || n_pos == y.len() {
            return Err(Error::NotEnoughData(format!(
                "the detector needs lesion and non-lesion voxels; got {n_pos} of {}",
                y.len()
            )));
        }
        Ok(LesionDetector {
            model: fit_trees(&x, &y, rounds, 0.1, 6, seed)?,
            components: None,
            training_voxels: (n_pos, y.len() - n_pos),
            training_components: (0, 0),
            recipe: None,
        })
    }

    /// The detector as JSON (trees, training counts, recipe and the feature names).
    pub fn to_json(&self) -> Result<String> {
        let saved = SavedDetector {
            format: DETECTOR_FORMAT.to_string(),
            version: DETECTOR_VERSION,
            voxel_features: VOXEL_FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            component_features: COMPONENT_FEATURE_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            detector: self.clone(),
        };
        serde_json::to_string(&saved).map_err(Error::json("the lesion detector"))
    }

    /// A detector saved by [`LesionDetector::to_json`]. Refuses a file that is not one, one
    /// made for other voxel or component features (another version of this crate), or one
    /// whose trees are damaged.
    pub fn from_json(text: &str) -> Result<LesionDetector> {
        let bad = |why: String| Error::model_file("lesion detector", why);
        let saved: SavedDetector = serde_json::from_str(text).map_err(|e| Error::ModelFile {
            model: "lesion detector",
            why: "not a readable detector".into(),
            source: Some(e),
        })?;
        if saved.format != DETECTOR_FORMAT || saved.version != DETECTOR_VERSION {
            return Err(bad(format!(
                "format {:?} version {}, expected {DETECTOR_FORMAT:?} version {DETECTOR_VERSION}",
                saved.format, saved.version
            )));
        }
        if saved.voxel_features != VOXEL_FEATURE_NAMES
            || saved.component_features != COMPONENT_FEATURE_NAMES
        {
            return Err(bad(
                "trained on other voxel or component features than this version computes; \
                 retrain it (pipeline --stage detector)"
                    .to_string(),
            ));
        }
        let d = saved.detector;
        let two_class = |m: &Gbdt, n: usize| m.n_features() == Some(n) && m.n_classes() == Some(2);
        if !two_class(&d.model, VOXEL_FEATURE_NAMES.len())
            || d.components
                .as_ref()
                .is_some_and(|m| !two_class(m, COMPONENT_FEATURE_NAMES.len()))
        {
            return Err(bad(
                "its trees do not take the listed features or are not lesion / other classifiers"
                    .to_string(),
            ));
        }
        Ok(d)
    }

    /// Trains the second stage on components detected by this detector in labelled scans
    /// ([`component_table`] with a reference mask, [`ComponentSample::from_table`]). Needs at
    /// least 5 components of each kind; with fewer it returns `Ok(false)` and the stage keeps
    /// scoring a component by its mean voxel probability.
    pub fn train_components(&mut self, samples: Vec<ComponentSample>, seed: u64) -> Result<bool> {
        let samples = samples.into_iter().map(|s| (s.rows, s.labels)).collect();
        let (x, y, n_pos) = stack_samples(samples, COMPONENT_FEATURE_NAMES.len(), "component")?;
        if n_pos < 5 || y.len() - n_pos < 5 {
            return Ok(false);
        }
        self.components = Some(fit_trees(&x, &y, 200, 0.05, 4, seed)?);
        self.training_components = (n_pos, y.len() - n_pos);
        Ok(true)
    }

    /// Lesion score of each component of `t`: the second stage's probability, or the mean
    /// voxel probability when the stage is not trained.
    pub fn component_scores(&self, t: &ComponentTable) -> Result<Vec<f64>> {
        match &self.components {
            _ if t.features.nrows() == 0 => Ok(Vec::new()),
            Some(m) => Ok(m.predict_proba(t.features.view())?.column(1).to_vec()),
            None => Ok(t.features.column(1).to_vec()),
        }
    }

    /// Lesion probability of each candidate.
    pub fn predict(&self, c: &Candidates) -> Result<Vec<f64>> {
        if c.features.nrows() == 0 {
            return Ok(Vec::new());
        }
        let p = self.model.predict_proba(c.features.view())?;
        Ok(p.column(1).to_vec())
    }

    /// The per-scan lesion features ([`LESION_FEATURE_NAMES`]).
    pub fn scan_features(&self, c: &Candidates, spacing: Spacing) -> Result<Vec<f64>> {
        let p = self.predict(c)?;
        self.scan_features_from(c, &p, spacing)
    }

    /// The per-scan lesion features ([`LESION_FEATURE_NAMES`]) from given voxel
    /// probabilities (this detector's, or reference masks' for an oracle run).
    pub fn scan_features_from(
        &self,
        c: &Candidates,
        p: &[f64],
        spacing: Spacing,
    ) -> Result<Vec<f64>> {
        let mut f = lesion_features(c, p, spacing)?;
        let t = component_table(c, p, spacing, None)?;
        let scores = self.component_scores(&t)?;
        f.extend(component_scan_features(&t, &scores, c.x_mid));
        Ok(f)
    }
}

/// Summarises candidate probabilities into the first [`VOXEL_SUMMARY_LEN`] of
/// [`LESION_FEATURE_NAMES`].
pub fn lesion_features(c: &Candidates, p: &[f64], spacing: Spacing) -> Result<Vec<f64>> {
    let nl = c.lung_voxels.max(1) as f64;
    let sp = spacing.to_array();
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    let noise = c.features.column(11).first().copied().unwrap_or(0.0);
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
        return Ok(vec![
            0.0,
            100.0 * psum / nl,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            -900.0,
            0.0,
            1.0,
            0.5,
            0.5,
            max_p,
            -900.0,
            noise,
            c.shape_features[0],
            c.shape_features[1],
            c.shape_features[2],
            c.shape_features[3],
            0.0,
            0.0,
            0.0,
            0.0,
            0.5,
            1.0,
            top20,
            top200,
        ]);
    }
    // 3-D components of the detected voxels (26-connectivity).
    let (hit_label, n) = label_hits(c, &hit)?;
    let mut comp_p = vec![0f64; n + 1];
    let mut comp_hu = vec![0f64; n + 1];
    let mut comp_n = vec![0f64; n + 1];
    for (&i, &l) in hit.iter().zip(&hit_label) {
        let l = l as usize;
        comp_p[l] += p[i];
        comp_hu[l] += c.features[[i, 0]];
        comp_n[l] += 1.0;
    }
    let mut order: Vec<usize> = (1..=n).collect();
    order.sort_by(|&a, &b| comp_p[b].total_cmp(&comp_p[a]));
    let top = |k: usize| order.get(k).map(|&l| comp_p[l] * voxel_ml).unwrap_or(0.0);
    let foci = |ml: f64| (1..=n).filter(|&l| comp_n[l] * voxel_ml >= ml).count() as f64;
    let nh = hit.len() as f64;
    let mean_col = |col: usize| hit.iter().map(|&i| c.features[[i, col]]).sum::<f64>() / nh;
    let consolidation = hit.iter().filter(|&&i| c.features[[i, 0]] > -300.0).count() as f64 / nh;
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
        t_y += c.features[[i, 10]];
        t_air += c.features[[i, 6]];
        t_p += p[i];
    }
    let tn = comp_n[top1].max(1.0);
    let bbox = ((zr.1 - zr.0 + 1) * (yr.1 - yr.0 + 1) * (xr.1 - xr.0 + 1)) as f64;
    let strong = p.iter().filter(|&&v| v >= 0.9).count() as f64;
    Ok(vec![
        100.0 * nh / nl,
        100.0 * psum / nl,
        top(0),
        top(1),
        top(2),
        foci(0.07),
        foci(0.2),
        consolidation,
        mean_col(0),
        left.min(right) / left.max(right).max(1.0),
        mean_col(6),
        mean_col(10),
        mean_col(9),
        max_p,
        comp_hu[top1] / comp_n[top1].max(1.0),
        noise,
        c.shape_features[0],
        c.shape_features[1],
        c.shape_features[2],
        c.shape_features[3],
        100.0 * strong / nl,
        t_p / tn,
        (zr.1 - zr.0 + 1) as f64 * sp[0],
        tn / bbox,
        t_y / tn,
        t_air / tn,
        top20,
        top200,
    ])
}

/// 3-D components (26-connectivity) of the candidates `hit`: the component (1-based) of each
/// hit, and how many there are.
fn label_hits(c: &Candidates, hit: &[usize]) -> Result<(Vec<u32>, usize)> {
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
const COMPONENT_VOXEL_COLUMNS: [usize; 12] = [0, 1, 4, 6, 9, 10, 14, 17, 18, 20, 2, 16];

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
    let noise = c.features.column(11).first().copied().unwrap_or(0.0);
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
pub fn component_scan_features(
    t: &ComponentTable,
    scores: &[f64],
    x_mid: f64,
) -> [f64; LESION_FEATURE_NAMES.len() - VOXEL_SUMMARY_LEN] {
    let n = scores.len().min(t.voxels.len());
    if n == 0 {
        return [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -900.0];
    }
    let hu = |k: usize| t.features[[k, 8]];
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
    [
        scores[best],
        ml(all),
        ml(cons),
        ml(ggo),
        if left.max(right) > 0.0 {
            left.min(right) / left.max(right)
        } else {
            0.0
        },
        count,
        f64::from(u8::from(conf_l && conf_r)),
        hu(best),
    ]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spacing() -> Spacing {
        Spacing::new(2.0, 1.5, 1.5).expect("valid spacing")
    }

    #[test]
    fn convex_hull_of_a_square_with_inner_points() {
        let pts = vec![(0, 0), (4, 0), (4, 4), (0, 4), (2, 2), (1, 3), (4, 2)];
        let h = convex_hull(pts);
        assert_eq!(h, vec![(0, 0), (4, 0), (4, 4), (0, 4)]);
    }

    #[test]
    fn hull_mask_fills_a_lateral_bite_but_not_the_medial_notch() {
        // Two lungs: disks of radius 12 centred at x = 20 and x = 60 (midline x = 40). The
        // right one (image right) has a bite cut from its lateral edge (x >= 66, rows 16..24)
        // and a notch cut from its medial edge (x <= 53, rows 16..24), as the heart does.
        let mut m = Array3::<u8>::zeros((1, 40, 80));
        for y in 0..40 {
            for x in 0..80 {
                let dy = y as f64 - 20.0;
                let left = dy * dy + (x as f64 - 20.0).powi(2) <= 144.0;
                let right = dy * dy + (x as f64 - 60.0).powi(2) <= 144.0
                    && !((16..24).contains(&y) && (x >= 66 || x <= 53));
                if left || right {
                    m[[0, y, x]] = 1;
                }
            }
        }
        let h = hull_mask(m.view()).expect("hull");
        assert_eq!(m[[0, 20, 70]], 0);
        assert_eq!(h[[0, 20, 70]], 1, "the lateral bite is filled");
        assert_eq!(m[[0, 20, 50]], 0);
        assert_eq!(h[[0, 20, 50]], 0, "the medial notch is not");
        assert_eq!(h[[0, 20, 74]], 0, "beyond the disk stays outside");
        assert_eq!(h[[0, 20, 40]], 0, "the midline stays outside");
        assert_eq!(h[[0, 2, 2]], 0, "corners stay outside");
        assert!(
            h.iter().zip(m.iter()).all(|(a, b)| a >= b),
            "hull contains the mask"
        );
    }

    #[test]
    fn masked_box_mean_ignores_pixels_outside_the_mask() {
        let a = Array2::from_shape_fn((5, 5), |(y, _)| if y < 2 { 100.0 } else { -800.0 });
        let w = Array2::from_shape_fn((5, 5), |(y, _)| if y < 2 { 0.0 } else { 1.0 });
        let m = masked_box_mean(&a, &w, 2, -1.0);
        assert!(m.iter().all(|&v| v == -800.0), "{m:?}");
        let empty = masked_box_mean(&a, &Array2::zeros((5, 5)), 1, -1.0);
        assert!(empty.iter().all(|&v| v == -1.0));
    }

    #[test]
    fn opening_removes_thin_lines_and_keeps_blobs() {
        let mut a = Array2::<f32>::from_elem((20, 20), -850.0);
        for y in 0..20 {
            a[[y, 3]] = 0.0; // a one-pixel vessel
        }
        for y in 8..14 {
            for x in 10..16 {
                a[[y, x]] = -400.0; // a 6×6 blob
            }
        }
        let o = opening(&a, 1);
        assert_eq!(o[[10, 3]], -850.0);
        assert_eq!(o[[10, 12]], -400.0);
    }

    #[test]
    fn hessian_tells_a_blob_from_a_vessel() {
        let mut a = Array2::<f32>::from_elem((40, 40), -850.0);
        for y in 0..40 {
            for x in 8..10 {
                a[[y, x]] = 0.0; // a two-pixel vessel along y
            }
        }
        for y in 0..40usize {
            for x in 0..40usize {
                let d2 = (y as f32 - 20.0).powi(2) + (x as f32 - 28.0).powi(2);
                if d2 <= 16.0 {
                    a[[y, x]] = -400.0; // a disc of radius 4
                }
            }
        }
        let (lo, hi) = hessian_eigen(&a, 2);
        // Disc centre: curved down in both directions.
        assert!(
            lo[[20, 28]] < -20.0 && hi[[20, 28]] < -20.0,
            "{} {}",
            lo[[20, 28]],
            hi[[20, 28]]
        );
        // Vessel: strongly curved across, flat along.
        assert!(lo[[20, 8]] < -100.0, "{}", lo[[20, 8]]);
        assert!(hi[[20, 8]].abs() < 1.0, "{}", hi[[20, 8]]);
        // Flat parenchyma: neither.
        assert!(lo[[5, 30]].abs() < 1e-3 && hi[[5, 30]].abs() < 1e-3);
    }

    /// A synthetic lung (a block of −850 HU with noise-free vessels) with a ground-glass ball.
    fn synthetic(lesion: bool) -> (Array3<i16>, Array3<u8>, Array3<u8>) {
        let (nz, ny, nx) = (12, 48, 48);
        let mut hu = Array3::<i16>::from_elem((nz, ny, nx), 40);
        let mut lung = Array3::<u8>::zeros((nz, ny, nx));
        let mut les = Array3::<u8>::zeros((nz, ny, nx));
        for z in 0..nz {
            for y in 6..42 {
                for x in 6..42 {
                    lung[[z, y, x]] = 1;
                    hu[[z, y, x]] = if x == 20 { -200 } else { -850 };
                    let d2 = (z as f64 - 6.0).powi(2) * 1.8
                        + (y as f64 - 28.0).powi(2)
                        + (x as f64 - 30.0).powi(2);
                    if lesion && d2 < 36.0 {
                        hu[[z, y, x]] = -450;
                        les[[z, y, x]] = 1;
                    }
                }
            }
        }
        (hu, lung, les)
    }

    #[test]
    fn detector_learns_a_ball_and_not_a_vessel() {
        let mut samples = Vec::new();
        for lesion in [true, false, true] {
            let (hu, lung, les) = synthetic(lesion);
            let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
            assert_eq!(c.features.ncols(), VOXEL_FEATURE_NAMES.len());
            samples.push(sample_training(&c, les.view(), 500).expect("sample"));
        }
        let det = LesionDetector::train(samples, 20, 0).expect("train");
        let (hu, lung, _) = synthetic(true);
        let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
        let f = det.scan_features(&c, spacing()).expect("features");
        assert_eq!(f.len(), LESION_FEATURE_NAMES.len());
        assert!(f[0] > 0.5, "lesion percentage {}", f[0]);
        let (hu0, lung0, _) = synthetic(false);
        let c0 = candidates(hu0.view(), lung0.view(), lung0.view(), spacing()).expect("cands");
        let f0 = det.scan_features(&c0, spacing()).expect("features");
        assert!(f0[0] < 0.05, "normal scan lesion percentage {}", f0[0]);

        // Saved and loaded, it scores every candidate exactly as before.
        let back = LesionDetector::from_json(&det.to_json().expect("json")).expect("load");
        assert_eq!(back.predict(&c).expect("p"), det.predict(&c).expect("p"));
        assert_eq!(back.training_voxels, det.training_voxels);
        // A file made for other features, or no detector at all, is refused with a reason.
        let json = det.to_json().expect("json");
        let renamed = json.replacen("hu_3x3", "hu_5x5", 1);
        let e = LesionDetector::from_json(&renamed).expect_err("other features");
        assert!(
            e.to_string().contains("other voxel or component features"),
            "{e}"
        );
        let e = LesionDetector::from_json("{}").expect_err("not a detector");
        assert!(e.to_string().contains("not a readable detector"), "{e}");
        let e = LesionDetector::from_json(&json.replacen("\"version\":1", "\"version\":9", 1))
            .expect_err("version");
        assert!(e.to_string().contains("version 9"), "{e}");
    }

    #[test]
    fn shape_mismatch_and_label_free_training_are_errors() {
        let (hu, lung, les) = synthetic(true);
        let small = Array3::<u8>::zeros((2, 2, 2));
        assert!(candidates(hu.view(), small.view(), lung.view(), spacing()).is_err());
        let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
        assert!(sample_training(&c, small.view(), 10).is_err());
        let none = sample_training(&c, Array3::<u8>::zeros(les.dim()).view(), 10).expect("sample");
        assert!(LesionDetector::train(vec![none], 5, 0).is_err());
        let empty = Array3::<u8>::zeros(lung.dim());
        let c = candidates(hu.view(), empty.view(), empty.view(), spacing()).expect("empty");
        assert_eq!(c.features.nrows(), 0);
    }
    /// Candidates of a 1 × 10 × 20 slab with every voxel a candidate; voxel feature 0 (HU)
    /// is −500 except where `dense`.
    fn slab(dense: impl Fn(usize, usize) -> bool) -> Candidates {
        let (ny, nx) = (10, 20);
        let mut rows = Vec::new();
        let mut positions = Vec::new();
        for y in 0..ny {
            for x in 0..nx {
                let mut f = vec![0.0; VOXEL_FEATURE_NAMES.len()];
                f[0] = if dense(y, x) { 0.0 } else { -500.0 };
                f[11] = 12.0;
                rows.extend(f);
                positions.push([0, y as u32, x as u32]);
            }
        }
        Candidates {
            features: Array2::from_shape_vec((ny * nx, VOXEL_FEATURE_NAMES.len()), rows)
                .expect("rows"),
            positions,
            lung_voxels: ny * nx,
            shape: (1, ny, nx),
            x_mid: 10.0,
            shape_features: [1.0, 0.0, 0.0, 0.0],
        }
    }

    #[test]
    fn component_table_counts_sizes_shares_and_sides() {
        // Two detected squares: 3 × 3 at x 2..5 (left of the midline, dense) and 2 × 4 at
        // x 14..18 (right), of which the reference marks half.
        let c = slab(|_, x| x < 5);
        let p: Vec<f64> = c
            .positions
            .iter()
            .map(|q| {
                let (y, x) = (q[1], q[2]);
                let a = (2..5).contains(&y) && (2..5).contains(&x);
                let b = (6..8).contains(&y) && (14..18).contains(&x);
                if a || b { 0.8 } else { 0.1 }
            })
            .collect();
        let mut mask = Array3::<u8>::zeros((1, 10, 20));
        for y in 6..8 {
            for x in 14..16 {
                mask[[0, y, x]] = 1;
            }
        }
        let t = component_table(&c, &p, spacing(), Some(mask.view())).expect("table");
        assert_eq!(t.features.dim(), (2, COMPONENT_FEATURE_NAMES.len()));
        let mut v = t.voxels.clone();
        v.sort_unstable();
        assert_eq!(v, vec![8, 9]);
        let a = t.voxels.iter().position(|&n| n == 9).expect("square");
        let b = 1 - a;
        assert_eq!(t.lesion_share.as_ref().expect("shares")[b], 0.5);
        assert_eq!(t.lesion_share.as_ref().expect("shares")[a], 0.0);
        assert!((t.mean_x[a] - 3.0).abs() < 1e-12);
        assert!((t.features[[a, 1]] - 0.8).abs() < 1e-12, "mean probability");
        assert!(
            (t.features[[a, 8]] - 0.0).abs() < 1e-12,
            "mean HU of the dense square"
        );
        assert!((t.features[[b, 8]] + 500.0).abs() < 1e-12);
        // z extent 1 slice of 2 mm; in-plane extent 4 columns of 1.5 mm; fill 8 / 8.
        assert!((t.features[[b, 3]] - 2.0).abs() < 1e-12);
        assert!((t.features[[b, 4]] - 6.0).abs() < 1e-12);
        assert!((t.features[[b, 5]] - 1.0).abs() < 1e-12);
        let sample = ComponentSample::from_table(&t).expect("labelled");
        assert_eq!(
            sample.labels.iter().sum::<usize>(),
            1,
            "one lesion component"
        );

        // Scores: only the left square is confident.
        let mut scores = vec![0.0; 2];
        scores[a] = 0.9;
        scores[b] = 0.2;
        let f = component_scan_features(&t, &scores, c.x_mid);
        assert_eq!(f.len(), LESION_FEATURE_NAMES.len() - VOXEL_SUMMARY_LEN);
        assert_eq!(f[0], 0.9);
        assert_eq!(f[5], 1.0, "one confident component");
        assert_eq!(f[6], 0.0, "not bilateral");
        assert_eq!(f[7], 0.0, "the best one is the dense square");
        assert!(f[2] > 0.0 && f[3] > 0.0 && f[1] > f[2]);
        scores[b] = 0.7;
        assert_eq!(component_scan_features(&t, &scores, c.x_mid)[6], 1.0);

        // Nothing detected: neutral values; mismatched inputs are errors.
        let none = component_table(&c, &vec![0.0; p.len()], spacing(), None).expect("empty");
        assert_eq!(none.features.nrows(), 0);
        assert!(none.lesion_share.is_none());
        assert!(ComponentSample::from_table(&none).is_err());
        assert_eq!(component_scan_features(&none, &[], 10.0)[7], -900.0);
        assert!(component_table(&c, &p[1..], spacing(), None).is_err());
        let small = Array3::<u8>::zeros((1, 2, 2));
        assert!(component_table(&c, &p, spacing(), Some(small.view())).is_err());
    }

    #[test]
    fn component_stage_learns_dense_from_faint_and_needs_both_kinds() {
        let (hu, lung, les) = synthetic(true);
        let c = candidates(hu.view(), lung.view(), lung.view(), spacing()).expect("cands");
        let det0 = LesionDetector::train(
            vec![sample_training(&c, les.view(), 300).expect("sample")],
            10,
            0,
        )
        .expect("train");
        // Hand-made component rows: lesions have mean probability 0.9, false ones 0.3.
        let row = |p: f64| {
            let mut r = vec![0.0; COMPONENT_FEATURE_NAMES.len()];
            r[1] = p;
            r
        };
        let make = |n_pos: usize, n_neg: usize| ComponentSample {
            rows: (0..n_pos)
                .map(|_| row(0.9))
                .chain((0..n_neg).map(|_| row(0.3)))
                .flatten()
                .collect(),
            labels: (0..n_pos).map(|_| 1).chain((0..n_neg).map(|_| 0)).collect(),
        };
        let mut det = det0.clone();
        assert!(!det.train_components(vec![make(3, 40)], 0).expect("too few"));
        assert_eq!(det.training_components, (0, 0));
        assert!(
            det.train_components(vec![make(20, 40)], 0)
                .expect("trained")
        );
        assert_eq!(det.training_components, (20, 40));
        let t = ComponentTable {
            features: Array2::from_shape_vec(
                (2, COMPONENT_FEATURE_NAMES.len()),
                row(0.9).into_iter().chain(row(0.3)).collect(),
            )
            .expect("rows"),
            voxels: vec![10, 10],
            mean_x: vec![0.0, 0.0],
            lesion_share: None,
            voxel_ml: 0.001,
        };
        let s = det.component_scores(&t).expect("scores");
        assert!(s[0] > 0.8 && s[1] < 0.2, "{s:?}");
        // Untrained: the mean voxel probability.
        assert_eq!(det0.component_scores(&t).expect("scores"), vec![0.9, 0.3]);
        let bad = ComponentSample {
            rows: vec![0.0; 3],
            labels: vec![1],
        };
        assert!(det.train_components(vec![bad], 0).is_err());
    }
}
