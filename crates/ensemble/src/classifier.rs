//! The [`Classifier`] trait and the input checks every model shares.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// A multi-class classifier over dense `f64` features.
///
/// Labels are class indices `0..n_classes`; `fit` requires every class in that range to have
/// at least one sample (so `n_classes` is `max(y) + 1`), and at least two classes. Rows of
/// `predict_proba` sum to 1 and have one column per class.
///
/// The trait is object safe: [`crate::Voting`] and [`crate::TwoLevel`] hold
/// `Box<dyn Classifier>`.
pub trait Classifier: Send + Sync {
    /// Fits the model on `x` (`n_samples × n_features`) and labels `y` (`n_samples`).
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<()>;

    /// Class probabilities, `n_samples × n_classes`, rows summing to 1.
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>>;

    /// Predicted class of each row. The default is the arg-max of [`Self::predict_proba`]
    /// (the first class on ties).
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        Ok(argmax_rows(&self.predict_proba(x)?))
    }

    /// Number of classes seen by `fit`; `None` before fitting.
    fn n_classes(&self) -> Option<usize>;

    /// A short name for messages and reports (`"svm"`, `"gbdt"`, ...).
    fn name(&self) -> &str;

    /// A fresh, unfitted copy with the same hyper-parameters (used by grid search and
    /// k-fold, which fit one copy per fold).
    fn clone_unfitted(&self) -> Box<dyn Classifier>;
}

/// A boxed classifier is a classifier (so that generic containers such as
/// [`crate::GatedClassifier`] hold either boxed or concrete models).
impl Classifier for Box<dyn Classifier> {
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<()> {
        self.as_mut().fit(x, y)
    }

    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.as_ref().predict_proba(x)
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        self.as_ref().predict(x)
    }

    fn n_classes(&self) -> Option<usize> {
        self.as_ref().n_classes()
    }

    fn name(&self) -> &str {
        self.as_ref().name()
    }

    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        self.as_ref().clone_unfitted()
    }
}

/// Arg-max of each row; ties go to the lowest column index (like `numpy.argmax`).
pub fn argmax_rows(p: &Array2<f64>) -> Vec<usize> {
    p.rows()
        .into_iter()
        .map(|r| {
            let mut best = 0;
            for (k, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = k;
                }
            }
            best
        })
        .collect()
}

/// Checks `x` is non-empty and finite.
pub(crate) fn check_x(x: ArrayView2<'_, f64>) -> Result<()> {
    if x.nrows() == 0 {
        return Err(Error::Empty {
            what: "feature matrix has no rows".into(),
        });
    }
    if x.ncols() == 0 {
        return Err(Error::Empty {
            what: "feature matrix has no columns".into(),
        });
    }
    for ((r, c), &v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(Error::NonFinite {
                row: r,
                col: c,
                value: v,
            });
        }
    }
    Ok(())
}

/// Checks a training set and returns its number of classes (`max(y) + 1`).
pub(crate) fn check_xy(x: ArrayView2<'_, f64>, y: &[usize]) -> Result<usize> {
    check_x(x)?;
    if y.len() != x.nrows() {
        return Err(Error::LengthMismatch {
            what: "labels y vs rows of x".into(),
            expected: x.nrows(),
            got: y.len(),
        });
    }
    check_labels(y, "training labels")
}

/// Checks that `y` covers `0..K` with K ≥ 2 and returns K.
pub(crate) fn check_labels(y: &[usize], context: &str) -> Result<usize> {
    let Some(&max) = y.iter().max() else {
        return Err(Error::Empty {
            what: format!("{context}: no labels"),
        });
    };
    let k = max + 1;
    let counts = class_counts(y, k);
    if let Some(class) = counts.iter().position(|&c| c == 0) {
        return Err(Error::ClassMissing {
            class,
            n_classes: k,
            context: context.to_string(),
        });
    }
    if k < 2 {
        return Err(Error::SingleClass { class: max });
    }
    Ok(k)
}

/// Samples per class.
pub(crate) fn class_counts(y: &[usize], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for &v in y {
        if v < k {
            c[v] += 1;
        }
    }
    c
}

/// Checks the prediction-time matrix against the fitted feature count.
pub(crate) fn check_predict_x(x: ArrayView2<'_, f64>, n_features: usize) -> Result<()> {
    if x.ncols() != n_features {
        return Err(Error::FeatureMismatch {
            expected: n_features,
            got: x.ncols(),
        });
    }
    check_x(x)
}

/// Rows of `x` selected by `idx`, as an owned matrix.
pub(crate) fn take_rows(x: ArrayView2<'_, f64>, idx: &[usize]) -> Array2<f64> {
    x.select(ndarray::Axis(0), idx)
}
