//! Distances and hulls.

use ndarray::{Array2, ArrayView2};

/// City-block distance (4-connected steps) from each mask pixel to the nearest background
/// pixel, where the outside of the image counts as background: a mask pixel on the border
/// is 1 step away; background pixels are 0. Two raster passes.
pub fn cityblock_distance(mask: ArrayView2<'_, u8>) -> Array2<u32> {
    let (h, w) = mask.dim();
    let inf = (h + w) as u32;
    let mut d = Array2::<u32>::from_elem((h, w), inf);
    for y in 0..h {
        for x in 0..w {
            if mask[[y, x]] == 0 {
                d[[y, x]] = 0;
                continue;
            }
            let up = if y == 0 { 0 } else { d[[y - 1, x]] };
            let left = if x == 0 { 0 } else { d[[y, x - 1]] };
            d[[y, x]] = up.min(left) + 1;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            if d[[y, x]] == 0 {
                continue;
            }
            let down = if y + 1 == h { 0 } else { d[[y + 1, x]] };
            let right = if x + 1 == w { 0 } else { d[[y, x + 1]] };
            d[[y, x]] = d[[y, x]].min(down.min(right) + 1);
        }
    }
    d
}

/// Convex hull (monotone chain) of integer points: its vertices counter-clockwise (for
/// `(x, y)` with y up), starting at the smallest point, without collinear points and without
/// a repeated end point. Fewer than three distinct points come back sorted.
pub fn convex_hull(mut pts: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
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
