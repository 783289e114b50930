//! The two Pillow 13 operations imagehash relies on, ported bit for bit:
//! `Image.convert('L')` (libImaging/Convert.c) and `Image.resize(size, LANCZOS)`
//! (libImaging/Resample.c of the 13.0.0 sdist, 8 bits per channel, `reducing_gap=None`).

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
fn coeffs(in_size: usize, out_size: usize) -> (Vec<usize>, Vec<Vec<i32>>) {
    const SUPPORT: f64 = 3.0;
    // Box coordinates are C floats; integer sizes are exact in f32.
    let scale = (in_size as f32 - 0.0f32) as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let mut starts = Vec::with_capacity(out_size);
    let mut taps = Vec::with_capacity(out_size);
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
        let ki = k
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
        taps.push(ki);
    }
    (starts, taps)
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
fn horizontal(src: &[u8], in_w: usize, h: usize, out_w: usize) -> Vec<u8> {
    let (starts, taps) = coeffs(in_w, out_w);
    let mut out = vec![0u8; h * out_w];
    for (row_in, row_out) in src.chunks_exact(in_w).zip(out.chunks_exact_mut(out_w)) {
        for (xx, o) in row_out.iter_mut().enumerate() {
            let k = &taps[xx];
            let px = &row_in[starts[xx]..starts[xx] + k.len()];
            let mut ss: i32 = 1 << (PRECISION_BITS - 1);
            for (&p, &kv) in px.iter().zip(k) {
                ss = ss.wrapping_add(p as i32 * kv);
            }
            *o = clip8(ss);
        }
    }
    out
}

fn vertical(src: &[u8], w: usize, in_h: usize, out_h: usize) -> Vec<u8> {
    let (starts, taps) = coeffs(in_h, out_h);
    let mut out = vec![0u8; out_h * w];
    let mut acc = vec![0i32; w];
    for (yy, row_out) in out.chunks_exact_mut(w).enumerate() {
        acc.iter_mut().for_each(|a| *a = 1 << (PRECISION_BITS - 1));
        for (j, &kv) in taps[yy].iter().enumerate() {
            let r = starts[yy] + j;
            let row = &src[r * w..(r + 1) * w];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(p as i32 * kv);
            }
        }
        for (o, &a) in row_out.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}
