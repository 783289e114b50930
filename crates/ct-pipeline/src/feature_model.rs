//! The run's own classifier on the feature table, as one value that can be saved and applied
//! to new scans: the fitted contrast gate, an SVM + gradient-boosted trees soft vote per
//! contrast group (or one for all), the feature columns it reads by name, and the share of
//! the pretrained scan model in the vote.
//!
//! [`crate::classify`] fits it on the training subjects and computes the test subjects'
//! probabilities through [`FeatureModel::predict_proba`]; a saved bundle
//! ([`crate::bundle`]) applies the same function to new scans, so a bundle reproduces the
//! run's test predictions.

use ct_core::Contrast;
use ct_enhance::ContrastGate;
use ensemble::{Classifier, GatedClassifier, Gbdt, Svm, VotingKind};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::preprocess::ScanRecord;
use crate::{Error, Result};

/// An RBF SVM and gradient-boosted trees, soft-voted with equal weights (the seed's
/// second level; `ensemble::Voting` over the two, as a concrete type that serialises).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SvmTrees {
    /// The support-vector classifier (Platt probabilities).
    pub svm: Svm,
    /// The boosted trees.
    pub trees: Gbdt,
}

impl Classifier for SvmTrees {
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> ensemble::Result<()> {
        let (a, b) = rayon::join(|| self.svm.fit(x, y), || self.trees.fit(x, y));
        a.and(b)
    }

    /// The mean of the two members' probabilities (the same arithmetic as
    /// `ensemble::Voting`'s soft vote with unit weights).
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> ensemble::Result<Array2<f64>> {
        let (ps, pt) = rayon::join(|| self.svm.predict_proba(x), || self.trees.predict_proba(x));
        let (ps, pt) = (ps?, pt?);
        if ps.dim() != pt.dim() {
            return Err(ensemble::Error::LengthMismatch {
                what: "classes of the trees vs the svm".into(),
                expected: ps.ncols(),
                got: pt.ncols(),
            });
        }
        let mut acc = Array2::<f64>::zeros(ps.dim());
        acc.scaled_add(1.0, &ps);
        acc.scaled_add(1.0, &pt);
        acc /= 2.0;
        Ok(acc)
    }

    fn n_classes(&self) -> Option<usize> {
        self.svm.n_classes().or(self.trees.n_classes())
    }

    fn name(&self) -> &str {
        "soft-vote"
    }

    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        Box::new(self.unfitted())
    }
}

impl SvmTrees {
    /// A fresh, unfitted copy with the same hyper-parameters.
    pub fn unfitted(&self) -> SvmTrees {
        SvmTrees {
            svm: Svm::new(self.svm.params().clone()).expect("parameters were validated"),
            trees: Gbdt::new(self.trees.params().clone()).expect("parameters were validated"),
        }
    }
}

/// The fitted classifier of a run: gate, per-group models, columns and the scan model's
/// share. `predict_proba` is what the run's test split and a bundle's prediction both use.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeatureModel {
    /// The feature columns the models read, by name, in order.
    pub columns: Vec<String>,
    /// The contrast gate fitted on the training subjects' known groups (`None`: the data
    /// set had no contrast groups; every scan goes to the one model).
    pub gate: Option<ContrastGate>,
    /// The gate's decision is one more column (1 = low contrast) of a single model for both
    /// groups, instead of one model per group.
    pub gate_column: bool,
    /// The models, one per contrast group or one under `high` for all.
    pub models: GatedClassifier<Contrast, SvmTrees>,
    /// Share of the pretrained scan model in the vote (0: not used).
    pub scan_weight: f64,
    /// Soft (mean of probabilities) or hard (weighted majority of classes) voting.
    #[serde(default)]
    pub vote: VotingKind,
}

impl FeatureModel {
    /// The indices of [`Self::columns`] in a table whose columns are `names`.
    pub fn column_indices(&self, names: &[String]) -> Result<Vec<usize>> {
        self.columns
            .iter()
            .map(|c| {
                names.iter().position(|n| n == c).ok_or_else(|| {
                    Error::Inconsistent(format!("the feature table has no column {c}"))
                })
            })
            .collect()
    }

    /// The contrast group the gate decides for a scan (`None` without a gate).
    pub fn decide(&self, r: &ScanRecord) -> Option<Contrast> {
        self.gate.as_ref().map(|g| g.classify(&r.contrast_stats))
    }

    /// The group whose model takes a scan of group `g` (a group without a model of its own
    /// goes to the first that has one).
    pub fn route(&self, g: Contrast) -> Contrast {
        route(&self.models, g)
    }

    /// Probabilities (Normal, CAP, COVID-19) of the run's own models for records whose
    /// table columns are `names`: each scan's classifier columns, plus the gate's decision
    /// when [`Self::gate_column`], routed by the gate. Under hard voting, the SVM's and the
    /// trees' vote shares (½ each to the class each predicts).
    pub fn local_proba(&self, records: &[&ScanRecord], names: &[String]) -> Result<Array2<f64>> {
        let (x, routed) = self.inputs(records, names)?;
        match self.vote {
            VotingKind::Soft => Ok(self.models.predict_proba(x.view(), &routed)?),
            VotingKind::Hard => {
                let [svm, trees] = member_proba(&self.models, x.view(), &routed)?;
                Ok(hard_vote(&svm, &trees, None, 0.0))
            }
        }
    }

    /// The classifier matrix of `records` and the group whose model takes each.
    fn inputs(
        &self,
        records: &[&ScanRecord],
        names: &[String],
    ) -> Result<(Array2<f64>, Vec<Contrast>)> {
        let cols = self.column_indices(names)?;
        let decided: Vec<Contrast> = records
            .iter()
            .map(|r| self.decide(r).unwrap_or(Contrast::High))
            .collect();
        let x = Array2::from_shape_fn((records.len(), cols.len()), |(i, j)| {
            records[i].features[cols[j]]
        });
        let x = if self.gate_column {
            with_gate_column(&x, &decided)
        } else {
            x
        };
        let routed: Vec<Contrast> = decided.iter().map(|&g| self.route(g)).collect();
        Ok((x, routed))
    }

    /// The final probabilities: [`Self::local_proba`] blended with the scan model's
    /// probabilities `scan` (rows as `records`) at [`Self::scan_weight`]; under hard voting,
    /// the vote shares of the SVM, the trees and the scan model at weights (1 − w)/2,
    /// (1 − w)/2 and w.
    pub fn predict_proba(
        &self,
        records: &[&ScanRecord],
        names: &[String],
        scan: Option<&Array2<f64>>,
    ) -> Result<Array2<f64>> {
        match self.vote {
            VotingKind::Soft => {
                let local = self.local_proba(records, names)?;
                Ok(blend(local, scan, self.scan_weight))
            }
            VotingKind::Hard => {
                let (x, routed) = self.inputs(records, names)?;
                let [svm, trees] = member_proba(&self.models, x.view(), &routed)?;
                Ok(hard_vote(&svm, &trees, scan, self.scan_weight))
            }
        }
    }
}

/// Each row's SVM and trees probabilities from the model of its group.
pub(crate) fn member_proba(
    m: &GatedClassifier<Contrast, SvmTrees>,
    x: ArrayView2<'_, f64>,
    groups: &[Contrast],
) -> Result<[Array2<f64>; 2]> {
    let mut out = [Array2::zeros((x.nrows(), 3)), Array2::zeros((x.nrows(), 3))];
    for g in Contrast::ALL {
        let idx: Vec<usize> = (0..groups.len()).filter(|&i| groups[i] == g).collect();
        if idx.is_empty() {
            continue;
        }
        let model = m
            .model(&g)
            .ok_or_else(|| ensemble::Error::NoModelForGroup {
                group: g.name().to_string(),
            })?;
        let xg = x.select(ndarray::Axis(0), &idx);
        let (ps, pt) = (
            model.svm.predict_proba(xg.view())?,
            model.trees.predict_proba(xg.view())?,
        );
        for (member, p) in out.iter_mut().zip([ps, pt]) {
            for (r, &i) in idx.iter().enumerate() {
                member.row_mut(i).assign(&p.row(r));
            }
        }
    }
    Ok(out)
}

/// Weighted majority vote: the SVM and the trees give (1 − w)/2 each to the class they
/// predict, the scan model (when given) w to its class. Rows are the vote shares; their
/// arg-max (ties to the lowest class) is the decision, as sklearn's hard `VotingClassifier`.
pub(crate) fn hard_vote(
    svm: &Array2<f64>,
    trees: &Array2<f64>,
    scan: Option<&Array2<f64>>,
    w: f64,
) -> Array2<f64> {
    let w = if scan.is_some() { w } else { 0.0 };
    let mut shares = Array2::<f64>::zeros(svm.dim());
    let mut add = |p: &Array2<f64>, weight: f64| {
        for (i, c) in ensemble::argmax_rows(p).into_iter().enumerate() {
            shares[[i, c]] += weight;
        }
    };
    add(svm, (1.0 - w) / 2.0);
    add(trees, (1.0 - w) / 2.0);
    if let Some(s) = scan {
        add(s, w);
    }
    shares
}

/// `local · (1 − w) + scan · w` (only `local` without a scan model).
pub(crate) fn blend(local: Array2<f64>, scan: Option<&Array2<f64>>, w: f64) -> Array2<f64> {
    match scan {
        Some(s) => &local * (1.0 - w) + s * w,
        None => local,
    }
}

/// `x` with one more column: 1 where the group is low contrast.
pub(crate) fn with_gate_column(x: &Array2<f64>, groups: &[Contrast]) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((x.nrows(), x.ncols() + 1));
    out.slice_mut(ndarray::s![.., ..x.ncols()]).assign(x);
    for (i, g) in groups.iter().enumerate() {
        out[[i, x.ncols()]] = (*g == Contrast::Low) as u8 as f64;
    }
    out
}

/// Sends a group without a model of its own to a group that has one.
pub(crate) fn route<M: Classifier>(m: &GatedClassifier<Contrast, M>, g: Contrast) -> Contrast {
    if m.model(&g).is_some() {
        return g;
    }
    m.groups().next().copied().unwrap_or(Contrast::High)
}
