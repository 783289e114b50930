//! The search region: the lung with the bites that juxtapleural lesions take out of it
//! filled by a per-lung convex hull.

use ct_morph::generate_binary_structure;
use ndarray::{Array2, Array3, ArrayView3, Axis};
use rayon::prelude::*;

use crate::Result;
use ct_morph::image::convex_hull;

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
