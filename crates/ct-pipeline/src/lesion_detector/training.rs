//! Labelled samples of the detector's training cohort and the boosted trees fitted to them.

use ensemble::{Classifier, Gbdt, GbdtParams};
use ndarray::{Array2, ArrayView3};

use super::*;
use crate::{Error, Result};

const OPENING_4MM: usize = voxel_column("opening_4mm_minus_background");

/// Labelled voxels sampled from one scan for training the detector.
#[derive(Debug, Clone, Default)]
pub struct TrainingSample {
    /// Row-major rows of [`VOXEL_FEATURE_NAMES`].
    pub rows: Vec<f64>,
    /// 1 = lesion, 0 = other.
    pub labels: Vec<usize>,
}

/// Samples at most `per_scan` lesion candidates, `per_scan` blob-like other candidates and
/// `per_scan` remaining ones from one scan (evenly spaced in raster order, so the result is
/// deterministic); `mask` is the reference lesion
/// mask (`(z, y, x)`, non-zero = lesion).
pub fn sample_training(
    c: &Candidates,
    mask: ArrayView3<'_, u8>,
    per_scan: usize,
) -> Result<TrainingSample> {
    if mask.dim() != c.shape {
        return Err(Error::Inconsistent(format!(
            "lesion mask {:?} does not match the scan {:?}",
            mask.dim(),
            c.shape
        )));
    }
    let is_lesion: Vec<bool> = c
        .positions
        .iter()
        .map(|p| mask[[p[0] as usize, p[1] as usize, p[2] as usize]] != 0)
        .collect();
    // Negatives in two halves: blob-like dense voxels (surviving the 4 mm opening 80 HU
    // above the background: nodules, atelectasis, effusion, vessel crossings, the hard
    // confounders) and the rest; an even draw over all candidates would be mostly easy
    // parenchyma and vessel walls.
    let blob = |i: usize| c.features[[i, OPENING_4MM]] > 80.0;
    let strata: [(&dyn Fn(usize) -> bool, usize, usize); 3] = [
        (&|i| is_lesion[i], per_scan, 1),
        (&|i| !is_lesion[i] && blob(i), per_scan, 0),
        (&|i| !is_lesion[i] && !blob(i), per_scan, 0),
    ];
    let mut out = TrainingSample::default();
    for (keep, cap, label) in strata {
        let idx: Vec<usize> = (0..is_lesion.len()).filter(|&i| keep(i)).collect();
        let step = (idx.len() as f64 / cap.max(1) as f64).max(1.0);
        let mut k = 0.0;
        while (k as usize) < idx.len() {
            out.rows.extend(c.features.row(idx[k as usize]).iter());
            out.labels.push(label);
            k += step;
        }
    }
    Ok(out)
}

/// Stacks labelled rows of `width` columns (`(rows, labels)` per scan) into one matrix, freeing
/// each scan's rows as they are copied, so that they are held once; also counts the label-1
/// rows.
pub(super) fn stack_samples(
    samples: Vec<(Vec<f64>, Vec<usize>)>,
    width: usize,
    what: &str,
) -> Result<(Array2<f64>, Vec<usize>, usize)> {
    let total: usize = samples.iter().map(|s| s.0.len()).sum();
    let mut rows: Vec<f64> = Vec::with_capacity(total);
    let mut y: Vec<usize> = Vec::with_capacity(total / width.max(1));
    for (r, l) in samples {
        if r.len() != l.len() * width {
            return Err(Error::Inconsistent(format!(
                "{what} sample has {} values for {} labels",
                r.len(),
                l.len()
            )));
        }
        rows.extend_from_slice(&r);
        y.extend_from_slice(&l);
    }
    let n_pos = y.iter().filter(|&&v| v == 1).count();
    let x = Array2::from_shape_vec((y.len(), width), rows)
        .map_err(|e| Error::Inconsistent(format!("{what} matrix: {e}")))?;
    Ok((x, y, n_pos))
}

/// Boosted trees (subsample 0.8, the library's other defaults) fitted to `x`, `y`.
pub(super) fn fit_trees(
    x: &Array2<f64>,
    y: &[usize],
    rounds: usize,
    learning_rate: f64,
    max_depth: usize,
    seed: u64,
) -> Result<Gbdt> {
    let mut model = Gbdt::new(GbdtParams {
        n_estimators: rounds,
        learning_rate,
        max_depth,
        subsample: 0.8,
        seed,
        ..GbdtParams::default()
    })?;
    model.fit(x.view(), y)?;
    Ok(model)
}
