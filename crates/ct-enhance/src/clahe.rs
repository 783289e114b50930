//! Contrast-limited adaptive histogram equalisation, bit-exact with OpenCV's
//! `cv2.createCLAHE(clipLimit, tileGridSize).apply` on 8- and 16-bit images.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use ct_core::Volume;

use crate::error::{Error, Result, check_image};
use crate::hist::{equalize_lut_u8, saturate_round, saturate_round_small};

/// Pixel types CLAHE accepts (OpenCV's `CV_8UC1` and `CV_16UC1`).
pub trait ClaheSample: Copy + Send + Sync + Default + 'static {
    /// Number of histogram bins (256 or 65536: OpenCV bins 16-bit images per value).
    const HIST_SIZE: usize;
    /// The bin (the value itself).
    fn bin(self) -> usize;
    /// A saturated value back from an integer.
    fn from_i32(v: i32) -> Self;
}

impl ClaheSample for u8 {
    const HIST_SIZE: usize = 256;
    #[inline(always)]
    fn bin(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v.clamp(0, 255) as u8
    }
}

impl ClaheSample for u16 {
    const HIST_SIZE: usize = 65536;
    #[inline(always)]
    fn bin(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v.clamp(0, 65535) as u16
    }
}

/// CLAHE parameters, in OpenCV's terms.
///
/// `Default` is OpenCV's `createCLAHE()` default: clip limit **40.0** and an **8×8** tile
/// grid. [`Clahe::seed`] is the setting the seed project used (clip 2.0, 8×8).
///
/// The clip limit is relative, as in OpenCV: a tile's histogram bins are clipped at
/// `max(int(clip_limit · tile_area / bins), 1)` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Clahe {
    /// Relative clip limit, finite and > 0 (OpenCV's `clipLimit`).
    pub clip_limit: f64,
    /// Number of tiles along x (columns): OpenCV's `tileGridSize.width`.
    pub tiles_x: usize,
    /// Number of tiles along y (rows): OpenCV's `tileGridSize.height`.
    pub tiles_y: usize,
}

impl Default for Clahe {
    fn default() -> Self {
        Clahe {
            clip_limit: 40.0,
            tiles_x: 8,
            tiles_y: 8,
        }
    }
}

impl Clahe {
    /// Checked constructor.
    pub fn new(clip_limit: f64, tiles_x: usize, tiles_y: usize) -> Result<Clahe> {
        let c = Clahe {
            clip_limit,
            tiles_x,
            tiles_y,
        };
        c.validate()?;
        Ok(c)
    }

    /// The seed project's setting: clip limit 2.0 on an 8×8 grid.
    pub fn seed() -> Clahe {
        Clahe {
            clip_limit: 2.0,
            tiles_x: 8,
            tiles_y: 8,
        }
    }

    /// Rejects a non-finite or non-positive clip limit and an empty tile grid. (OpenCV
    /// silently turns clipping off for a clip limit <= 0; here that is an error.)
    pub fn validate(&self) -> Result<()> {
        if !(self.clip_limit.is_finite() && self.clip_limit > 0.0) {
            return Err(Error::ClipLimit(self.clip_limit));
        }
        if self.tiles_x == 0 || self.tiles_y == 0 {
            return Err(Error::TileGrid {
                tiles_x: self.tiles_x,
                tiles_y: self.tiles_y,
                width: 0,
                height: 0,
            });
        }
        Ok(())
    }

    fn check(&self, (h, w): (usize, usize)) -> Result<()> {
        self.validate()?;
        check_image("CLAHE", (h, w))?;
        if self.tiles_x > w || self.tiles_y > h {
            return Err(Error::TileGrid {
                tiles_x: self.tiles_x,
                tiles_y: self.tiles_y,
                width: w,
                height: h,
            });
        }
        Ok(())
    }

    /// CLAHE of one image (u8 or u16), identical to OpenCV's `apply`.
    ///
    /// Errors: invalid parameters, empty or single-pixel images, a tile grid with more
    /// tiles than pixels along an axis.
    pub fn apply<T: ClaheSample>(&self, img: ArrayView2<'_, T>) -> Result<Array2<T>> {
        self.check(img.dim())?;
        Ok(clahe_unchecked(img, self))
    }

    /// CLAHE of every slice of a volume, slices in parallel.
    pub fn apply_volume<T: ClaheSample>(&self, vol: &Volume<T>) -> Result<Volume<T>> {
        let data = vol.data();
        let (_, h, w) = data.dim();
        self.check((h, w))?;
        let mut out = data.clone();
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(data.axis_iter(Axis(0)).into_par_iter())
            .for_each(|(mut o, s)| o.assign(&clahe_unchecked(s, self)));
        Ok(vol.with_data(out)?)
    }

    /// Global histogram equalisation followed by CLAHE, in one call: identical to
    /// `clahe.apply(cv2.equalizeHist(img))`.
    pub fn apply_after_he(&self, img: ArrayView2<'_, u8>) -> Result<Array2<u8>> {
        self.check(img.dim())?;
        Ok(clahe_impl(img, self, true))
    }

    /// [`Clahe::apply_after_he`] on every slice of a volume, slices in parallel.
    pub fn apply_after_he_volume(&self, vol: &Volume<u8>) -> Result<Volume<u8>> {
        let data = vol.data();
        let (_, h, w) = data.dim();
        self.check((h, w))?;
        let mut out = data.clone();
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(data.axis_iter(Axis(0)).into_par_iter())
            .for_each(|(mut o, s)| o.assign(&clahe_impl(s, self, true)));
        Ok(vol.with_data(out)?)
    }
}

/// OpenCV's `borderInterpolate` for `BORDER_REFLECT_101` (`gfedcb|abcdefgh|gfedcba`),
/// repeated until the index falls inside (pads may exceed the image).
fn reflect101(mut p: isize, len: usize) -> usize {
    let len = len as isize;
    if len == 1 {
        return 0;
    }
    while p < 0 || p >= len {
        if p < 0 {
            p = -p;
        } else {
            p = 2 * len - 2 - p;
        }
    }
    p as usize
}

fn clahe_unchecked<T: ClaheSample>(img: ArrayView2<'_, T>, p: &Clahe) -> Array2<T> {
    clahe_impl(img, p, false)
}

/// CLAHE; with `he` (8-bit only) of the globally equalised image, without writing that
/// image: equalisation is a per-value map `e`, so a tile's histogram of `e(img)` is its
/// histogram of `img` with bin `v` moved to `e(v)`, the global histogram is the sum of the
/// tile histograms (when the tiles cover the image exactly), and the blend looks LUTs up at
/// `e(v)`. Same LUTs, same blend: identical to `clahe.apply(equalizeHist(img))`.
fn clahe_impl<T: ClaheSample>(img: ArrayView2<'_, T>, p: &Clahe, he: bool) -> Array2<T> {
    assert!(!he || T::HIST_SIZE == 256, "HE + CLAHE is 8-bit only");
    let (h, w) = img.dim();
    let (tx, ty) = (p.tiles_x, p.tiles_y);
    let hs = T::HIST_SIZE;

    // OpenCV pads bottom/right with BORDER_REFLECT_101 unless *both* sizes divide; the pad
    // is `tiles - size % tiles`, a whole extra tile along an axis that already divides.
    let (src_for_lut, eh, ew);
    let padded;
    if w % tx == 0 && h % ty == 0 {
        src_for_lut = img;
        (eh, ew) = (h, w);
    } else {
        eh = h + ty - h % ty;
        ew = w + tx - w % tx;
        let cols: Vec<usize> = (0..ew).map(|x| reflect101(x as isize, w)).collect();
        padded =
            Array2::from_shape_fn((eh, ew), |(y, x)| img[[reflect101(y as isize, h), cols[x]]]);
        src_for_lut = padded.view();
    }
    let lut_src_std = src_for_lut.as_standard_layout();
    let lut_src: &[T] = lut_src_std.as_slice().expect("standard layout");
    let (tw, th) = (ew / tx, eh / ty);
    let tile_total = tw * th;
    let lut_scale = (hs - 1) as f32 / tile_total as f32;
    let clip_limit = ((p.clip_limit * tile_total as f64 / hs as f64) as i64).max(1) as i32;

    // LUTs as f32 (exact small integers) so the interpolation needs no conversion.
    let mut lut = vec![0f32; tx * ty * hs];
    let mut hist = vec![0i32; hs];
    // 8-bit: every tile's histogram first (64 KiB for 8×8 tiles), so the global one (HE)
    // can be their sum.
    let tile_hists: Vec<[i32; 256]> = if hs == 256 {
        (0..tx * ty)
            .map(|k| {
                let (ky, kx) = (k / tx, k % tx);
                // Four interleaved sub-histograms: neighbouring pixels often share a value.
                let mut h4 = [[0i32; 256]; 4];
                for y in ky * th..(ky + 1) * th {
                    let row = &lut_src[y * ew + kx * tw..y * ew + (kx + 1) * tw];
                    let mut c4 = row.chunks_exact(4);
                    for c in &mut c4 {
                        h4[0][c[0].bin() & 255] += 1;
                        h4[1][c[1].bin() & 255] += 1;
                        h4[2][c[2].bin() & 255] += 1;
                        h4[3][c[3].bin() & 255] += 1;
                    }
                    for &v in c4.remainder() {
                        h4[0][v.bin() & 255] += 1;
                    }
                }
                std::array::from_fn(|i| h4[0][i] + h4[1][i] + h4[2][i] + h4[3][i])
            })
            .collect()
    } else {
        Vec::new()
    };
    let pre: Option<[u8; 256]> = he.then(|| {
        let mut global = [0u32; 256];
        if (eh, ew) == (h, w) {
            for t in &tile_hists {
                for (g, &c) in global.iter_mut().zip(t) {
                    *g += c as u32;
                }
            }
        } else {
            // Padded: the tiles also count reflected pixels; count the image itself.
            for &v in img.iter() {
                global[v.bin() & 255] += 1;
            }
        }
        equalize_lut_u8(&global)
    });
    for (k, tile_lut) in lut.chunks_exact_mut(hs).enumerate() {
        let (ky, kx) = (k / tx, k % tx);
        hist.iter_mut().for_each(|v| *v = 0);
        if hs == 256 {
            match &pre {
                Some(e) => {
                    for (v, &c) in tile_hists[k].iter().enumerate() {
                        hist[e[v] as usize] += c;
                    }
                }
                None => hist.copy_from_slice(&tile_hists[k]),
            }
        } else {
            for y in ky * th..(ky + 1) * th {
                let row = &lut_src[y * ew + kx * tw..y * ew + (kx + 1) * tw];
                for &v in row {
                    hist[v.bin()] += 1;
                }
            }
        }
        // Clip, then hand the excess back evenly, the remainder one by one every
        // `residual_step` bins from bin 0 (OpenCV's order).
        let mut clipped = 0i32;
        for v in hist.iter_mut() {
            if *v > clip_limit {
                clipped += *v - clip_limit;
                *v = clip_limit;
            }
        }
        let batch = clipped / hs as i32;
        let mut residual = clipped - batch * hs as i32;
        hist.iter_mut().for_each(|v| *v += batch);
        if residual != 0 {
            let step = (hs as i32 / residual).max(1) as usize;
            let mut i = 0;
            while i < hs && residual > 0 {
                hist[i] += 1;
                i += step;
                residual -= 1;
            }
        }
        let max = hs as i32 - 1;
        let mut sum = 0i32;
        for (l, &c) in tile_lut.iter_mut().zip(&hist) {
            sum += c;
            *l = saturate_round(sum as f32 * lut_scale, max) as f32;
        }
    }

    // Bilinear blend of the four neighbouring tiles' LUTs, in OpenCV's f32 arithmetic.
    let inv_tw = 1.0f32 / tw as f32;
    let inv_th = 1.0f32 / th as f32;
    let mut ind1 = vec![0usize; w];
    let mut ind2 = vec![0usize; w];
    let mut xa = vec![0f32; w];
    let mut xa1 = vec![0f32; w];
    for x in 0..w {
        let txf = x as f32 * inv_tw - 0.5f32;
        let t1 = txf.floor() as isize;
        xa[x] = txf - t1 as f32;
        xa1[x] = 1.0f32 - xa[x];
        ind1[x] = t1.max(0) as usize;
        ind2[x] = (t1 + 1).min(tx as isize - 1) as usize;
    }
    let src_std = img.as_standard_layout();
    let src: &[T] = src_std.as_slice().expect("standard layout");
    let mut out = vec![T::default(); h * w];
    let geo = Geometry {
        w,
        tx,
        ty,
        inv_th,
        ind1: &ind1,
        ind2: &ind2,
        xa: &xa,
        xa1: &xa1,
    };
    match hs {
        256 => interpolate_packed(&geo, &lut, pre.as_ref(), src, &mut out),
        _ => interpolate::<T, 65536>(&geo, &lut, src, &mut out),
    }
    Array2::from_shape_vec((h, w), out).expect("shape")
}

struct Geometry<'a> {
    w: usize,
    tx: usize,
    ty: usize,
    inv_th: f32,
    ind1: &'a [usize],
    ind2: &'a [usize],
    xa: &'a [f32],
    xa1: &'a [f32],
}

impl Geometry<'_> {
    /// Row `y`'s two tile rows and their weights, as OpenCV computes them (f32).
    #[inline]
    fn row_tiles(&self, y: usize) -> (usize, usize, f32, f32) {
        let tyf = y as f32 * self.inv_th - 0.5f32;
        let t1 = tyf.floor() as isize;
        let ya = tyf - t1 as f32;
        let p1 = t1.max(0) as usize;
        let p2 = (t1 + 1).min(self.ty as isize - 1) as usize;
        (p1, p2, ya, 1.0f32 - ya)
    }
}

/// The 8-bit blend: for each band of rows between two tile-row centres and each run of
/// columns between two tile-column centres, the four LUTs involved are packed into one
/// table of `u32` (`l11 | l12 << 8 | l21 << 16 | l22 << 24`; 8-bit LUT values fit a byte),
/// so a pixel costs one table load instead of four. The arithmetic is OpenCV's f32
/// expression on the same values in the same order: bit-exact.
///
/// `pre` (HE + CLAHE): the blend reads the LUTs at `pre[v]`; folded into the tables.
fn interpolate_packed<T: ClaheSample>(
    g: &Geometry<'_>,
    lut: &[f32],
    pre: Option<&[u8; 256]>,
    src: &[T],
    out: &mut [T],
) {
    let ident: [u8; 256] = std::array::from_fn(|i| i as u8);
    let pre = pre.unwrap_or(&ident);
    // Column runs sharing a pair of tile columns.
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut x0 = 0;
    while x0 < g.w {
        let (c1, c2) = (g.ind1[x0], g.ind2[x0]);
        let mut x1 = x0 + 1;
        while x1 < g.w && g.ind1[x1] == c1 && g.ind2[x1] == c2 {
            x1 += 1;
        }
        runs.push((x0, x1, c1, c2));
        x0 = x1;
    }
    let tile = |plane: usize, t: usize| -> &[f32] { &lut[(plane * g.tx + t) * 256..][..256] };
    let mut packed = vec![[0u32; 256]; runs.len()];
    let mut band = (usize::MAX, usize::MAX);
    for (y, (orow, srow)) in out
        .chunks_exact_mut(g.w)
        .zip(src.chunks_exact(g.w))
        .enumerate()
    {
        let (p1, p2, ya, ya1) = g.row_tiles(y);
        if band != (p1, p2) {
            band = (p1, p2);
            for (pk, &(_, _, c1, c2)) in packed.iter_mut().zip(&runs) {
                let (a11, a12, a21, a22) = (tile(p1, c1), tile(p1, c2), tile(p2, c1), tile(p2, c2));
                for (&v, e) in pre.iter().zip(pk.iter_mut()) {
                    let v = v as usize;
                    *e = a11[v] as u32
                        | (a12[v] as u32) << 8
                        | (a21[v] as u32) << 16
                        | (a22[v] as u32) << 24;
                }
            }
        }
        for (pk, &(x0, x1, _, _)) in packed.iter().zip(&runs) {
            blend_run(
                pk,
                &srow[x0..x1],
                &mut orow[x0..x1],
                &g.xa[x0..x1],
                &g.xa1[x0..x1],
                ya,
                ya1,
            );
        }
    }
}

/// One run of one row; the wider vectors of AVX2 when the CPU has them (same f32
/// operations, so the same bits).
fn blend_run<T: ClaheSample>(
    pk: &[u32; 256],
    s: &[T],
    o: &mut [T],
    xa: &[f32],
    xa1: &[f32],
    ya: f32,
    ya1: f32,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { blend_run_avx2(pk, s, o, xa, xa1, ya, ya1) };
            return;
        }
    }
    blend_run_body(pk, s, o, xa, xa1, ya, ya1);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_run_avx2<T: ClaheSample>(
    pk: &[u32; 256],
    s: &[T],
    o: &mut [T],
    xa: &[f32],
    xa1: &[f32],
    ya: f32,
    ya1: f32,
) {
    blend_run_body(pk, s, o, xa, xa1, ya, ya1);
}

#[inline(always)]
fn blend_run_body<T: ClaheSample>(
    pk: &[u32; 256],
    s: &[T],
    o: &mut [T],
    xa: &[f32],
    xa1: &[f32],
    ya: f32,
    ya1: f32,
) {
    const B: usize = 16;
    let n = o.len();
    let (s, xa, xa1) = (&s[..n], &xa[..n], &xa1[..n]);
    #[inline(always)]
    fn px(q: u32, a: f32, a1: f32, ya: f32, ya1: f32) -> i32 {
        let l11 = (q & 255) as i32 as f32;
        let l12 = ((q >> 8) & 255) as i32 as f32;
        let l21 = ((q >> 16) & 255) as i32 as f32;
        let l22 = (q >> 24) as i32 as f32;
        saturate_round_small((l11 * a1 + l12 * a) * ya1 + (l21 * a1 + l22 * a) * ya, 255)
    }
    let mut ob = o.chunks_exact_mut(B);
    let mut sb = s.chunks_exact(B);
    let mut ab = xa.chunks_exact(B);
    let mut a1b = xa1.chunks_exact(B);
    for (((o, s), a), a1) in (&mut ob).zip(&mut sb).zip(&mut ab).zip(&mut a1b) {
        let mut q = [0u32; B];
        for j in 0..B {
            q[j] = pk[s[j].bin() & 255];
        }
        let mut r = [0i32; B];
        for j in 0..B {
            r[j] = px(q[j], a[j], a1[j], ya, ya1);
        }
        for j in 0..B {
            o[j] = T::from_i32(r[j]);
        }
    }
    for (((o, s), &a), &a1) in ob
        .into_remainder()
        .iter_mut()
        .zip(sb.remainder())
        .zip(ab.remainder())
        .zip(a1b.remainder())
    {
        *o = T::from_i32(px(pk[s.bin() & 255], a, a1, ya, ya1));
    }
}

/// The bilinear blend of the four neighbouring tiles' LUTs, in OpenCV's f32 arithmetic:
/// `(l1[i1]·(1−xa) + l1[i2]·xa)·(1−ya) + (l2[i1]·(1−xa) + l2[i2]·xa)·ya`, then cvRound.
/// `HS` is a constant so each LUT is a `[f32; HS]` and a u8 index needs no bounds check.
fn interpolate<T: ClaheSample, const HS: usize>(
    g: &Geometry<'_>,
    lut: &[f32],
    src: &[T],
    out: &mut [T],
) {
    let max = HS as i32 - 1;
    let tile = |plane: usize, t: usize| -> &[f32; HS] {
        let o = (plane * g.tx + t) * HS;
        lut[o..o + HS].try_into().expect("LUT length")
    };
    for (y, (orow, srow)) in out
        .chunks_exact_mut(g.w)
        .zip(src.chunks_exact(g.w))
        .enumerate()
    {
        let (p1, p2, ya, ya1) = g.row_tiles(y);
        // Runs of columns that share the same pair of tiles.
        let mut x0 = 0;
        while x0 < g.w {
            let (c1, c2) = (g.ind1[x0], g.ind2[x0]);
            let mut x1 = x0 + 1;
            while x1 < g.w && g.ind1[x1] == c1 && g.ind2[x1] == c2 {
                x1 += 1;
            }
            let (a11, a12, a21, a22) = (tile(p1, c1), tile(p1, c2), tile(p2, c1), tile(p2, c2));
            let (os, ss) = (&mut orow[x0..x1], &srow[x0..x1]);
            let (xs, xs1) = (&g.xa[x0..x1], &g.xa1[x0..x1]);
            // Blocks of 8: gather first, then the same f32 expression on arrays, which the
            // compiler vectorises (same operations in the same order: still bit-exact).
            let mut o8 = os.chunks_exact_mut(8);
            let mut s8 = ss.chunks_exact(8);
            let mut x8 = xs.chunks_exact(8);
            let mut y8 = xs1.chunks_exact(8);
            for (((o, s), a), a1) in (&mut o8).zip(&mut s8).zip(&mut x8).zip(&mut y8) {
                let (mut g11, mut g12, mut g21, mut g22) =
                    ([0f32; 8], [0f32; 8], [0f32; 8], [0f32; 8]);
                for j in 0..8 {
                    let v = s[j].bin();
                    g11[j] = a11[v];
                    g12[j] = a12[v];
                    g21[j] = a21[v];
                    g22[j] = a22[v];
                }
                let mut r = [0i32; 8];
                for j in 0..8 {
                    let res = (g11[j] * a1[j] + g12[j] * a[j]) * ya1
                        + (g21[j] * a1[j] + g22[j] * a[j]) * ya;
                    r[j] = saturate_round_small(res, max);
                }
                for j in 0..8 {
                    o[j] = T::from_i32(r[j]);
                }
            }
            for (((o, &s), &a), &a1) in o8
                .into_remainder()
                .iter_mut()
                .zip(s8.remainder())
                .zip(x8.remainder())
                .zip(y8.remainder())
            {
                let v = s.bin();
                let res = (a11[v] * a1 + a12[v] * a) * ya1 + (a21[v] * a1 + a22[v] * a) * ya;
                *o = T::from_i32(saturate_round(res, max));
            }
            x0 = x1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched blend (AVX2 where the CPU has it) and the portable body give the same
    /// bytes, and both equal OpenCV's scalar expression on unpacked LUT values.
    #[test]
    fn packed_blend_paths_agree() {
        let mut x = 12345u32;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let pk: [u32; 256] = std::array::from_fn(|_| rnd());
        let n = 77;
        let s: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
        let xa: Vec<f32> = (0..n).map(|i| (i as f32 * 0.013).fract()).collect();
        let xa1: Vec<f32> = xa.iter().map(|a| 1.0 - a).collect();
        for ya in [0.0f32, 0.3125, 0.5, 0.99] {
            let (mut o1, mut o2) = (vec![0u8; n], vec![0u8; n]);
            blend_run(&pk, &s, &mut o1, &xa, &xa1, ya, 1.0 - ya);
            blend_run_body(&pk, &s, &mut o2, &xa, &xa1, ya, 1.0 - ya);
            assert_eq!(o1, o2);
            for i in 0..n {
                let q = pk[s[i] as usize];
                let l = |k: u32| ((q >> (8 * k)) & 255) as f32;
                let v = (l(0) * xa1[i] + l(1) * xa[i]) * (1.0 - ya)
                    + (l(2) * xa1[i] + l(3) * xa[i]) * ya;
                assert_eq!(o1[i] as i32, saturate_round(v, 255));
            }
        }
    }

    /// The fused HE + CLAHE equals the two calls, for sizes that divide the grid (global
    /// histogram from the tile histograms) and sizes that do not (padded tiles).
    #[test]
    fn fused_he_clahe_equals_two_calls() {
        let mut x = 99u32;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for (h, w, tx, ty, clip) in [
            (64, 64, 8, 8, 2.0),
            (61, 77, 8, 8, 2.0),
            (40, 30, 3, 5, 1.0),
            (33, 48, 4, 4, 40.0),
        ] {
            // Clustered values, so equalisation and clipping both matter.
            let img = Array2::from_shape_fn((h, w), |(y, xx)| {
                ((y * 3 + xx) / 7 * 11 % 90 + (rnd() % 9) as usize) as u8
            });
            let c = Clahe::new(clip, tx, ty).unwrap();
            let two = c
                .apply(crate::hist::equalize_hist(img.view()).unwrap().view())
                .unwrap();
            assert_eq!(c.apply_after_he(img.view()).unwrap(), two, "{h}x{w}");
        }
    }

    #[test]
    fn reflect101_matches_opencv() {
        let got: Vec<usize> = (-3..8).map(|p| reflect101(p, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect101(7, 2), 1);
        assert_eq!(reflect101(5, 1), 0);
    }

    #[test]
    fn bad_parameters() {
        let img = Array2::<u8>::zeros((16, 16));
        for clip in [0.0, -1.0, f64::NAN] {
            let c = Clahe {
                clip_limit: clip,
                ..Clahe::default()
            };
            assert!(matches!(c.apply(img.view()), Err(Error::ClipLimit(_))));
        }
        let c = Clahe::new(2.0, 17, 4).unwrap();
        assert!(matches!(c.apply(img.view()), Err(Error::TileGrid { .. })));
        assert!(Clahe::new(2.0, 0, 4).is_err());
        let one = Array2::<u8>::zeros((1, 1));
        assert!(matches!(
            Clahe::new(2.0, 1, 1).unwrap().apply(one.view()),
            Err(Error::SinglePixel { .. })
        ));
        assert_eq!(Clahe::default().clip_limit, 40.0);
        assert_eq!(Clahe::seed().clip_limit, 2.0);
    }
}
