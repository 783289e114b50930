//! Per-scan radiomic features from a HU volume and its lung mask.
//!
//! The features describe what a radiologist reads in a chest CT for this task:
//! * how much lung there is and how its density is distributed (moments, percentiles and a
//!   normalised HU histogram of the lung voxels);
//! * ground-glass opacity (GGO, about −700…−300 HU) and consolidation (about −100…+100 HU)
//!   fractions, the hallmarks of COVID-19 and of bacterial pneumonia;
//! * where the abnormal lung is: left/right (COVID-19 is typically bilateral, CAP often
//!   one-sided), peripheral/central (COVID-19 GGO is subpleural), and along z;
//! * lesion candidates ("blobs"): smoothed lung denser than −650 HU that survives an in-plane
//!   opening with a 3 mm disk (vessels and airway walls are thin and drop out), counted as
//!   connected components (multifocal disease) and split into ground glass / consolidation;
//!   laterality, periphery and slice involvement are measured on them;
//! * per-slice statistics (how many slices are involved, the worst slice);
//! * texture (mean absolute gradient inside the lung, which also tracks noise and hence the
//!   dose of the export).
//!
//! Densities are read after a 3×3 in-plane mean filter over lung pixels, so that low-dose noise (σ of tens of
//! HU) does not push normal parenchyma into the GGO range voxel by voxel.

use ct_core::Spacing;
use ct_morph::{Components, MorphParams, PackedMask, Structure, generate_binary_structure};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::named::NamedFeatures;
use crate::{Error, Result};
use ct_morph::image::cityblock_distance;

/// Feature settings. The defaults are the HU ranges used in the chest-CT literature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Lower edge of the lung HU histogram.
    pub hist_lo: f64,
    /// Upper edge of the lung HU histogram.
    pub hist_hi: f64,
    /// Number of histogram bins.
    pub hist_bins: usize,
    /// Ground-glass range (HU, half-open `[lo, hi)`).
    pub ggo: (f64, f64),
    /// Consolidation range (HU).
    pub consolidation: (f64, f64),
    /// Depth (mm) from the lung border counted as peripheral (subpleural).
    pub peripheral_mm: f64,
    /// Lesion candidates: smoothed lung voxels denser than this (HU)...
    pub dense_min: f64,
    /// ...that survive an in-plane opening with a disk of this radius (mm), which removes
    /// vessels and bronchial walls (thin) and keeps opacities (blobs).
    pub blob_radius_mm: f64,
    /// A slice is "involved" when this fraction of its lung is abnormal (GGO or consolidation).
    pub involved_slice_fraction: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hist_lo: -1000.0,
            hist_hi: 200.0,
            hist_bins: 24,
            ggo: (-700.0, -300.0),
            consolidation: (-100.0, 100.0),
            peripheral_mm: 10.0,
            involved_slice_fraction: 0.02,
            dense_min: -650.0,
            blob_radius_mm: 3.0,
        }
    }
}

const SCALAR_NAMES: [&str; 37] = [
    "lung_volume_ml",
    "hu_mean",
    "hu_std",
    "hu_skew",
    "hu_kurtosis",
    "hu_p05",
    "hu_p25",
    "hu_p50",
    "hu_p75",
    "hu_p95",
    "frac_below_-950",
    "frac_-950_-700",
    "frac_ggo",
    "frac_-300_-100",
    "frac_consolidation",
    "frac_above_100",
    "abnormal_frac",
    "abn_left",
    "abn_right",
    "abn_min_side",
    "abn_asymmetry",
    "abn_peripheral",
    "abn_central",
    "abn_peripheral_share",
    "involved_slices_frac",
    "abn_worst_slice",
    "abn_z_centroid",
    "abn_z_spread",
    "ggo_to_consolidation",
    "gradient_mean",
    "gradient_ratio_abn",
    "blob_frac",
    "blob_ggo_frac",
    "blob_cons_frac",
    "blob_components_per_litre",
    "blob_largest_share",
    "blob_mean_hu",
];

/// The names of the features [`scan_features`] returns, in order.
pub fn feature_names(cfg: &FeatureConfig) -> Vec<String> {
    let mut names: Vec<String> = SCALAR_NAMES.iter().map(|s| s.to_string()).collect();
    let w = (cfg.hist_hi - cfg.hist_lo) / cfg.hist_bins as f64;
    for b in 0..cfg.hist_bins {
        let lo = cfg.hist_lo + b as f64 * w;
        names.push(format!("hist_{}_{}", lo as i64, (lo + w) as i64));
    }
    names
}

/// 3×3 in-plane mean over lung pixels only (a masked mean), so that soft tissue next to
/// the lung border does not smear into the lung as false ground glass.
fn smooth(slice: ArrayView2<'_, i16>, mask: ArrayView2<'_, u8>) -> Array2<f32> {
    let (h, w) = slice.dim();
    let mut out = Array2::<f32>::zeros((h, w));
    for y in 0..h {
        for x in 0..w {
            if mask[[y, x]] == 0 {
                continue;
            }
            let (mut s, mut k) = (0i32, 0i32);
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    if mask[[yy, xx]] != 0 {
                        s += slice[[yy, xx]] as i32;
                        k += 1;
                    }
                }
            }
            out[[y, x]] = s as f32 / k as f32;
        }
    }
    out
}

/// A one-slice-thick disk of `radius_mm` (at least one pixel) as a 3-D structuring element,
/// for in-plane morphology on `(z, y, x)` masks.
pub(crate) fn in_plane_disk(radius_mm: f64, spacing: Spacing) -> ct_morph::Result<Structure> {
    let r = (radius_mm / spacing.y.min(spacing.x)).round().max(1.0) as i64;
    let n = (2 * r + 1) as usize;
    let disk = Array3::from_shape_fn((1, n, n), |(_, y, x)| {
        let (dy, dx) = (y as i64 - r, x as i64 - r);
        dy * dy + dx * dx <= r * r
    });
    Structure::from_mask(disk.into_dyn().view())
}

/// Per-slice partial sums, merged over the volume.
#[derive(Default, Clone)]
struct Acc {
    n: f64,
    sum: f64,
    sum2: f64,
    sum3: f64,
    sum4: f64,
    counts: Vec<f64>, // 6 density classes
    hist: Vec<f64>,   // histogram bins
    fine: Vec<u64>,   // 1-HU histogram for percentiles (-1100..=+500)
    left: [f64; 2],   // [lung voxels, abnormal voxels]
    right: [f64; 2],
    periph: [f64; 2],
    central: [f64; 2],
    grad_sum: f64,
    grad_abn_sum: f64,
    grad_abn_n: f64,
}

const FINE_LO: i32 = -1100;
const FINE_HI: i32 = 500;

impl Acc {
    fn new(bins: usize) -> Acc {
        Acc {
            counts: vec![0.0; 6],
            hist: vec![0.0; bins],
            fine: vec![0; (FINE_HI - FINE_LO + 1) as usize],
            ..Default::default()
        }
    }

    fn merge(mut self, o: Acc) -> Acc {
        self.n += o.n;
        self.sum += o.sum;
        self.sum2 += o.sum2;
        self.sum3 += o.sum3;
        self.sum4 += o.sum4;
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
        for (a, b) in self.fine.iter_mut().zip(&o.fine) {
            *a += b;
        }
        for (a, b) in [
            (&mut self.left, o.left),
            (&mut self.right, o.right),
            (&mut self.periph, o.periph),
            (&mut self.central, o.central),
        ] {
            a[0] += b[0];
            a[1] += b[1];
        }
        self.grad_sum += o.grad_sum;
        self.grad_abn_sum += o.grad_abn_sum;
        self.grad_abn_n += o.grad_abn_n;
        self
    }
}

fn percentile(fine: &[u64], total: u64, q: f64) -> f64 {
    let target = (q * (total.saturating_sub(1)) as f64).round() as u64;
    let mut seen = 0u64;
    for (i, &c) in fine.iter().enumerate() {
        seen += c;
        if seen > target {
            return (FINE_LO + i as i32) as f64;
        }
    }
    FINE_HI as f64
}

/// One slice's voxel counts beside its accumulator.
struct SliceSums {
    acc: Acc,
    /// Lung voxels.
    lung: f64,
    /// Abnormal voxels (blobs).
    abnormal: f64,
    /// Voxels in the ground-glass range.
    ggo: f64,
    /// Voxels in the consolidation range.
    consolidation: f64,
    /// Blob voxels in the ground-glass range.
    blob_ggo: f64,
    /// Blob voxels denser than that.
    blob_dense: f64,
    /// Sum of the blob voxels' HU.
    blob_hu_sum: f64,
}

impl SliceSums {
    /// A slice without lung: nothing counted.
    fn empty(acc: Acc) -> SliceSums {
        SliceSums {
            acc,
            lung: 0.0,
            abnormal: 0.0,
            ggo: 0.0,
            consolidation: 0.0,
            blob_ggo: 0.0,
            blob_dense: 0.0,
            blob_hu_sum: 0.0,
        }
    }
}

/// Features of one scan: `hu` in HU (z, y, x), `lung` its lung mask (non-zero = lung),
/// each pushed with its name; the names are [`feature_names`] (checked before the row is
/// returned). Errors on shape mismatch or an empty mask.
pub fn scan_features(
    id: &str,
    hu: ArrayView3<'_, i16>,
    lung: ArrayView3<'_, u8>,
    spacing: Spacing,
    cfg: &FeatureConfig,
) -> Result<NamedFeatures> {
    let (vs, ms) = (hu.dim(), lung.dim());
    if vs != ms {
        return Err(Error::ShapeMismatch {
            volume: [vs.0, vs.1, vs.2],
            mask: [ms.0, ms.1, ms.2],
        });
    }
    // The body's midline: the mean column of lung voxels splits left from right lung.
    let (mut xs, mut nx) = (0.0f64, 0.0f64);
    for ((_, _, x), &m) in lung.indexed_iter() {
        if m != 0 {
            xs += x as f64;
            nx += 1.0;
        }
    }
    if nx == 0.0 {
        return Err(Error::EmptyMask(id.to_string()));
    }
    let mid = xs / nx;
    let periph_px = (cfg.peripheral_mm / spacing.x.min(spacing.y)).max(1.0) as u32;
    let bins = cfg.hist_bins;
    let bw = (cfg.hist_hi - cfg.hist_lo) / bins as f64;
    // Densities after the masked 3×3 smoothing, then lesion candidates ("blobs"): dense
    // lung that survives an in-plane opening, so vessels and airway walls drop out.
    let mut smoothed = Array3::<f32>::zeros(vs);
    smoothed
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(z, mut out)| {
            out.assign(&smooth(
                hu.index_axis(Axis(0), z),
                lung.index_axis(Axis(0), z),
            ))
        });
    let dense = Array3::from_shape_fn(vs, |(z, y, x)| {
        lung[[z, y, x]] != 0 && smoothed[[z, y, x]] as f64 > cfg.dense_min
    });
    let morph = Error::from;
    let disk = in_plane_disk(cfg.blob_radius_mm, spacing).map_err(morph)?;
    let blobs_packed = PackedMask::from_bool(dense.view())
        .and_then(|m| m.open(&disk, &MorphParams::default()))
        .map_err(morph)?;
    let comps = Components::new(
        &blobs_packed,
        &generate_binary_structure(3, 1).map_err(morph)?,
    )
    .map_err(morph)?;
    let sizes = comps.sizes();
    let blobs = blobs_packed.to_bool();

    let per_slice: Vec<SliceSums> = (0..vs.0)
        .into_par_iter()
        .map(|z| {
            let raw = hu.index_axis(Axis(0), z);
            let m = lung.index_axis(Axis(0), z);
            let bl = blobs.index_axis(Axis(0), z);
            let mut acc = Acc::new(bins);
            let (mut nl, mut na, mut ng, mut nc) = (0.0, 0.0, 0.0, 0.0);
            let (mut bg, mut bc, mut bh) = (0.0, 0.0, 0.0);
            if !m.iter().any(|&v| v != 0) {
                return SliceSums::empty(acc);
            }
            let s = smoothed.index_axis(Axis(0), z);
            let dist = cityblock_distance(m);
            let (h, w) = m.dim();
            for y in 0..h {
                for x in 0..w {
                    if m[[y, x]] == 0 {
                        continue;
                    }
                    let v = s[[y, x]] as f64;
                    let r = raw[[y, x]] as f64;
                    acc.n += 1.0;
                    acc.sum += r;
                    acc.sum2 += r * r;
                    acc.sum3 += r * r * r;
                    acc.sum4 += r * r * r * r;
                    let cls = if v < -950.0 {
                        0
                    } else if v < -700.0 {
                        1
                    } else if v < -300.0 {
                        2
                    } else if v < -100.0 {
                        3
                    } else if v < 100.0 {
                        4
                    } else {
                        5
                    };
                    acc.counts[cls] += 1.0;
                    let b = ((v - cfg.hist_lo) / bw).floor();
                    if b >= 0.0 && (b as usize) < bins {
                        acc.hist[b as usize] += 1.0;
                    }
                    let fi = (v.round() as i32).clamp(FINE_LO, FINE_HI) - FINE_LO;
                    acc.fine[fi as usize] += 1;
                    let abn = bl[[y, x]];
                    let a = abn as u8 as f64;
                    if abn {
                        bh += v;
                        if v < cfg.ggo.1 {
                            bg += 1.0;
                        } else {
                            bc += 1.0;
                        }
                    }
                    nl += 1.0;
                    na += a;
                    if v >= cfg.ggo.0 && v < cfg.ggo.1 {
                        ng += 1.0;
                    }
                    if v >= cfg.consolidation.0 && v < cfg.consolidation.1 {
                        nc += 1.0;
                    }
                    let side = if (x as f64) < mid {
                        &mut acc.left
                    } else {
                        &mut acc.right
                    };
                    side[0] += 1.0;
                    side[1] += a;
                    let zone = if dist[[y, x]] <= periph_px {
                        &mut acc.periph
                    } else {
                        &mut acc.central
                    };
                    zone[0] += 1.0;
                    zone[1] += a;
                    if x + 1 < w && y + 1 < h && m[[y, x + 1]] != 0 && m[[y + 1, x]] != 0 {
                        let g = ((s[[y, x + 1]] - s[[y, x]]).abs()
                            + (s[[y + 1, x]] - s[[y, x]]).abs())
                            as f64;
                        acc.grad_sum += g;
                        if abn {
                            acc.grad_abn_sum += g;
                            acc.grad_abn_n += 1.0;
                        }
                    }
                }
            }
            SliceSums {
                acc,
                lung: nl,
                abnormal: na,
                ggo: ng,
                consolidation: nc,
                blob_ggo: bg,
                blob_dense: bc,
                blob_hu_sum: bh,
            }
        })
        .collect();

    let acc = per_slice
        .iter()
        .map(|p| p.acc.clone())
        .fold(Acc::new(bins), Acc::merge);
    let n = acc.n;
    let mean = acc.sum / n;
    let var = (acc.sum2 / n - mean * mean).max(0.0);
    let std = var.sqrt();
    let (skew, kurt) = if std > 0.0 {
        let m3 = acc.sum3 / n - 3.0 * mean * acc.sum2 / n + 2.0 * mean.powi(3);
        let m4 = acc.sum4 / n - 4.0 * mean * acc.sum3 / n + 6.0 * mean * mean * acc.sum2 / n
            - 3.0 * mean.powi(4);
        (m3 / std.powi(3), m4 / var.powi(2) - 3.0)
    } else {
        (0.0, 0.0)
    };
    let total: u64 = acc.fine.iter().sum();
    let pct = |q| percentile(&acc.fine, total, q);
    let frac = |c: usize| acc.counts[c] / n;
    let abn_frac = (acc.counts[2] + acc.counts[4]) / n;
    let ratio = |a: [f64; 2]| if a[0] > 0.0 { a[1] / a[0] } else { 0.0 };
    let (l, r) = (ratio(acc.left), ratio(acc.right));
    let abn_total = acc.left[1] + acc.right[1];

    // z distribution of abnormal lung, on slice position normalised to 0..1.
    let nz = vs.0.max(2) as f64 - 1.0;
    let (mut zc, mut zw, mut involved, mut worst, mut lung_slices) = (0.0, 0.0, 0.0, 0.0f64, 0.0);
    for (z, p) in per_slice.iter().enumerate() {
        if p.lung == 0.0 {
            continue;
        }
        lung_slices += 1.0;
        let f = p.abnormal / p.lung;
        worst = worst.max(f);
        if f >= cfg.involved_slice_fraction {
            involved += 1.0;
        }
        zc += p.abnormal * z as f64 / nz;
        zw += p.abnormal;
    }
    let zmean = if zw > 0.0 { zc / zw } else { 0.5 };
    let mut zvar = 0.0;
    if zw > 0.0 {
        for (z, p) in per_slice.iter().enumerate() {
            zvar += p.abnormal * (z as f64 / nz - zmean).powi(2);
        }
        zvar /= zw;
    }
    let ggo_n: f64 = per_slice.iter().map(|p| p.ggo).sum();
    let cons_n: f64 = per_slice.iter().map(|p| p.consolidation).sum();

    let mut out = {
        let mut out = NamedFeatures::new();
        out.push("lung_volume_ml", n * spacing.voxel_volume() / 1000.0);
        out.push("hu_mean", mean);
        out.push("hu_std", std);
        out.push("hu_skew", skew);
        out.push("hu_kurtosis", kurt);
        out.push("hu_p05", pct(0.05));
        out.push("hu_p25", pct(0.25));
        out.push("hu_p50", pct(0.50));
        out.push("hu_p75", pct(0.75));
        out.push("hu_p95", pct(0.95));
        out.push("frac_below_-950", frac(0));
        out.push("frac_-950_-700", frac(1));
        out.push("frac_ggo", frac(2));
        out.push("frac_-300_-100", frac(3));
        out.push("frac_consolidation", frac(4));
        out.push("frac_above_100", frac(5));
        out.push("abnormal_frac", abn_frac);
        out.push("abn_left", l);
        out.push("abn_right", r);
        out.push("abn_min_side", l.min(r));
        out.push(
            "abn_asymmetry",
            if l + r > 0.0 {
                (l - r).abs() / (l + r)
            } else {
                0.0
            },
        );
        out.push("abn_peripheral", ratio(acc.periph));
        out.push("abn_central", ratio(acc.central));
        out.push(
            "abn_peripheral_share",
            if abn_total > 0.0 {
                acc.periph[1] / abn_total
            } else {
                0.0
            },
        );
        out.push(
            "involved_slices_frac",
            if lung_slices > 0.0 {
                involved / lung_slices
            } else {
                0.0
            },
        );
        out.push("abn_worst_slice", worst);
        out.push("abn_z_centroid", zmean);
        out.push("abn_z_spread", zvar.sqrt());
        out.push(
            "ggo_to_consolidation",
            ((ggo_n + 1.0) / (cons_n + 1.0)).ln(),
        );
        out.push("gradient_mean", acc.grad_sum / n);
        out.push(
            "gradient_ratio_abn",
            if acc.grad_abn_n > 0.0 && acc.grad_sum > 0.0 {
                (acc.grad_abn_sum / acc.grad_abn_n) / (acc.grad_sum / n)
            } else {
                0.0
            },
        );
        out
    };
    let bg: f64 = per_slice.iter().map(|p| p.blob_ggo).sum();
    let bc: f64 = per_slice.iter().map(|p| p.blob_dense).sum();
    let bh: f64 = per_slice.iter().map(|p| p.blob_hu_sum).sum();
    let blob_n = bg + bc;
    let litres = n * spacing.voxel_volume() / 1e6;
    let largest = sizes.iter().copied().max().unwrap_or(0) as f64;
    out.append({
        let mut blobs = NamedFeatures::new();
        blobs.push("blob_frac", blob_n / n);
        blobs.push("blob_ggo_frac", bg / n);
        blobs.push("blob_cons_frac", bc / n);
        blobs.push(
            "blob_components_per_litre",
            sizes.len() as f64 / litres.max(1e-6),
        );
        blobs.push(
            "blob_largest_share",
            if blob_n > 0.0 { largest / blob_n } else { 0.0 },
        );
        blobs.push(
            "blob_mean_hu",
            if blob_n > 0.0 {
                bh / blob_n
            } else {
                cfg.dense_min
            },
        );
        blobs
    });
    let names = feature_names(cfg);
    for (name, c) in names[SCALAR_NAMES.len()..].iter().zip(&acc.hist) {
        out.push(name.as_str(), c / n);
    }
    out.check_names(&names, "radiomic features")?;
    Ok(out)
}

#[cfg(test)]
mod tests;
