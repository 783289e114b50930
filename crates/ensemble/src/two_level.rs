//! The seed's two-level classifier: per-slice outputs of a first-level model are aggregated
//! per scan, then a second-level classifier (by default SVM + trees, soft vote) decides.

use ndarray::{Array2, ArrayView2, Axis};

use crate::classifier::{Classifier, check_x};
use crate::error::{Error, Result, invalid};
use crate::gbdt::{Gbdt, GbdtParams};
use crate::svm::{Svm, SvmParams};
use crate::voting::{Voting, VotingKind};

/// A per-feature statistic over a scan's slices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Mean over slices.
    Mean,
    /// Maximum over slices.
    Max,
    /// Quantile `q ∈ [0, 1]` with numpy's default linear interpolation.
    Quantile(f64),
    /// Mean of the `k` largest values (all slices when a scan has fewer than `k`).
    TopKMean(usize),
}

impl Aggregate {
    fn validate(&self) -> Result<()> {
        match *self {
            Aggregate::Quantile(q) if !(0.0..=1.0).contains(&q) => {
                Err(invalid("Quantile", q, "must be in [0, 1]"))
            }
            Aggregate::TopKMean(0) => Err(invalid("TopKMean", 0, "k must be >= 1")),
            _ => Ok(()),
        }
    }

    /// Applies the statistic to one feature's values; `v` is sorted in place.
    fn apply(&self, v: &mut [f64]) -> f64 {
        let n = v.len();
        match *self {
            Aggregate::Mean => v.iter().sum::<f64>() / n as f64,
            Aggregate::Max => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::Quantile(q) => {
                v.sort_by(f64::total_cmp);
                let pos = q * (n - 1) as f64;
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(n - 1);
                let frac = pos - lo as f64;
                v[lo] + (v[hi] - v[lo]) * frac
            }
            Aggregate::TopKMean(k) => {
                v.sort_by(|a, b| b.total_cmp(a));
                let k = k.min(n);
                v[..k].iter().sum::<f64>() / k as f64
            }
        }
    }
}

/// Aggregates each scan's slice matrix (`n_slices × d`) into one row of `d × aggs.len()`
/// features, laid out aggregate-major: `[agg0(f0..fd), agg1(f0..fd), ...]`.
pub fn aggregate_scans(scans: &[ArrayView2<'_, f64>], aggs: &[Aggregate]) -> Result<Array2<f64>> {
    if scans.is_empty() {
        return Err(Error::Empty {
            what: "scans".into(),
        });
    }
    if aggs.is_empty() {
        return Err(Error::Empty {
            what: "aggregates".into(),
        });
    }
    for a in aggs {
        a.validate()?;
    }
    let d = scans[0].ncols();
    let mut out = Array2::<f64>::zeros((scans.len(), d * aggs.len()));
    let mut buf = Vec::new();
    for (s, scan) in scans.iter().enumerate() {
        if scan.ncols() != d {
            return Err(Error::LengthMismatch {
                what: format!("features of scan {s}"),
                expected: d,
                got: scan.ncols(),
            });
        }
        check_x(*scan).map_err(|e| match e {
            Error::Empty { what } => Error::Empty {
                what: format!("scan {s}: {what}"),
            },
            other => other,
        })?;
        for f in 0..d {
            for (a, agg) in aggs.iter().enumerate() {
                buf.clear();
                buf.extend(scan.index_axis(Axis(1), f).iter().copied());
                out[[s, a * d + f]] = agg.apply(&mut buf);
            }
        }
    }
    Ok(out)
}

/// Per-scan aggregation followed by a second-level classifier.
pub struct TwoLevel {
    aggregates: Vec<Aggregate>,
    second: Box<dyn Classifier>,
}

impl std::fmt::Debug for TwoLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoLevel")
            .field("aggregates", &self.aggregates)
            .field("second", &self.second.name())
            .finish()
    }
}

impl TwoLevel {
    /// Aggregates with `aggregates`, classifies with `second`.
    pub fn new(aggregates: Vec<Aggregate>, second: Box<dyn Classifier>) -> Result<TwoLevel> {
        if aggregates.is_empty() {
            return Err(Error::Empty {
                what: "aggregates".into(),
            });
        }
        for a in &aggregates {
            a.validate()?;
        }
        Ok(TwoLevel { aggregates, second })
    }

    /// The seed's second level: mean, max, 25/50/75 % quantiles and top-3 mean, then an SVM
    /// and gradient-boosted trees combined by an unweighted soft vote.
    pub fn svm_gbdt_soft(svm: SvmParams, gbdt: GbdtParams) -> Result<TwoLevel> {
        let vote = Voting::new(
            vec![Box::new(Svm::new(svm)?), Box::new(Gbdt::new(gbdt)?)],
            VotingKind::Soft,
        )?;
        TwoLevel::new(
            vec![
                Aggregate::Mean,
                Aggregate::Max,
                Aggregate::Quantile(0.25),
                Aggregate::Quantile(0.5),
                Aggregate::Quantile(0.75),
                Aggregate::TopKMean(3),
            ],
            Box::new(vote),
        )
    }

    /// The per-scan feature matrix this model feeds its second level.
    pub fn features(&self, scans: &[ArrayView2<'_, f64>]) -> Result<Array2<f64>> {
        aggregate_scans(scans, &self.aggregates)
    }

    /// Fits the second level on the aggregated scans.
    pub fn fit(&mut self, scans: &[ArrayView2<'_, f64>], y: &[usize]) -> Result<()> {
        let f = self.features(scans)?;
        self.second.fit(f.view(), y)
    }

    /// Per-scan class probabilities.
    pub fn predict_proba(&self, scans: &[ArrayView2<'_, f64>]) -> Result<Array2<f64>> {
        self.second.predict_proba(self.features(scans)?.view())
    }

    /// Per-scan classes.
    pub fn predict(&self, scans: &[ArrayView2<'_, f64>]) -> Result<Vec<usize>> {
        self.second.predict(self.features(scans)?.view())
    }

    /// The second-level model.
    pub fn second_level(&self) -> &dyn Classifier {
        self.second.as_ref()
    }
}
