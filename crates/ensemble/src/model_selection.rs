//! Stratified k-fold (sklearn's `StratifiedKFold`) and grid search with cross-validation
//! (sklearn's `GridSearchCV` scored by accuracy), parallel over grid cells and folds.

use ndarray::ArrayView2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::classifier::{Classifier, check_xy, take_rows};
use crate::error::{Error, Result, invalid};
use crate::gbdt::{Gbdt, GbdtParams};
use crate::metrics::accuracy_score;
use crate::svm::{Gamma, Svm, SvmParams};

/// The seed's `C` values: 0.001 … 100 in decades.
pub const SEED_GRID_C: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0];
/// The seed's `gamma` values: 0.001 … 100 in decades.
pub const SEED_GRID_GAMMA: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0];

/// Stratified k-fold splits with sklearn's allocation rule: samples are sorted by class, the
/// i-th fold takes every `n_splits`-th of them starting at i (so fold sizes per class differ
/// by at most one), and within a class samples fill folds in data order.
///
/// Without shuffling the folds are identical to sklearn's. With `shuffle` the per-fold class
/// counts are identical but which samples go where follows this crate's ChaCha RNG, not
/// numpy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StratifiedKFold {
    /// Number of folds (≥ 2).
    pub n_splits: usize,
    /// Shuffle each class's fold assignment.
    pub shuffle: bool,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Default for StratifiedKFold {
    fn default() -> Self {
        StratifiedKFold {
            n_splits: 5,
            shuffle: false,
            seed: 0,
        }
    }
}

impl StratifiedKFold {
    /// `(train, test)` index lists, one pair per fold. Every class must have at least
    /// `n_splits` samples (sklearn only warns; here a fold without a class is an error).
    pub fn split(&self, y: &[usize]) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
        let k = self.n_splits;
        if k < 2 {
            return Err(invalid("n_splits", k, "must be >= 2"));
        }
        if y.is_empty() {
            return Err(Error::Empty {
                what: "labels for k-fold".into(),
            });
        }
        if k > y.len() {
            return Err(invalid("n_splits", k, "exceeds the number of samples"));
        }
        // Encode classes by order of first appearance, as sklearn does.
        let mut order: Vec<usize> = Vec::new();
        let enc: Vec<usize> = y
            .iter()
            .map(|&v| match order.iter().position(|&o| o == v) {
                Some(i) => i,
                None => {
                    order.push(v);
                    order.len() - 1
                }
            })
            .collect();
        let nc = order.len();
        let mut counts = vec![0usize; nc];
        for &e in &enc {
            counts[e] += 1;
        }
        if let Some(c) = (0..nc).filter(|&c| counts[c] < k).min_by_key(|&c| order[c]) {
            return Err(Error::ClassMissingFromFold {
                class: order[c],
                count: counts[c],
                n_splits: k,
            });
        }
        let mut sorted = enc.clone();
        sorted.sort_unstable();
        // allocation[i][c] = count of class c in sorted[i::k]
        let mut allocation = vec![vec![0usize; nc]; k];
        for (j, &c) in sorted.iter().enumerate() {
            allocation[j % k][c] += 1;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut test_fold = vec![0usize; y.len()];
        for c in 0..nc {
            let mut folds: Vec<usize> = (0..k)
                .flat_map(|i| std::iter::repeat_n(i, allocation[i][c]))
                .collect();
            if self.shuffle {
                folds.shuffle(&mut rng);
            }
            let mut it = folds.into_iter();
            for (s, &e) in enc.iter().enumerate() {
                if e == c {
                    test_fold[s] = it.next().expect("allocation covers the class");
                }
            }
        }
        Ok((0..k)
            .map(|i| {
                let test: Vec<usize> = (0..y.len()).filter(|&s| test_fold[s] == i).collect();
                let train: Vec<usize> = (0..y.len()).filter(|&s| test_fold[s] != i).collect();
                (train, test)
            })
            .collect())
    }
}

/// One grid point: its parameters (for display) and an unfitted model carrying them.
pub struct Candidate {
    /// `(name, value)` pairs, e.g. `[("C", "10"), ("gamma", "0.01")]`.
    pub params: Vec<(String, String)>,
    /// The model with those parameters.
    pub model: Box<dyn Classifier>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("params", &self.params)
            .field("model", &self.model.name())
            .finish()
    }
}

/// The sklearn-ordered `C × gamma` grid (C outer, gamma inner, as `ParameterGrid` sorts the
/// keys) of SVMs sharing every other parameter of `base`.
pub fn svm_grid(cs: &[f64], gammas: &[Gamma], base: &SvmParams) -> Result<Vec<Candidate>> {
    let mut out = Vec::with_capacity(cs.len() * gammas.len());
    for &c in cs {
        for &g in gammas {
            let p = SvmParams {
                c,
                gamma: g,
                ..base.clone()
            };
            out.push(Candidate {
                params: vec![
                    ("C".into(), format!("{c}")),
                    ("gamma".into(), g.to_string()),
                ],
                model: Box::new(Svm::new(p)?),
            });
        }
    }
    Ok(out)
}

/// The seed's grid: [`SEED_GRID_C`] × [`SEED_GRID_GAMMA`] (36 SVMs). `probability` is switched
/// off in the candidates (accuracy needs no probabilities); the refitted best model uses `base`.
pub fn seed_svm_grid(base: &SvmParams) -> Result<Vec<Candidate>> {
    let gammas: Vec<Gamma> = SEED_GRID_GAMMA.iter().map(|&g| Gamma::Value(g)).collect();
    svm_grid(
        &SEED_GRID_C,
        &gammas,
        &SvmParams {
            probability: false,
            ..base.clone()
        },
    )
}

/// A small tree grid: `max_depth × learning_rate`, depth outer.
pub fn gbdt_grid(depths: &[usize], rates: &[f64], base: &GbdtParams) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for &d in depths {
        for &r in rates {
            let p = GbdtParams {
                max_depth: d,
                learning_rate: r,
                ..base.clone()
            };
            out.push(Candidate {
                params: vec![
                    ("learning_rate".into(), format!("{r}")),
                    ("max_depth".into(), d.to_string()),
                ],
                model: Box::new(Gbdt::new(p)?),
            });
        }
    }
    Ok(out)
}

/// One grid cell's cross-validated accuracy.
#[derive(Debug, Clone, PartialEq)]
pub struct CellScore {
    /// The candidate's parameters.
    pub params: Vec<(String, String)>,
    /// Accuracy on each test fold.
    pub fold_scores: Vec<f64>,
    /// Mean over folds (`mean_test_score`).
    pub mean: f64,
    /// Population standard deviation over folds (`std_test_score`, numpy's `std`).
    pub std: f64,
    /// Rank, 1 = best; equal means share the smallest rank (`rank_test_score`).
    pub rank: usize,
}

/// The result of [`grid_search`].
pub struct GridSearchResult {
    /// Every cell in grid order.
    pub cells: Vec<CellScore>,
    /// Index of the best cell: the highest mean, the first in grid order on ties (sklearn's
    /// `best_index_`).
    pub best_index: usize,
    /// The best candidate's model refitted on all the data (sklearn's `refit=True`).
    pub best_model: Box<dyn Classifier>,
}

impl std::fmt::Debug for GridSearchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridSearchResult")
            .field("cells", &self.cells)
            .field("best_index", &self.best_index)
            .field("best_model", &self.best_model.name())
            .finish()
    }
}

impl GridSearchResult {
    /// The best cell's parameters.
    pub fn best_params(&self) -> &[(String, String)] {
        &self.cells[self.best_index].params
    }

    /// The best mean accuracy.
    pub fn best_score(&self) -> f64 {
        self.cells[self.best_index].mean
    }
}

/// Cross-validates every candidate with `cv` (accuracy), in parallel over all
/// (candidate, fold) pairs, then refits the best one on all of `x`, `y`.
///
/// `refit` replaces the best candidate's model for the final fit when given (e.g. the same
/// SVM with `probability = true`); it receives the best candidate's index.
pub fn grid_search(
    candidates: &[Candidate],
    x: ArrayView2<'_, f64>,
    y: &[usize],
    cv: &StratifiedKFold,
    refit: Option<&(dyn Fn(usize) -> Result<Box<dyn Classifier>> + Sync)>,
) -> Result<GridSearchResult> {
    if candidates.is_empty() {
        return Err(Error::Empty {
            what: "parameter grid".into(),
        });
    }
    check_xy(x, y)?;
    let folds = cv.split(y)?;
    for (tr, _) in &folds {
        let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        crate::classifier::check_labels(&ytr, "a training fold")?;
    }
    let jobs: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|c| (0..folds.len()).map(move |f| (c, f)))
        .collect();
    let scores: Vec<f64> = jobs
        .par_iter()
        .map(|&(c, f)| {
            let (tr, te) = &folds[f];
            let mut m = candidates[c].model.clone_unfitted();
            let xtr = take_rows(x, tr);
            let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
            m.fit(xtr.view(), &ytr)?;
            let pred = m.predict(take_rows(x, te).view())?;
            let yte: Vec<usize> = te.iter().map(|&i| y[i]).collect();
            accuracy_score(&yte, &pred)
        })
        .collect::<Result<Vec<f64>>>()?;
    let nf = folds.len();
    let mut cells: Vec<CellScore> = candidates
        .iter()
        .enumerate()
        .map(|(c, cand)| {
            let fs = scores[c * nf..(c + 1) * nf].to_vec();
            let mean = fs.iter().sum::<f64>() / nf as f64;
            let std = (fs.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / nf as f64).sqrt();
            CellScore {
                params: cand.params.clone(),
                fold_scores: fs,
                mean,
                std,
                rank: 0,
            }
        })
        .collect();
    let means: Vec<f64> = cells.iter().map(|c| c.mean).collect();
    for c in cells.iter_mut() {
        c.rank = 1 + means.iter().filter(|&&m| m > c.mean).count();
    }
    let mut best_index = 0;
    for (i, &m) in means.iter().enumerate() {
        if m > means[best_index] {
            best_index = i;
        }
    }
    let mut best_model = match refit {
        Some(f) => f(best_index)?,
        None => candidates[best_index].model.clone_unfitted(),
    };
    best_model.fit(x, y)?;
    Ok(GridSearchResult {
        cells,
        best_index,
        best_model,
    })
}
