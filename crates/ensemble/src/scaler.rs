//! Feature standardisation with `sklearn.preprocessing.StandardScaler` semantics.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::classifier::{check_predict_x, check_x};
use crate::error::Result;

/// Per-feature `(x - mean) / std` with the population standard deviation (ddof = 0), fitted
/// on the training set only. Constant features get a scale of 1, as sklearn's
/// `_handle_zeros_in_scale` does, so they map to 0 instead of NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    mean: Array1<f64>,
    scale: Array1<f64>,
}

impl StandardScaler {
    /// Fits mean and scale on the rows of `x`.
    pub fn fit(x: ArrayView2<'_, f64>) -> Result<StandardScaler> {
        check_x(x)?;
        let n = x.nrows() as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let mut var = Array1::<f64>::zeros(x.ncols());
        for row in x.rows() {
            for ((v, &a), &m) in var.iter_mut().zip(row.iter()).zip(mean.iter()) {
                let d = a - m;
                *v += d * d;
            }
        }
        var /= n;
        // sklearn's `_is_constant_feature`: var <= n·eps·var + (n·mean·eps)², then the scale
        // of such a feature is set to 1.
        let scale = var
            .iter()
            .zip(mean.iter())
            .map(|(&v, &m)| {
                let eps = f64::EPSILON;
                if v <= n * eps * v + (n * m * eps).powi(2) {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        Ok(StandardScaler { mean, scale })
    }

    /// Standardises `x` with the fitted statistics.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_predict_x(x, self.mean.len())?;
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            for ((v, &m), &s) in row.iter_mut().zip(self.mean.iter()).zip(self.scale.iter()) {
                *v = (*v - m) / s;
            }
        }
        Ok(out)
    }

    /// Per-feature means.
    pub fn mean(&self) -> &Array1<f64> {
        &self.mean
    }

    /// Per-feature scales (standard deviations, 1 for constant features).
    pub fn scale(&self) -> &Array1<f64> {
        &self.scale
    }
}
