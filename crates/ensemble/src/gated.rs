//! The seed's contrast gate: each sample goes to the model trained for its group.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, check_x, take_rows};
use crate::error::{Error, Result};
use crate::metrics::{ClassificationReport, ReportOptions, classification_report};

/// Routes each sample to the classifier of its group (by default `ct_core::Contrast`: the
/// "high contrast" and "low contrast" exports of SPGC-COVID) and reports per group.
///
/// The models are boxed classifiers by default; with a concrete model type `M` that is
/// `Serialize`/`Deserialize`, the fitted gate can be saved and read back (serde).
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "G: Serialize + Ord, M: Serialize",
    deserialize = "G: Deserialize<'de> + Ord, M: Deserialize<'de>"
))]
pub struct GatedClassifier<G = ct_core::Contrast, M = Box<dyn Classifier>> {
    models: BTreeMap<G, M>,
}

impl<G: Debug, M: Classifier> Debug for GatedClassifier<G, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.models.iter().map(|(g, m)| (g, m.name())))
            .finish()
    }
}

/// Per-group and overall reports of a gated model.
#[derive(Debug, Clone)]
pub struct GatedReport<G> {
    /// One report per group present in the evaluated data, in group order.
    pub groups: Vec<(G, ClassificationReport)>,
    /// The report over all samples.
    pub overall: ClassificationReport,
}

impl<G: Ord + Copy + Debug + Display + Send + Sync, M: Classifier> GatedClassifier<G, M> {
    /// A gate over `(group, model)` pairs.
    pub fn new(models: impl IntoIterator<Item = (G, M)>) -> Result<Self> {
        let models: BTreeMap<G, M> = models.into_iter().collect();
        if models.is_empty() {
            return Err(Error::Empty {
                what: "gated models".into(),
            });
        }
        Ok(GatedClassifier { models })
    }

    fn split(&self, n: usize, groups: &[G]) -> Result<BTreeMap<G, Vec<usize>>> {
        if groups.len() != n {
            return Err(Error::LengthMismatch {
                what: "groups vs rows of x".into(),
                expected: n,
                got: groups.len(),
            });
        }
        let mut by: BTreeMap<G, Vec<usize>> = BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            if !self.models.contains_key(g) {
                return Err(Error::NoModelForGroup {
                    group: g.to_string(),
                });
            }
            by.entry(*g).or_default().push(i);
        }
        Ok(by)
    }

    /// Fits each group's model on its own rows. Every group must contain every class
    /// `0..K` of its labels (the usual [`Classifier::fit`] checks, run per group); groups with
    /// no rows keep their current state.
    pub fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize], groups: &[G]) -> Result<()> {
        check_x(x)?;
        if y.len() != x.nrows() {
            return Err(Error::LengthMismatch {
                what: "labels y vs rows of x".into(),
                expected: x.nrows(),
                got: y.len(),
            });
        }
        for (g, idx) in self.split(x.nrows(), groups)? {
            let xs = take_rows(x, &idx);
            let ys: Vec<usize> = idx.iter().map(|&i| y[i]).collect();
            let model = self.models.get_mut(&g).expect("checked by split");
            model.fit(xs.view(), &ys).map_err(|e| match e {
                Error::ClassMissing {
                    class,
                    n_classes,
                    context,
                } => Error::ClassMissing {
                    class,
                    n_classes,
                    context: format!("group {g}: {context}"),
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// Probabilities, each row from its group's model; the width is the largest class count
    /// among the fitted models (missing columns are 0).
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>, groups: &[G]) -> Result<Array2<f64>> {
        check_x(x)?;
        let by = self.split(x.nrows(), groups)?;
        let k = self
            .models
            .values()
            .filter_map(|m| m.n_classes())
            .max()
            .ok_or_else(|| Error::NotFitted {
                model: "gated classifier".into(),
            })?;
        let mut out = Array2::<f64>::zeros((x.nrows(), k));
        for (g, idx) in by {
            let p = self.models[&g].predict_proba(take_rows(x, &idx).view())?;
            for (r, &i) in idx.iter().enumerate() {
                for c in 0..p.ncols() {
                    out[[i, c]] = p[[r, c]];
                }
            }
        }
        Ok(out)
    }

    /// Classes, each row from its group's model's own `predict`.
    pub fn predict(&self, x: ArrayView2<'_, f64>, groups: &[G]) -> Result<Vec<usize>> {
        check_x(x)?;
        let by = self.split(x.nrows(), groups)?;
        let mut out = vec![0usize; x.nrows()];
        for (g, idx) in by {
            let p = self.models[&g].predict(take_rows(x, &idx).view())?;
            for (&i, c) in idx.iter().zip(p) {
                out[i] = c;
            }
        }
        Ok(out)
    }

    /// Predicts `x` and returns one classification report per group present plus the overall
    /// one (like the seed's "low contrast" / "high contrast" tables).
    pub fn report(
        &self,
        x: ArrayView2<'_, f64>,
        y: &[usize],
        groups: &[G],
        opts: &ReportOptions,
    ) -> Result<GatedReport<G>> {
        let pred = self.predict(x, groups)?;
        gated_report(y, &pred, groups, opts)
    }

    /// The model of a group.
    pub fn model(&self, g: &G) -> Option<&M> {
        self.models.get(g)
    }

    /// The groups that have a model, in order.
    pub fn groups(&self) -> impl Iterator<Item = &G> {
        self.models.keys()
    }
}

/// Per-group and overall reports of given predictions.
pub fn gated_report<G: Ord + Copy>(
    y_true: &[usize],
    y_pred: &[usize],
    groups: &[G],
    opts: &ReportOptions,
) -> Result<GatedReport<G>> {
    if groups.len() != y_true.len() {
        return Err(Error::LengthMismatch {
            what: "groups vs y_true".into(),
            expected: y_true.len(),
            got: groups.len(),
        });
    }
    let overall = classification_report(y_true, y_pred, opts)?;
    let mut keys: Vec<G> = groups.to_vec();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for g in keys {
        let idx: Vec<usize> = (0..groups.len()).filter(|&i| groups[i] == g).collect();
        let t: Vec<usize> = idx.iter().map(|&i| y_true[i]).collect();
        let p: Vec<usize> = idx.iter().map(|&i| y_pred[i]).collect();
        out.push((g, classification_report(&t, &p, opts)?));
    }
    Ok(GatedReport {
        groups: out,
        overall,
    })
}
