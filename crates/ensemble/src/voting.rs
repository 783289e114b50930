//! Soft and hard voting over fitted classifiers (sklearn's `VotingClassifier`).

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::classifier::{Classifier, argmax_rows, check_xy};
use crate::error::{Error, Result, invalid};

/// How the members' outputs are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum VotingKind {
    /// Weighted mean of the members' probabilities; the class is its arg-max.
    #[default]
    Soft,
    /// Weighted count of the members' predicted classes; the class with the most votes wins,
    /// **ties going to the lowest class index** (sklearn's `argmax(bincount(...))`).
    Hard,
}

/// A voting ensemble over boxed classifiers.
pub struct Voting {
    members: Vec<Box<dyn Classifier>>,
    weights: Option<Vec<f64>>,
    kind: VotingKind,
    n_classes: Option<usize>,
}

impl std::fmt::Debug for Voting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voting")
            .field(
                "members",
                &self
                    .members
                    .iter()
                    .map(|m| m.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("weights", &self.weights)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Voting {
    /// A vote over `members` (fitted or not: [`Classifier::fit`] fits them all on the same
    /// data; an ensemble of already-fitted members can predict directly).
    pub fn new(members: Vec<Box<dyn Classifier>>, kind: VotingKind) -> Result<Voting> {
        if members.is_empty() {
            return Err(Error::Empty {
                what: "voting members".into(),
            });
        }
        let n_classes = members[0].n_classes();
        Ok(Voting {
            members,
            weights: None,
            kind,
            n_classes,
        })
    }

    /// Per-member weights (non-negative, finite, not all zero), as sklearn's `weights`.
    pub fn with_weights(mut self, weights: Vec<f64>) -> Result<Voting> {
        if weights.len() != self.members.len() {
            return Err(Error::LengthMismatch {
                what: "voting weights vs members".into(),
                expected: self.members.len(),
                got: weights.len(),
            });
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || weights.iter().sum::<f64>() <= 0.0
        {
            return Err(invalid(
                "weights",
                format!("{weights:?}"),
                "must be finite, >= 0, not all 0",
            ));
        }
        self.weights = Some(weights);
        Ok(self)
    }

    /// The members.
    pub fn members(&self) -> &[Box<dyn Classifier>] {
        &self.members
    }

    /// The combination rule.
    pub fn kind(&self) -> VotingKind {
        self.kind
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }

    fn classes(&self) -> Result<usize> {
        let mut k = None;
        for m in &self.members {
            let mk = m.n_classes().ok_or_else(|| Error::NotFitted {
                model: format!("voting member {}", m.name()),
            })?;
            if *k.get_or_insert(mk) != mk {
                return Err(Error::LengthMismatch {
                    what: format!("classes of member {}", m.name()),
                    expected: k.unwrap_or(0),
                    got: mk,
                });
            }
        }
        k.ok_or_else(|| Error::NotFitted {
            model: "voting".into(),
        })
    }
}

impl Classifier for Voting {
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<()> {
        let k = check_xy(x, y)?;
        self.members
            .par_iter_mut()
            .map(|m| m.fit(x, y))
            .collect::<Result<Vec<()>>>()?;
        self.n_classes = Some(k);
        Ok(())
    }

    /// Soft: the weighted mean of the members' probabilities. Hard: each class's weighted
    /// share of the votes (a vote share, not a calibrated probability; sklearn has no
    /// `predict_proba` for hard voting).
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let k = self.classes()?;
        let wsum: f64 = (0..self.members.len()).map(|i| self.weight(i)).sum();
        let mut acc = Array2::<f64>::zeros((x.nrows(), k));
        match self.kind {
            VotingKind::Soft => {
                let probas = self
                    .members
                    .par_iter()
                    .map(|m| m.predict_proba(x))
                    .collect::<Result<Vec<_>>>()?;
                for (i, p) in probas.iter().enumerate() {
                    acc.scaled_add(self.weight(i), p);
                }
            }
            VotingKind::Hard => {
                let preds = self
                    .members
                    .par_iter()
                    .map(|m| m.predict(x))
                    .collect::<Result<Vec<_>>>()?;
                for (i, p) in preds.iter().enumerate() {
                    for (r, &c) in p.iter().enumerate() {
                        acc[[r, c]] += self.weight(i);
                    }
                }
            }
        }
        acc /= wsum;
        Ok(acc)
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        Ok(argmax_rows(&self.predict_proba(x)?))
    }

    fn n_classes(&self) -> Option<usize> {
        self.n_classes.or_else(|| self.classes().ok())
    }

    fn name(&self) -> &str {
        match self.kind {
            VotingKind::Soft => "soft-vote",
            VotingKind::Hard => "hard-vote",
        }
    }

    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        Box::new(Voting {
            members: self.members.iter().map(|m| m.clone_unfitted()).collect(),
            weights: self.weights.clone(),
            kind: self.kind,
            n_classes: None,
        })
    }
}
