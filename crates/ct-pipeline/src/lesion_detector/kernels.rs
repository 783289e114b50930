//! Image kernels of the voxel features: masked box means, square min/max filters, in-plane
//! Hessian eigenvalues, grey opening and the 2-D convex hull.

use ndarray::Array2;

/// Masked box mean over a `(2r+1)²` window clipped at the borders, from integral images of
/// `a·w` and `w`; where the window holds no mask, `fallback`.
pub(super) fn masked_box_mean(
    a: &Array2<f32>,
    w: &Array2<f32>,
    r: usize,
    fallback: f32,
) -> Array2<f32> {
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
pub(super) fn hessian_eigen(a: &Array2<f32>, r: usize) -> (Array2<f32>, Array2<f32>) {
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

pub(super) fn opening(a: &Array2<f32>, r: usize) -> Array2<f32> {
    square_filter(&square_filter(a, r, false), r, true)
}

/// Convex hull (monotone chain) of integer points, counter-clockwise, no repeated end point.
pub(super) fn convex_hull(mut pts: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
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
