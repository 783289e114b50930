//! Second-level classifiers: the RBF SVM and the gradient-boosted trees of the `ensemble`
//! crate behind scikit-learn-style classes, and sklearn's `classification_report`.
//!
//! Labels here are class indices `0..K` (every class present when fitting); the Python
//! classes map any labels to them, as sklearn's `classes_`.

use ensemble::{Classifier, Gamma, Gbdt, GbdtParams, ReportOptions, Svm, SvmParams, ZeroDivision};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{kernel_error, value_error};

fn indices(y: &PyReadonlyArray1<'_, i64>, arg: &str) -> PyResult<Vec<usize>> {
    y.as_array()
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| value_error(arg, format!("class index {v} < 0"))))
        .collect()
}

fn fit(
    py: Python<'_>,
    model: &mut (dyn Classifier + Send),
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray1<'_, i64>,
) -> PyResult<()> {
    let y = indices(&y, "y")?;
    let x = x.as_array();
    py.detach(|| model.fit(x, &y)).map_err(kernel_error)
}

fn predict_proba<'py>(
    py: Python<'py>,
    model: &(dyn Classifier + Sync),
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let x = x.as_array();
    let p = py.detach(|| model.predict_proba(x)).map_err(kernel_error)?;
    Ok(p.into_pyarray(py))
}

fn predict<'py>(
    py: Python<'py>,
    model: &(dyn Classifier + Sync),
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let x = x.as_array();
    let p = py.detach(|| model.predict(x)).map_err(kernel_error)?;
    Ok(ndarray::Array1::from_iter(p.into_iter().map(|c| c as i64)).into_pyarray(py))
}

/// A `#[pymethods]` block for a class whose `inner` field is an `ensemble` classifier: the
/// given constructor, then `fit`, `predict` and `predict_proba`.
macro_rules! classifier_pymethods {
    ($class:ident { $($new:tt)* }) => {
        #[pymethods]
        impl $class {
            $($new)*

            fn fit(
                &mut self,
                py: Python<'_>,
                x: PyReadonlyArray2<'_, f64>,
                y: PyReadonlyArray1<'_, i64>,
            ) -> PyResult<()> {
                fit(py, &mut self.inner, x, y)
            }

            fn predict<'py>(
                &self,
                py: Python<'py>,
                x: PyReadonlyArray2<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray1<i64>>> {
                predict(py, &self.inner, x)
            }

            fn predict_proba<'py>(
                &self,
                py: Python<'py>,
                x: PyReadonlyArray2<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray2<f64>>> {
                predict_proba(py, &self.inner, x)
            }
        }
    };
}

/// The RBF C-SVC (libsvm's SMO; one-vs-rest for more than two classes; Platt probabilities
/// from libsvm's 5-fold procedure).
#[pyclass(module = "covid_ct._native")]
struct Svc {
    inner: Svm,
}

classifier_pymethods!(Svc {
    #[new]
    #[pyo3(signature = (c=1.0, gamma="scale", gamma_value=None, tol=1e-3, probability=false, standardize=false, seed=0, max_iter=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        c: f64,
        gamma: &str,
        gamma_value: Option<f64>,
        tol: f64,
        probability: bool,
        standardize: bool,
        seed: u64,
        max_iter: Option<usize>,
    ) -> PyResult<Svc> {
        let gamma = match (gamma, gamma_value) {
            (_, Some(v)) => Gamma::Value(v),
            ("scale", None) => Gamma::Scale,
            ("auto", None) => Gamma::Auto,
            (other, None) => {
                return Err(value_error(
                    "gamma",
                    format!("{other:?}: 'scale', 'auto' or a number"),
                ));
            }
        };
        let params = SvmParams {
            c,
            gamma,
            tol,
            probability,
            standardize,
            seed,
            max_iter,
        };
        Ok(Svc {
            inner: Svm::new(params).map_err(|e| value_error("SVC", e))?,
        })
    }
});

/// Gradient-boosted trees with XGBoost's `multi:softprob` objective and `hist` method.
#[pyclass(module = "covid_ct._native")]
struct Trees {
    inner: Gbdt,
}

classifier_pymethods!(Trees {
    #[new]
    #[pyo3(signature = (n_estimators=100, learning_rate=0.3, max_depth=6, reg_lambda=1.0, gamma=0.0, min_child_weight=1.0, subsample=1.0, colsample_bytree=1.0, max_bin=256, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        n_estimators: usize,
        learning_rate: f64,
        max_depth: usize,
        reg_lambda: f64,
        gamma: f64,
        min_child_weight: f64,
        subsample: f64,
        colsample_bytree: f64,
        max_bin: usize,
        seed: u64,
    ) -> PyResult<Trees> {
        let params = GbdtParams {
            n_estimators,
            learning_rate,
            max_depth,
            lambda: reg_lambda,
            gamma,
            min_child_weight,
            subsample,
            colsample_bytree,
            max_bin,
            seed,
            ..GbdtParams::default()
        };
        Ok(Trees {
            inner: Gbdt::new(params).map_err(|e| value_error("XGBClassifier", e))?,
        })
    }
});

/// `classification_report` of class indices: `(text, json)` where the JSON is the report's
/// numbers (classes, accuracy, averages).
#[pyfunction]
#[pyo3(signature = (y_true, y_pred, labels=None, target_names=None, digits=2, zero_division="warn"))]
fn classification_report(
    y_true: PyReadonlyArray1<'_, i64>,
    y_pred: PyReadonlyArray1<'_, i64>,
    labels: Option<Vec<usize>>,
    target_names: Option<Vec<String>>,
    digits: usize,
    zero_division: &str,
) -> PyResult<(String, String)> {
    let zero_division = match zero_division {
        "warn" => ZeroDivision::Warn,
        "0" => ZeroDivision::Zero,
        "1" => ZeroDivision::One,
        "nan" => ZeroDivision::NaN,
        other => {
            return Err(value_error(
                "zero_division",
                format!("{other:?}: 'warn', 0, 1 or nan"),
            ));
        }
    };
    let opts = ReportOptions {
        labels,
        target_names,
        digits,
        zero_division,
    };
    let (t, p) = (indices(&y_true, "y_true")?, indices(&y_pred, "y_pred")?);
    let report = ensemble::classification_report(&t, &p, &opts).map_err(kernel_error)?;
    let json = serde_json::to_string(&report).map_err(|e| value_error("report", e))?;
    Ok((report.to_string(), json))
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_class::<Svc>()?;
    parent.add_class::<Trees>()?;
    parent.add_function(wrap_pyfunction!(classification_report, parent)?)?;
    Ok(())
}
