//! Foci of the lesion-pattern U-Net: the 3-D groups of pixels it calls lesion, each
//! described by what tells a small ground-glass focus from what the network also fires on
//! in normal lungs (a dependent atelectasis band along the posterior chest wall, a vessel
//! crossing, noise).
//!
//! Per scan, [`pattern_foci`] lists the foci with [`FOCUS_FEATURE_NAMES`]; on phantoms
//! each focus also carries the share of it inside the true lesion mask. The run writes them
//! to `foci.csv` (one row per focus: a findings list).

use ct_morph::{Components, PackedMask, generate_binary_structure};
use ndarray::{Array3, ArrayView3};
use serde::{Deserialize, Serialize};

use super::*;
use crate::{Error, Result};

/// Lesion probability (CAP-like + COVID-19-like) at which a pixel joins a focus.
pub const FOCUS_THRESHOLD: f32 = 0.5;

/// Features of one focus ([`pattern_foci`]).
pub const FOCUS_FEATURE_NAMES: [&str; 17] = [
    "peak",
    "mean_prob",
    "mass_ml",
    "volume_ml",
    "z_extent_mm",
    "inplane_extent_mm",
    "fill",
    "covid_share",
    "mean_hu",
    "contrast_hu",
    "y_relative",
    "z_relative",
    "lateral",
    "edge_share",
    "mirror_peak",
    "scan_foci",
    "rank",
];

/// One focus of the pattern U-Net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Focus {
    /// [`FOCUS_FEATURE_NAMES`], in order.
    pub features: Vec<f64>,
    /// Centroid `[z, y, x]` in voxels of the cleaned full-resolution volume.
    pub centroid: [f64; 3],
    /// Share of the focus's pixels inside the true lesion mask (phantoms only).
    #[serde(default)]
    pub lesion_share: Option<f64>,
}

/// Per-focus accumulators.
#[derive(Clone)]
struct Acc {
    n: usize,
    peak: f32,
    sum_p: f64,
    sum_covid: f64,
    sum_hu: f64,
    sum_zyx: [f64; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    edge: usize,
    mirror: f32,
    truth: usize,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            n: 0,
            peak: 0.0,
            sum_p: 0.0,
            sum_covid: 0.0,
            sum_hu: 0.0,
            sum_zyx: [0.0; 3],
            lo: [usize::MAX; 3],
            hi: [0; 3],
            edge: 0,
            mirror: 0.0,
            truth: 0,
        }
    }
}

/// The foci of the network's output on one scan: 3-D groups (26-connected across the
/// predicted slices) of pixels with lesion probability ≥ [`FOCUS_THRESHOLD`] inside the
/// search region. `lesion` is the true lesion mask at full resolution on the cleaned
/// slices, when known; a half-resolution pixel counts as lesion when any of its voxels is.
/// Foci come largest mass first.
pub fn pattern_foci(m: &PatternMaps<'_>, lesion: Option<ArrayView3<'_, u8>>) -> Result<Vec<Focus>> {
    m.check("pattern foci")?;
    let PatternMaps {
        p,
        vol,
        region,
        zs,
        crop,
        spacing,
        factor,
        z_step,
    } = *m;
    let (n, _, h, w) = p.dim();
    let (nz, ny, nx) = vol.dim();
    if let Some(l) = &lesion
        && (l.dim().0 != nz || l.dim().1 < ny * factor || l.dim().2 < nx * factor)
    {
        return Err(Error::Config {
            name: "pattern foci",
            why: format!(
                "lesion mask {:?} does not cover the volume {:?} at factor {factor}",
                l.dim(),
                vol.dim()
            ),
        });
    }
    let Some(RegionExtent {
        x_mid,
        half_width,
        rows: (ymin, ymax),
    }) = m.region_extent()
    else {
        return Ok(Vec::new());
    };
    let rows = ((ymax - ymin) as f64).max(1.0);
    let inside = |z: usize, y: usize, x: usize| {
        let (sy, sx) = (crop.y0 + y, crop.x0 + x);
        sy < ny && sx < nx && region[[z, sy, sx]] != 0
    };
    let lesion_p = |k: usize, y: usize, x: usize| p[[k, 1, y, x]] + p[[k, 2, y, x]];
    let mut det = Array3::<u8>::zeros((n, h, w));
    for (k, &z) in zs.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                if inside(z, y, x) && lesion_p(k, y, x) >= FOCUS_THRESHOLD {
                    det[[k, y, x]] = 1;
                }
            }
        }
    }
    let comps = Components::new(
        &PackedMask::from_u8(det.view())?,
        &generate_binary_structure(3, 3)?,
    )?;
    let labels = comps.labels();
    let mut acc = vec![Acc::new(); comps.len() + 1];
    let truth_at = |z: usize, sy: usize, sx: usize| -> bool {
        lesion.as_ref().is_some_and(|l| {
            (0..factor)
                .any(|dy| (0..factor).any(|dx| l[[z, sy * factor + dy, sx * factor + dx]] != 0))
        })
    };
    for (k, &z) in zs.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let l = labels[[k, y, x]] as usize;
                if l == 0 {
                    continue;
                }
                let (sy, sx) = (crop.y0 + y, crop.x0 + x);
                let a = &mut acc[l];
                let pl = lesion_p(k, y, x);
                a.n += 1;
                a.peak = a.peak.max(pl);
                a.sum_p += f64::from(pl);
                a.sum_covid += f64::from(p[[k, 2, y, x]]);
                a.sum_hu += f64::from(vol[[z, sy, sx]]) * 400.0 - 600.0;
                for (s, v) in a.sum_zyx.iter_mut().zip([k, y, x]) {
                    *s += v as f64;
                }
                for (d, v) in [k, y, x].into_iter().enumerate() {
                    a.lo[d] = a.lo[d].min(v);
                    a.hi[d] = a.hi[d].max(v);
                }
                let on_edge = [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
                    .iter()
                    .any(|&(dy, dx)| {
                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                        yy < 0
                            || xx < 0
                            || yy >= h as i64
                            || xx >= w as i64
                            || !inside(z, yy as usize, xx as usize)
                    });
                a.edge += usize::from(on_edge);
                // The mirror image about the lung midline (a band along both posterior
                // walls has one; a single focus seldom does).
                let mx = (2.0 * x_mid - sx as f64).round();
                for dx in -1i64..=1 {
                    let xx = mx as i64 + dx - crop.x0 as i64;
                    if xx >= 0 && (xx as usize) < w {
                        a.mirror = a.mirror.max(lesion_p(k, y, xx as usize));
                    }
                }
                a.truth += usize::from(truth_at(z, sy, sx));
            }
        }
    }
    let voxel_ml = m.voxel_ml();
    let pixel_mm = 0.5 * (spacing.y + spacing.x) * factor as f64;
    let mut foci: Vec<(f64, Acc, usize)> = acc
        .into_iter()
        .enumerate()
        .skip(1)
        .filter(|(_, a)| a.n > 0)
        .map(|(l, a)| (a.sum_p, a, l))
        .collect();
    foci.sort_by(|a, b| b.0.total_cmp(&a.0));
    let scan_foci = foci.len() as f64;
    let mut out = Vec::with_capacity(foci.len());
    for (rank, (_, a, l)) in foci.into_iter().enumerate() {
        let nf = a.n as f64;
        let mean_hu = a.sum_hu / nf;
        // Local background: undetected region pixels within 3 pixels of the focus's box.
        let (mut ring, mut ring_n) = (0f64, 0f64);
        for k in a.lo[0]..=a.hi[0] {
            let z = zs[k];
            for y in a.lo[1].saturating_sub(3)..(a.hi[1] + 4).min(h) {
                for x in a.lo[2].saturating_sub(3)..(a.hi[2] + 4).min(w) {
                    if labels[[k, y, x]] as usize != l && det[[k, y, x]] == 0 && inside(z, y, x) {
                        ring += f64::from(vol[[z, crop.y0 + y, crop.x0 + x]]) * 400.0 - 600.0;
                        ring_n += 1.0;
                    }
                }
            }
        }
        let ext = |d: usize| (a.hi[d] - a.lo[d] + 1) as f64;
        let cy = a.sum_zyx[1] / nf + crop.y0 as f64;
        let cx = a.sum_zyx[2] / nf + crop.x0 as f64;
        let ck = a.sum_zyx[0] / nf;
        // Centroid on the full-resolution slices (interpolated between predicted ones).
        let k0 = ck.floor() as usize;
        let k1 = (k0 + 1).min(n - 1);
        let cz = zs[k0] as f64 + (ck - k0 as f64) * (zs[k1] as f64 - zs[k0] as f64);
        out.push(Focus {
            features: vec![
                f64::from(a.peak),
                a.sum_p / nf,
                a.sum_p * voxel_ml,
                nf * voxel_ml,
                ext(0) * z_step as f64 * spacing.z,
                ext(1).max(ext(2)) * pixel_mm,
                nf / (ext(0) * ext(1) * ext(2)),
                a.sum_covid / a.sum_p.max(1e-12),
                mean_hu,
                if ring_n > 0.0 {
                    mean_hu - ring / ring_n
                } else {
                    0.0
                },
                ((cy - ymin as f64) / rows).clamp(0.0, 1.0),
                if n > 1 { ck / (n - 1) as f64 } else { 0.5 },
                ((cx - x_mid).abs() / half_width).min(1.5),
                a.edge as f64 / nf,
                f64::from(a.mirror),
                scan_foci,
                rank as f64,
            ],
            centroid: [
                cz,
                (cy + 0.5) * factor as f64 - 0.5,
                (cx + 0.5) * factor as f64 - 0.5,
            ],
            lesion_share: lesion.as_ref().map(|_| a.truth as f64 / nf),
        });
    }
    Ok(out)
}
