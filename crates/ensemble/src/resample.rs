//! Rebalancing a training table before a classifier sees it: SMOTE over-sampling, edited
//! nearest neighbours (ENN) cleaning, and the two chained (SMOTE + ENN), as in
//! imbalanced-learn 0.14.2 (`SMOTE`, `EditedNearestNeighbours`, `SMOTEENN`).
//!
//! The seed used SMOTE + ENN at its second level, on per-scan feature tables (it judged
//! synthetic images unsuitable for the first level). These work on any feature matrix.
//! Neighbours are exact (brute-force Euclidean, ties to the lower row index), and SMOTE draws
//! from NumPy's legacy `RandomState`, so a seed gives imbalanced-learn's very samples for the
//! same `random_state`.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::{check_xy, class_counts, take_rows};
use crate::error::{Error, Result, invalid};
use crate::numpy_rng::RandomState;

/// A resampled training table: rows and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Resampled {
    /// The samples, one per row.
    pub x: Array2<f64>,
    /// Their labels.
    pub y: Vec<usize>,
}

/// SMOTE (Chawla et al. 2002): every class but the largest is topped up to the largest
/// class's count with samples interpolated between a sample and one of its `k_neighbors`
/// nearest same-class neighbours (imbalanced-learn's `sampling_strategy="auto"`).
///
/// The output holds the original rows first, then the synthetic rows of each class in class
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smote {
    /// Neighbours to interpolate towards (5 in imbalanced-learn).
    pub k_neighbors: usize,
    /// The seed, imbalanced-learn's `random_state`.
    pub seed: u32,
}

impl Default for Smote {
    fn default() -> Self {
        Smote {
            k_neighbors: 5,
            seed: 0,
        }
    }
}

impl Smote {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.k_neighbors == 0 {
            return Err(invalid("k_neighbors", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// Over-samples `(x, y)`; labels must cover `0..K` (K ≥ 2).
    pub fn fit_resample(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<Resampled> {
        self.validate()?;
        let n_classes = check_xy(x, y)?;
        let counts = class_counts(y, n_classes);
        let majority = first_extreme(&counts, |a, b| a > b);
        let mut rows = vec![x.to_owned()];
        let mut labels = y.to_vec();
        for class in 0..n_classes {
            let need = counts[majority] - counts[class];
            if need == 0 {
                continue;
            }
            let members = class_rows(y, class);
            if members.len() <= self.k_neighbors {
                return Err(Error::TooFewNeighbours {
                    what: format!("SMOTE class {class}"),
                    needed: self.k_neighbors + 1,
                    got: members.len(),
                });
            }
            let xc = take_rows(x, &members);
            rows.push(self.synthesise(xc.view(), need));
            labels.extend(std::iter::repeat_n(class, need));
        }
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        let x = ndarray::concatenate(Axis(0), &views).expect("same column count");
        Ok(Resampled { x, y: labels })
    }

    /// `need` samples between the rows of one class and their neighbours.
    fn synthesise(&self, xc: ArrayView2<'_, f64>, need: usize) -> Array2<f64> {
        let k = self.k_neighbors;
        // Each row's k + 1 nearest rows start with itself; drop it.
        let neighbours: Vec<Vec<usize>> = nearest(xc, xc, k + 1)
            .into_iter()
            .map(|mut n| n.split_off(1))
            .collect();
        let mut rng = RandomState::new(self.seed);
        let picks = rng.randint(xc.nrows() * k, need);
        let steps = rng.uniform(need);
        let mut out = Array2::zeros((need, xc.ncols()));
        for ((pick, step), mut row) in picks.iter().zip(&steps).zip(out.rows_mut()) {
            let base = xc.row(pick / k);
            let towards = xc.row(neighbours[pick / k][pick % k]);
            for ((o, &b), &t) in row.iter_mut().zip(base).zip(towards) {
                *o = b + step * (t - b);
            }
        }
        out
    }
}

/// How ENN decides that a sample disagrees with its neighbourhood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EnnKind {
    /// Keep a sample only if all its neighbours share its class (`kind_sel="all"`).
    #[default]
    All,
    /// Keep a sample if the most common class among its neighbours is its own, ties going to
    /// the lowest class (`kind_sel="mode"`).
    Mode,
}

/// Which classes ENN may remove samples from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CleanClasses {
    /// Every class but the smallest (imbalanced-learn's `"auto"` for cleaning).
    #[default]
    NotMinority,
    /// Every class (`"all"`; what `SMOTEENN` uses).
    All,
}

/// Edited nearest neighbours (Wilson 1972): removes samples whose `n_neighbors` nearest
/// neighbours (in the whole table) disagree with their class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditedNearestNeighbours {
    /// Neighbours consulted (3 in imbalanced-learn).
    pub n_neighbors: usize,
    /// The rule.
    pub kind: EnnKind,
    /// The classes it cleans.
    pub classes: CleanClasses,
}

impl Default for EditedNearestNeighbours {
    fn default() -> Self {
        EditedNearestNeighbours {
            n_neighbors: 3,
            kind: EnnKind::All,
            classes: CleanClasses::NotMinority,
        }
    }
}

impl EditedNearestNeighbours {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.n_neighbors == 0 {
            return Err(invalid("n_neighbors", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// The rows kept, class by class in class order and ascending within a class
    /// (imbalanced-learn's `sample_indices_`). A class may lose every sample.
    pub fn sample_indices(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<Vec<usize>> {
        self.validate()?;
        let n_classes = check_xy(x, y)?;
        if x.nrows() <= self.n_neighbors {
            return Err(Error::TooFewNeighbours {
                what: "edited nearest neighbours".into(),
                needed: self.n_neighbors + 1,
                got: x.nrows(),
            });
        }
        let counts = class_counts(y, n_classes);
        let minority = first_extreme(&counts, |a, b| a < b);
        let mut kept = Vec::with_capacity(x.nrows());
        for class in 0..n_classes {
            let members = class_rows(y, class);
            if self.classes == CleanClasses::NotMinority && class == minority {
                kept.extend(members);
                continue;
            }
            let xc = take_rows(x, &members);
            let hoods = nearest(x, xc.view(), self.n_neighbors + 1);
            for (row, hood) in members.into_iter().zip(hoods) {
                let labels: Vec<usize> = hood[1..].iter().map(|&j| y[j]).collect();
                if self.agrees(&labels, class, n_classes) {
                    kept.push(row);
                }
            }
        }
        Ok(kept)
    }

    fn agrees(&self, labels: &[usize], class: usize, n_classes: usize) -> bool {
        match self.kind {
            EnnKind::All => labels.iter().all(|&l| l == class),
            EnnKind::Mode => {
                let counts = class_counts(labels, n_classes);
                first_extreme(&counts, |a, b| a > b) == class
            }
        }
    }

    /// The table without the removed rows.
    pub fn fit_resample(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<Resampled> {
        let kept = self.sample_indices(x, y)?;
        Ok(Resampled {
            x: take_rows(x, &kept),
            y: kept.iter().map(|&i| y[i]).collect(),
        })
    }
}

/// SMOTE, then ENN over every class (imbalanced-learn's `SMOTEENN`; Batista et al. 2004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmoteEnn {
    /// The over-sampler.
    pub smote: Smote,
    /// The cleaner (by default over all classes, as `SMOTEENN`'s own).
    pub enn: EditedNearestNeighbours,
}

impl Default for SmoteEnn {
    fn default() -> Self {
        SmoteEnn {
            smote: Smote::default(),
            enn: EditedNearestNeighbours {
                classes: CleanClasses::All,
                ..EditedNearestNeighbours::default()
            },
        }
    }
}

impl SmoteEnn {
    /// A SMOTE + ENN with imbalanced-learn's defaults and this seed.
    pub fn with_seed(seed: u32) -> SmoteEnn {
        SmoteEnn {
            smote: Smote {
                seed,
                ..Smote::default()
            },
            ..SmoteEnn::default()
        }
    }

    /// Over-samples, then cleans the result.
    pub fn fit_resample(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<Resampled> {
        let over = self.smote.fit_resample(x, y)?;
        self.enn.fit_resample(over.x.view(), &over.y)
    }
}

/// The index of the first count that beats all others under `better` (Python's
/// `max(d, key=d.get)` / `min(...)` over classes in order).
fn first_extreme(counts: &[usize], better: impl Fn(usize, usize) -> bool) -> usize {
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate() {
        if better(c, counts[best]) {
            best = i;
        }
    }
    best
}

fn class_rows(y: &[usize], class: usize) -> Vec<usize> {
    (0..y.len()).filter(|&i| y[i] == class).collect()
}

/// For each row of `queries`, the indices of its `k` nearest rows of `data` (squared
/// Euclidean distance summed in column order, ties to the lower index), nearest first.
fn nearest(data: ArrayView2<'_, f64>, queries: ArrayView2<'_, f64>, k: usize) -> Vec<Vec<usize>> {
    queries
        .outer_iter()
        .into_par_iter()
        .map(|q| {
            let mut d: Vec<(f64, usize)> = data
                .outer_iter()
                .enumerate()
                .map(|(j, r)| {
                    let s = q.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum();
                    (s, j)
                })
                .collect();
            let by = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if k < d.len() {
                d.select_nth_unstable_by(k, by);
                d.truncate(k);
            }
            d.sort_unstable_by(by);
            d.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}
