//! MSE, PSNR and SSIM with scikit-image 0.26 semantics.

use std::cell::RefCell;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// A pixel type the metrics accept, with scikit-image's `dtype_range` for it.
pub trait Pixel: Copy + Send + Sync + 'static {
    /// numpy's name of the dtype (for messages).
    const DTYPE: &'static str;
    /// `skimage.util.dtype.dtype_range[dtype]` (floats: `(-1, 1)`).
    const RANGE: (f64, f64);
    /// Whether the type is floating point (SSIM then needs an explicit data range).
    const IS_FLOAT: bool;
    /// The value as `f64` (exact for every supported type).
    fn to_f64(self) -> f64;
    /// `Σ (a − b)²` over two equal-length slices, as the `f64` that numpy's
    /// `((a.astype(float64) - b) ** 2).sum()` approximates (integers: exact, summed in integer
    /// lanes; floats: eight `f64` partial sums).
    fn sq_diff_sum(a: &[Self], b: &[Self]) -> f64;
}

macro_rules! pixel {
    ($t:ty, $name:expr, $lo:expr, $hi:expr, $float:expr, $sq:ident) => {
        impl Pixel for $t {
            const DTYPE: &'static str = $name;
            const RANGE: (f64, f64) = ($lo, $hi);
            const IS_FLOAT: bool = $float;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn sq_diff_sum(a: &[Self], b: &[Self]) -> f64 {
                $sq(a, b)
            }
        }
    };
}
pixel!(u8, "uint8", 0.0, 255.0, false, sq_diff_u8);
pixel!(u16, "uint16", 0.0, 65535.0, false, sq_diff_u16);
pixel!(i16, "int16", -32768.0, 32767.0, false, sq_diff_i16);
pixel!(f32, "float32", -1.0, 1.0, true, sq_diff_f32);
pixel!(f64, "float64", -1.0, 1.0, true, sq_diff_f64);

// Squared-difference sums. Integer images: every partial sum is an integer below 2^53, so
// numpy's f64 result is the exact integer sum, which integer lanes compute in any order (u8:
// 32-bit lanes over blocks of 4096, where 4096 · 255² < 2^32). Floats: eight independent f64
// partial sums (vectorisable, unlike one running sum); numpy's pairwise order differs at the
// 1e-16 level.
multiversion! {
fn sq_diff_u8(a: &[u8], b: &[u8]) -> f64 {
    let mut total = 0u64;
    for (ca, cb) in a.chunks(4096).zip(b.chunks(4096)) {
        let s: u32 = ca
            .iter()
            .zip(cb)
            .map(|(&x, &y)| {
                let d = x as i32 - y as i32;
                (d * d) as u32
            })
            .sum();
        total += s as u64;
    }
    total as f64
}
}

multiversion! {
fn sq_diff_u16(a: &[u16], b: &[u16]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i64 - y as i64;
            (d * d) as u64
        })
        .sum::<u64>() as f64
}
}

multiversion! {
fn sq_diff_i16(a: &[i16], b: &[i16]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i64 - y as i64;
            (d * d) as u64
        })
        .sum::<u64>() as f64
}
}

/// Eight-lane f64 sum of squared differences.
#[inline(always)]
fn sq_diff_lanes<T: Pixel>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            let d = x[j].to_f64() - y[j].to_f64();
            acc[j] += d * d;
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        let d = x.to_f64() - y.to_f64();
        tail += d * d;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

multiversion! {
fn sq_diff_f32(a: &[f32], b: &[f32]) -> f64 {
    sq_diff_lanes(a, b)
}
}

multiversion! {
fn sq_diff_f64(a: &[f64], b: &[f64]) -> f64 {
    sq_diff_lanes(a, b)
}
}

fn check_pair<T, U>(a: &ArrayView2<T>, b: &ArrayView2<U>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            what: "images",
            a: a.shape().to_vec(),
            b: b.shape().to_vec(),
        });
    }
    if a.is_empty() {
        return Err(Error::Empty([a.nrows(), a.ncols()]));
    }
    Ok(())
}

/// Rejects NaN/inf in floating-point images (scikit-image would return NaN).
fn check_finite<T: Pixel>(a: &ArrayView2<T>, what: &'static str) -> Result<()> {
    if T::IS_FLOAT && a.iter().any(|&p| !p.to_f64().is_finite()) {
        return Err(Error::NonFinite(what));
    }
    Ok(())
}

/// Mean squared error, `skimage.metrics.mean_squared_error` (computed in `f64`).
///
/// Errors: different shapes, empty images, NaN/inf values.
pub fn mse<T: Pixel>(a: ArrayView2<T>, b: ArrayView2<T>) -> Result<f64> {
    check_pair(&a, &b)?;
    let n = a.len() as f64;
    let sum = if let (Some(sa), Some(sb)) = (a.as_slice(), b.as_slice()) {
        // Contiguous fast path: vectorised partial sums, in parallel over 1 MiB-ish chunks
        // (a 512² slice is one chunk: splitting it costs more than it saves).
        const CHUNK: usize = 1 << 20;
        if sa.len() <= CHUNK {
            T::sq_diff_sum(sa, sb)
        } else {
            sa.par_chunks(CHUNK)
                .zip(sb.par_chunks(CHUNK))
                .map(|(ca, cb)| T::sq_diff_sum(ca, cb))
                .sum::<f64>()
        }
    } else {
        a.iter()
            .zip(b.iter())
            .map(|(&x, &y)| {
                let d = x.to_f64() - y.to_f64();
                d * d
            })
            .sum::<f64>()
    };
    if !sum.is_finite() {
        return Err(Error::NonFinite("images"));
    }
    Ok(sum / n)
}

/// Peak signal-to-noise ratio in dB, `skimage.metrics.peak_signal_noise_ratio`.
///
/// With `data_range = None` the range comes from the dtype of `image_true` as scikit-image
/// does: the dtype maximum when `image_true` has no negative values, else `max - min` of the
/// dtype (floats: 1 or 2), and an error when values fall outside the dtype range. Identical
/// images give `f64::INFINITY` (numpy's `log10(inf)`).
pub fn psnr<T: Pixel>(
    image_true: ArrayView2<T>,
    image_test: ArrayView2<T>,
    data_range: Option<f64>,
) -> Result<f64> {
    check_pair(&image_true, &image_test)?;
    let range = match data_range {
        Some(r) => {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::InvalidParam {
                    name: "data_range",
                    value: r.to_string(),
                    reason: "must be finite and > 0",
                });
            }
            r
        }
        None => {
            let (lo, hi) = T::RANGE;
            let (mut mn, mut mx) = (f64::INFINITY, f64::NEG_INFINITY);
            for &p in image_true.iter() {
                let v = p.to_f64();
                if v.is_nan() {
                    return Err(Error::NonFinite("image_true"));
                }
                mn = mn.min(v);
                mx = mx.max(v);
            }
            if mx > hi || mn < lo {
                return Err(Error::OutOfDtypeRange {
                    dtype: T::DTYPE,
                    min: mn,
                    max: mx,
                    lo,
                    hi,
                });
            }
            if mn >= 0.0 { hi } else { hi - lo }
        }
    };
    let err = mse(image_true, image_test)?;
    Ok(10.0 * ((range * range) / err).log10())
}

/// Parameters of [`ssim`], mirroring `skimage.metrics.structural_similarity`'s keywords.
///
/// The default is scikit-image's default: a 7×7 uniform window with the sample covariance.
/// [`SsimParams::gaussian`] is Wang et al.'s variant (`gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False`).
#[derive(Debug, Clone, PartialEq)]
pub struct SsimParams {
    /// Window side (odd). `None`: 7 for the uniform window, `2·int(3.5σ + 0.5) + 1` for the
    /// Gaussian (11 for σ = 1.5). With Gaussian weights it only sets the covariance
    /// normalisation and the border crop, as in scikit-image.
    pub win_size: Option<usize>,
    /// Gaussian weights (σ = `sigma`, truncated at 3.5σ) instead of a uniform window.
    pub gaussian_weights: bool,
    /// Standard deviation of the Gaussian window.
    pub sigma: f64,
    /// Normalise the (co)variances by `N − 1` instead of `N` (N = win_size²).
    pub use_sample_covariance: bool,
    /// Constant K1 (0.01).
    pub k1: f64,
    /// Constant K2 (0.03).
    pub k2: f64,
    /// Dynamic range of the images; `None` takes it from the integer dtype (required for
    /// floating-point input, as in scikit-image).
    pub data_range: Option<f64>,
}

impl Default for SsimParams {
    fn default() -> Self {
        SsimParams {
            win_size: None,
            gaussian_weights: false,
            sigma: 1.5,
            use_sample_covariance: true,
            k1: 0.01,
            k2: 0.03,
            data_range: None,
        }
    }
}

impl SsimParams {
    /// Wang et al. 2004: Gaussian weights σ = 1.5 and the population covariance.
    pub fn gaussian() -> Self {
        SsimParams {
            gaussian_weights: true,
            use_sample_covariance: false,
            ..Default::default()
        }
    }

    /// Same parameters with an explicit data range.
    pub fn with_data_range(mut self, r: f64) -> Self {
        self.data_range = Some(r);
        self
    }

    /// Check the parameters (independently of the images).
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, reason| {
            Err(Error::InvalidParam {
                name,
                value: value.to_string(),
                reason,
            })
        };
        if !(self.k1 >= 0.0 && self.k1.is_finite()) {
            return bad("K1", self.k1, "must be finite and >= 0");
        }
        if !(self.k2 >= 0.0 && self.k2.is_finite()) {
            return bad("K2", self.k2, "must be finite and >= 0");
        }
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return bad("sigma", self.sigma, "must be finite and > 0");
        }
        if let Some(w) = self.win_size
            && (w.is_multiple_of(2) || w < 1)
        {
            return bad("win_size", w as f64, "must be odd and >= 1");
        }
        if let Some(r) = self.data_range
            && !(r > 0.0 && r.is_finite())
        {
            return bad("data_range", r, "must be finite and > 0");
        }
        Ok(())
    }

    /// The window side actually used (see [`SsimParams::win_size`]).
    pub fn effective_win_size(&self) -> usize {
        match self.win_size {
            Some(w) => w,
            None if self.gaussian_weights => 2 * gaussian_radius(self.sigma) + 1,
            None => 7,
        }
    }
}

/// scipy.ndimage's Gaussian radius: `int(truncate * sigma + 0.5)` with truncate 3.5.
fn gaussian_radius(sigma: f64) -> usize {
    (3.5 * sigma + 0.5) as usize
}

/// The 1-D taps of the separable window and the factor applied to the 2-D sums.
fn window_taps(p: &SsimParams, win: usize) -> (Vec<f64>, f64) {
    if p.gaussian_weights {
        // scipy.ndimage._gaussian_kernel1d: exp(-x²/(2σ²)) normalised to sum 1.
        let r = gaussian_radius(p.sigma) as i64;
        let s2 = p.sigma * p.sigma;
        let mut w: Vec<f64> = (-r..=r)
            .map(|x| (-0.5 / s2 * (x * x) as f64).exp())
            .collect();
        let sum: f64 = w.iter().sum();
        w.iter_mut().for_each(|v| *v /= sum);
        (w, 1.0)
    } else {
        // Box sums with unit weights (exact for integer images), divided once at the end.
        (vec![1.0; win], 1.0 / (win * win) as f64)
    }
}

/// scipy.ndimage `mode='reflect'` (half-sample symmetric, `d c b a | a b c d | d c b a`),
/// folded repeatedly for overhangs longer than the axis.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let p = 2 * n;
    let mut m = i.rem_euclid(p);
    if m >= n {
        m = p - 1 - m;
    }
    m as usize
}

/// Mean structural similarity of two images, `skimage.metrics.structural_similarity`.
///
/// Integer images get their data range from the dtype unless [`SsimParams::data_range`] is
/// set; floating-point images need it. Borders follow scikit-image exactly: the filters
/// reflect at the edges (`mode='reflect'`) and the mean is taken over the map cropped by
/// `(win_size − 1) / 2` on every side. The computation is in `f64` (scikit-image uses
/// `float32` for `f32` input, so expect ~1e-6 differences there).
///
/// Errors: different shapes, an image smaller than the window, invalid parameters, a missing
/// data range for float input, NaN/inf values.
pub fn ssim<T: Pixel>(a: ArrayView2<T>, b: ArrayView2<T>, params: &SsimParams) -> Result<f64> {
    ssim_impl(a, b, params, false).map(|(m, _)| m)
}

/// [`ssim`] and the full (uncropped) SSIM map, as `structural_similarity(..., full=True)`.
pub fn ssim_full<T: Pixel>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    params: &SsimParams,
) -> Result<(f64, Array2<f64>)> {
    ssim_impl(a, b, params, true).map(|(m, s)| (m, s.expect("full map requested")))
}

/// Fewest output rows per rayon task (each task recomputes the horizontal sums of its
/// `2·r` halo rows).
const MIN_BLOCK_ROWS: usize = 32;

fn ssim_impl<T: Pixel>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    p: &SsimParams,
    full: bool,
) -> Result<(f64, Option<Array2<f64>>)> {
    p.validate()?;
    check_pair(&a, &b)?;
    let (h, w) = a.dim();
    let win = p.effective_win_size();
    if h < win || w < win {
        return Err(Error::WindowTooLarge {
            win_size: win,
            shape: [h, w],
        });
    }
    let range = match p.data_range {
        Some(r) => r,
        None if T::IS_FLOAT => return Err(Error::DataRangeRequired(T::DTYPE)),
        None => T::RANGE.1 - T::RANGE.0,
    };
    check_finite(&a, "first image")?;
    check_finite(&b, "second image")?;
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (sa, sb) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    // Rows are converted to f64 on the fly (exact for every pixel type).
    let fetch = |row: usize, xr: &mut [f64], yr: &mut [f64]| {
        for (d, &v) in xr.iter_mut().zip(&sa[row * w..(row + 1) * w]) {
            *d = v.to_f64();
        }
        for (d, &v) in yr.iter_mut().zip(&sb[row * w..(row + 1) * w]) {
            *d = v.to_f64();
        }
    };
    let (taps, scale) = window_taps(p, win);
    let r = taps.len() / 2;
    let np = (win * win) as f64;
    let cov_norm = if p.use_sample_covariance {
        np / (np - 1.0)
    } else {
        1.0
    };
    let c1 = (p.k1 * range) * (p.k1 * range);
    let c2 = (p.k2 * range) * (p.k2 * range);
    let pad = (win - 1) / 2;

    let consts = Consts {
        taps: &taps,
        uniform: !p.gaussian_weights,
        r,
        scale,
        cov_norm,
        c1,
        c2,
        pad,
        h,
        w,
    };
    // One block per thread and a few more for balance; a single block on one thread.
    let threads = rayon::current_num_threads();
    let n_blocks = if threads <= 1 {
        1
    } else {
        (threads * 4).min(h.div_ceil(MIN_BLOCK_ROWS)).max(1)
    };
    let block = h.div_ceil(n_blocks);
    thread_local! {
        static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    }
    let run = |y0: usize, out: Option<&mut [f64]>| {
        let y1 = (y0 + block).min(h);
        SCRATCH.with(|s| ssim_rows(&fetch, &consts, y0, y1, out, &mut s.borrow_mut()))
    };
    let mut map = if full { vec![0.0; h * w] } else { Vec::new() };
    let sum: f64 = if full {
        map.par_chunks_mut(block * w)
            .enumerate()
            .map(|(bi, out)| run(bi * block, Some(out)))
            .sum()
    } else {
        (0..h.div_ceil(block))
            .into_par_iter()
            .map(|bi| run(bi * block, None))
            .sum()
    };
    let count = ((h - 2 * pad) * (w - 2 * pad)) as f64;
    let mean = sum / count;
    let map = if full {
        Some(Array2::from_shape_vec((h, w), map).expect("shape matches"))
    } else {
        None
    };
    Ok((mean, map))
}

struct Consts<'a> {
    taps: &'a [f64],
    uniform: bool,
    r: usize,
    scale: f64,
    cov_norm: f64,
    c1: f64,
    c2: f64,
    pad: usize,
    h: usize,
    w: usize,
}

/// Fills `x`, `y` (one image row each, as f64) for an image row index.
type RowFetch<'a> = dyn Fn(usize, &mut [f64], &mut [f64]) + Sync + 'a;

/// The five horizontally filtered planes (x, y, x², y², xy) of image row `row` (reflected at
/// the edges) into `dst` (5 × w). Each filter is a sum over the taps vectorised across the
/// row; for the uniform window the unit-weight sums are exact for integer images, like
/// scikit-image's (whose `uniform_filter` result is then only divided once).
#[inline(always)]
fn hrow(fetch: &RowFetch, c: &Consts, row: usize, pads: &mut [f64], dst: &mut [f64]) {
    let (w, r) = (c.w, c.r);
    let wp = w + 2 * r;
    let (px, rest) = pads.split_at_mut(wp);
    let (py, rest) = rest.split_at_mut(wp);
    let (pxx, rest) = rest.split_at_mut(wp);
    let (pyy, rest) = rest.split_at_mut(wp);
    let pxy = &mut rest[..wp];
    fetch(row, &mut px[r..r + w], &mut py[r..r + w]);
    // Reflected padding (scipy.ndimage mode='reflect'): only the 2r border samples.
    for i in (0..r).chain(r + w..wp) {
        let s = r + reflect(i as isize - r as isize, w);
        px[i] = px[s];
        py[i] = py[s];
    }
    for i in 0..wp {
        let (a, b) = (px[i], py[i]);
        pxx[i] = a * a;
        pyy[i] = b * b;
        pxy[i] = a * b;
    }
    let srcs: [&[f64]; 5] = [px, py, pxx, pyy, pxy];
    for (q, src) in srcs.iter().enumerate() {
        let d = &mut dst[q * w..(q + 1) * w];
        match c.taps.len() {
            // The default windows with the tap count known at compile time: the taps stay in
            // registers and the loop runs across the row (same sums, same order).
            7 => hfilter_n::<7>(src, c.taps, c.uniform, d),
            11 => hfilter_n::<11>(src, c.taps, c.uniform, d),
            _ => hfilter_any(src, c.taps, c.uniform, d),
        }
    }
}

/// `d[i] = Σ_k t[k]·src[i + k]` (uniform: `Σ_k src[i + k]`), summed in tap order.
#[inline(always)]
fn hfilter_n<const N: usize>(src: &[f64], taps: &[f64], uniform: bool, d: &mut [f64]) {
    let t: [f64; N] = taps.try_into().expect("N taps");
    let src = &src[..d.len() + N - 1];
    if uniform {
        for (d, win) in d.iter_mut().zip(src.windows(N)) {
            let win: &[f64; N] = win.try_into().expect("window of N");
            let mut s = win[0];
            for v in &win[1..] {
                s += v;
            }
            *d = s;
        }
    } else {
        for (d, win) in d.iter_mut().zip(src.windows(N)) {
            let win: &[f64; N] = win.try_into().expect("window of N");
            let mut s = t[0] * win[0];
            for k in 1..N {
                s += t[k] * win[k];
            }
            *d = s;
        }
    }
}

/// [`hfilter_n`] for any tap count (one pass over the row per tap).
#[inline(always)]
fn hfilter_any(src: &[f64], taps: &[f64], uniform: bool, d: &mut [f64]) {
    let w = d.len();
    if uniform {
        d.copy_from_slice(&src[..w]);
        for k in 1..taps.len() {
            for (d, &v) in d.iter_mut().zip(&src[k..k + w]) {
                *d += v;
            }
        }
    } else {
        let t0 = taps[0];
        for (d, &v) in d.iter_mut().zip(&src[..w]) {
            *d = t0 * v;
        }
        for (k, &t) in taps.iter().enumerate().skip(1) {
            for (d, &v) in d.iter_mut().zip(&src[k..k + w]) {
                *d += t * v;
            }
        }
    }
}

/// `acc[i] = Σ_k t[k]·rows[k][i]`, summed in tap order, `N` known at compile time.
#[inline(always)]
fn vfilter_n<const N: usize>(rows: [&[f64]; N], taps: &[f64], acc: &mut [f64]) {
    let t: [f64; N] = taps.try_into().expect("N taps");
    let n = acc.len();
    let rows = rows.map(|r| &r[..n]);
    for i in 0..n {
        let mut s = t[0] * rows[0][i];
        for k in 1..N {
            s += t[k] * rows[k][i];
        }
        acc[i] = s;
    }
}

multiversion! {
/// SSIM of output rows `y0 .. y1`: returns the sum of S over the cropped part of those rows
/// and writes the rows of the map when asked.
///
/// The horizontal sums of the `2r + 1` rows under the window live in a ring buffer; the
/// uniform window keeps running column sums (add the entering row, drop the leaving one,
/// exact for integer images), the Gaussian sums its taps down the ring.
fn ssim_rows(
    fetch: &RowFetch,
    c: &Consts,
    y0: usize,
    y1: usize,
    out: Option<&mut [f64]>,
    scratch: &mut Vec<f64>,
) -> f64 {
    let (h, w, r) = (c.h, c.w, c.r);
    let nt = 2 * r + 1;
    let wp = w + 2 * r;
    let plane = 5 * w;
    scratch.clear();
    scratch.resize(5 * wp + nt * plane + 2 * plane + w, 0.0);
    let (pads, rest) = scratch.split_at_mut(5 * wp);
    let (ring, rest) = rest.split_at_mut(nt * plane);
    let (acc, rest) = rest.split_at_mut(plane);
    let (tmp, srow) = rest.split_at_mut(plane);
    let src_row = |oy: usize, k: usize| reflect(oy as isize + k as isize - r as isize, h);
    // Rows y0 - r .. y0 + r; ring slot of window row k of output row oy: (oy + k) % nt.
    for k in 0..nt {
        let slot = (y0 + k) % nt;
        hrow(fetch, c, src_row(y0, k), pads, &mut ring[slot * plane..(slot + 1) * plane]);
    }
    if c.uniform {
        acc.copy_from_slice(&ring[((y0) % nt) * plane..((y0) % nt + 1) * plane]);
        for k in 1..nt {
            let slot = (y0 + k) % nt;
            for (a, &v) in acc.iter_mut().zip(&ring[slot * plane..(slot + 1) * plane]) {
                *a += v;
            }
        }
    }
    let mut total = 0.0;
    let mut out = out;
    for oy in y0..y1 {
        if oy > y0 {
            // Window row nt-1 enters, in the slot of the row that leaves.
            let slot = (oy + nt - 1) % nt;
            let ring_slot = &mut ring[slot * plane..(slot + 1) * plane];
            if c.uniform {
                hrow(fetch, c, src_row(oy, nt - 1), pads, tmp);
                for ((a, &new), old) in acc.iter_mut().zip(tmp.iter()).zip(ring_slot.iter_mut()) {
                    *a += new - *old;
                    *old = new;
                }
            } else {
                hrow(fetch, c, src_row(oy, nt - 1), pads, ring_slot);
            }
        }
        if !c.uniform && nt == 11 {
            let rows: [&[f64]; 11] = std::array::from_fn(|k| {
                let slot = (oy + k) % nt;
                &ring[slot * plane..(slot + 1) * plane]
            });
            vfilter_n::<11>(rows, c.taps, acc);
        } else if !c.uniform {
            let t0 = c.taps[0];
            let s0 = oy % nt;
            for (a, &v) in acc.iter_mut().zip(&ring[s0 * plane..(s0 + 1) * plane]) {
                *a = t0 * v;
            }
            for k in 1..nt {
                let t = c.taps[k];
                let slot = (oy + k) % nt;
                for (a, &v) in acc.iter_mut().zip(&ring[slot * plane..(slot + 1) * plane]) {
                    *a += t * v;
                }
            }
        }
        let (ux, rest) = acc.split_at(w);
        let (uy, rest) = rest.split_at(w);
        let (uxx, rest) = rest.split_at(w);
        let (uyy, uxy) = rest.split_at(w);
        for i in 0..w {
            let (mx, my) = (ux[i] * c.scale, uy[i] * c.scale);
            let (mxx, myy, mxy) = (uxx[i] * c.scale, uyy[i] * c.scale, uxy[i] * c.scale);
            // The exact expression order of scikit-image.
            let vx = c.cov_norm * (mxx - mx * mx);
            let vy = c.cov_norm * (myy - my * my);
            let vxy = c.cov_norm * (mxy - mx * my);
            let a1 = 2.0 * mx * my + c.c1;
            let a2 = 2.0 * vxy + c.c2;
            let b1 = mx * mx + my * my + c.c1;
            let b2 = vx + vy + c.c2;
            srow[i] = (a1 * a2) / (b1 * b2);
        }
        if let Some(o) = out.as_deref_mut() {
            o[(oy - y0) * w..(oy - y0 + 1) * w].copy_from_slice(srow);
        }
        if oy >= c.pad && oy < h - c.pad {
            total += srow[c.pad..w - c.pad].iter().sum::<f64>();
        }
    }
    total
}
}
