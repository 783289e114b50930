//! The two Pillow 13 operations imagehash relies on, ported bit for bit:
//! `Image.convert('L')` (libImaging/Convert.c) and `Image.resize(size, LANCZOS)`
//! (libImaging/Resample.c of the 13.0.0 sdist, 8 bits per channel, `reducing_gap=None`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use image::DynamicImage;
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// ITU-R 601-2 luma in Pillow's 16-bit fixed point (`L24(rgb) >> 16` in Convert.c).
#[inline(always)]
fn l24(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

/// `Image.convert('L')` of the image Pillow would open from the same file.
///
/// * `L` (Luma8): unchanged; `LA`: the grey channel (alpha ignored, `la2l`).
/// * `RGB` / `RGBA`: `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16` (alpha ignored, `rgb2l`).
/// * 16-bit grey (Pillow's mode `I;16`): values clipped to 0..=255 (`I16_L`), *not* scaled.
/// * 16-bit RGB/RGBA/LA: Pillow's PNG decoder keeps the high byte (`RGB;16B` raw mode), then as
///   above (this path is not covered by golden files).
///
/// Errors: floating-point images (Pillow has no such RGB modes).
pub fn to_grey(img: &DynamicImage) -> Result<Array2<u8>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px: Vec<u8> = match img {
        DynamicImage::ImageLuma8(b) => b.as_raw().clone(),
        DynamicImage::ImageLumaA8(b) => b.as_raw().chunks_exact(2).map(|p| p[0]).collect(),
        DynamicImage::ImageRgb8(b) => b
            .as_raw()
            .chunks_exact(3)
            .map(|p| l24(p[0], p[1], p[2]))
            .collect(),
        DynamicImage::ImageRgba8(b) => b
            .as_raw()
            .chunks_exact(4)
            .map(|p| l24(p[0], p[1], p[2]))
            .collect(),
        DynamicImage::ImageLuma16(b) => b.as_raw().iter().map(|&v| v.min(255) as u8).collect(),
        DynamicImage::ImageLumaA16(b) => b
            .as_raw()
            .chunks_exact(2)
            .map(|p| (p[0] >> 8) as u8)
            .collect(),
        DynamicImage::ImageRgb16(b) => b
            .as_raw()
            .chunks_exact(3)
            .map(|p| l24((p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8))
            .collect(),
        DynamicImage::ImageRgba16(b) => b
            .as_raw()
            .chunks_exact(4)
            .map(|p| l24((p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8))
            .collect(),
        other => return Err(Error::UnsupportedImage(format!("{:?}", other.color()))),
    };
    if w == 0 || h == 0 {
        return Err(Error::Empty([h, w]));
    }
    Ok(Array2::from_shape_vec((h, w), px).expect("buffer matches the image size"))
}

/// Fixed-point precision of Pillow's 8-bit resampling (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

fn lanczos(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` for LANCZOS over the box `0..in_size`, followed by
/// `normalize_coeffs_8bpc`: per output pixel the first input index and the fixed-point taps.
pub(crate) struct Coeffs {
    /// First input index of each output pixel.
    starts: Vec<usize>,
    /// Number of taps of each output pixel.
    lens: Vec<usize>,
    /// Taps of output `i` at `taps[i * kmax .. i * kmax + lens[i]]`.
    taps: Vec<i32>,
    kmax: usize,
}

impl Coeffs {
    #[inline(always)]
    fn get(&self, i: usize) -> (usize, &[i32]) {
        let o = i * self.kmax;
        (self.starts[i], &self.taps[o..o + self.lens[i]])
    }

    fn compute(in_size: usize, out_size: usize) -> Coeffs {
        const SUPPORT: f64 = 3.0;
        // Box coordinates are C floats; integer sizes are exact in f32.
        let scale = (in_size as f32 - 0.0f32) as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = SUPPORT * filterscale;
        let mut starts = Vec::with_capacity(out_size);
        let mut all = Vec::with_capacity(out_size);
        for xx in 0..out_size {
            let center = 0.0 + (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // `(int)` truncates toward zero, as in C.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin);
            let mut k: Vec<f64> = (0..n)
                .map(|x| lanczos((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = k.iter().fold(0.0, |a, &v| a + v);
            if ww != 0.0 {
                k.iter_mut().for_each(|v| *v /= ww);
            }
            let one = (1u32 << PRECISION_BITS) as f64;
            let ki: Vec<i32> = k
                .iter()
                .map(|&v| {
                    if v < 0.0 {
                        (-0.5 + v * one) as i32
                    } else {
                        (0.5 + v * one) as i32
                    }
                })
                .collect();
            starts.push(xmin);
            all.push(ki);
        }
        let kmax = all.iter().map(Vec::len).max().unwrap_or(0);
        let lens = all.iter().map(Vec::len).collect();
        let mut taps = vec![0; out_size * kmax];
        for (i, k) in all.iter().enumerate() {
            taps[i * kmax..i * kmax + k.len()].copy_from_slice(k);
        }
        Coeffs {
            starts,
            lens,
            taps,
            kmax,
        }
    }
}

/// The coefficient tables of `(in_size, out_size)`, computed once per process (a table costs
/// thousands of `sin` calls, as much as the resize of a 512² slice itself) and shared by every
/// thread. The cache is bounded: it is emptied when it holds 256 tables.
pub(crate) fn coeffs(in_size: usize, out_size: usize) -> Arc<Coeffs> {
    static CACHE: OnceLock<Mutex<HashMap<(usize, usize), Arc<Coeffs>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(in_size, out_size))
    {
        return c.clone();
    }
    let c = Arc::new(Coeffs::compute(in_size, out_size));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 256 {
        map.clear();
    }
    map.insert((in_size, out_size), c.clone());
    c
}

/// `clip8`: the accumulator shifted back to 8 bits and clamped (Pillow's lookup table).
#[inline(always)]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `Image.resize((out_w, out_h), Image.LANCZOS)` of a mode-`L` image, bit-exact with Pillow 13.
///
/// Two separable passes as in Pillow 13.0's Resample.c: horizontal then vertical, except when
/// the height shrinks by more than twice as many pixels as the width (then vertical first,
/// which changes the 8-bit rounding of the intermediate image); a pass whose size does not
/// change is skipped, and an unchanged size is a copy.
///
/// Errors: a zero output size or an empty input.
pub fn resize_lanczos(src: ArrayView2<u8>, out_w: usize, out_h: usize) -> Result<Array2<u8>> {
    let (in_h, in_w) = src.dim();
    if in_h == 0 || in_w == 0 {
        return Err(Error::Empty([in_h, in_w]));
    }
    if out_w == 0 || out_h == 0 {
        return Err(Error::InvalidParam {
            name: "size",
            value: format!("{out_w}x{out_h}"),
            reason: "must be at least 1x1",
        });
    }
    let owned;
    let src = match src.as_slice() {
        Some(_) => src,
        None => {
            owned = src.as_standard_layout().into_owned();
            owned.view()
        }
    };
    let s = src.as_slice().expect("standard layout");
    let (dh, dw) = (in_h as i64 - out_h as i64, in_w as i64 - out_w as i64);
    let horizontal_first = !(dh > 0 && dh > dw * 2);
    let (need_h, need_v) = (out_w != in_w, out_h != in_h);
    let mut cur: std::borrow::Cow<[u8]> = std::borrow::Cow::Borrowed(s);
    let (mut w, mut h) = (in_w, in_h);
    if horizontal_first {
        if need_h {
            cur = std::borrow::Cow::Owned(horizontal(&cur, w, h, out_w));
            w = out_w;
        }
        if need_v {
            cur = std::borrow::Cow::Owned(vertical(&cur, w, h, out_h));
            h = out_h;
        }
    } else {
        if need_v {
            cur = std::borrow::Cow::Owned(vertical(&cur, w, h, out_h));
            h = out_h;
        }
        if need_h {
            cur = std::borrow::Cow::Owned(horizontal(&cur, w, h, out_w));
            w = out_w;
        }
    }
    Ok(Array2::from_shape_vec((h, w), cur.into_owned()).expect("sizes match"))
}

/// Horizontal pass over every row (Pillow restricts it to the rows the vertical pass reads;
/// the values of those rows are the same).
pub(crate) fn horizontal(src: &[u8], in_w: usize, h: usize, out_w: usize) -> Vec<u8> {
    let c = coeffs(in_w, out_w);
    let mut out = vec![0u8; h * out_w];
    horizontal_kernel(src, in_w, &c, &mut out, out_w);
    out
}

multiversion! {
/// One integer dot product per output pixel: exact, so any summation order gives Pillow's
/// value (the true sum stays within ±2³¹: |taps| sum to about 2²² and pixels are ≤ 255).
fn horizontal_kernel(src: &[u8], in_w: usize, c: &Coeffs, out: &mut [u8], out_w: usize) {
    for (row_in, row_out) in src.chunks_exact(in_w).zip(out.chunks_exact_mut(out_w)) {
        for (xx, o) in row_out.iter_mut().enumerate() {
            let (start, k) = c.get(xx);
            let px = &row_in[start..start + k.len()];
            let ss = px
                .iter()
                .zip(k)
                .fold(1i32 << (PRECISION_BITS - 1), |ss, (&p, &kv)| {
                    ss.wrapping_add(p as i32 * kv)
                });
            *o = clip8(ss);
        }
    }
}
}

pub(crate) fn vertical(src: &[u8], w: usize, in_h: usize, out_h: usize) -> Vec<u8> {
    let c = coeffs(in_h, out_h);
    let mut out = vec![0u8; out_h * w];
    vertical_kernel(src, w, &c, &mut out);
    out
}

multiversion! {
fn vertical_kernel(src: &[u8], w: usize, c: &Coeffs, out: &mut [u8]) {
    let mut acc = vec![0i32; w];
    for (yy, row_out) in out.chunks_exact_mut(w).enumerate() {
        acc.iter_mut().for_each(|a| *a = 1 << (PRECISION_BITS - 1));
        let (start, taps) = c.get(yy);
        for (j, &kv) in taps.iter().enumerate() {
            let r = start + j;
            let row = &src[r * w..(r + 1) * w];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(p as i32 * kv);
            }
        }
        for (o, &a) in row_out.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
}
}
