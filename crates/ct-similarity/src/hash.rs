//! Perceptual hashes bit-exact with Python imagehash 4.3.2.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use image::DynamicImage;
use ndarray::{ArrayView2, ArrayView3};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::pillow::{resize_lanczos, to_grey};

/// A binary hash (row-major bits), printed and parsed in imagehash's hex format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageHash {
    /// Bits packed MSB-first: bit `i` is bit `63 - i % 64` of word `i / 64`.
    words: Vec<u64>,
    rows: usize,
    cols: usize,
}

impl ImageHash {
    /// A hash from row-major booleans of a `rows × cols` array.
    pub fn from_bits(bits: &[bool], rows: usize, cols: usize) -> Result<ImageHash> {
        if bits.len() != rows * cols || bits.is_empty() {
            return Err(Error::InvalidParam {
                name: "bits",
                value: bits.len().to_string(),
                reason: "must be rows*cols > 0 booleans",
            });
        }
        let mut words = vec![0u64; bits.len().div_ceil(64)];
        for (i, &b) in bits.iter().enumerate() {
            if b {
                words[i / 64] |= 1u64 << (63 - i % 64);
            }
        }
        Ok(ImageHash { words, rows, cols })
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Always false (a hash has at least one bit); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(rows, cols)` of the bit array (`(8, 8)` for hash size 8).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Bit `i` in row-major order.
    pub fn bit(&self, i: usize) -> bool {
        self.words[i / 64] >> (63 - i % 64) & 1 == 1
    }

    /// The row-major bits.
    pub fn bits(&self) -> Vec<bool> {
        (0..self.len()).map(|i| self.bit(i)).collect()
    }

    /// The packed words (bit 0 is the MSB of word 0; unused low bits of the last word are 0).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// A 64-bit hash as one integer whose hex is `to_string()` (hash size 8).
    pub fn as_u64(&self) -> Option<u64> {
        (self.len() == 64).then(|| self.words[0])
    }

    /// Hamming distance (`hash1 - hash2` in imagehash).
    ///
    /// Errors: hashes of different lengths (imagehash raises `TypeError`).
    pub fn hamming(&self, other: &ImageHash) -> Result<u32> {
        if self.len() != other.len() {
            return Err(Error::HashSizeMismatch(self.len(), other.len()));
        }
        Ok(hamming_words(&self.words, &other.words))
    }
}

/// Hamming distance of equal-length packed hashes.
#[inline]
pub(crate) fn hamming_words(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

impl fmt::Display for ImageHash {
    /// `str(hash)`: the bit string read as one binary number, in lower-case hex, zero-padded
    /// to `ceil(bits / 4)` digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.len();
        let lead = (4 - n % 4) % 4; // implicit leading zero bits of the first digit
        let digits = (n + lead) / 4;
        let mut s = String::with_capacity(digits);
        for d in 0..digits {
            let mut v = 0u32;
            for j in 0..4 {
                let pos = d * 4 + j;
                let bit = pos >= lead && self.bit(pos - lead);
                v = v << 1 | bit as u32;
            }
            s.push(char::from_digit(v, 16).expect("nibble"));
        }
        f.write_str(&s)
    }
}

impl FromStr for ImageHash {
    type Err = Error;

    /// `imagehash.hex_to_hash`: a square hash of `sqrt(4 · len)` bits per side.
    fn from_str(hex: &str) -> Result<ImageHash> {
        let bad = |reason| Error::InvalidHex {
            hex: hex.to_string(),
            reason,
        };
        if hex.is_empty() {
            return Err(bad("empty"));
        }
        let nbits = hex.len() * 4;
        let side = (nbits as f64).sqrt().round() as usize;
        if side * side != nbits || side < 2 {
            return Err(bad(
                "4 x number of digits must be a square >= 4 (hash_size x hash_size)",
            ));
        }
        let mut bits = Vec::with_capacity(nbits);
        for c in hex.chars() {
            let v = c
                .to_digit(16)
                .ok_or_else(|| bad("not a hexadecimal digit"))?;
            for j in (0..4).rev() {
                bits.push(v >> j & 1 == 1);
            }
        }
        ImageHash::from_bits(&bits, side, side)
    }
}

/// The four imagehash algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// `imagehash.average_hash`.
    Average,
    /// `imagehash.phash` (DCT).
    Perceptual,
    /// `imagehash.dhash` (horizontal differences).
    Difference,
    /// `imagehash.whash` (Haar, maximum-level LL removed).
    Wavelet,
}

impl HashKind {
    /// All four, in the order ahash, phash, dhash, whash.
    pub const ALL: [HashKind; 4] = [
        HashKind::Average,
        HashKind::Perceptual,
        HashKind::Difference,
        HashKind::Wavelet,
    ];

    /// Short name (`ahash`, `phash`, `dhash`, `whash`).
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Average => "ahash",
            HashKind::Perceptual => "phash",
            HashKind::Difference => "dhash",
            HashKind::Wavelet => "whash",
        }
    }

    /// The hash of a mode-`L` image (see the free functions for the algorithm of each).
    pub fn compute(self, grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
        match self {
            HashKind::Average => average_hash(grey, hash_size),
            HashKind::Perceptual => phash(grey, hash_size),
            HashKind::Difference => dhash(grey, hash_size),
            HashKind::Wavelet => whash(grey, hash_size),
        }
    }
}

impl FromStr for HashKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<HashKind> {
        match s.to_ascii_lowercase().as_str() {
            "ahash" | "average" | "average_hash" => Ok(HashKind::Average),
            "phash" | "perceptual" => Ok(HashKind::Perceptual),
            "dhash" | "difference" => Ok(HashKind::Difference),
            "whash" | "wavelet" => Ok(HashKind::Wavelet),
            _ => Err(Error::InvalidParam {
                name: "hash",
                value: s.to_string(),
                reason: "expected ahash, phash, dhash or whash",
            }),
        }
    }
}

/// imagehash's whash checks and working size: `hash_size` a power of two, the image resized
/// to the largest power of two not above its shorter side (at least `hash_size`).
fn whash_scale((h, w): (usize, usize), hash_size: usize) -> Result<usize> {
    check_size(hash_size)?;
    if !hash_size.is_power_of_two() {
        return Err(Error::InvalidParam {
            name: "hash_size",
            value: hash_size.to_string(),
            reason: "whash needs a power of 2",
        });
    }
    let m = h.min(w);
    if m == 0 {
        return Err(Error::Empty([h, w]));
    }
    let natural = 1usize << (usize::BITS - 1 - m.leading_zeros());
    Ok(natural.max(hash_size))
}

fn check_size(hash_size: usize) -> Result<()> {
    if hash_size < 2 {
        return Err(Error::InvalidParam {
            name: "hash_size",
            value: hash_size.to_string(),
            reason: "must be >= 2",
        });
    }
    Ok(())
}

/// `imagehash.average_hash(img, hash_size)` of a mode-`L` image: LANCZOS to
/// `hash_size × hash_size`, bit = pixel > mean.
pub fn average_hash(grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
    check_size(hash_size)?;
    let small = resize_lanczos(grey, hash_size, hash_size)?;
    // The integer sum is exact in f64; numpy.mean divides it once.
    let mean = small.iter().map(|&v| v as u64).sum::<u64>() as f64 / small.len() as f64;
    let bits: Vec<bool> = small.iter().map(|&v| v as f64 > mean).collect();
    ImageHash::from_bits(&bits, hash_size, hash_size)
}

/// `imagehash.dhash(img, hash_size)`: LANCZOS to `(hash_size + 1) × hash_size` (w × h),
/// bit = right neighbour brighter.
pub fn dhash(grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
    check_size(hash_size)?;
    let small = resize_lanczos(grey, hash_size + 1, hash_size)?;
    let mut bits = Vec::with_capacity(hash_size * hash_size);
    for row in small.rows() {
        for j in 0..hash_size {
            bits.push(row[j + 1] > row[j]);
        }
    }
    ImageHash::from_bits(&bits, hash_size, hash_size)
}

/// numpy.median of a small buffer (sorted in place): the mean of the two middle values for
/// an even count, computed as numpy does (`(a + b) / 2`).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `imagehash.phash(img, hash_size)` (highfreq_factor 4): LANCZOS to `4n × 4n`, unnormalised
/// DCT-II (scipy.fftpack) along columns then rows, bit = coefficient > median of the top-left
/// `n × n` block (DC included).
///
/// The DCT is evaluated as a direct `f64` sum, not with pocketfft's FFT: the coefficients
/// agree to ~1e-12, so a bit can only differ where a coefficient ties the median to that
/// precision (e.g. images with an exact mirror symmetry, whose odd coefficients are all 0).
pub fn phash(grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
    check_size(hash_size)?;
    let n = hash_size * 4;
    let small = resize_lanczos(grey, n, n)?;
    let cos = dct_matrix(n);
    let cos = &cos[..];
    let px: Vec<f64> = small.iter().map(|&v| v as f64).collect();
    // Axis 0 (down each column), only the first hash_size frequencies are needed.
    let mut t = vec![0.0f64; hash_size * n];
    let mut col = vec![0.0f64; n];
    for j in 0..n {
        for r in 0..n {
            col[r] = px[r * n + j];
        }
        for k in 0..hash_size {
            t[k * n + j] = dct2_coef(&col, k, cos);
        }
    }
    // Axis 1 (along each row of the result).
    let mut low = Vec::with_capacity(hash_size * hash_size);
    for k in 0..hash_size {
        let row = &t[k * n..(k + 1) * n];
        for l in 0..hash_size {
            low.push(dct2_coef(row, l, cos));
        }
    }
    let med = median(&mut low.clone());
    let bits: Vec<bool> = low.iter().map(|&v| v > med).collect();
    ImageHash::from_bits(&bits, hash_size, hash_size)
}

/// Coefficient `k` of scipy.fftpack's unnormalised DCT-II, `2 Σ x[i] cos(π k (2i + 1) / 2n)`.
///
/// Evaluated on mirrored pairs, `x[i] ± x[n-1-i]`, with the first pair's sum subtracted for
/// even `k ≥ 2` (those cosines sum to zero): coefficients that are exactly zero in exact
/// arithmetic (constant, mirror-symmetric or antisymmetric rows, common in flat CT
/// backgrounds and synthetic images) come out as exact zeros, as pocketfft's do, instead of
/// ±1e-13 noise that would flip bits against a median of 0.
fn dct2_coef(x: &[f64], k: usize, cos: &[f64]) -> f64 {
    let n = x.len();
    if k == 0 {
        return 2.0 * x.iter().sum::<f64>();
    }
    let c = &cos[k * n..(k + 1) * n];
    let mut acc = 0.0;
    if k.is_multiple_of(2) {
        let base = x[0] + x[n - 1];
        for i in 0..n / 2 {
            acc += (x[i] + x[n - 1 - i] - base) * c[i];
        }
    } else {
        for i in 0..n / 2 {
            acc += (x[i] - x[n - 1 - i]) * c[i];
        }
    }
    2.0 * acc
}

/// `cos(π k (2i + 1) / (2n))`, row k; computed once per `n` (n² cosines cost as much as the
/// rest of the hash).
fn dct_matrix(n: usize) -> Arc<Vec<f64>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Vec<f64>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(m) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
        return m.clone();
    }
    let m = Arc::new(dct_matrix_uncached(n));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 64 {
        map.clear();
    }
    map.insert(n, m.clone());
    m
}

fn dct_matrix_uncached(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for k in 0..n {
        for i in 0..n {
            // Reduce the angle modulo 4n first so that large k·i stay accurate.
            let num = (k * (2 * i + 1)) % (4 * n);
            m[k * n + i] = (std::f64::consts::PI * num as f64 / (2 * n) as f64).cos();
        }
    }
    m
}

/// PyWavelets' Haar filter value (`0.7071067811865476` in every filter of `pywt.Wavelet('haar')`).
const S: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// The Haar transforms of `whash`, with PyWavelets' operation order on every value.
///
/// PyWavelets' `dwt2` on a 2×2 block `[[x00, x01], [x10, x11]]` transforms axis 0 first, then
/// axis 1, each as `a = x_odd·s + x_even·s`, `d = x_odd·(−s) + x_even·s`:
/// `ae = x10·s + x00·s`, `ao = x11·s + x01·s` (likewise `de`, `do` with `−s`), then
/// `LL = ao·s + ae·s`, `cV = ao·(−s) + ae·s`, `cH = do·s + de·s`, `cD = do·(−s) + de·s`.
/// `idwt2` runs axis 1 first, then axis 0, each as `even = s·a + s·d`, `odd = s·a + (−s)·d`.
///
/// Every band of a level depends on one 2×2 block of the level above only, so the detail
/// bands are never stored: the decomposition keeps only the LL pyramid, and the reconstruction
/// recomputes each block's details from the (still unmodified) LL of the finer level and
/// overwrites that block in place. The finest level reads the u8 pixels directly and is fused
/// with the first level of the second decomposition, so the reconstructed image itself is
/// never stored either. The values are those of the level-by-level transform, bit for bit
/// (the reference implementation in the tests below checks it on random images).
#[inline(always)]
fn fwd_block(x00: f64, x01: f64, x10: f64, x11: f64) -> (f64, f64, f64, f64) {
    fwd_block_s(x00 * S, x01 * S, x10 * S, x11 * S)
}

/// [`fwd_block`] on the products `x·s` (the `−s` products are their negations, exactly).
#[inline(always)]
fn fwd_block_s(p00: f64, p01: f64, p10: f64, p11: f64) -> (f64, f64, f64, f64) {
    let ae = p10 + p00;
    let ao = p11 + p01;
    let de = -p10 + p00;
    let d_o = -p11 + p01;
    let ll = ao * S + ae * S;
    let cv = ao * -S + ae * S;
    let ch = d_o * S + de * S;
    let cd = d_o * -S + de * S;
    (ll, ch, cv, cd)
}

/// The LL band only of [`fwd_block`].
#[inline(always)]
fn fwd_ll(x00: f64, x01: f64, x10: f64, x11: f64) -> f64 {
    let ae = x10 * S + x00 * S;
    let ao = x11 * S + x01 * S;
    ao * S + ae * S
}

/// One block of `idwt2`: the 2×2 outputs `(y00, y01, y10, y11)`.
#[inline(always)]
fn inv_block(ll: f64, ch: f64, cv: f64, cd: f64) -> (f64, f64, f64, f64) {
    let a_e = S * ll + S * cv;
    let a_o = S * ll + -S * cv;
    let d_e = S * ch + S * cd;
    let d_o = S * ch + -S * cd;
    (
        S * a_e + S * d_e,
        S * a_o + S * d_o,
        S * a_e + -S * d_e,
        S * a_o + -S * d_o,
    )
}

/// `(v / 255.) · s` of a row pair (`2n` pixels) into `[row0 even, row0 odd, row1 even,
/// row1 odd]`, vectorised: `v / 255` as `q = v·r` (r = fl(1/255)) corrected once with the exact
/// residual `v − 255·q` (two FMAs), which is the correctly rounded quotient for every u8 (the
/// test `division_by_255_is_exact` checks all 256 values against `/`).
#[inline(always)]
fn deinterleave_scaled(rows: &[u8], q: &mut [f64]) {
    let n = rows.len() / 2;
    let h = n / 2;
    for (r, row) in rows.chunks_exact(n).enumerate() {
        let (e, o) = q[r * n..(r + 1) * n].split_at_mut(h);
        for p in 0..h {
            e[p] = div255(row[2 * p] as f64) * S;
            o[p] = div255(row[2 * p + 1] as f64) * S;
        }
    }
}

/// `v / 255.0` for integer `0 <= v <= 255`, bit for bit, without a division.
#[inline(always)]
fn div255(v: f64) -> f64 {
    const R: f64 = 1.0 / 255.0;
    let q = v * R;
    let e = (-q).mul_add(255.0, v);
    e.mul_add(R, q)
}

/// LL of one Haar level: `x` is `n × n`, `y` receives `n/2 × n/2`.
#[inline(always)]
fn haar_ll_level(x: &[f64], n: usize, y: &mut [f64]) {
    let h = n / 2;
    for (o, yo) in y[..h * h].chunks_exact_mut(h).enumerate() {
        let r0 = &x[2 * o * n..(2 * o + 1) * n];
        let r1 = &x[(2 * o + 1) * n..(2 * o + 2) * n];
        for ((v, a), b) in yo
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            *v = fwd_ll(a[0], a[1], b[0], b[1]);
        }
    }
}

/// One reconstruction level in place: `x` (`n × n`) holds the original LL of this level, `ll`
/// (`n/2 × n/2`) the reconstructed LL of the coarser one; `x` receives the reconstruction.
#[inline(always)]
fn haar_inv_level(x: &mut [f64], n: usize, ll: &[f64]) {
    let h = n / 2;
    for (o, rows) in x[..n * n].chunks_exact_mut(2 * n).enumerate() {
        let (r0, r1) = rows.split_at_mut(n);
        let llo = &ll[o * h..(o + 1) * h];
        let (r0, r1) = (&mut r0[..2 * h], &mut r1[..2 * h]);
        for p in 0..h {
            let (_, ch, cv, cd) = fwd_block(r0[2 * p], r0[2 * p + 1], r1[2 * p], r1[2 * p + 1]);
            let (y00, y01, y10, y11) = inv_block(llo[p], ch, cv, cd);
            r0[2 * p] = y00;
            r0[2 * p + 1] = y01;
            r1[2 * p] = y10;
            r1[2 * p + 1] = y11;
        }
    }
}

multiversion! {
/// `imagehash.whash`'s wavelet part on the `n × n` (power of two) u8 image `px`: returns the
/// `hash_size²` LL band of `wavedec2(waverec2(wavedec2(px/255) with LL zeroed), dwt_level)`.
fn whash_ll(px: &[u8], n: usize, hash_size: usize, buf: &mut Vec<f64>) -> Vec<f64> {
    let levels = n.trailing_zeros() as usize;
    // LL pyramid: level k (1..=levels) has side n >> k, at offset off[k].
    let mut off = vec![0usize; levels + 2];
    for k in 1..=levels {
        let side = n >> k;
        off[k + 1] = off[k] + side * side;
    }
    buf.clear();
    buf.resize(off[levels + 1], 0.0);
    let h = n / 2;
    // Row pair 2o, 2o+1 as x·s products, split by column parity: [row0 even, row0 odd,
    // row1 even, row1 odd], each h long, so that the block arithmetic runs on contiguous lanes.
    let mut q = vec![0.0f64; 2 * n];
    // Level 1 from the pixels.
    for o in 0..h {
        deinterleave_scaled(&px[2 * o * n..(2 * o + 2) * n], &mut q);
        let (e0, rest) = q.split_at(h);
        let (o0, rest) = rest.split_at(h);
        let (e1, o1) = rest.split_at(h);
        let yo = &mut buf[o * h..(o + 1) * h];
        for p in 0..h {
            yo[p] = fwd_block_s(e0[p], o0[p], e1[p], o1[p]).0;
        }
    }
    // Levels 2..=levels.
    for k in 2..=levels {
        let (fine, coarse) = buf.split_at_mut(off[k]);
        haar_ll_level(&fine[off[k - 1]..], n >> (k - 1), coarse);
    }
    // coeffs[0] *= 0
    buf[off[levels]..].iter_mut().for_each(|v| *v *= 0.0);
    // waverec2 down to level 1, in place.
    for k in (2..=levels).rev() {
        let (fine, coarse) = buf.split_at_mut(off[k]);
        haar_inv_level(&mut fine[off[k - 1]..], n >> (k - 1), coarse);
    }
    // Level 0: reconstruct each 2×2 pixel block and take the LL of the second decomposition
    // (or keep the pixels when that decomposition has no level).
    let dwt_level = levels - hash_size.trailing_zeros() as usize;
    let mut full = if dwt_level == 0 {
        vec![0.0; n * n]
    } else {
        Vec::new()
    };
    for o in 0..h {
        deinterleave_scaled(&px[2 * o * n..(2 * o + 2) * n], &mut q);
        let (e0, rest) = q.split_at(h);
        let (o0, rest) = rest.split_at(h);
        let (e1, o1) = rest.split_at(h);
        let llo = &mut buf[o * h..(o + 1) * h];
        if dwt_level == 0 {
            let (r0, r1) = full[2 * o * n..(2 * o + 2) * n].split_at_mut(n);
            for (p, &l) in llo.iter().enumerate() {
                let (_, ch, cv, cd) = fwd_block_s(e0[p], o0[p], e1[p], o1[p]);
                let (y00, y01, y10, y11) = inv_block(l, ch, cv, cd);
                r0[2 * p] = y00;
                r0[2 * p + 1] = y01;
                r1[2 * p] = y10;
                r1[2 * p + 1] = y11;
            }
        } else {
            for p in 0..h {
                let (_, ch, cv, cd) = fwd_block_s(e0[p], o0[p], e1[p], o1[p]);
                let (y00, y01, y10, y11) = inv_block(llo[p], ch, cv, cd);
                llo[p] = fwd_ll(y00, y01, y10, y11);
            }
        }
    }
    if dwt_level == 0 {
        return full;
    }
    // Levels 2..=dwt_level of the second decomposition (LL only), down the same pyramid.
    for k in 2..=dwt_level {
        let (fine, coarse) = buf.split_at_mut(off[k]);
        haar_ll_level(&fine[off[k - 1]..], n >> (k - 1), coarse);
    }
    let side = n >> dwt_level;
    buf[off[dwt_level]..off[dwt_level] + side * side].to_vec()
}
}

/// `imagehash.whash(img, hash_size)` with its defaults (`mode='haar'`,
/// `remove_max_haar_ll=True`, `image_scale=None`).
///
/// `image_scale = max(2^⌊log2 min(w, h)⌋, hash_size)`; LANCZOS to `image_scale²`; pixels / 255;
/// a full Haar `wavedec2` to level `log2(image_scale)`, the LL band zeroed, `waverec2`; then
/// `wavedec2` to level `log2(image_scale / hash_size)` and bit = LL > median(LL).
///
/// Errors: `hash_size` not a power of two (imagehash asserts).
pub fn whash(grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
    let scale = whash_scale(grey.dim(), hash_size)?;
    let (h, w) = grey.dim();
    // Pillow's resize to the same size is a copy: skip it.
    let resized;
    let px: &[u8] = match grey.as_slice() {
        Some(s) if h == scale && w == scale => s,
        _ => {
            resized = resize_lanczos(grey, scale, scale)?;
            resized.as_slice().expect("standard layout")
        }
    };
    thread_local! {
        static BUF: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    }
    let ll = BUF.with(|b| {
        let buf = &mut b.borrow_mut();
        whash_ll(px, scale, hash_size, buf)
    });
    let med = median(&mut ll.clone());
    let bits: Vec<bool> = ll.iter().map(|&v| v > med).collect();
    ImageHash::from_bits(&bits, hash_size, hash_size)
}

/// All four hashes of one image, in the order of [`HashKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    /// `average_hash`.
    pub ahash: ImageHash,
    /// `phash`.
    pub phash: ImageHash,
    /// `dhash`.
    pub dhash: ImageHash,
    /// `whash`.
    pub whash: ImageHash,
}

impl Hashes {
    /// The four hashes of a mode-`L` image.
    pub fn of_grey(grey: ArrayView2<u8>, hash_size: usize) -> Result<Hashes> {
        Ok(Hashes {
            ahash: average_hash(grey, hash_size)?,
            phash: phash(grey, hash_size)?,
            dhash: dhash(grey, hash_size)?,
            whash: whash(grey, hash_size)?,
        })
    }

    /// The four hashes of an image as imagehash computes them on the PIL image opened from
    /// the same file (Pillow's `convert('L')` first, see [`to_grey`]).
    pub fn of_image(img: &DynamicImage, hash_size: usize) -> Result<Hashes> {
        let grey = to_grey(img)?;
        Hashes::of_grey(grey.view(), hash_size)
    }

    /// The hash of one kind.
    pub fn get(&self, kind: HashKind) -> &ImageHash {
        match kind {
            HashKind::Average => &self.ahash,
            HashKind::Perceptual => &self.phash,
            HashKind::Difference => &self.dhash,
            HashKind::Wavelet => &self.whash,
        }
    }
}

/// The hash of one kind of a PIL-like image (grey conversion included).
pub fn image_hash(img: &DynamicImage, kind: HashKind, hash_size: usize) -> Result<ImageHash> {
    let grey = to_grey(img)?;
    kind.compute(grey.view(), hash_size)
}

/// Hashes of every slice of a `(z, y, x)` u8 volume (each slice as a mode-`L` image), in
/// parallel over slices.
pub fn hash_volume(
    volume: ArrayView3<u8>,
    kind: HashKind,
    hash_size: usize,
) -> Result<Vec<ImageHash>> {
    (0..volume.dim().0)
        .into_par_iter()
        .map(|z| kind.compute(volume.index_axis(ndarray::Axis(0), z), hash_size))
        .collect()
}

/// All four hashes of every slice of a `(z, y, x)` u8 volume, in parallel over slices.
pub fn hashes_volume(volume: ArrayView3<u8>, hash_size: usize) -> Result<Vec<Hashes>> {
    (0..volume.dim().0)
        .into_par_iter()
        .map(|z| Hashes::of_grey(volume.index_axis(ndarray::Axis(0), z), hash_size))
        .collect()
}

#[cfg(test)]
mod reference {
    //! The level-by-level transcription of imagehash's whash (every band of every level
    //! stored), against which the fused transform is checked bit for bit.
    use super::*;

    /// One level of `pywt.dwt2(x, 'haar')` on a `2h × 2w` block stored with row stride `stride`,
    /// written as the four `h × w` bands (LL, HL = cH, LH = cV, HH = cD).
    ///
    /// PyWavelets (dwtn) transforms axis 0 first, then axis 1, each with
    /// `a[o] = x[2o+1]·s + x[2o]·s` and `d[o] = x[2o+1]·(−s) + x[2o]·s` (its C convolution
    /// order); the same operation order is kept so the values are bit-identical.
    fn dwt2_level(x: &[f64], h2: usize, w2: usize, ll: &mut [f64], bands: &mut [Vec<f64>; 3]) {
        let (h, w) = (h2 / 2, w2 / 2);
        // axis 0: rows 2o and 2o+1 -> a (h × 2w), d (h × 2w)
        let mut a0 = vec![0.0; h * w2];
        let mut d0 = vec![0.0; h * w2];
        for o in 0..h {
            let r0 = &x[(2 * o) * w2..(2 * o + 1) * w2];
            let r1 = &x[(2 * o + 1) * w2..(2 * o + 2) * w2];
            for j in 0..w2 {
                a0[o * w2 + j] = r1[j] * S + r0[j] * S;
                d0[o * w2 + j] = r1[j] * -S + r0[j] * S;
            }
        }
        // axis 1 on both: aa = LL, ad = cV, da = cH, dd = cD
        let [ch, cv, cd] = bands;
        ch.resize(h * w, 0.0);
        cv.resize(h * w, 0.0);
        cd.resize(h * w, 0.0);
        for r in 0..h {
            for o in 0..w {
                let (a_e, a_o) = (a0[r * w2 + 2 * o], a0[r * w2 + 2 * o + 1]);
                let (d_e, d_o) = (d0[r * w2 + 2 * o], d0[r * w2 + 2 * o + 1]);
                ll[r * w + o] = a_o * S + a_e * S;
                cv[r * w + o] = a_o * -S + a_e * S;
                ch[r * w + o] = d_o * S + d_e * S;
                cd[r * w + o] = d_o * -S + d_e * S;
            }
        }
    }

    /// One level of `pywt.idwt2((ll, (ch, cv, cd)), 'haar')` (PyWavelets' idwtn: axis 1 first,
    /// then axis 0; `out[2i] = s·a + s·d`, `out[2i+1] = s·a + (−s)·d`).
    fn idwt2_level(
        ll: &[f64],
        ch: &[f64],
        cv: &[f64],
        cd: &[f64],
        h: usize,
        w: usize,
        out: &mut [f64],
    ) {
        let w2 = 2 * w;
        // axis 1: 'a' from (aa = ll, ad = cv), 'd' from (da = ch, dd = cd); each h × 2w
        let mut a = vec![0.0; h * w2];
        let mut d = vec![0.0; h * w2];
        for r in 0..h {
            for i in 0..w {
                let k = r * w + i;
                a[r * w2 + 2 * i] = S * ll[k] + S * cv[k];
                a[r * w2 + 2 * i + 1] = S * ll[k] + -S * cv[k];
                d[r * w2 + 2 * i] = S * ch[k] + S * cd[k];
                d[r * w2 + 2 * i + 1] = S * ch[k] + -S * cd[k];
            }
        }
        // axis 0
        for i in 0..h {
            for j in 0..w2 {
                let (av, dv) = (a[i * w2 + j], d[i * w2 + j]);
                out[(2 * i) * w2 + j] = S * av + S * dv;
                out[(2 * i + 1) * w2 + j] = S * av + -S * dv;
            }
        }
    }

    /// `imagehash.whash(img, hash_size)` with its defaults (`mode='haar'`,
    /// `remove_max_haar_ll=True`, `image_scale=None`).
    ///
    /// `image_scale = max(2^⌊log2 min(w, h)⌋, hash_size)`; LANCZOS to `image_scale²`; pixels / 255;
    /// a full Haar `wavedec2` to level `log2(image_scale)`, the LL band zeroed, `waverec2`; then
    /// `wavedec2` to level `log2(image_scale / hash_size)` and bit = LL > median(LL).
    ///
    /// Errors: `hash_size` not a power of two (imagehash asserts).
    pub(super) fn whash_ref(grey: ArrayView2<u8>, hash_size: usize) -> Result<ImageHash> {
        let scale = super::whash_scale(grey.dim(), hash_size)?;
        let ll_max_level = scale.trailing_zeros() as usize;
        let dwt_level = ll_max_level - hash_size.trailing_zeros() as usize;
        let small = resize_lanczos(grey, scale, scale)?;
        let mut pixels: Vec<f64> = small.iter().map(|&v| v as f64 / 255.0).collect();

        // wavedec2(pixels, 'haar', level=ll_max_level), keeping every band.
        let mut details: Vec<[Vec<f64>; 3]> = Vec::with_capacity(ll_max_level);
        let mut cur = pixels.clone();
        let mut side = scale;
        for _ in 0..ll_max_level {
            let half = side / 2;
            let mut ll = vec![0.0; half * half];
            let mut bands = [Vec::new(), Vec::new(), Vec::new()];
            dwt2_level(&cur, side, side, &mut ll, &mut bands);
            details.push(bands);
            cur = ll;
            side = half;
        }
        // coeffs[0] *= 0, then waverec2 from the coarsest level.
        cur.iter_mut().for_each(|v| *v *= 0.0);
        for bands in details.iter().rev() {
            let mut out = vec![0.0; 4 * side * side];
            idwt2_level(&cur, &bands[0], &bands[1], &bands[2], side, side, &mut out);
            cur = out;
            side *= 2;
        }
        pixels.copy_from_slice(&cur);

        // wavedec2(pixels, 'haar', level=dwt_level)[0]
        let mut side = scale;
        let mut cur = pixels;
        for _ in 0..dwt_level {
            let half = side / 2;
            let mut ll = vec![0.0; half * half];
            let mut bands = [Vec::new(), Vec::new(), Vec::new()];
            dwt2_level(&cur, side, side, &mut ll, &mut bands);
            cur = ll;
            side = half;
        }
        let med = median(&mut cur.clone());
        let bits: Vec<bool> = cur.iter().map(|&v| v > med).collect();
        ImageHash::from_bits(&bits, hash_size, hash_size)
    }

    fn lcg_image(h: usize, w: usize, seed: u64, levels: u64) -> ndarray::Array2<u8> {
        let mut s = seed;
        ndarray::Array2::from_shape_fn((h, w), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // `levels` grey values spread over 0..=255 (256: every value).
            ((s >> 33) % levels * (255 / (levels - 1).clamp(1, 255))) as u8
        })
    }

    #[test]
    fn division_by_255_is_exact() {
        for v in 0..=255u8 {
            let want = v as f64 / 255.0;
            assert_eq!(div255(v as f64).to_bits(), want.to_bits(), "{v}");
            let mut q = [0.0; 4];
            deinterleave_scaled(&[v, 0, 0, v], &mut q);
            assert_eq!(q[0].to_bits(), (want * S).to_bits(), "{v}");
        }
    }

    #[test]
    fn fused_whash_equals_level_by_level() {
        // Random images (full range and few levels, which makes ties likely), several sizes
        // and hash sizes, including image_scale == hash_size (no second decomposition).
        for (i, &(h, w)) in [(64, 64), (33, 47), (16, 16), (130, 128), (8, 9), (256, 256)]
            .iter()
            .enumerate()
        {
            for levels in [256u64, 3, 2] {
                let img = lcg_image(h, w, i as u64 * 7 + levels, levels);
                for hs in [2usize, 4, 8, 16] {
                    let got = whash(img.view(), hs).unwrap();
                    let want = whash_ref(img.view(), hs).unwrap();
                    assert_eq!(got, want, "{h}x{w} levels {levels} hash {hs}");
                }
            }
        }
    }
}
