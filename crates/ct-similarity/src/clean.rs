//! Slice cleaning: the seed's neighbour-outlier rule and slice-order checks.

use ndarray::{ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::{HashKind, ImageHash};
use crate::metrics::{SsimParams, psnr, ssim};

/// How two neighbouring slices are compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// Hamming distance between imagehash hashes; slices are *far* when distance > threshold.
    Hash {
        /// Which hash.
        kind: HashKind,
        /// Hash size (8 in the seed).
        hash_size: usize,
    },
    /// SSIM; slices are *far* when SSIM < threshold.
    Ssim(SsimParams),
    /// PSNR in dB (data range from the u8 dtype: 255); *far* when PSNR < threshold.
    Psnr,
}

impl Criterion {
    /// The seed's criterion: average hash of size 8.
    pub fn ahash() -> Criterion {
        Criterion::Hash {
            kind: HashKind::Average,
            hash_size: 8,
        }
    }

    /// Short name for tables (`ahash8`, `ssim`, `ssim-gauss`, `psnr`).
    pub fn name(&self) -> String {
        match self {
            Criterion::Hash { kind, hash_size } => format!("{}{}", kind.name(), hash_size),
            Criterion::Ssim(p) if p.gaussian_weights => "ssim-gauss".into(),
            Criterion::Ssim(_) => "ssim".into(),
            Criterion::Psnr => "psnr".into(),
        }
    }

    /// Whether a neighbour score means "far" for this criterion at `threshold`.
    pub fn is_far(&self, score: f64, threshold: f64) -> bool {
        match self {
            Criterion::Hash { .. } => score > threshold,
            Criterion::Ssim(_) | Criterion::Psnr => score < threshold,
        }
    }

    /// A dissimilarity (larger = more different) from a score, for ordering: Hamming
    /// distance, `1 − SSIM`, or `−PSNR` (PSNR of identical slices, +∞, maps to a large
    /// negative finite value).
    pub fn dissimilarity(&self, score: f64) -> f64 {
        match self {
            Criterion::Hash { .. } => score,
            Criterion::Ssim(_) => 1.0 - score,
            Criterion::Psnr => -score.min(1e6),
        }
    }

    /// The scores between consecutive slices: `scores[i]` compares slice `i` with `i + 1`.
    pub fn neighbour_scores(&self, volume: ArrayView3<u8>) -> Result<Vec<f64>> {
        let n = volume.dim().0;
        if n < 2 {
            return Ok(Vec::new());
        }
        match self {
            Criterion::Hash { kind, hash_size } => {
                let hashes = crate::hash::hash_volume(volume, *kind, *hash_size)?;
                hashes
                    .windows(2)
                    .map(|w| w[0].hamming(&w[1]).map(f64::from))
                    .collect()
            }
            _ => (0..n - 1)
                .into_par_iter()
                .map(|i| self.score(slice(&volume, i), slice(&volume, i + 1)))
                .collect(),
        }
    }

    /// The score between two slices (Hamming distance, SSIM or PSNR).
    pub fn score(&self, a: ArrayView2<u8>, b: ArrayView2<u8>) -> Result<f64> {
        match self {
            Criterion::Hash { kind, hash_size } => Ok(kind
                .compute(a, *hash_size)?
                .hamming(&kind.compute(b, *hash_size)?)?
                as f64),
            Criterion::Ssim(p) => ssim(a, b, p),
            Criterion::Psnr => psnr(a, b, None),
        }
    }
}

fn slice<'a>(v: &'a ArrayView3<'a, u8>, z: usize) -> ArrayView2<'a, u8> {
    v.index_axis(Axis(0), z)
}

/// Out-of-place slices flagged by the seed's rule, with the neighbour scores behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Outliers {
    /// Flagged slice indices, increasing.
    pub slices: Vec<usize>,
    /// `scores[i]`: score between slice `i` and `i + 1` (see [`Criterion::neighbour_scores`]).
    pub scores: Vec<f64>,
}

/// The seed's rule on precomputed neighbour scores (`scores[i]` between slices `i`, `i + 1`).
///
/// * Interior slice `i`: flagged when it is far from both neighbours:
///   `far(scores[i-1]) && far(scores[i])` (the seed's `d(left, this) > t and d(this, right) > t`).
/// * First slice: flagged when it is far from slice 1 *and* slice 1 is close to slice 2 (the
///   break is at slice 0, not at slice 1); the last slice symmetrically.
/// * Fewer than 3 slices: nothing can be decided and nothing is flagged.
pub fn flag_outliers(scores: &[f64], criterion: &Criterion, threshold: f64) -> Vec<usize> {
    let n = scores.len() + 1;
    if n < 3 {
        return Vec::new();
    }
    let far = |s: f64| criterion.is_far(s, threshold);
    let mut out = Vec::new();
    if far(scores[0]) && !far(scores[1]) {
        out.push(0);
    }
    for i in 1..n - 1 {
        if far(scores[i - 1]) && far(scores[i]) {
            out.push(i);
        }
    }
    if far(scores[n - 2]) && !far(scores[n - 3]) {
        out.push(n - 1);
    }
    out
}

/// Out-of-place slices of a `(z, y, x)` u8 volume (windowed CT) by the seed's neighbour rule;
/// see [`flag_outliers`] for the exact rule, first and last slice included.
///
/// The seed uses `Criterion::ahash()` with threshold 5.
pub fn outlier_slices(
    volume: ArrayView3<u8>,
    criterion: &Criterion,
    threshold: f64,
) -> Result<Outliers> {
    if !threshold.is_finite() {
        return Err(Error::InvalidParam {
            name: "threshold",
            value: threshold.to_string(),
            reason: "must be finite",
        });
    }
    let scores = criterion.neighbour_scores(volume)?;
    let slices = flag_outliers(&scores, criterion, threshold);
    Ok(Outliers { slices, scores })
}

/// The verdict of [`check_order`].
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCheck {
    /// The most coherent slice order found (a permutation of `0..n`), oriented to start at
    /// the end nearer to the current first slice.
    pub order: Vec<usize>,
    /// Whether the current order is as coherent as the proposed one (identity or its reverse
    /// scores no worse).
    pub in_order: bool,
    /// Sum of neighbour dissimilarities along the current order.
    pub current_cost: f64,
    /// Sum along the proposed order.
    pub proposed_cost: f64,
}

/// Pairwise dissimilarity matrix (row-major `n × n`) of the slices under a criterion. Hash
/// criteria hash each slice once; SSIM/PSNR cost `n²/2` comparisons.
pub fn dissimilarity_matrix(volume: ArrayView3<u8>, criterion: &Criterion) -> Result<Vec<f64>> {
    let n = volume.dim().0;
    let mut m = vec![0.0; n * n];
    match criterion {
        Criterion::Hash { kind, hash_size } => {
            let h: Vec<ImageHash> = crate::hash::hash_volume(volume, *kind, *hash_size)?;
            for i in 0..n {
                for j in i + 1..n {
                    let d = h[i].hamming(&h[j])? as f64;
                    m[i * n + j] = d;
                    m[j * n + i] = d;
                }
            }
        }
        _ => {
            let pairs: Vec<(usize, usize)> = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .collect();
            let vals: Vec<f64> = pairs
                .par_iter()
                .map(|&(i, j)| {
                    criterion
                        .score(slice(&volume, i), slice(&volume, j))
                        .map(|s| criterion.dissimilarity(s))
                })
                .collect::<Result<_>>()?;
            for (&(i, j), d) in pairs.iter().zip(vals) {
                m[i * n + j] = d;
                m[j * n + i] = d;
            }
        }
    }
    Ok(m)
}

fn path_cost(order: &[usize], m: &[f64], n: usize) -> f64 {
    order.windows(2).map(|w| m[w[0] * n + w[1]]).sum()
}

/// The most coherent open path through the slices (a travelling-salesman path heuristic):
/// a greedy nearest-neighbour chain from every start, the cheapest kept, then 2-opt moves
/// until none improves. `m` is a symmetric `n × n` dissimilarity matrix.
pub fn chain_order(m: &[f64], n: usize) -> Vec<usize> {
    if n <= 2 {
        return (0..n).collect();
    }
    let mut best: Option<(f64, Vec<usize>)> = None;
    for start in 0..n {
        let mut used = vec![false; n];
        let mut order = vec![start];
        used[start] = true;
        let mut cur = start;
        for _ in 1..n {
            let next = (0..n)
                .filter(|&j| !used[j])
                .min_by(|&a, &b| m[cur * n + a].total_cmp(&m[cur * n + b]).then(a.cmp(&b)))
                .expect("a slice is left");
            used[next] = true;
            order.push(next);
            cur = next;
        }
        let c = path_cost(&order, m, n);
        if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
            best = Some((c, order));
        }
    }
    let mut order = best.expect("n > 0").1;
    // 2-opt on an open path: reversing order[i..=j] changes the edges (i-1, i) and (j, j+1).
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < 100 {
        improved = false;
        rounds += 1;
        for i in 0..n - 1 {
            for j in i + 1..n {
                let before = if i > 0 {
                    m[order[i - 1] * n + order[i]]
                } else {
                    0.0
                } + if j + 1 < n {
                    m[order[j] * n + order[j + 1]]
                } else {
                    0.0
                };
                let after = if i > 0 {
                    m[order[i - 1] * n + order[j]]
                } else {
                    0.0
                } + if j + 1 < n {
                    m[order[i] * n + order[j + 1]]
                } else {
                    0.0
                };
                if after + 1e-12 < before {
                    order[i..=j].reverse();
                    improved = true;
                }
            }
        }
    }
    // Orientation: start at the end nearer (in index) to the current first slice.
    let first = order[0];
    let last = *order.last().expect("n > 0");
    if last < first {
        order.reverse();
    }
    order
}

/// Checks whether the slices are in a coherent order (a shuffled scan is not): compares the
/// current order's neighbour cost with the best chain found by [`chain_order`].
///
/// Similarity is symmetric, so a reversed scan is as coherent as the original: use
/// [`is_reversed`] against a reference scan to detect reversal.
pub fn check_order(volume: ArrayView3<u8>, criterion: &Criterion) -> Result<OrderCheck> {
    let n = volume.dim().0;
    if n < 2 {
        return Err(Error::TooFewSlices { got: n, need: 2 });
    }
    let m = dissimilarity_matrix(volume, criterion)?;
    let order = chain_order(&m, n);
    let identity: Vec<usize> = (0..n).collect();
    let current_cost = path_cost(&identity, &m, n);
    let proposed_cost = path_cost(&order, &m, n);
    Ok(OrderCheck {
        in_order: current_cost <= proposed_cost + 1e-9,
        order,
        current_cost,
        proposed_cost,
    })
}

/// Whether `volume` runs in the opposite z direction to `reference` (e.g. another scan of the
/// same data set, all exported head first): the slice at relative depth `f` is compared with
/// the reference slice at depth `f` and at `1 − f` (for `samples` depths) and the cheaper
/// alignment wins. Returns the verdict and the two summed dissimilarities (forward, backward).
pub fn is_reversed(
    volume: ArrayView3<u8>,
    reference: ArrayView3<u8>,
    criterion: &Criterion,
    samples: usize,
) -> Result<(bool, f64, f64)> {
    let (n, m) = (volume.dim().0, reference.dim().0);
    if n < 2 || m < 2 {
        return Err(Error::TooFewSlices {
            got: n.min(m),
            need: 2,
        });
    }
    let samples = samples.max(2);
    let pick = |len: usize, f: f64| ((f * (len - 1) as f64).round() as usize).min(len - 1);
    let mut fwd = 0.0;
    let mut bwd = 0.0;
    for s in 0..samples {
        let f = s as f64 / (samples - 1) as f64;
        let a = slice(&volume, pick(n, f));
        fwd += criterion.dissimilarity(criterion.score(a, slice(&reference, pick(m, f)))?);
        bwd += criterion.dissimilarity(criterion.score(a, slice(&reference, pick(m, 1.0 - f)))?);
    }
    Ok((bwd < fwd, fwd, bwd))
}
