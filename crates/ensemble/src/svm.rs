//! RBF support-vector classifier: one-vs-rest C-SVC with Platt probabilities.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, check_predict_x, check_xy};
use crate::error::{Error, Result, invalid};
use crate::scaler::StandardScaler;
use crate::smo::{Binary, KernelMatrix, sigmoid_predict};

/// The RBF kernel width `gamma` in `exp(−gamma·‖x − x′‖²)`, as in sklearn's `SVC(gamma=...)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Gamma {
    /// `1 / (n_features · X.var())`, the variance over all entries of the (standardised)
    /// training matrix: sklearn's default `gamma="scale"`.
    Scale,
    /// `1 / n_features`: sklearn's `gamma="auto"`.
    Auto,
    /// A fixed positive value.
    Value(f64),
}

impl std::str::FromStr for Gamma {
    type Err = Error;
    fn from_str(s: &str) -> Result<Gamma> {
        match s.trim() {
            "scale" => Ok(Gamma::Scale),
            "auto" => Ok(Gamma::Auto),
            v => v
                .parse::<f64>()
                .map(Gamma::Value)
                .map_err(|_| invalid("gamma", v, "expected \"scale\", \"auto\" or a number")),
        }
    }
}

impl std::fmt::Display for Gamma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gamma::Scale => f.write_str("scale"),
            Gamma::Auto => f.write_str("auto"),
            Gamma::Value(v) => write!(f, "{v}"),
        }
    }
}

/// Hyper-parameters of [`Svm`]. Defaults follow `sklearn.svm.SVC` (`C=1`, `gamma="scale"`,
/// `tol=1e-3`) with `probability=True` and a `StandardScaler` in front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmParams {
    /// Penalty `C > 0` of the soft margin.
    pub c: f64,
    /// Kernel width.
    pub gamma: Gamma,
    /// Stopping tolerance of the SMO solver on the maximal KKT violation (libsvm's `eps`).
    pub tol: f64,
    /// Fit Platt sigmoids (5-fold internal cross-validation per one-vs-rest problem, as
    /// libsvm does). Without them `predict_proba` returns an error and fitting is ~6× cheaper.
    pub probability: bool,
    /// Standardise features with statistics of the training set (`StandardScaler`).
    pub standardize: bool,
    /// Seed of the Platt cross-validation shuffles.
    pub seed: u64,
    /// SMO iteration limit; `None` is libsvm's `max(10_000_000, 100·n)`.
    pub max_iter: Option<usize>,
}

impl Default for SvmParams {
    fn default() -> Self {
        SvmParams {
            c: 1.0,
            gamma: Gamma::Scale,
            tol: 1e-3,
            probability: true,
            standardize: true,
            seed: 0,
            max_iter: None,
        }
    }
}

impl SvmParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(invalid("C", self.c, "must be finite and > 0"));
        }
        if let Gamma::Value(g) = self.gamma
            && !(g.is_finite() && g > 0.0)
        {
            return Err(invalid("gamma", g, "must be finite and > 0"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(invalid("tol", self.tol, "must be finite and > 0"));
        }
        if self.max_iter == Some(0) {
            return Err(invalid("max_iter", 0, "must be >= 1"));
        }
        Ok(())
    }
}

/// The largest training set [`Svm`] accepts: its kernel matrix is precomputed (`n²` `f32`s,
/// 400 MB at this size).
pub const SVM_MAX_SAMPLES: usize = 10_000;

/// An RBF-kernel support-vector classifier.
///
/// * Multi-class is **one-vs-rest**: one binary C-SVC per class (class k against the rest),
///   `predict` is the arg-max of the K decision values. Two classes use a single problem
///   (class 1 positive). sklearn's `SVC` is one-vs-one with pairwise coupling of the
///   probabilities instead; the two agree on separable data and differ by a few points at
///   most on the goldens (see the tests).
/// * Probabilities: each binary problem gets libsvm's Platt sigmoid fitted on 5-fold
///   cross-validated decision values (as `SVC(probability=True)`); the K one-vs-rest
///   probabilities are then divided by their sum. As in sklearn, `predict` uses decision
///   values, so it may disagree with the arg-max of `predict_proba` on borderline samples.
/// * The solver is a port of libsvm's SMO with WSS3 working-set selection.
/// * A fitted model saves and loads with serde (JSON keeps every number exactly, so the
///   loaded model's probabilities are bit-identical); a damaged model is refused on reading
///   with [`Error::InvalidModel`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "SvmUnchecked")]
pub struct Svm {
    params: SvmParams,
    model: Option<SvmModel>,
}

/// [`Svm`] as read, before [`Svm::try_from`] checks it.
#[derive(Deserialize)]
struct SvmUnchecked {
    params: SvmParams,
    model: Option<SvmModel>,
}

impl TryFrom<SvmUnchecked> for Svm {
    type Error = Error;

    fn try_from(u: SvmUnchecked) -> Result<Svm> {
        u.params.validate()?;
        let mut model = u.model;
        if let Some(m) = &mut model {
            m.check()?;
            m.sv_norm2 = row_norm2(m.sv.view());
        }
        Ok(Svm {
            params: u.params,
            model,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SvmModel {
    scaler: Option<StandardScaler>,
    gamma: f64,
    n_features: usize,
    n_classes: usize,
    /// Support vectors (standardised), the union over all binary problems.
    sv: Array2<f64>,
    /// Squared norms of `sv`'s rows (derived: not saved, recomputed on reading).
    #[serde(skip)]
    sv_norm2: Array1<f64>,
    /// `α_i y_i` per binary problem (rows) and support vector (columns).
    coef: Array2<f64>,
    rho: Vec<f64>,
    platt: Option<Vec<(f64, f64)>>,
}

impl SvmModel {
    /// The shape and value checks a model read from a file must pass before it predicts.
    fn check(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidModel { reason });
        let problems = if self.n_classes == 2 {
            1
        } else {
            self.n_classes
        };
        if self.n_classes < 2 || self.n_features == 0 {
            return bad(format!(
                "svm: {} classes and {} features (need at least 2 and 1)",
                self.n_classes, self.n_features
            ));
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return bad(format!("svm: gamma {} is not finite and > 0", self.gamma));
        }
        if self.sv.ncols() != self.n_features || self.coef.ncols() != self.sv.nrows() {
            return bad(format!(
                "svm: {} support vectors of {} features with {} coefficients each (expected {} features)",
                self.sv.nrows(),
                self.sv.ncols(),
                self.coef.ncols(),
                self.n_features
            ));
        }
        if self.coef.nrows() != problems
            || self.rho.len() != problems
            || self.platt.as_ref().is_some_and(|p| p.len() != problems)
        {
            return bad(format!(
                "svm: {problems} binary problems expected for {} classes",
                self.n_classes
            ));
        }
        if let Some(s) = &self.scaler
            && (s.mean().len() != self.n_features || s.scale().len() != self.n_features)
        {
            return bad("svm: the scaler's length differs from the feature count".into());
        }
        let platt = self.platt.iter().flatten().flat_map(|&(a, b)| [a, b]);
        let scaler = self
            .scaler
            .iter()
            .flat_map(|s| s.mean().iter().chain(s.scale().iter()).copied());
        if self
            .sv
            .iter()
            .chain(self.coef.iter())
            .chain(self.rho.iter())
            .copied()
            .chain(platt)
            .chain(scaler)
            .any(|v| !v.is_finite())
        {
            return bad("svm: a non-finite number in the model".into());
        }
        Ok(())
    }
}

impl Svm {
    /// An unfitted SVM; the parameters are validated here.
    pub fn new(params: SvmParams) -> Result<Svm> {
        params.validate()?;
        Ok(Svm {
            params,
            model: None,
        })
    }

    /// The hyper-parameters.
    pub fn params(&self) -> &SvmParams {
        &self.params
    }

    /// The `gamma` used by the fitted model (resolves `scale`/`auto`).
    pub fn fitted_gamma(&self) -> Option<f64> {
        self.model.as_ref().map(|m| m.gamma)
    }

    /// Number of distinct support vectors over all binary problems.
    pub fn n_support(&self) -> Option<usize> {
        self.model.as_ref().map(|m| m.sv.nrows())
    }

    /// Decision values: `n × K` (one-vs-rest, class k positive) or `n × 1` for two classes
    /// (positive means class 1), like sklearn's `decision_function` shape.
    pub fn decision_function(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let m = self.fitted()?;
        check_predict_x(x, m.n_features)?;
        let xs = match &m.scaler {
            Some(s) => s.transform(x)?,
            None => x.to_owned(),
        };
        let k = rbf_cross(xs.view(), m.sv.view(), &m.sv_norm2, m.gamma);
        let mut dec = k.dot(&m.coef.t());
        for mut row in dec.rows_mut() {
            for (v, &r) in row.iter_mut().zip(m.rho.iter()) {
                *v -= r;
            }
        }
        Ok(dec)
    }

    fn fitted(&self) -> Result<&SvmModel> {
        self.model.as_ref().ok_or_else(|| Error::NotFitted {
            model: "svm".into(),
        })
    }
}

impl Classifier for Svm {
    fn fit(&mut self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<()> {
        self.params.validate()?;
        let n_classes = check_xy(x, y)?;
        let n = x.nrows();
        if n > SVM_MAX_SAMPLES {
            return Err(invalid(
                "n_samples",
                n,
                "above SVM_MAX_SAMPLES (the kernel matrix is precomputed)",
            ));
        }
        let scaler = if self.params.standardize {
            Some(StandardScaler::fit(x)?)
        } else {
            None
        };
        let xs = match &scaler {
            Some(s) => s.transform(x)?,
            None => x.to_owned(),
        };
        let gamma = match self.params.gamma {
            Gamma::Value(g) => g,
            Gamma::Auto => 1.0 / x.ncols() as f64,
            Gamma::Scale => {
                let var = matrix_var(xs.view());
                if var > 0.0 {
                    1.0 / (x.ncols() as f64 * var)
                } else {
                    1.0
                }
            }
        };
        let norms = row_norm2(xs.view());
        let kfull = rbf_cross(xs.view(), xs.view(), &norms, gamma);
        let kernel = KernelMatrix {
            n,
            k: kfull.iter().map(|&v| v as f32).collect(),
        };
        drop(kfull);
        let max_iter = self
            .params
            .max_iter
            .unwrap_or_else(|| 10_000_000usize.max(100 * n));
        let idx: Vec<usize> = (0..n).collect();
        // Two classes: one problem (class 1 positive); more: one-vs-rest.
        let positives: Vec<usize> = if n_classes == 2 {
            vec![1]
        } else {
            (0..n_classes).collect()
        };
        let params = &self.params;
        let fits: Vec<Result<(Vec<f64>, f64, Option<(f64, f64)>)>> = positives
            .par_iter()
            .map(|&pos| {
                let yb: Vec<f64> = y
                    .iter()
                    .map(|&c| if c == pos { 1.0 } else { -1.0 })
                    .collect();
                let prob = Binary {
                    kernel: &kernel,
                    idx: &idx,
                    y: &yb,
                    c: params.c,
                    tol: params.tol,
                    max_iter,
                };
                let sol = prob.solve()?;
                let platt = if params.probability {
                    let mut rng = ChaCha8Rng::seed_from_u64(params.seed.wrapping_add(pos as u64));
                    Some(prob.platt(&mut rng)?)
                } else {
                    None
                };
                let coef: Vec<f64> = sol
                    .alpha
                    .iter()
                    .zip(yb.iter())
                    .map(|(&a, &s)| a * s)
                    .collect();
                Ok((coef, sol.rho, platt))
            })
            .collect();
        let fits = fits.into_iter().collect::<Result<Vec<_>>>()?;
        // Union of support vectors over the problems.
        let sv_idx: Vec<usize> = (0..n)
            .filter(|&i| fits.iter().any(|(coef, _, _)| coef[i] != 0.0))
            .collect();
        let sv = xs.select(Axis(0), &sv_idx);
        let mut coef = Array2::<f64>::zeros((fits.len(), sv_idx.len()));
        for (p, (c, _, _)) in fits.iter().enumerate() {
            for (s, &i) in sv_idx.iter().enumerate() {
                coef[[p, s]] = c[i];
            }
        }
        let rho = fits.iter().map(|f| f.1).collect();
        let platt = if self.params.probability {
            Some(fits.iter().map(|f| f.2.expect("platt fitted")).collect())
        } else {
            None
        };
        self.model = Some(SvmModel {
            scaler,
            gamma,
            n_features: x.ncols(),
            n_classes,
            sv_norm2: row_norm2(sv.view()),
            sv,
            coef,
            rho,
            platt,
        });
        Ok(())
    }

    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let m = self.fitted()?;
        let Some(platt) = &m.platt else {
            return Err(invalid(
                "probability",
                false,
                "predict_proba needs probability=true",
            ));
        };
        let dec = self.decision_function(x)?;
        let mut p = Array2::<f64>::zeros((dec.nrows(), m.n_classes));
        for (mut prow, drow) in p.rows_mut().into_iter().zip(dec.rows()) {
            if m.n_classes == 2 {
                let p1 = sigmoid_predict(drow[0], platt[0].0, platt[0].1);
                prow[0] = 1.0 - p1;
                prow[1] = p1;
            } else {
                for k in 0..m.n_classes {
                    prow[k] = sigmoid_predict(drow[k], platt[k].0, platt[k].1);
                }
                let s: f64 = prow.sum();
                if s > 0.0 {
                    prow /= s;
                } else {
                    prow.fill(1.0 / m.n_classes as f64);
                }
            }
        }
        Ok(p)
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        let m = self.fitted()?;
        let dec = self.decision_function(x)?;
        Ok(dec
            .rows()
            .into_iter()
            .map(|r| {
                if m.n_classes == 2 {
                    usize::from(r[0] > 0.0)
                } else {
                    let mut best = 0;
                    for k in 1..r.len() {
                        if r[k] > r[best] {
                            best = k;
                        }
                    }
                    best
                }
            })
            .collect())
    }

    fn n_classes(&self) -> Option<usize> {
        self.model.as_ref().map(|m| m.n_classes)
    }

    fn name(&self) -> &str {
        "svm"
    }

    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        Box::new(Svm {
            params: self.params.clone(),
            model: None,
        })
    }
}

/// Variance over every entry of a matrix (numpy's `X.var()`).
fn matrix_var(x: ArrayView2<'_, f64>) -> f64 {
    let n = x.len() as f64;
    let mean = x.sum() / n;
    x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n
}

fn row_norm2(x: ArrayView2<'_, f64>) -> Array1<f64> {
    x.rows().into_iter().map(|r| r.dot(&r)).collect()
}

/// `exp(−gamma ‖a_i − b_j‖²)` for all pairs, through one matrix product
/// (‖a‖² + ‖b‖² − 2 a·b, clamped at 0 against cancellation).
fn rbf_cross(
    a: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    b_norm2: &Array1<f64>,
    gamma: f64,
) -> Array2<f64> {
    let a_norm2 = row_norm2(a);
    let mut k = a.dot(&b.t());
    k.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(a_norm2.as_slice().expect("contiguous").par_iter())
        .for_each(|(mut row, &an)| {
            for (v, &bn) in row.iter_mut().zip(b_norm2.iter()) {
                let d = (an + bn - 2.0 * *v).max(0.0);
                *v = (-gamma * d).exp();
            }
        });
    k
}
