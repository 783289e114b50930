//! The EDA accumulators (mean/std images, HU histograms) and the OTDD thumbnails.

use ct_core::SliceStats;
use ct_enhance::Interpolation;
use ndarray::{Array2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use super::*;
use crate::Result;

/// Lower edge and bin width of the HU histograms of the EDA (80 bins up to +500 HU).
pub const HU_HIST_LO: f64 = -1100.0;

/// Bin width of the EDA HU histograms.
pub const HU_HIST_STEP: f64 = 20.0;

/// Number of EDA HU histogram bins.
pub const HU_HIST_BINS: usize = 80;

/// Slices per scan kept as small thumbnails for OTDD.
pub const THUMB_SLICES: usize = 8;

/// Scans with thumbnails, as a multiple of what OTDD samples (`otdd_samples` slices of
/// `THUMB_SLICES` per scan): beyond it a data set keeps a deterministic subset.
pub const THUMB_BUDGET_FACTOR: usize = 4;

/// Every how many scans (by id hash) keep their OTDD thumbnails: 1 while the data set has at
/// most `THUMB_BUDGET_FACTOR × otdd_samples / THUMB_SLICES` scans (300 by default), more
/// beyond, so that an archive's shard files do not carry thumbnails OTDD never samples.
pub fn thumbnail_stride(total_scans: usize, otdd_samples: usize) -> usize {
    let budget = (THUMB_BUDGET_FACTOR * otdd_samples)
        .div_ceil(THUMB_SLICES)
        .max(1);
    total_scans.div_ceil(budget).max(1)
}

/// Whether the scan `id` keeps its thumbnails at `stride` (the same answer in a single run
/// and in any shard: it depends on the id alone).
pub fn keeps_thumbnails(id: &str, stride: usize) -> bool {
    use sha2::Digest;
    if stride <= 1 {
        return true;
    }
    let h = sha2::Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_le_bytes(first) % stride as u64 == 0
}

/// Side of those thumbnails.
pub const THUMB_SIDE: usize = 16;

/// Per-class and per-group accumulators of the EDA stage (mergeable across workers/shards).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eda {
    /// Mean/std images of lung-windowed slices resized to `eda_size²`, per class index.
    pub slices: Vec<SliceStats>,
    /// HU histogram per class index (all voxels).
    pub hu_class: Vec<Vec<f64>>,
    /// HU histogram per contrast group (`[high, low]`).
    pub hu_contrast: Vec<Vec<f64>>,
}

impl Eda {
    /// Empty accumulators.
    pub fn new(size: usize) -> Eda {
        Eda {
            slices: (0..3).map(|_| SliceStats::new(size, size)).collect(),
            hu_class: vec![vec![0.0; HU_HIST_BINS]; 3],
            hu_contrast: vec![vec![0.0; HU_HIST_BINS]; 2],
        }
    }

    /// Adds another accumulator.
    pub fn merge(&mut self, o: &Eda) -> Result<()> {
        for (a, b) in self.slices.iter_mut().zip(&o.slices) {
            a.merge(b)?;
        }
        for (a, b) in self.hu_class.iter_mut().zip(&o.hu_class) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.hu_contrast.iter_mut().zip(&o.hu_contrast) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        Ok(())
    }
}

pub(crate) fn hu_hist(v: ArrayView3<'_, i16>) -> Vec<f64> {
    let mut h = vec![0.0; HU_HIST_BINS];
    for &x in v.iter() {
        let b = ((x as f64 - HU_HIST_LO) / HU_HIST_STEP).floor();
        if b >= 0.0 && (b as usize) < HU_HIST_BINS {
            h[b as usize] += 1.0;
        }
    }
    h
}

pub(crate) fn thumbs(u8v: ArrayView3<'_, u8>, n: usize, side: usize) -> Result<Vec<Vec<f32>>> {
    let z = u8v.len_of(Axis(0));
    let picks: Vec<usize> = (0..n)
        .map(|k| ((k as f64 + 0.5) * z as f64 / n as f64) as usize)
        .collect();
    let sel = u8v.select(Axis(0), &picks);
    let small = ct_enhance::zoom(sel.view(), [n, side, side], Interpolation::Area)?;
    Ok(small
        .axis_iter(Axis(0))
        .map(|s| s.iter().map(|&v| v as f32 / 255.0).collect())
        .collect())
}

/// Which thumbnails of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbKind {
    /// Lung-windowed, not enhanced.
    Original,
    /// After CLAHE (clip 2.0, 8×8).
    Clahe,
    /// After global histogram equalisation.
    He,
    /// After HE, then CLAHE.
    HeClahe,
}

impl ThumbKind {
    /// The enhancements, in the order the report lists them.
    pub const ENHANCED: [ThumbKind; 3] = [ThumbKind::He, ThumbKind::Clahe, ThumbKind::HeClahe];

    /// Its name (`HE`, `CLAHE`, `HE+CLAHE`, `original`).
    pub fn name(self) -> &'static str {
        match self {
            ThumbKind::Original => "original",
            ThumbKind::Clahe => "CLAHE",
            ThumbKind::He => "HE",
            ThumbKind::HeClahe => "HE+CLAHE",
        }
    }

    fn of(self, r: &ScanRecord) -> &[Vec<f32>] {
        match self {
            ThumbKind::Original => &r.thumbs,
            ThumbKind::Clahe => &r.thumbs_enhanced,
            ThumbKind::He => &r.thumbs_he,
            ThumbKind::HeClahe => &r.thumbs_he_clahe,
        }
    }
}

/// Matrix of the thumbnails of some records (rows: slices) and their class labels.
pub fn thumb_matrix(records: &[&ScanRecord], kind: ThumbKind) -> (Array2<f64>, Vec<i64>) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for r in records {
        let Some(l) = r.label else { continue };
        for t in kind.of(r) {
            rows.extend(t.iter().map(|&v| v as f64));
            labels.push(l.index() as i64);
        }
    }
    let d = THUMB_SIDE * THUMB_SIDE;
    let n = labels.len();
    (
        Array2::from_shape_vec((n, d), rows).unwrap_or_else(|_| Array2::zeros((0, d))),
        labels,
    )
}

#[cfg(test)]
mod thumb_tests {
    use super::*;

    #[test]
    fn large_data_sets_keep_a_deterministic_share_of_thumbnails() {
        assert_eq!(thumbnail_stride(90, 600), 1);
        assert_eq!(thumbnail_stride(300, 600), 1);
        assert_eq!(thumbnail_stride(100_000, 600), 334);
        let ids: Vec<String> = (0..100_000).map(|i| format!("subject-{i:06}")).collect();
        let kept = ids.iter().filter(|id| keeps_thumbnails(id, 334)).count();
        assert!((200..=400).contains(&kept), "{kept}");
        assert!(ids.iter().all(|id| keeps_thumbnails(id, 1)));
        assert_eq!(keeps_thumbnails("a", 7), keeps_thumbnails("a", 7));
    }
}
