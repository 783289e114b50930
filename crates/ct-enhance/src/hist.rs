//! Global histogram equalisation: OpenCV's `equalizeHist` (u8 → u8, bit-exact) and
//! scikit-image's `equalize_hist` (→ f64 in `[0, 1]`, to 1e-12).

use ndarray::{Array2, ArrayView2, Axis, Zip};
use rayon::prelude::*;

use ct_core::Volume;

use crate::error::{Error, Result, check_finite, check_image};

/// OpenCV's rounding of a float to an integer (`cvRound`: round half to even, as `lrintf`
/// does in the default rounding mode), saturated to `0..=max`.
///
/// `round_ties_even` is a libm call on baseline x86-64 (no SSE4.1); adding and subtracting
/// 1.5·2^23 rounds to nearest-even in the FPU's default mode, exactly, for |v| < 2^22 —
/// every value CLAHE and equalisation produce (at most 65535).
#[inline(always)]
pub(crate) fn saturate_round(v: f32, max: i32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    let r = if v.abs() < 4_194_304.0 {
        (v + MAGIC) - MAGIC
    } else {
        v.round_ties_even()
    };
    (r as i32).clamp(0, max)
}

/// [`saturate_round`] for values known to satisfy |v| < 2^22 (CLAHE's blend of LUT values
/// <= 65535 with weights summing to 1): branch-free, so blocks of pixels vectorise.
#[inline(always)]
pub(crate) fn saturate_round_small(v: f32, max: i32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    // v + 1.5·2^23 lies in [2^23, 2^24), where the f32 spacing is 1: the addition rounds v
    // half-to-even and leaves the integer in the low mantissa bits, so the difference of
    // the bit patterns is that integer. Integer operations only (a float-to-int `as` is
    // saturating and NaN-checked, which keeps the loop from vectorising).
    ((v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32).clamp(0, max)
}

/// `dst[i] = lut[src[i]]`. With AVX-512 VBMI a 64-byte vector is looked up in the whole
/// 256-entry table with two two-register byte permutes and a blend on the top bit, about
/// 20× fewer instructions than one load per pixel; elsewhere the scalar loop.
pub(crate) fn lut_slice(src: &[u8], lut: &[u8; 256], dst: &mut [u8]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vbmi")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has AVX-512 F/BW/VBMI (VBMI implies F; checked above).
            unsafe { lut_slice_vbmi(src, lut, dst) };
            return;
        }
    }
    lut_slice_scalar(src, lut, dst);
}

fn lut_slice_scalar(src: &[u8], lut: &[u8; 256], dst: &mut [u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = lut[s as usize];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn lut_slice_vbmi(src: &[u8], lut: &[u8; 256], dst: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let mut i = 0;
    // SAFETY: the four table loads read lut[0..256]; each vector load/store reads or
    // writes [i, i + 64) with i + 64 <= n <= both lengths.
    unsafe {
        let t = lut.as_ptr();
        let t0 = _mm512_loadu_si512(t as *const _);
        let t1 = _mm512_loadu_si512(t.add(64) as *const _);
        let t2 = _mm512_loadu_si512(t.add(128) as *const _);
        let t3 = _mm512_loadu_si512(t.add(192) as *const _);
        while i + 64 <= n {
            let idx = _mm512_loadu_si512(src.as_ptr().add(i) as *const _);
            // Bits 0-5 pick a byte, bit 6 the register: entries 0-127 and 128-255.
            let lo = _mm512_permutex2var_epi8(t0, idx, t1);
            let hi = _mm512_permutex2var_epi8(t2, idx, t3);
            let r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
            _mm512_storeu_si512(dst.as_mut_ptr().add(i) as *mut _, r);
            i += 64;
        }
    }
    lut_slice_scalar(&src[i..n], lut, &mut dst[i..n]);
}

/// Histogram of a u8 image. Four interleaved sub-histograms hide the store-to-load
/// dependency when neighbouring pixels share a value (common in CT: air, bone).
pub(crate) fn hist_u8(img: ArrayView2<'_, u8>) -> [u32; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut row_hist = |row: &[u8]| {
        let mut chunks = row.chunks_exact(4);
        for c in &mut chunks {
            h[0][c[0] as usize] += 1;
            h[1][c[1] as usize] += 1;
            h[2][c[2] as usize] += 1;
            h[3][c[3] as usize] += 1;
        }
        for &v in chunks.remainder() {
            h[0][v as usize] += 1;
        }
    };
    if let Some(s) = img.as_slice() {
        row_hist(s);
    } else {
        for row in img.rows() {
            match row.as_slice() {
                Some(s) => row_hist(s),
                None => row_hist(&row.to_vec()),
            }
        }
    }
    let mut out = [0u32; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h[0][i] + h[1][i] + h[2][i] + h[3][i];
    }
    out
}

/// The equalisation look-up table of OpenCV's `equalizeHist`: the first occupied level maps
/// to 0, later levels to `round_half_even(cumsum · 255 / (total − hist[i_min]))` computed in
/// f32 exactly as OpenCV does; a constant image keeps its value.
pub fn equalize_lut_u8(hist: &[u32; 256]) -> [u8; 256] {
    let total: u64 = hist.iter().map(|&c| c as u64).sum();
    let mut lut = [0u8; 256];
    let Some(i_min) = hist.iter().position(|&c| c != 0) else {
        return lut;
    };
    if hist[i_min] as u64 == total {
        // OpenCV: `dst.setTo(i)`.
        return [i_min as u8; 256];
    }
    // `float scale = (histSize - 1.f)/(total - hist[i]);` — an f32 division.
    let scale = 255.0f32 / (total - hist[i_min] as u64) as f32;
    let mut sum: i64 = 0;
    for i in i_min + 1..256 {
        sum += hist[i] as i64;
        lut[i] = saturate_round(sum as f32 * scale, 255) as u8;
    }
    lut
}

/// Applies a 256-entry LUT to every pixel.
pub(crate) fn apply_lut_u8(img: ArrayView2<'_, u8>, lut: &[u8; 256]) -> Array2<u8> {
    if let Some(s) = img.as_slice() {
        let mut v = vec![0u8; s.len()];
        lut_slice(s, lut, &mut v);
        return Array2::from_shape_vec(img.raw_dim(), v).expect("shape");
    }
    let mut out = Array2::<u8>::zeros(img.raw_dim());
    Zip::from(&mut out)
        .and(&img)
        .for_each(|o, &v| *o = lut[v as usize]);
    out
}

/// Histogram equalisation of an 8-bit image, pixel-identical to OpenCV's
/// `cv2.equalizeHist`.
///
/// Errors on empty and single-pixel images.
pub fn equalize_hist(img: ArrayView2<'_, u8>) -> Result<Array2<u8>> {
    check_image("equalize_hist", img.dim())?;
    let lut = equalize_lut_u8(&hist_u8(img));
    Ok(apply_lut_u8(img, &lut))
}

/// [`equalize_hist`] on every slice of a volume, slices in parallel.
pub fn equalize_hist_volume(vol: &Volume<u8>) -> Result<Volume<u8>> {
    let data = vol.data();
    let (_, h, w) = data.dim();
    check_image("equalize_hist_volume", (h, w))?;
    let mut out = data.clone();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(data.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut o, s)| {
            let lut = equalize_lut_u8(&hist_u8(s));
            o.zip_mut_with(&s, |d, &v| *d = lut[v as usize]);
        });
    Ok(vol.with_data(out)?)
}

/// scikit-image's `equalize_hist` on an integer image: each integer level from the image
/// minimum to its maximum is its own bin (scikit-image ignores `nbins` for integer input),
/// and every pixel becomes the normalised cumulative count of its level, in `(0, 1]`.
///
/// Works for u8, u16, i16 (HU) and i32 images. Errors on empty or single-pixel images.
pub fn equalize_hist_levels<T>(img: ArrayView2<'_, T>) -> Result<Array2<f64>>
where
    T: Copy + Into<i64>,
{
    check_image("equalize_hist_levels", img.dim())?;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &v in img.iter() {
        let v: i64 = v.into();
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let span = (hi - lo) as usize + 1;
    let mut hist = vec![0u64; span];
    for &v in img.iter() {
        hist[(v.into() - lo) as usize] += 1;
    }
    // numpy: `img_cdf = hist.cumsum(); img_cdf / float(img_cdf[-1])`.
    let total = img.len() as f64;
    let mut cdf = vec![0f64; span];
    let mut acc = 0u64;
    for (c, &h) in cdf.iter_mut().zip(&hist) {
        acc += h;
        *c = acc as f64 / total;
    }
    Ok(img.mapv(|v| cdf[(v.into() - lo) as usize]))
}

/// scikit-image's `equalize_hist(image, nbins)` for floating-point input (or any input
/// converted to f64 first, e.g. HU as `f64`): `nbins` equal bins from the image minimum to
/// its maximum (numpy's `histogram` binning, edge corrections included), the normalised
/// cumulative histogram at the bin centres, and `np.interp` of every pixel on it.
/// Equal to `skimage.exposure.equalize_hist(img.astype(np.float64), nbins)` to ~1e-15.
///
/// Errors on empty or single-pixel images, `nbins == 0` and NaN/inf pixels.
pub fn equalize_hist_float<T>(img: ArrayView2<'_, T>, nbins: usize) -> Result<Array2<f64>>
where
    T: Copy + Into<f64>,
{
    check_image("equalize_hist_float", img.dim())?;
    if nbins == 0 {
        return Err(Error::Bins(nbins));
    }
    let x = img.mapv(|v| v.into());
    check_finite("image", x.iter())?;
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in x.iter() {
        first = first.min(v);
        last = last.max(v);
    }
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    // np.linspace(first, last, nbins + 1): arange · step + start, last edge set to `stop`.
    let step = (last - first) / nbins as f64;
    let mut edges: Vec<f64> = (0..=nbins).map(|i| i as f64 * step + first).collect();
    edges[nbins] = last;
    let denom = last - first;
    let mut hist = vec![0u64; nbins];
    for &v in x.iter() {
        // numpy's uniform-bin fast path with its two edge corrections.
        let mut idx = (((v - first) / denom) * nbins as f64) as usize;
        if idx == nbins {
            idx -= 1;
        }
        if v < edges[idx] {
            idx -= 1;
        }
        if idx != nbins - 1 && v >= edges[idx + 1] {
            idx += 1;
        }
        hist[idx] += 1;
    }
    let centres: Vec<f64> = (0..nbins)
        .map(|i| (edges[i] + edges[i + 1]) / 2.0)
        .collect();
    let total_f = x.len() as f64;
    let mut acc = 0u64;
    let cdf: Vec<f64> = hist
        .iter()
        .map(|&h| {
            acc += h;
            acc as f64 / total_f
        })
        .collect();
    let slopes: Vec<f64> = (0..nbins.saturating_sub(1))
        .map(|j| (cdf[j + 1] - cdf[j]) / (centres[j + 1] - centres[j]))
        .collect();
    Ok(x.mapv(|v| interp(v, &centres, &cdf, &slopes)))
}

/// `np.interp(v, xp, fp)` with numpy's special cases (exact hits, ends, NaN retry).
#[inline]
fn interp(v: f64, xp: &[f64], fp: &[f64], slopes: &[f64]) -> f64 {
    let n = xp.len();
    if v < xp[0] {
        return fp[0];
    }
    if v > xp[n - 1] {
        return fp[n - 1];
    }
    // Largest j with xp[j] <= v.
    let j = xp.partition_point(|&c| c <= v) - 1;
    if j == n - 1 {
        return fp[j];
    }
    if xp[j] == v {
        return fp[j];
    }
    let r = slopes[j] * (v - xp[j]) + fp[j];
    if r.is_nan() {
        slopes[j] * (v - xp[j + 1]) + fp[j + 1]
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The vector LUT (where the CPU has it) equals the scalar one, tails included.
    #[test]
    fn lut_paths_agree() {
        let lut: [u8; 256] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        for n in [0, 1, 63, 64, 65, 200, 4099] {
            let src: Vec<u8> = (0..n).map(|i| (i * 7 + i / 3) as u8).collect();
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            lut_slice(&src, &lut, &mut a);
            lut_slice_scalar(&src, &lut, &mut b);
            assert_eq!(a, b, "{n}");
            assert!(a.iter().zip(&src).all(|(&d, &s)| d == lut[s as usize]));
        }
    }

    /// Both rounding shortcuts against `round_ties_even` + clamp, ties and negatives included.
    #[test]
    fn magic_rounding_is_cvround() {
        for i in -40_000..140_000 {
            let v = i as f32 * 0.5 + if i % 7 == 0 { 0.0001 } else { 0.0 };
            let want = (v.round_ties_even() as i32).clamp(0, 65535);
            assert_eq!(saturate_round(v, 65535), want, "{v}");
            assert_eq!(saturate_round_small(v, 65535), want, "{v}");
        }
        assert_eq!(saturate_round_small(254.5, 255), 254);
        assert_eq!(saturate_round_small(255.5, 255), 255);
        assert_eq!(saturate_round_small(-0.5, 255), 0);
    }

    #[test]
    fn constant_and_two_level_images() {
        let c = Array2::from_elem((3, 3), 77u8);
        assert_eq!(equalize_hist(c.view()).unwrap(), c);
        let t = array![[10u8, 20], [20, 20]];
        assert_eq!(
            equalize_hist(t.view()).unwrap(),
            array![[0u8, 255], [255, 255]]
        );
        assert!(matches!(
            equalize_hist(Array2::<u8>::zeros((1, 1)).view()),
            Err(Error::SinglePixel { .. })
        ));
        assert!(matches!(
            equalize_hist(Array2::<u8>::zeros((0, 4)).view()),
            Err(Error::Empty { .. })
        ));
    }

    #[test]
    fn float_rejects_nan_and_zero_bins() {
        let mut a = Array2::<f64>::zeros((2, 2));
        assert!(matches!(
            equalize_hist_float(a.view(), 0),
            Err(Error::Bins(0))
        ));
        a[[1, 0]] = f64::NAN;
        assert!(matches!(
            equalize_hist_float(a.view(), 256),
            Err(Error::NonFinite { index: 2, .. })
        ));
    }

    #[test]
    fn levels_match_cdf() {
        let a = array![[-1000i16, 0], [0, 40]];
        let e = equalize_hist_levels(a.view()).unwrap();
        assert_eq!(e, array![[0.25, 0.75], [0.75, 1.0]]);
    }
}
