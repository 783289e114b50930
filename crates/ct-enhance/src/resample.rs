//! Resampling of volumes: `scipy.ndimage.zoom(order=0/1/3, mode='nearest',
//! grid_mode=False)` as separable per-axis passes, plus Lanczos-3 and area (box) filters
//! with Pillow's pixel-centre convention and antialiasing support.
//!
//! Why separable passes give scipy's numbers: scipy pads the input with 12 edge voxels,
//! runs the cubic B-spline prefilter along each axis and sums a 4×4×4 tensor-product stencil.
//! Padding, filtering and interpolation along one axis are linear maps that commute with
//! the maps along the other axes, so doing "pad, filter, interpolate" one axis at a time is
//! the same operator; only the floating-point summation order differs (~1e-13 relative).

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use ct_core::{Spacing, Volume};

use crate::error::{Error, Result};

/// How values between voxels are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interpolation {
    /// Nearest neighbour: `scipy.ndimage.zoom(order=0)`; index `floor(i·(n−1)/(m−1) + 0.5)`
    /// in f64, so a coordinate that lands on .5 rounds up (and one that lands a hair below .5
    /// through rounding error rounds down, as in scipy).
    Nearest,
    /// Linear: `scipy.ndimage.zoom(order=1)`.
    Linear,
    /// Cubic B-spline with scipy's prefilter: `scipy.ndimage.zoom(order=3, mode='nearest')`.
    Cubic,
    /// Lanczos-3 windowed sinc, pixel-centre aligned, widened by the scale factor when
    /// down-sampling (antialiasing), as Pillow's `LANCZOS`.
    Lanczos3,
    /// Area (box) average, pixel-centre aligned, as Pillow's `BOX`: the usual choice for
    /// down-sampling.
    Area,
}

impl Interpolation {
    /// All methods.
    pub const ALL: [Interpolation; 5] = [
        Interpolation::Nearest,
        Interpolation::Linear,
        Interpolation::Cubic,
        Interpolation::Lanczos3,
        Interpolation::Area,
    ];

    /// Short name (`nearest`, `linear`, `cubic`, `lanczos3`, `area`).
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Linear => "linear",
            Interpolation::Cubic => "cubic",
            Interpolation::Lanczos3 => "lanczos3",
            Interpolation::Area => "area",
        }
    }

    /// True for the methods that keep the corner voxels aligned (scipy's
    /// `grid_mode=False`): the new spacing is `old · (n − 1)/(m − 1)`. The others align
    /// pixel edges: `old · n / m`.
    fn corner_aligned(self) -> bool {
        matches!(
            self,
            Interpolation::Nearest | Interpolation::Linear | Interpolation::Cubic
        )
    }
}

/// Voxel types the resampler reads and writes. Results are computed in f64 and stored the
/// way scipy stores them: floats by a cast, unsigned integers by `t + 0.5` truncated
/// (negatives → 0) and signed integers rounded half away from zero, both saturated.
pub trait Voxel: Copy + Send + Sync + Default + 'static {
    /// The value as f64.
    fn to_f64(self) -> f64;
    /// The stored value of a computed f64.
    fn from_f64(v: f64) -> Self;
}

macro_rules! voxel_uint {
    ($t:ty) => {
        impl Voxel for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            /// scipy: `t > 0 ? t + 0.5 : 0`, saturated, truncated. Rust's saturating `as`
            /// gives the same without branches (so the loops vectorise).
            #[inline(always)]
            fn from_f64(t: f64) -> Self {
                (t + 0.5) as $t
            }
        }
    };
}
macro_rules! voxel_int {
    ($t:ty) => {
        impl Voxel for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            /// scipy: `t > 0 ? t + 0.5 : t - 0.5`, saturated, truncated.
            #[inline(always)]
            fn from_f64(t: f64) -> Self {
                (t + 0.5f64.copysign(t)) as $t
            }
        }
    };
}
voxel_uint!(u8);
voxel_uint!(u16);
voxel_int!(i16);
voxel_int!(i32);
impl Voxel for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl Voxel for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// scipy's edge pre-padding for `mode='nearest'` before the spline prefilter.
const NPAD: usize = 12;
/// The cubic B-spline pole `sqrt(3) − 2`, as scipy writes it.
const POLE3: f64 = -0.267_949_192_431_122_7;

/// Taps of one output sample: input indices (into the padded line for cubic) and weights.
#[derive(Debug, Clone)]
struct Taps {
    idx: Vec<usize>,
    w: Vec<f64>,
}

/// Per-output-index taps along one axis.
fn plan_axis(n: usize, m: usize, method: Interpolation) -> Vec<Taps> {
    // numpy.divide(in − 1, out − 1, where=out − 1 != 0, out=ones).
    let zoom = if m > 1 {
        (n as f64 - 1.0) / (m as f64 - 1.0)
    } else {
        1.0
    };
    let clamp = |i: isize| i.clamp(0, n as isize - 1) as usize;
    (0..m)
        .map(|k| {
            let cc = k as f64 * zoom;
            match method {
                Interpolation::Nearest => {
                    let s = (cc + 0.5).floor() as isize;
                    Taps {
                        idx: vec![clamp(s)],
                        w: vec![1.0],
                    }
                }
                Interpolation::Linear => {
                    let s = cc.floor() as isize;
                    let x = cc - cc.floor();
                    let w0 = 1.0 - x;
                    Taps {
                        idx: vec![clamp(s), clamp(s + 1)],
                        w: vec![w0, 1.0 - w0],
                    }
                }
                Interpolation::Cubic => {
                    let c = cc + NPAD as f64;
                    let s = c.floor() as usize - 1;
                    let y = c - c.floor();
                    let z = 1.0 - y;
                    let w1 = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
                    let w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
                    let w0 = z * z * z / 6.0;
                    let w3 = 1.0 - w0 - w1 - w2;
                    Taps {
                        idx: vec![s, s + 1, s + 2, s + 3],
                        w: vec![w0, w1, w2, w3],
                    }
                }
                Interpolation::Lanczos3 | Interpolation::Area => pillow_taps(n, m, k, method),
            }
        })
        .collect()
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = x * std::f64::consts::PI;
        px.sin() / px
    }
}

/// Pillow's `precompute_coeffs` for one output pixel.
fn pillow_taps(n: usize, m: usize, k: usize, method: Interpolation) -> Taps {
    let scale = n as f64 / m as f64;
    let filterscale = scale.max(1.0);
    let (support, f): (f64, fn(f64) -> f64) = match method {
        Interpolation::Lanczos3 => (3.0, |x| {
            if (-3.0..3.0).contains(&x) {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            }
        }),
        _ => (0.5, |x| if x > -0.5 && x <= 0.5 { 1.0 } else { 0.0 }),
    };
    let support = support * filterscale;
    let center = (k as f64 + 0.5) * scale;
    let ss = 1.0 / filterscale;
    let xmin = ((center - support + 0.5) as isize).max(0) as usize;
    let xmax = ((center + support + 0.5) as isize).min(n as isize) as usize;
    let mut idx = Vec::new();
    let mut w = Vec::new();
    let mut ww = 0.0;
    for x in xmin..xmax {
        let v = f((x as f64 - center + 0.5) * ss);
        idx.push(x);
        w.push(v);
        ww += v;
    }
    if ww != 0.0 {
        w.iter_mut().for_each(|v| *v /= ww);
    }
    if idx.is_empty() {
        // Cannot happen for n, m >= 1; keep a defined result anyway.
        idx.push((center as usize).min(n - 1));
        w.push(1.0);
    }
    Taps { idx, w }
}

/// scipy's `spline_filter1d(order=3, mode='nearest')` on one edge-padded line, in place.
fn spline_filter_line(c: &mut [f64]) {
    let n = c.len();
    let z = POLE3;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    c.iter_mut().for_each(|v| *v *= gain);
    // _init_causal_mirror
    let z_n_1 = z.powf((n - 1) as f64);
    let mut z_i = z;
    let mut c0 = c[0] + z_n_1 * c[n - 1];
    for i in 1..n - 1 {
        c0 += z_i * (c[i] + z_n_1 * c[n - 1 - i]);
        z_i *= z;
    }
    c[0] = c0 / (1.0 - z_n_1 * z_n_1);
    for i in 1..n {
        c[i] += z * c[i - 1];
    }
    // _init_anticausal_mirror
    c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1.0);
    for i in (0..n - 1).rev() {
        c[i] = z * (c[i + 1] - c[i]);
    }
}

/// The same filter on the rows of a `(n, lanes)` buffer, every lane at once.
fn spline_filter_lanes(b: &mut Array2<f64>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { spline_filter_lanes_avx2(b) };
            return;
        }
    }
    spline_filter_lanes_body(b);
}

/// AVX2 build of the lane filter: same operations, same order, same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn spline_filter_lanes_avx2(b: &mut Array2<f64>) {
    spline_filter_lanes_body(b);
}

#[inline(always)]
fn spline_filter_lanes_body(b: &mut Array2<f64>) {
    let (n, lanes) = b.dim();
    let z = POLE3;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    b.iter_mut().for_each(|v| *v *= gain);
    let s = b.as_slice_mut().expect("contiguous buffer");
    let row = |i: usize| i * lanes..(i + 1) * lanes;
    let z_n_1 = z.powf((n - 1) as f64);
    let mut c0: Vec<f64> = (0..lanes)
        .map(|l| s[l] + z_n_1 * s[(n - 1) * lanes + l])
        .collect();
    let mut z_i = z;
    for i in 1..n - 1 {
        let (a, bb) = (i * lanes, (n - 1 - i) * lanes);
        for l in 0..lanes {
            c0[l] += z_i * (s[a + l] + z_n_1 * s[bb + l]);
        }
        z_i *= z;
    }
    let d = 1.0 - z_n_1 * z_n_1;
    for l in 0..lanes {
        s[l] = c0[l] / d;
    }
    for i in 1..n {
        let (prev, cur) = s[(i - 1) * lanes..(i + 1) * lanes].split_at_mut(lanes);
        for (c, p) in cur.iter_mut().zip(prev.iter()) {
            *c += z * *p;
        }
    }
    let f = z / (z * z - 1.0);
    {
        let (prev, last) = s[row(n - 2).start..].split_at_mut(lanes);
        for (c, p) in last.iter_mut().zip(prev.iter()) {
            *c = (z * *p + *c) * f;
        }
    }
    for i in (0..n - 1).rev() {
        let (cur, next) = s[i * lanes..(i + 2) * lanes].split_at_mut(lanes);
        for (c, nx) in cur.iter_mut().zip(next.iter()) {
            *c = z * (*nx - *c);
        }
    }
}

/// One pass along axis 0 of a `(n, lanes)` view into a `(m, lanes)` view: every output
/// row is a weighted sum of input rows, vectorised across the lanes. Rows must be
/// contiguous (they are: the views come from standard-layout volumes).
fn pass_lanes<S: Voxel, O: Voxel>(
    src: ArrayView2<'_, S>,
    dst: ArrayViewMut2<'_, O>,
    plan: &[Taps],
    cubic: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { pass_lanes_avx2(src, dst, plan, cubic) };
            return;
        }
    }
    pass_lanes_body(src, dst, plan, cubic);
}

/// AVX2 build of [`pass_lanes`]: same operations, same order, same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pass_lanes_avx2<S: Voxel, O: Voxel>(
    src: ArrayView2<'_, S>,
    dst: ArrayViewMut2<'_, O>,
    plan: &[Taps],
    cubic: bool,
) {
    pass_lanes_body(src, dst, plan, cubic);
}

#[inline(always)]
fn pass_lanes_body<S: Voxel, O: Voxel>(
    src: ArrayView2<'_, S>,
    mut dst: ArrayViewMut2<'_, O>,
    plan: &[Taps],
    cubic: bool,
) {
    let (n, lanes) = src.dim();
    let srow = |i: usize| -> &[S] { src.row(i).to_slice().expect("contiguous rows") };
    let mut acc = vec![0f64; lanes];
    if cubic {
        let mut b = Array2::<f64>::zeros((n + 2 * NPAD, lanes));
        for (i, mut r) in b.rows_mut().into_iter().enumerate() {
            let j = i.saturating_sub(NPAD).min(n - 1);
            r.iter_mut()
                .zip(srow(j))
                .for_each(|(o, &v)| *o = v.to_f64());
        }
        spline_filter_lanes(&mut b);
        let bs = b.as_slice().expect("contiguous");
        for (k, mut out) in dst.rows_mut().into_iter().enumerate() {
            let t = &plan[k];
            acc.iter_mut().for_each(|v| *v = 0.0);
            for (&i, &w) in t.idx.iter().zip(&t.w) {
                let r = &bs[i * lanes..(i + 1) * lanes];
                acc.iter_mut().zip(r).for_each(|(a, &v)| *a += w * v);
            }
            let o = out.as_slice_mut().expect("contiguous rows");
            o.iter_mut()
                .zip(&acc)
                .for_each(|(o, &a)| *o = O::from_f64(a));
        }
        return;
    }
    for (k, mut out) in dst.rows_mut().into_iter().enumerate() {
        let t = &plan[k];
        let o = out.as_slice_mut().expect("contiguous rows");
        if let ([i0, i1], [w0, w1]) = (t.idx.as_slice(), t.w.as_slice()) {
            // Linear: scipy's `0 + c0·w0 + c1·w1`, in that order.
            let (r0, r1) = (srow(*i0), srow(*i1));
            for ((o, &a), &b) in o.iter_mut().zip(r0).zip(r1) {
                *o = O::from_f64(a.to_f64() * w0 + b.to_f64() * w1);
            }
            continue;
        }
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (&i, &w) in t.idx.iter().zip(&t.w) {
            acc.iter_mut()
                .zip(srow(i))
                .for_each(|(a, &v)| *a += w * v.to_f64());
        }
        o.iter_mut()
            .zip(&acc)
            .for_each(|(o, &a)| *o = O::from_f64(a));
    }
}

/// A line plan with a fixed number of taps per output (zero-weight padding), flat in
/// memory for the inner loop.
struct Flat {
    ntaps: usize,
    idx: Vec<usize>,
    w: Vec<f64>,
    /// The largest index, checked once against the line length before a gather.
    max_idx: usize,
}

impl Flat {
    fn new(plan: &[Taps]) -> Flat {
        let ntaps = plan.iter().map(|t| t.idx.len()).max().unwrap_or(1);
        let mut idx = Vec::with_capacity(plan.len() * ntaps);
        let mut w = Vec::with_capacity(plan.len() * ntaps);
        for t in plan {
            for j in 0..ntaps {
                idx.push(*t.idx.get(j).unwrap_or(&t.idx[0]));
                w.push(*t.w.get(j).unwrap_or(&0.0));
            }
        }
        let max_idx = idx.iter().copied().max().unwrap_or(0);
        Flat {
            ntaps,
            idx,
            w,
            max_idx,
        }
    }
}

/// One pass along a contiguous line.
fn pass_line<S: Voxel, O: Voxel>(
    src: &[S],
    dst: &mut [O],
    plan: &Flat,
    cubic: bool,
    scratch: &mut Vec<f64>,
) {
    let n = src.len();
    scratch.clear();
    if cubic {
        scratch.extend((0..n + 2 * NPAD).map(|i| src[i.saturating_sub(NPAD).min(n - 1)].to_f64()));
        spline_filter_line(scratch);
    } else {
        scratch.extend(src.iter().map(|v| v.to_f64()));
    }
    let s: &[f64] = scratch;
    let taps = plan
        .idx
        .chunks_exact(plan.ntaps)
        .zip(plan.w.chunks_exact(plan.ntaps));
    match plan.ntaps {
        2 => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                *o = O::from_f64(s[i[0]] * w[0] + s[i[1]] * w[1]);
            }
        }
        4 => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                *o = O::from_f64(w[0] * s[i[0]] + w[1] * s[i[1]] + w[2] * s[i[2]] + w[3] * s[i[3]]);
            }
        }
        _ => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                let mut acc = 0.0;
                for (&i, &w) in i.iter().zip(w) {
                    acc += w * s[i];
                }
                *o = O::from_f64(acc);
            }
        }
    }
}

/// Resamples `data` along `axis` to length `m`, reading `S` and writing `O`.
fn resample_axis<S: Voxel, O: Voxel + Default>(
    data: ArrayView3<'_, S>,
    axis: usize,
    m: usize,
    method: Interpolation,
) -> Array3<O> {
    let mut shape = [data.dim().0, data.dim().1, data.dim().2];
    let n = shape[axis];
    let plan = plan_axis(n, m, method);
    let cubic = method == Interpolation::Cubic;
    shape[axis] = m;
    let mut out = Array3::<O>::default(shape);
    match axis {
        0 => {
            out.axis_iter_mut(Axis(1))
                .into_par_iter()
                .zip(data.axis_iter(Axis(1)).into_par_iter())
                .for_each(|(o, s)| pass_lanes(s, o, &plan, cubic));
        }
        1 => {
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(data.axis_iter(Axis(0)).into_par_iter())
                .for_each(|(o, s)| pass_lanes(s, o, &plan, cubic));
        }
        _ => {
            let flat = Flat::new(&plan);
            let src_std = data.as_standard_layout();
            let src = src_std.as_slice().expect("standard layout");
            let dst = out.as_slice_mut().expect("standard layout");
            dst.par_chunks_mut(m)
                .zip(src.par_chunks(n))
                .for_each_init(Vec::new, |scratch, (o, s)| {
                    pass_line(s, o, &flat, cubic, scratch)
                });
        }
    }
    out
}

/// Resamples every z-plane in-plane (rows and columns) in one go, planes in parallel: the
/// plane-sized intermediate stays in cache instead of a volume-sized one going to memory.
fn resample_planes<S: Voxel, O: Voxel + Default>(
    data: ArrayView3<'_, S>,
    my: usize,
    mx: usize,
    method: Interpolation,
) -> Array3<O> {
    let (nz, ny, nx) = data.dim();
    let (py, px) = (
        plan_axis(ny, my, method),
        Flat::new(&plan_axis(nx, mx, method)),
    );
    let cubic = method == Interpolation::Cubic;
    let y_first = (my as f64 / ny as f64) <= (mx as f64 / nx as f64);
    let mut out = Array3::<O>::default((nz, my, mx));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(data.axis_iter(Axis(0)).into_par_iter())
        .for_each_init(
            || (Vec::new(), Array2::<f64>::zeros((0, 0))),
            |(scratch, tmp), (mut o, s)| {
                if y_first {
                    if tmp.dim() != (my, nx) {
                        *tmp = Array2::zeros((my, nx));
                    }
                    pass_lanes(s, tmp.view_mut(), &py, cubic);
                    for (orow, trow) in o.rows_mut().into_iter().zip(tmp.rows()) {
                        let mut orow = orow;
                        pass_line(
                            trow.as_slice().expect("contiguous"),
                            orow.as_slice_mut().expect("contiguous"),
                            &px,
                            cubic,
                            scratch,
                        );
                    }
                } else {
                    if tmp.dim() != (ny, mx) {
                        *tmp = Array2::zeros((ny, mx));
                    }
                    for (mut trow, srow) in tmp.rows_mut().into_iter().zip(s.rows()) {
                        let st = srow.to_slice().expect("contiguous");
                        pass_line(
                            st,
                            trow.as_slice_mut().expect("contiguous"),
                            &px,
                            cubic,
                            scratch,
                        );
                    }
                    pass_lanes(tmp.view(), o.view_mut(), &py, cubic);
                }
            },
        );
    out
}

/// `out[i] = Σ_t w[t] · rows[t][i]` in f64, stored as `O`, with the same operation order
/// as the volume passes above (two taps: `a·w0 + b·w1`; otherwise `0 + w0·a + w1·b + …`),
/// so the streamed resampler below gives the same numbers as a pass over a whole axis.
fn combine_rows<S: Voxel, O: Voxel>(rows: &[&[S]], w: &[f64], out: &mut [O]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { combine_rows_avx2(rows, w, out) };
            return;
        }
    }
    combine_rows_body(rows, w, out);
}

/// [`combine_rows`] compiled for AVX2 (4 f64 lanes instead of SSE2's 2). The same IEEE
/// operations in the same order (Rust never fuses a multiply and an add by itself), so
/// the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_rows_avx2<S: Voxel, O: Voxel>(rows: &[&[S]], w: &[f64], out: &mut [O]) {
    combine_rows_body(rows, w, out);
}

#[inline(always)]
fn combine_rows_body<S: Voxel, O: Voxel>(rows: &[&[S]], w: &[f64], out: &mut [O]) {
    let n = out.len();
    match (rows, w) {
        ([a], [w0]) => {
            let a = &a[..n];
            for (o, &a) in out.iter_mut().zip(a) {
                *o = O::from_f64(0.0 + *w0 * a.to_f64());
            }
        }
        ([a, b], [w0, w1]) => {
            let (a, b) = (&a[..n], &b[..n]);
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o = O::from_f64(a.to_f64() * w0 + b.to_f64() * w1);
            }
        }
        _ => {
            // Blocks of lanes so the accumulator stays in registers / L1.
            const B: usize = 256;
            let mut acc = [0f64; B];
            for start in (0..n).step_by(B) {
                let len = B.min(n - start);
                let acc = &mut acc[..len];
                acc.iter_mut().for_each(|v| *v = 0.0);
                for (r, &w) in rows.iter().zip(w) {
                    for (a, &v) in acc.iter_mut().zip(&r[start..start + len]) {
                        *a += w * v.to_f64();
                    }
                }
                for (o, &a) in out[start..start + len].iter_mut().zip(acc.iter()) {
                    *o = O::from_f64(a);
                }
            }
        }
    }
}

/// One line through a flat tap table, input already in f64 (no copy), no bounds checks in
/// the gather (every index was checked against the line length once).
fn gather_line<O: Voxel>(s: &[f64], dst: &mut [O], plan: &Flat) {
    assert!(plan.max_idx < s.len() && plan.idx.len() == dst.len() * plan.ntaps);
    let at = |i: usize| -> f64 {
        // SAFETY: every entry of `plan.idx` is <= plan.max_idx < s.len() (asserted above).
        unsafe { *s.get_unchecked(i) }
    };
    let taps = plan
        .idx
        .chunks_exact(plan.ntaps)
        .zip(plan.w.chunks_exact(plan.ntaps));
    match plan.ntaps {
        1 => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                *o = O::from_f64(0.0 + w[0] * at(i[0]));
            }
        }
        2 => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                *o = O::from_f64(at(i[0]) * w[0] + at(i[1]) * w[1]);
            }
        }
        4 => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                *o = O::from_f64(
                    w[0] * at(i[0]) + w[1] * at(i[1]) + w[2] * at(i[2]) + w[3] * at(i[3]),
                );
            }
        }
        _ => {
            for (o, (i, w)) in dst.iter_mut().zip(taps) {
                let mut acc = 0.0;
                for (&i, &w) in i.iter().zip(w) {
                    acc += w * at(i);
                }
                *o = O::from_f64(acc);
            }
        }
    }
}

/// In-plane resampling of single z-planes (no spline prefilter: linear, Lanczos-3, area),
/// y and x passes in the same order as [`resample_planes`], fused row by row so the
/// intermediate is one row, not one plane.
struct PlanePlan {
    ny: usize,
    nx: usize,
    mx: usize,
    /// `None` when the axis keeps its length (identity, as scipy's zoom factor 1 is).
    py: Option<Vec<Taps>>,
    px: Option<Flat>,
    y_first: bool,
}

/// Reusable buffers of one worker.
#[derive(Default)]
struct Scratch {
    row: Vec<f64>,
    line: Vec<f64>,
    plane: Vec<f64>,
}

impl PlanePlan {
    fn new(ny: usize, nx: usize, my: usize, mx: usize, method: Interpolation) -> PlanePlan {
        PlanePlan {
            ny,
            nx,
            mx,
            py: (my != ny).then(|| plan_axis(ny, my, method)),
            px: (mx != nx).then(|| Flat::new(&plan_axis(nx, mx, method))),
            y_first: (my as f64 / ny as f64) <= (mx as f64 / nx as f64),
        }
    }

    fn is_identity(&self) -> bool {
        self.py.is_none() && self.px.is_none()
    }

    /// Resamples one plane `src` (ny·nx, row-major) into `out` (my·mx).
    fn run<S: Voxel, O: Voxel>(&self, src: &[S], out: &mut [O], sc: &mut Scratch) {
        let (nx, mx) = (self.nx, self.mx);
        let srow = |i: usize| &src[i * nx..(i + 1) * nx];
        match (&self.py, &self.px) {
            (None, None) => {
                for (o, &v) in out.iter_mut().zip(src) {
                    *o = O::from_f64(v.to_f64());
                }
            }
            (Some(py), None) => {
                for (orow, t) in out.chunks_exact_mut(mx).zip(py) {
                    let rows: Vec<&[S]> = t.idx.iter().map(|&i| srow(i)).collect();
                    combine_rows(&rows, &t.w, orow);
                }
            }
            (None, Some(px)) => {
                for (orow, s) in out.chunks_exact_mut(mx).zip(src.chunks_exact(nx)) {
                    sc.line.clear();
                    sc.line.extend(s.iter().map(|v| v.to_f64()));
                    gather_line(&sc.line, orow, px);
                }
            }
            (Some(py), Some(px)) if self.y_first => {
                sc.row.resize(nx, 0.0);
                let mut rows: Vec<&[S]> = Vec::with_capacity(8);
                for (orow, t) in out.chunks_exact_mut(mx).zip(py) {
                    rows.clear();
                    rows.extend(t.idx.iter().map(|&i| srow(i)));
                    combine_rows(&rows, &t.w, &mut sc.row);
                    gather_line(&sc.row, orow, px);
                }
            }
            (Some(py), Some(px)) => {
                // x first: every input row once into an (ny, mx) buffer, then y.
                sc.plane.resize(self.ny * mx, 0.0);
                for (prow, s) in sc.plane.chunks_exact_mut(mx).zip(src.chunks_exact(nx)) {
                    sc.line.clear();
                    sc.line.extend(s.iter().map(|v| v.to_f64()));
                    gather_line(&sc.line, prow, px);
                }
                let buf = &sc.plane;
                let mut rows: Vec<&[f64]> = Vec::with_capacity(8);
                for (orow, t) in out.chunks_exact_mut(mx).zip(py) {
                    rows.clear();
                    rows.extend(t.idx.iter().map(|&i| &buf[i * mx..(i + 1) * mx]));
                    combine_rows(&rows, &t.w, orow);
                }
            }
        }
    }
}

/// Non-cubic resampling (linear, Lanczos-3, area) streamed over output z-planes: the same
/// passes, in the same order and arithmetic, as the axis-by-axis path (`zoom` picks the
/// order: the axis that shrinks most first), but no volume-sized intermediate. When the
/// in-plane passes come first, each worker keeps the in-plane results of the few input
/// planes its current output plane needs (a sliding window along z), so every input plane
/// is resampled once per worker.
fn zoom_streamed<T: Voxel>(
    input: ArrayView3<'_, T>,
    out_shape: [usize; 3],
    method: Interpolation,
) -> Array3<T> {
    let (nz, ny, nx) = input.dim();
    let [mz, my, mx] = out_shape;
    let src_std = input.as_standard_layout();
    let src = src_std.as_slice().expect("standard layout");
    let (ip, op) = (ny * nx, my * mx);
    let plane_plan = PlanePlan::new(ny, nx, my, mx, method);
    let mut out = Array3::<T>::default(out_shape);
    let dst = out.as_slice_mut().expect("standard layout");
    let in_plane = |k: usize| &src[k * ip..(k + 1) * ip];
    if mz == nz {
        dst.par_chunks_mut(op)
            .enumerate()
            .for_each_init(Scratch::default, |sc, (k, o)| {
                plane_plan.run(in_plane(k), o, sc)
            });
        return out;
    }
    let pz = plan_axis(nz, mz, method);
    if plane_plan.is_identity() {
        dst.par_chunks_mut(op).enumerate().for_each(|(k, o)| {
            let rows: Vec<&[T]> = pz[k].idx.iter().map(|&i| in_plane(i)).collect();
            combine_rows(&rows, &pz[k].w, o);
        });
        return out;
    }
    let rz = mz as f64 / nz as f64;
    let rp = (my as f64 / ny as f64).min(mx as f64 / nx as f64);
    if rz < rp {
        // z shrinks most: z first into one f64 plane, then in-plane.
        dst.par_chunks_mut(op).enumerate().for_each_init(
            || (Vec::<f64>::new(), Scratch::default()),
            |(zbuf, sc), (k, o)| {
                zbuf.resize(ip, 0.0);
                let rows: Vec<&[T]> = pz[k].idx.iter().map(|&i| in_plane(i)).collect();
                combine_rows(&rows, &pz[k].w, zbuf);
                plane_plan.run(zbuf, o, sc);
            },
        );
        return out;
    }
    // In-plane first, z last. Contiguous runs of output planes per task, so the window of
    // resampled input planes slides (few recomputations at run boundaries).
    let tasks = rayon::current_num_threads().max(1);
    let per = mz.div_ceil(tasks);
    dst.par_chunks_mut(per * op)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut sc = Scratch::default();
            // (input plane index, its in-plane resampling), at most one per tap + 1.
            let mut cache: Vec<(usize, Vec<f64>)> = Vec::new();
            let mut spare: Vec<Vec<f64>> = Vec::new();
            for (j, o) in chunk.chunks_exact_mut(op).enumerate() {
                let t = &pz[c * per + j];
                let lo = *t.idx.iter().min().expect("taps");
                // The taps move forward with the output plane: planes below `lo` are done.
                let mut i = 0;
                while i < cache.len() {
                    if cache[i].0 < lo {
                        spare.push(cache.swap_remove(i).1);
                    } else {
                        i += 1;
                    }
                }
                for &z in &t.idx {
                    if !cache.iter().any(|(cz, _)| *cz == z) {
                        let mut buf = spare.pop().unwrap_or_else(|| vec![0f64; op]);
                        plane_plan.run(in_plane(z), &mut buf, &mut sc);
                        cache.push((z, buf));
                    }
                }
                let rows: Vec<&[f64]> = t
                    .idx
                    .iter()
                    .map(|&z| {
                        cache
                            .iter()
                            .find(|(cz, _)| *cz == z)
                            .map(|(_, b)| b.as_slice())
                            .expect("cached")
                    })
                    .collect();
                combine_rows(&rows, &t.w, o);
            }
        });
    out
}

/// A run of output columns whose source columns advance by a constant step.
struct Segment {
    out: usize,
    src: usize,
    len: usize,
    stride: usize,
}

/// Splits a column index table into runs of step 1 (a copy), step 2 (every other voxel)
/// or anything else (a gather). `None` when the runs are too short to pay (up-sampling
/// repeats columns: steps 0, 1, 0, 1, ...), so the plain gather is used.
fn stride_segments(xi: &[usize], c: usize) -> Option<Vec<Segment>> {
    let mut segs: Vec<Segment> = Vec::new();
    let mut k = 0;
    while k < xi.len() {
        let stride = if k + 1 < xi.len() && xi[k + 1] > xi[k] {
            xi[k + 1] - xi[k]
        } else {
            0
        };
        let mut len = 1;
        if stride == 1 || stride == 2 {
            // Step 2 reads pairs, so its last pair must lie inside the row.
            while k + len < xi.len()
                && xi[k + len] == xi[k] + stride * len
                && (stride == 1 || xi[k + len] + 1 < c)
            {
                len += 1;
            }
        }
        if stride == 2 && xi[k] + 2 * len > c {
            len -= 1;
        }
        let len = len.max(1);
        let stride = if len == 1 { 0 } else { stride };
        segs.push(Segment {
            out: k,
            src: xi[k],
            len,
            stride,
        });
        k += len;
    }
    (segs.len() * 8 <= xi.len()).then_some(segs)
}

/// Nearest neighbour needs no arithmetic: gather in the voxel type itself. Output planes
/// (and rows) that repeat the previous one's source (up-sampling) are copied, not gathered
/// again.
fn zoom_nearest<T: Voxel + Default>(input: ArrayView3<'_, T>, out_shape: [usize; 3]) -> Array3<T> {
    let (a, b, c) = input.dim();
    let pick = |n: usize, m: usize| -> Vec<usize> {
        plan_axis(n, m, Interpolation::Nearest)
            .into_iter()
            .map(|t| t.idx[0])
            .collect()
    };
    let (zi, yi, xi) = (
        pick(a, out_shape[0]),
        pick(b, out_shape[1]),
        pick(c, out_shape[2]),
    );
    assert!(xi.iter().all(|&x| x < c));
    let segs = stride_segments(&xi, c);
    let src_std = input.as_standard_layout();
    let src = src_std.as_slice().expect("standard layout");
    let mut out = Array3::<T>::default(out_shape);
    let (mx, plane) = (out_shape[2], out_shape[1] * out_shape[2]);
    // Split the output into runs of planes with the same source plane.
    let mut runs: Vec<(usize, &mut [T])> = Vec::new();
    let mut rest = out.as_slice_mut().expect("standard layout");
    let mut k = 0;
    while k < zi.len() {
        let mut len = 1;
        while k + len < zi.len() && zi[k + len] == zi[k] {
            len += 1;
        }
        let (run, tail) = rest.split_at_mut(len * plane);
        runs.push((zi[k], run));
        rest = tail;
        k += len;
    }
    runs.into_par_iter().for_each(|(z, run)| {
        let (first, copies) = run.split_at_mut(plane);
        let sp = &src[z * b * c..(z + 1) * b * c];
        for j in 0..yi.len() {
            let (done, todo) = first.split_at_mut(j * mx);
            let orow = &mut todo[..mx];
            if j > 0 && yi[j] == yi[j - 1] {
                orow.copy_from_slice(&done[(j - 1) * mx..]);
                continue;
            }
            let srow = &sp[yi[j] * c..(yi[j] + 1) * c];
            match &segs {
                Some(segs) => {
                    for sg in segs {
                        let o = &mut orow[sg.out..sg.out + sg.len];
                        match sg.stride {
                            1 => o.copy_from_slice(&srow[sg.src..sg.src + sg.len]),
                            // Every other voxel (halving): vectorises as loads + shuffles.
                            2 => o
                                .iter_mut()
                                .zip(srow[sg.src..sg.src + 2 * sg.len].chunks_exact(2))
                                .for_each(|(d, p)| *d = p[0]),
                            _ => o
                                .iter_mut()
                                .zip(&xi[sg.out..sg.out + sg.len])
                                .for_each(|(d, &x)| *d = srow[x]),
                        }
                    }
                }
                None => {
                    for (d, &x) in orow.iter_mut().zip(&xi) {
                        // SAFETY: every x in `xi` is < c = srow.len() (asserted above).
                        *d = unsafe { *srow.get_unchecked(x) };
                    }
                }
            }
        }
        for p in copies.chunks_exact_mut(plane) {
            p.copy_from_slice(first);
        }
    });
    out
}

/// Resamples a 3-D array to `out_shape` (`[z, y, x]`).
///
/// Nearest, linear and cubic equal `scipy.ndimage.zoom(input, order=0/1/3,
/// mode='nearest', grid_mode=False)` with the output shape given, including the output
/// dtype's rounding (scipy's default output dtype is the input's). Lanczos-3 and area use
/// pixel-centre alignment (Pillow's `resize`). Axes whose length does not change are left
/// untouched (for cubic, scipy's round trip through the spline differs from the input by
/// rounding only). Slices (axis-0 lanes, rows, lines) run in parallel with rayon.
///
/// Errors on an empty input or an output shape with a zero axis.
pub fn zoom<T: Voxel>(
    input: ArrayView3<'_, T>,
    out_shape: [usize; 3],
    method: Interpolation,
) -> Result<Array3<T>> {
    let (a, b, c) = input.dim();
    if a == 0 || b == 0 || c == 0 {
        return Err(Error::Empty {
            what: "volume",
            shape: vec![a, b, c],
        });
    }
    if out_shape.contains(&0) {
        return Err(Error::OutputShape(out_shape.to_vec()));
    }
    let in_shape = [a, b, c];
    let std_input = input.as_standard_layout();
    let input = std_input.view();
    if method == Interpolation::Nearest {
        return Ok(zoom_nearest(input, out_shape));
    }
    if out_shape == in_shape {
        return Ok(input.to_owned());
    }
    if method != Interpolation::Cubic {
        return Ok(zoom_streamed(input, out_shape, method));
    }
    // Shrinking axes first keeps the intermediate volumes small.
    let mut axes: Vec<usize> = (0..3).filter(|&ax| out_shape[ax] != in_shape[ax]).collect();
    axes.sort_by(|&p, &q| {
        let rp = out_shape[p] as f64 / in_shape[p] as f64;
        let rq = out_shape[q] as f64 / in_shape[q] as f64;
        rp.total_cmp(&rq)
    });
    let in_plane = out_shape[1] != b && out_shape[2] != c;
    let (rz, rp) = (
        out_shape[0] as f64 / a as f64,
        (out_shape[1] as f64 / b as f64).min(out_shape[2] as f64 / c as f64),
    );
    if in_plane {
        let (my, mx) = (out_shape[1], out_shape[2]);
        return Ok(if out_shape[0] == a {
            resample_planes::<T, T>(input, my, mx, method)
        } else if rz < rp {
            let cur = resample_axis::<T, f64>(input, 0, out_shape[0], method);
            resample_planes::<f64, T>(cur.view(), my, mx, method)
        } else {
            let cur = resample_planes::<T, f64>(input, my, mx, method);
            resample_axis::<f64, T>(cur.view(), 0, out_shape[0], method)
        });
    }
    // Read T in the first pass, write T in the last, keep f64 in between.
    Ok(match axes.as_slice() {
        [] => input.to_owned(),
        [x] => resample_axis::<T, T>(input, *x, out_shape[*x], method),
        [first, rest @ ..] => {
            let mut cur: Array3<f64> =
                resample_axis::<T, f64>(input, *first, out_shape[*first], method);
            let (last, mid) = rest.split_last().expect("two or more axes");
            for &ax in mid {
                cur = resample_axis::<f64, f64>(cur.view(), ax, out_shape[ax], method);
            }
            resample_axis::<f64, T>(cur.view(), *last, out_shape[*last], method)
        }
    })
}

/// The target of an isotropic resampling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum IsotropicTarget {
    /// Up-sample to the finest (smallest) spacing of the three axes.
    Finest,
    /// Down-sample to the coarsest (largest) spacing.
    Coarsest,
    /// A given spacing in mm (finite, > 0).
    Mm(f64),
}

fn new_len(n: usize, old: f64, new: f64) -> usize {
    ((n as f64 * old / new).round() as usize).max(1)
}

fn new_spacing(n: usize, m: usize, old: f64, method: Interpolation) -> f64 {
    if method.corner_aligned() {
        if m > 1 && n > 1 {
            old * (n - 1) as f64 / (m - 1) as f64
        } else {
            old * n as f64 / m as f64
        }
    } else {
        old * n as f64 / m as f64
    }
}

fn rebuild<T: Voxel>(vol: &Volume<T>, data: Array3<T>, method: Interpolation) -> Result<Volume<T>> {
    let [n0, n1, n2] = vol.shape();
    let (m0, m1, m2) = data.dim();
    let sp = vol.spacing();
    let spacing = Spacing::new(
        new_spacing(n0, m0, sp.z, method),
        new_spacing(n1, m1, sp.y, method),
        new_spacing(n2, m2, sp.x, method),
    )?;
    Ok(Volume::with_origin(data, spacing, vol.origin())?)
}

/// Resamples a volume to a target voxel spacing: each axis gets `round(n · old / new)`
/// voxels (at least 1), as the seed's `scipy.ndimage.zoom(vol, new_shape / old_shape)`.
/// The returned volume's spacing is the one actually achieved (corner-aligned methods:
/// `old · (n − 1)/(m − 1)`).
///
/// Errors on a zero, negative or non-finite target spacing.
pub fn resample_to_spacing<T: Voxel>(
    vol: &Volume<T>,
    target: Spacing,
    method: Interpolation,
) -> Result<Volume<T>> {
    target.validate()?;
    let [n0, n1, n2] = vol.shape();
    let sp = vol.spacing();
    let shape = [
        new_len(n0, sp.z, target.z),
        new_len(n1, sp.y, target.y),
        new_len(n2, sp.x, target.x),
    ];
    let data = zoom(vol.view(), shape, method)?;
    rebuild(vol, data, method)
}

/// Resamples to isotropic voxels: up to the finest axis spacing, down to the coarsest, or
/// to a given size (the seed's two options for anisotropic scans).
pub fn resample_to_isotropic<T: Voxel>(
    vol: &Volume<T>,
    target: IsotropicTarget,
    method: Interpolation,
) -> Result<Volume<T>> {
    let sp = vol.spacing();
    let s = match target {
        IsotropicTarget::Finest => sp.z.min(sp.y).min(sp.x),
        IsotropicTarget::Coarsest => sp.z.max(sp.y).max(sp.x),
        IsotropicTarget::Mm(v) => v,
    };
    let t = Spacing::new(s, s, s)?;
    resample_to_spacing(vol, t, method)
}

/// Resamples along z only, to exactly `n_slices` slices (the seed's "interpolate every scan
/// to a fixed length"). Errors when `n_slices == 0`.
pub fn resample_to_slices<T: Voxel>(
    vol: &Volume<T>,
    n_slices: usize,
    method: Interpolation,
) -> Result<Volume<T>> {
    let [_, h, w] = vol.shape();
    let data = zoom(vol.view(), [n_slices, h, w], method)?;
    rebuild(vol, data, method)
}

/// Resizes every slice in-plane to `(height, width)`, e.g. `(224, 224)` for the networks;
/// z is untouched.
pub fn resize_slices<T: Voxel>(
    vol: &Volume<T>,
    (height, width): (usize, usize),
    method: Interpolation,
) -> Result<Volume<T>> {
    let [z, _, _] = vol.shape();
    let data = zoom(vol.view(), [z, height, width], method)?;
    rebuild(vol, data, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant() {
        let a = Array3::from_shape_fn((3, 4, 5), |(z, y, x)| (z * 20 + y * 5 + x) as f64);
        for m in Interpolation::ALL {
            assert_eq!(zoom(a.view(), [3, 4, 5], m).unwrap(), a);
        }
        let c = Array3::from_elem((4, 5, 6), 7.0f64);
        for m in Interpolation::ALL {
            let z = zoom(c.view(), [7, 3, 9], m).unwrap();
            assert!(z.iter().all(|&v| (v - 7.0).abs() < 1e-9), "{m:?}");
        }
    }

    #[test]
    fn linear_corner_alignment() {
        let a = Array3::from_shape_fn((1, 1, 3), |(_, _, x)| (x * 10) as f64);
        let z = zoom(a.view(), [1, 1, 5], Interpolation::Linear).unwrap();
        assert_eq!(z.as_slice().unwrap(), &[0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    /// scipy's order-1 zoom written voxel by voxel (8-tap tensor product, edge clamping):
    /// the streamed separable path must agree for every combination of growing, shrinking
    /// and unchanged axes (z first, planes first, z only, plane only), and the result must
    /// not depend on the number of threads (the per-task plane windows).
    #[test]
    fn streamed_linear_matches_direct_formula() {
        fn coords(n: usize, m: usize) -> Vec<(usize, usize, f64)> {
            let zoom = if m > 1 {
                (n as f64 - 1.0) / (m as f64 - 1.0)
            } else {
                1.0
            };
            (0..m)
                .map(|k| {
                    let c = k as f64 * zoom;
                    let f = c.floor();
                    let i0 = (f as usize).min(n - 1);
                    (i0, (i0 + 1).min(n - 1), c - f)
                })
                .collect()
        }
        let a = Array3::from_shape_fn((7, 9, 11), |(z, y, x)| {
            ((z * 131 + y * 37 + x * 11) % 97) as f64 - 40.0 + 0.25 * (x as f64).sin()
        });
        let shapes = [
            [13, 4, 5],
            [3, 17, 19],
            [7, 5, 23],
            [12, 9, 11],
            [2, 9, 4],
            [7, 4, 4],
            [1, 1, 1],
            [20, 30, 3],
        ];
        for s in shapes {
            let (cz, cy, cx) = (coords(7, s[0]), coords(9, s[1]), coords(11, s[2]));
            let want = Array3::from_shape_fn((s[0], s[1], s[2]), |(k, j, i)| {
                let mut v = 0.0;
                for (zz, wz) in [(cz[k].0, 1.0 - cz[k].2), (cz[k].1, cz[k].2)] {
                    for (yy, wy) in [(cy[j].0, 1.0 - cy[j].2), (cy[j].1, cy[j].2)] {
                        for (xx, wx) in [(cx[i].0, 1.0 - cx[i].2), (cx[i].1, cx[i].2)] {
                            v += wz * wy * wx * a[[zz, yy, xx]];
                        }
                    }
                }
                v
            });
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let three = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            let g1 = one.install(|| zoom(a.view(), s, Interpolation::Linear).unwrap());
            let g3 = three.install(|| zoom(a.view(), s, Interpolation::Linear).unwrap());
            assert_eq!(g1, g3, "{s:?}: thread count changed the result");
            let d = g1
                .iter()
                .zip(want.iter())
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            assert!(d < 1e-9, "{s:?}: max |diff| {d}");
        }
    }

    /// The dispatched (AVX2 where available) and portable builds of the row kernels give
    /// the same bits.
    #[test]
    fn simd_builds_agree() {
        let rows: Vec<Vec<i16>> = (0..5)
            .map(|r| {
                (0..301)
                    .map(|i| ((i * 37 + r * 1001) % 4001) as i16 - 2000)
                    .collect()
            })
            .collect();
        let refs: Vec<&[i16]> = rows.iter().map(|r| r.as_slice()).collect();
        let w = [0.1, 0.35, 0.05, 0.3, 0.2];
        for k in [1, 2, 5] {
            let (mut a, mut b) = (vec![0f64; 301], vec![0f64; 301]);
            combine_rows(&refs[..k], &w[..k], &mut a);
            combine_rows_body(&refs[..k], &w[..k], &mut b);
            assert_eq!(a, b);
            let (mut a16, mut b16) = (vec![0i16; 301], vec![0i16; 301]);
            combine_rows(&refs[..k], &w[..k], &mut a16);
            combine_rows_body(&refs[..k], &w[..k], &mut b16);
            assert_eq!(a16, b16);
        }
        let src = Array2::from_shape_fn((23, 17), |(i, j)| ((i * 7 + j * 3) % 29) as f64 - 9.5);
        for m in [
            Interpolation::Linear,
            Interpolation::Cubic,
            Interpolation::Lanczos3,
        ] {
            let plan = plan_axis(23, 11, m);
            let cubic = m == Interpolation::Cubic;
            let (mut a, mut b) = (
                Array2::<f64>::zeros((11, 17)),
                Array2::<f64>::zeros((11, 17)),
            );
            pass_lanes(src.view(), a.view_mut(), &plan, cubic);
            pass_lanes_body(src.view(), b.view_mut(), &plan, cubic);
            assert_eq!(a, b, "{m:?}");
        }
    }

    /// Lanczos-3 and area through the streamed path (many z taps: the sliding window of
    /// resampled planes holds several) against plain axis-by-axis passes, on 1 and 3
    /// threads; only the summation order differs.
    #[test]
    fn streamed_pixel_centre_methods_match_axis_passes() {
        let a = Array3::from_shape_fn((20, 16, 18), |(z, y, x)| {
            ((z * 31 + y * 17 + x * 7) % 53) as f64 + 0.1 * (z as f64).cos()
        });
        for m in [Interpolation::Lanczos3, Interpolation::Area] {
            for s in [
                [6, 4, 5],
                [6, 12, 13],
                [31, 5, 6],
                [3, 16, 9],
                [20, 7, 18],
                [9, 16, 18],
            ] {
                let mut want = a.clone();
                for ax in 0..3 {
                    if s[ax] != want.len_of(Axis(ax)) {
                        want = resample_axis::<f64, f64>(want.view(), ax, s[ax], m);
                    }
                }
                for threads in [1, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let got = pool.install(|| zoom(a.view(), s, m).unwrap());
                    let d = got
                        .iter()
                        .zip(want.iter())
                        .map(|(p, q)| (p - q).abs())
                        .fold(0.0, f64::max);
                    assert!(d < 1e-9, "{m:?} {s:?} {threads}: max |diff| {d}");
                }
            }
        }
    }

    /// The nearest path (runs of step 1 / 2, copied planes and rows) against the direct
    /// index formula, for halving, odd, growing and mixed shapes.
    #[test]
    fn nearest_matches_direct_formula() {
        let idx = |k: usize, n: usize, m: usize| -> usize {
            let zoom = if m > 1 {
                (n as f64 - 1.0) / (m as f64 - 1.0)
            } else {
                1.0
            };
            ((k as f64 * zoom + 0.5).floor() as usize).min(n - 1)
        };
        let a = Array3::from_shape_fn((5, 40, 67), |(z, y, x)| (z * 10_000 + y * 100 + x) as i32);
        for s in [
            [3, 20, 34],
            [8, 20, 33],
            [5, 80, 130],
            [2, 13, 67],
            [7, 40, 20],
            [1, 1, 1],
            [5, 39, 66],
        ] {
            let got = zoom(a.view(), s, Interpolation::Nearest).unwrap();
            let want = Array3::from_shape_fn((s[0], s[1], s[2]), |(k, j, i)| {
                a[[idx(k, 5, s[0]), idx(j, 40, s[1]), idx(i, 67, s[2])]]
            });
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn rounding_like_scipy() {
        assert_eq!(<u8 as Voxel>::from_f64(-3.0), 0);
        assert_eq!(<u8 as Voxel>::from_f64(254.6), 255);
        assert_eq!(<u8 as Voxel>::from_f64(300.0), 255);
        assert_eq!(<i16 as Voxel>::from_f64(-2.5), -3);
        assert_eq!(<i16 as Voxel>::from_f64(2.49), 2);
    }

    #[test]
    fn bad_shapes() {
        let a = Array3::<f32>::zeros((2, 2, 2));
        assert!(matches!(
            zoom(a.view(), [0, 2, 2], Interpolation::Linear),
            Err(Error::OutputShape(_))
        ));
        let e = Array3::<f32>::zeros((0, 2, 2));
        assert!(matches!(
            zoom(e.view(), [1, 2, 2], Interpolation::Linear),
            Err(Error::Empty { .. })
        ));
    }
}
