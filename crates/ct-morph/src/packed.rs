//! Bit-packed binary volumes: one bit per voxel, each `x` row padded to whole `u64` words.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

use crate::{Error, Result};

/// Rows per rayon task: small enough to balance, large enough to amortise scheduling.
pub(crate) const ROWS_PER_TASK: usize = 64;

/// A binary volume of shape `(z, y, x)` stored as bits: row `(z, y)` occupies `words_per_row`
/// consecutive `u64`s, voxel `x` is bit `x % 64` of word `x / 64`. Bits past the row's end
/// are always zero.
///
/// Every morphology and labelling routine of this crate runs on this form; the `ndarray`
/// functions pack, call it and unpack. Keep a mask packed across several passes to skip
/// those conversions (as [`crate::lung::segment`] does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedMask {
    shape: [usize; 3],
    wpr: usize,
    words: Vec<u64>,
}

/// Mask of the valid bits of a row's last word.
#[inline]
pub(crate) fn tail_mask(nx: usize) -> u64 {
    match nx % 64 {
        0 => !0,
        r => (1u64 << r) - 1,
    }
}

impl PackedMask {
    /// An all-false mask. Every axis must be non-empty.
    pub fn zeros(shape: [usize; 3]) -> Result<PackedMask> {
        if shape.contains(&0) {
            return Err(Error::EmptyInput(shape.to_vec()));
        }
        let wpr = shape[2].div_ceil(64);
        Ok(PackedMask {
            shape,
            wpr,
            words: vec![0; shape[0] * shape[1] * wpr],
        })
    }

    /// An all-true mask.
    pub fn ones(shape: [usize; 3]) -> Result<PackedMask> {
        let mut m = PackedMask::zeros(shape)?;
        m.words.fill(!0);
        m.clear_tails();
        Ok(m)
    }

    /// `[z, y, x]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Words per row.
    pub fn words_per_row(&self) -> usize {
        self.wpr
    }

    /// Number of rows (`z * y`).
    pub fn n_rows(&self) -> usize {
        self.shape[0] * self.shape[1]
    }

    /// All words, row after row.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Row `r = z * ny + y`.
    #[inline]
    pub fn row(&self, r: usize) -> &[u64] {
        &self.words[r * self.wpr..(r + 1) * self.wpr]
    }

    /// Voxel `(z, y, x)`; panics when out of bounds, like indexing.
    pub fn get(&self, z: usize, y: usize, x: usize) -> bool {
        assert!(z < self.shape[0] && y < self.shape[1] && x < self.shape[2]);
        let r = z * self.shape[1] + y;
        (self.words[r * self.wpr + x / 64] >> (x % 64)) & 1 == 1
    }

    /// Sets voxel `(z, y, x)`.
    pub fn set(&mut self, z: usize, y: usize, x: usize, v: bool) {
        assert!(z < self.shape[0] && y < self.shape[1] && x < self.shape[2]);
        let r = z * self.shape[1] + y;
        let w = &mut self.words[r * self.wpr + x / 64];
        if v {
            *w |= 1 << (x % 64);
        } else {
            *w &= !(1 << (x % 64));
        }
    }

    pub(crate) fn clear_tails(&mut self) {
        let t = tail_mask(self.shape[2]);
        if t != !0 {
            let wpr = self.wpr;
            for row in self.words.chunks_exact_mut(wpr) {
                row[wpr - 1] &= t;
            }
        }
    }

    /// Packs a 3-D boolean array (any memory layout).
    pub fn from_bool(a: ArrayView3<'_, bool>) -> Result<PackedMask> {
        let a = a.as_standard_layout();
        let slice = a.as_slice().expect("standard layout");
        Self::from_rows(a.dim(), slice, |&b| b)
    }

    /// Packs `v != 0` of a 3-D `u8` array.
    pub fn from_u8(a: ArrayView3<'_, u8>) -> Result<PackedMask> {
        let a = a.as_standard_layout();
        let slice = a.as_slice().expect("standard layout");
        Self::from_rows(a.dim(), slice, |&b| b != 0)
    }

    /// `lo < v < hi` of a 3-D HU volume, fused with packing (the seed's threshold
    /// `(I > lungMin) & (I < lungMax)`).
    pub fn threshold_open(a: ArrayView3<'_, i16>, lo: i16, hi: i16) -> Result<PackedMask> {
        let a = a.as_standard_layout();
        let slice = a.as_slice().expect("standard layout");
        Self::from_rows(a.dim(), slice, |&v| (v > lo) & (v < hi))
    }

    fn from_rows<T: Sync>(
        shape: (usize, usize, usize),
        data: &[T],
        f: impl Fn(&T) -> bool + Sync,
    ) -> Result<PackedMask> {
        let mut m = PackedMask::zeros([shape.0, shape.1, shape.2])?;
        let (nx, wpr) = (shape.2, m.wpr);
        m.words
            .par_chunks_mut(wpr * ROWS_PER_TASK)
            .enumerate()
            .for_each(|(t, out)| {
                let r0 = t * ROWS_PER_TASK;
                for (i, orow) in out.chunks_exact_mut(wpr).enumerate() {
                    let src = &data[(r0 + i) * nx..(r0 + i + 1) * nx];
                    pack_row(src, orow, &f);
                }
            });
        Ok(m)
    }

    /// Unpacks to a boolean array.
    pub fn to_bool(&self) -> Array3<bool> {
        let [nz, ny, nx] = self.shape;
        let mut out = vec![false; nz * ny * nx];
        let wpr = self.wpr;
        out.par_chunks_mut(nx * ROWS_PER_TASK)
            .enumerate()
            .for_each(|(t, o)| {
                let r0 = t * ROWS_PER_TASK;
                for (i, orow) in o.chunks_exact_mut(nx).enumerate() {
                    let r = r0 + i;
                    unpack_row(&self.words[r * wpr..(r + 1) * wpr], orow);
                }
            });
        Array3::from_shape_vec((nz, ny, nx), out).expect("sizes agree")
    }

    /// Number of true voxels.
    pub fn count_ones(&self) -> u64 {
        self.words
            .par_chunks(4096)
            .map(|c| c.iter().map(|w| w.count_ones() as u64).sum::<u64>())
            .sum()
    }

    /// True when no voxel is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The mask with `k` copies of its first slice prepended and of its last slice appended
    /// (replicate padding along z).
    pub fn pad_z_replicate(&self, k: usize) -> PackedMask {
        let [nz, ny, nx] = self.shape;
        let plane = ny * self.wpr;
        let mut words = Vec::with_capacity((nz + 2 * k) * plane);
        for _ in 0..k {
            words.extend_from_slice(&self.words[..plane]);
        }
        words.extend_from_slice(&self.words);
        for _ in 0..k {
            words.extend_from_slice(&self.words[(nz - 1) * plane..]);
        }
        PackedMask {
            shape: [nz + 2 * k, ny, nx],
            wpr: self.wpr,
            words,
        }
    }

    /// Slices `z0..z1` (a copy). Panics when the range is empty or out of bounds.
    pub fn slice_z(&self, z0: usize, z1: usize) -> PackedMask {
        assert!(z0 < z1 && z1 <= self.shape[0], "bad z range {z0}..{z1}");
        let plane = self.shape[1] * self.wpr;
        PackedMask {
            shape: [z1 - z0, self.shape[1], self.shape[2]],
            wpr: self.wpr,
            words: self.words[z0 * plane..z1 * plane].to_vec(),
        }
    }

    /// Voxel-wise NOT.
    pub fn not(&self) -> PackedMask {
        let mut m = self.clone();
        m.words.par_iter_mut().for_each(|w| *w = !*w);
        m.clear_tails();
        m
    }

    /// Voxel-wise AND (same shape required).
    pub fn and(&self, other: &PackedMask) -> Result<PackedMask> {
        self.zip(other, |a, b| a & b)
    }

    /// Voxel-wise OR (same shape required).
    pub fn or(&self, other: &PackedMask) -> Result<PackedMask> {
        self.zip(other, |a, b| a | b)
    }

    fn zip(&self, other: &PackedMask, f: impl Fn(u64, u64) -> u64 + Sync) -> Result<PackedMask> {
        if self.shape != other.shape {
            return Err(Error::ShapeMismatch {
                expected: self.shape.to_vec(),
                got: other.shape.to_vec(),
            });
        }
        let mut m = self.clone();
        m.words
            .par_iter_mut()
            .zip(other.words.par_iter())
            .for_each(|(a, &b)| *a = f(*a, b));
        Ok(m)
    }
}

/// Gathers the low bits of 8 bytes (each 0 or 1) into one byte, byte `i` -> bit `i`: the
/// product places byte `i`'s bit at position `56 + i` and no two partial products overlap.
#[inline]
fn gather8(bytes: u64) -> u64 {
    bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Byte `b` spread to 8 bytes of 0/1 (bit `i` -> byte `i`).
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut v = 0u64;
        let mut i = 0;
        while i < 8 {
            v |= (((b >> i) & 1) as u64) << (8 * i);
            i += 1;
        }
        t[b] = v;
        b += 1;
    }
    t
};

#[inline]
fn pack_row<T>(src: &[T], out: &mut [u64], f: &impl Fn(&T) -> bool) {
    // Predicate into bytes first (vectorises), then 8 bytes -> 8 bits by a multiply.
    let mut buf = [0u8; 64];
    for (w, c) in out.iter_mut().zip(src.chunks(64)) {
        for (b, x) in buf.iter_mut().zip(c) {
            *b = f(x) as u8;
        }
        buf[c.len()..].fill(0);
        let mut v = 0u64;
        for (j, eight) in buf.chunks_exact(8).enumerate() {
            let bytes = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
            v |= gather8(bytes) << (8 * j);
        }
        *w = v;
    }
}

#[inline]
fn unpack_row(words: &[u64], out: &mut [bool]) {
    // SAFETY: `bool` and `u8` have the same size and alignment, and only 0 or 1 is written.
    let out: &mut [u8] = unsafe { &mut *(out as *mut [bool] as *mut [u8]) };
    let mut chunks = out.chunks_exact_mut(8);
    let mut k = 0usize;
    for c in &mut chunks {
        let byte = (words[k / 8] >> (8 * (k % 8))) as u8;
        c.copy_from_slice(&SPREAD[byte as usize].to_le_bytes());
        k += 1;
    }
    let rem = chunks.into_remainder();
    if !rem.is_empty() {
        let byte = (words[k / 8] >> (8 * (k % 8))) as u8;
        let spread = SPREAD[byte as usize].to_le_bytes();
        rem.copy_from_slice(&spread[..rem.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_odd_widths() {
        for nx in [1usize, 63, 64, 65, 130] {
            let a = Array3::from_shape_fn((2, 3, nx), |(z, y, x)| (z * 7 + y * 3 + x * x) % 5 < 2);
            let p = PackedMask::from_bool(a.view()).unwrap();
            assert_eq!(p.to_bool(), a);
            assert_eq!(p.count_ones() as usize, a.iter().filter(|&&b| b).count());
            assert_eq!(p.not().not(), p);
            assert_eq!(
                p.not().count_ones() as usize,
                a.len() - p.count_ones() as usize
            );
        }
        assert!(PackedMask::zeros([0, 1, 1]).is_err());
    }
}
