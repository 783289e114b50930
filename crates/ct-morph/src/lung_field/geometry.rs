//! Small geometric queries on packed masks used by the lung-field stages.

use ct_core::Volume;

use crate::PackedMask;

/// Number of set voxels in slice `z`.
pub(super) fn slice_count(m: &PackedMask, z: usize) -> u64 {
    let [_, ny, _] = m.shape();
    let wpr = m.words_per_row();
    m.words()[z * ny * wpr..(z + 1) * ny * wpr]
        .iter()
        .map(|w| w.count_ones() as u64)
        .sum()
}

/// The mask with every slice outside `z0..=z1` cleared.
pub(super) fn keep_slices(m: &PackedMask, z0: usize, z1: usize) -> PackedMask {
    let [nz, ny, _] = m.shape();
    let plane = ny * m.words_per_row();
    let mut out = m.clone();
    let words = out.words_mut();
    for z in (0..nz).filter(|&z| z < z0 || z > z1) {
        words[z * plane..(z + 1) * plane].fill(0);
    }
    out
}

/// A mask of the given shape with every voxel whose column `x < cut` set.
pub(super) fn columns_below(shape: [usize; 3], cut: usize) -> PackedMask {
    let mut m = PackedMask::zeros(shape).expect("the shape comes from a valid mask");
    let wpr = m.words_per_row();
    let cut = cut.min(shape[2]);
    let mut row = vec![0u64; wpr];
    for (i, w) in row.iter_mut().enumerate() {
        let lo = i * 64;
        if cut >= lo + 64 {
            *w = !0;
        } else if cut > lo {
            *w = (1u64 << (cut - lo)) - 1;
        }
    }
    for chunk in m.words_mut().chunks_exact_mut(wpr) {
        chunk.copy_from_slice(&row);
    }
    m
}

/// Mean column (x) of the set voxels, `None` when empty.
pub(super) fn mean_x(m: &PackedMask) -> Option<f64> {
    let wpr = m.words_per_row();
    let (mut n, mut sum) = (0u64, 0f64);
    for row in m.words().chunks_exact(wpr) {
        for (i, &w) in row.iter().enumerate() {
            let mut bits = w;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                sum += (i * 64 + b) as f64;
                n += 1;
                bits &= bits - 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Mean of `vol` over the set voxels of `m` (same shape), NaN when `m` is empty.
pub(super) fn mean_value(vol: &Volume<i16>, m: &PackedMask) -> f64 {
    let [_, ny, nx] = m.shape();
    let data = vol.data();
    let wpr = m.words_per_row();
    let (mut n, mut sum) = (0u64, 0f64);
    for (r, row) in m.words().chunks_exact(wpr).enumerate() {
        let (z, y) = (r / ny, r % ny);
        for (i, &w) in row.iter().enumerate() {
            let mut bits = w;
            while bits != 0 {
                let x = i * 64 + bits.trailing_zeros() as usize;
                debug_assert!(x < nx);
                sum += f64::from(data[[z, y, x]]);
                n += 1;
                bits &= bits - 1;
            }
        }
    }
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_on_a_small_mask() {
        let mut m = PackedMask::zeros([3, 2, 70]).unwrap();
        m.set(1, 0, 2, true);
        m.set(1, 1, 66, true);
        m.set(2, 0, 4, true);
        assert_eq!(
            (slice_count(&m, 0), slice_count(&m, 1), slice_count(&m, 2)),
            (0, 2, 1)
        );
        assert_eq!(keep_slices(&m, 2, 2).count_ones(), 1);
        assert_eq!(mean_x(&m), Some((2.0 + 66.0 + 4.0) / 3.0));
        let low = columns_below([3, 2, 70], 65);
        assert_eq!(low.count_ones(), 3 * 2 * 65);
        assert_eq!(m.and(&low).unwrap().count_ones(), 2);
        assert_eq!(mean_x(&PackedMask::zeros([1, 1, 1]).unwrap()), None);
    }
}
