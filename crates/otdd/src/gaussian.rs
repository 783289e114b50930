//! Gaussian 2-Wasserstein distance (Bures–Wasserstein) and PSD matrix square roots.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::error::{Error, Result, check_finite};

/// How small or negative eigenvalues are treated by [`sqrtm_psd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EigenCutoff {
    /// Negative eigenvalues (round-off on a PSD matrix) are set to 0.
    #[default]
    ClampNegative,
    /// microsoft/otdd's `symsqrt_v2`: eigenvalues `≤ λ_max · d · f64::EPSILON` are set to 0.
    Reference,
}

fn to_na(s: ArrayView2<'_, f64>) -> DMatrix<f64> {
    let d = s.nrows();
    // Symmetrise: covariance round-off makes S slightly asymmetric.
    DMatrix::from_fn(d, d, |i, j| 0.5 * (s[[i, j]] + s[[j, i]]))
}

fn from_na(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

fn sqrtm_na(s: DMatrix<f64>, cutoff: EigenCutoff) -> DMatrix<f64> {
    let d = s.nrows();
    let eig = SymmetricEigen::new(s);
    let lmax = eig
        .eigenvalues
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let thr = match cutoff {
        EigenCutoff::ClampNegative => 0.0,
        EigenCutoff::Reference => lmax * d as f64 * f64::EPSILON,
    };
    let sq = eig
        .eigenvalues
        .map(|l| if l > thr { l.sqrt() } else { 0.0 });
    let v = &eig.eigenvectors;
    let mut vs = v.clone();
    for (k, mut col) in vs.column_iter_mut().enumerate() {
        col *= sq[k];
    }
    &vs * v.transpose()
}

fn check_square(name: &str, s: &ArrayView2<'_, f64>) -> Result<()> {
    if s.nrows() != s.ncols() || s.nrows() == 0 {
        return Err(Error::Shape(format!(
            "{name} must be a non-empty square matrix, got {:?}",
            s.dim()
        )));
    }
    check_finite(name, s.iter().copied())
}

/// Square root of a symmetric positive semi-definite matrix by symmetric eigendecomposition,
/// `V·diag(√max(λ, 0))·Vᵀ` (see [`EigenCutoff`]).
pub fn sqrtm_psd(s: ArrayView2<'_, f64>, cutoff: EigenCutoff) -> Result<Array2<f64>> {
    check_square("matrix", &s)?;
    Ok(from_na(&sqrtm_na(to_na(s), cutoff)))
}

/// A Gaussian's mean and covariance with the covariance's square root cached.
#[derive(Debug, Clone)]
pub struct GaussianStats {
    pub(crate) mean: Vec<f64>,
    pub(crate) cov: DMatrix<f64>,
    pub(crate) sqrt_cov: DMatrix<f64>,
}

impl GaussianStats {
    /// Validates and caches √Σ.
    pub fn new(
        mean: ArrayView1<'_, f64>,
        cov: ArrayView2<'_, f64>,
        cutoff: EigenCutoff,
    ) -> Result<Self> {
        check_square("covariance", &cov)?;
        if mean.len() != cov.nrows() {
            return Err(Error::Shape(format!(
                "mean has {} entries but covariance is {:?}",
                mean.len(),
                cov.dim()
            )));
        }
        check_finite("mean", mean.iter().copied())?;
        let c = to_na(cov);
        let r = sqrtm_na(c.clone(), cutoff);
        Ok(Self {
            mean: mean.to_vec(),
            cov: c,
            sqrt_cov: r,
        })
    }

    /// The mean vector.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance matrix.
    pub fn cov(&self) -> Array2<f64> {
        from_na(&self.cov)
    }
}

/// Squared Bures distance `max(0, tr(Σ1 + Σ2 − 2(Σ1^½ Σ2 Σ1^½)^½))` using the cached √Σ1.
pub(crate) fn bures_sq_stats(s1: &GaussianStats, s2: &GaussianStats, cutoff: EigenCutoff) -> f64 {
    let r1 = &s1.sqrt_cov;
    let m = r1 * &s2.cov * r1;
    let cross = sqrtm_na(0.5 * (&m + m.transpose()), cutoff);
    let t = s1.cov.trace() + s2.cov.trace() - 2.0 * cross.trace();
    t.max(0.0)
}

/// Squared 2-Wasserstein distance between `N(μ1, Σ1)` and `N(μ2, Σ2)`:
/// `‖μ1 − μ2‖² + Bures²(Σ1, Σ2)`, clamped at 0 as microsoft/otdd does (`relu`).
pub fn gaussian_w2_sq(s1: &GaussianStats, s2: &GaussianStats, cutoff: EigenCutoff) -> Result<f64> {
    if s1.mean.len() != s2.mean.len() {
        return Err(Error::Shape(format!(
            "Gaussians of dimension {} and {}",
            s1.mean.len(),
            s2.mean.len()
        )));
    }
    let dm: f64 = s1
        .mean
        .iter()
        .zip(&s2.mean)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    Ok((dm + bures_sq_stats(s1, s2, cutoff)).max(0.0))
}

/// [`gaussian_w2_sq`] from raw means and covariances.
pub fn gaussian_w2_sq_from(
    m1: ArrayView1<'_, f64>,
    c1: ArrayView2<'_, f64>,
    m2: ArrayView1<'_, f64>,
    c2: ArrayView2<'_, f64>,
) -> Result<f64> {
    let cut = EigenCutoff::ClampNegative;
    gaussian_w2_sq(
        &GaussianStats::new(m1, c1, cut)?,
        &GaussianStats::new(m2, c2, cut)?,
        cut,
    )
}
