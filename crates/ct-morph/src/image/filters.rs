//! Square-window filters on `f32` images.

use ndarray::{Array2, ArrayView2};

/// Mean of `a` weighted by `w` over the `(2·radius + 1)²` window around each pixel, clipped
/// at the borders (`uniform_filter(a·w) / uniform_filter(w)` with `mode="constant"`); where
/// the window holds no weight, `fallback`. Sums run in `f64` over integral images, so the
/// cost does not depend on the radius.
pub fn masked_mean(
    a: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    radius: usize,
    fallback: f32,
) -> Array2<f32> {
    let r = radius;
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
fn square_filter(a: ArrayView2<'_, f32>, r: usize, max: bool) -> Array2<f32> {
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

/// Minimum over the `(2·radius + 1)²` square around each pixel, clipped at the borders
/// (`scipy.ndimage.minimum_filter(a, size=2·radius+1, mode="nearest")`).
pub fn minimum_filter(a: ArrayView2<'_, f32>, radius: usize) -> Array2<f32> {
    square_filter(a, radius, false)
}

/// Maximum over the `(2·radius + 1)²` square around each pixel, clipped at the borders
/// (`scipy.ndimage.maximum_filter(a, size=2·radius+1, mode="nearest")`).
pub fn maximum_filter(a: ArrayView2<'_, f32>, radius: usize) -> Array2<f32> {
    square_filter(a, radius, true)
}

/// Grey opening by a flat `(2·radius + 1)²` square: the minimum filter, then the maximum
/// filter (`scipy.ndimage.grey_opening(a, size=2·radius+1, mode="nearest")`). Bright
/// structures narrower than the square (vessels) drop out; wider ones (blobs) stay.
pub fn grey_opening(a: ArrayView2<'_, f32>, radius: usize) -> Array2<f32> {
    square_filter(square_filter(a, radius, false).view(), radius, true)
}

/// Eigenvalues (smaller, larger) of the in-plane Hessian of `a` smoothed by two box means of
/// radius `r` (close to a Gaussian of σ ≈ 0.8·r), by central differences at step `max(r, 1)`
/// with edge pixels repeated, scaled by r² / step² so that scales compare. A bright blob has
/// both strongly negative, a vessel one, a plate or flat parenchyma neither.
pub fn hessian_eigenvalues(a: ArrayView2<'_, f32>, r: usize) -> (Array2<f32>, Array2<f32>) {
    let ones = Array2::<f32>::ones(a.dim());
    let s = masked_mean(
        masked_mean(a, ones.view(), r, 0.0).view(),
        ones.view(),
        r,
        0.0,
    );
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
