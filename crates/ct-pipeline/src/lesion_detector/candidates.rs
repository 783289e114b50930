//! Candidate voxels of the lung and their 22 context features ([`VOXEL_FEATURE_NAMES`]).

use ct_core::Spacing;
use ndarray::{Array2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::{Error, Result};
use ct_morph::image::{grey_opening, hessian_eigenvalues, masked_mean};

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

/// The column of the voxel feature `name` (a missing name stops the build).
pub(crate) const fn voxel_column(name: &str) -> usize {
    crate::named::index_of(&VOXEL_FEATURE_NAMES, name)
}

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
            let g = masked_mean(h.view(), w.view(), 1, -1000.0);
            Array2::from_shape_fn(
                (ny, nx),
                |(y, x)| {
                    if w[[y, x]] > 0.0 { g[[y, x]] } else { -1000.0 }
                },
            )
        })
        .collect();
    // Grey opening (4 mm square) of every slice, for the 3-slice persistence feature.
    let op4_all: Vec<Array2<f32>> = smooth
        .par_iter()
        .map(|g| grey_opening(g.view(), r(2.0)))
        .collect();
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
            let bg = masked_mean(clipped.view(), w.view(), r(25.0), -850.0);
            let m10 = masked_mean(h.view(), w.view(), r(5.0), -850.0);
            let m6 = masked_mean(h.view(), w.view(), r(3.0), -850.0);
            let sq6 = masked_mean(h.mapv(|v| v * v).view(), w.view(), r(3.0), 0.0);
            let op4 = &op4_all[z];
            let op8 = grey_opening(g1.view(), r(4.0));
            let ones = Array2::<f32>::ones((ny, nx));
            let air = aerated
                .index_axis(Axis(0), z)
                .mapv(|v| (v != 0) as u8 as f32);
            let lf = masked_mean(air.view(), ones.view(), r(10.0), 0.0);
            let lf4 = masked_mean(air.view(), ones.view(), r(4.0), 0.0);
            let m20 = masked_mean(h.view(), w.view(), r(10.0), -850.0);
            let dense_ind = Array2::from_shape_fn((ny, nx), |(y, x)| {
                (g1[[y, x]] > bg[[y, x]] + 100.0) as u8 as f32
            });
            let dense = masked_mean(dense_ind.view(), w.view(), r(4.0), 0.0);
            let body = h.mapv(|v| v.clamp(-1000.0, 100.0));
            let (e2lo, e2hi) = hessian_eigenvalues(body.view(), r(2.0));
            let (e5lo, e5hi) = hessian_eigenvalues(body.view(), r(5.0));
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
