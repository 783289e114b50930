//! Pairwise squared-Euclidean costs.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, linalg::general_mat_mul, s};
use rayon::prelude::*;

use crate::error::{Error, Result, check_finite};

/// Rows per parallel task: 64 rows of `y`-length output keep the GEMM panel in L2.
const ROW_BLOCK: usize = 64;

/// Squared row norms ‖x_i‖².
pub fn row_sq_norms(x: ArrayView2<'_, f64>) -> Array1<f64> {
    x.axis_iter(Axis(0))
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

fn check_pair(x: &ArrayView2<'_, f64>, y: &ArrayView2<'_, f64>) -> Result<()> {
    if x.nrows() == 0 || y.nrows() == 0 {
        return Err(Error::Empty(format!(
            "cost inputs have {} and {} rows",
            x.nrows(),
            y.nrows()
        )));
    }
    if x.ncols() != y.ncols() {
        return Err(Error::Shape(format!(
            "x is {}x{} but y is {}x{}: feature dimensions differ",
            x.nrows(),
            x.ncols(),
            y.nrows(),
            y.ncols()
        )));
    }
    check_finite("x", x.iter().copied())?;
    check_finite("y", y.iter().copied())
}

/// Pairwise squared Euclidean distances `C[i,j] = ‖x_i − y_j‖²`, as POT's `ot.dist(x, y)`.
///
/// Computed like POT/scikit-learn as `‖x‖² + ‖y‖² − 2 x·y` with a blocked GEMM (matrixmultiply
/// through ndarray), in parallel over row blocks, and clamped at 0 because cancellation can
/// make the expansion slightly negative for near-identical points.
pub fn sqeuclidean(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    check_pair(&x, &y)?;
    let mut out = Array2::<f64>::zeros((x.nrows(), y.nrows()));
    sqeuclidean_unchecked(x, y, out.view_mut());
    Ok(out)
}

/// [`sqeuclidean`] into a caller's `n×m` buffer.
pub fn sqeuclidean_into(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    check_pair(&x, &y)?;
    if out.dim() != (x.nrows(), y.nrows()) {
        return Err(Error::Shape(format!(
            "output is {:?}, expected ({}, {})",
            out.dim(),
            x.nrows(),
            y.nrows()
        )));
    }
    sqeuclidean_unchecked(x, y, out);
    Ok(())
}

pub(crate) fn sqeuclidean_unchecked(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
) {
    let xx = row_sq_norms(x);
    let yy = row_sq_norms(y);
    let yt = y.t();
    out.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut chunk)| {
            let r0 = b * ROW_BLOCK;
            let rows = chunk.nrows();
            let xb = x.slice(s![r0..r0 + rows, ..]);
            general_mat_mul(-2.0, &xb, &yt, 0.0, &mut chunk);
            for (i, mut row) in chunk.axis_iter_mut(Axis(0)).enumerate() {
                let xi = xx[r0 + i];
                for (c, &yj) in row.iter_mut().zip(yy.iter()) {
                    // Same association as POT: (-2xy + xx) + yy, then clip at 0.
                    *c = (*c + xi + yj).max(0.0);
                }
            }
        });
}

/// Fills `out` (rows × m) with `scale·‖x_i − y_j‖²` for a block of rows, given precomputed
/// squared norms; the building block of the online (never stored) cost.
pub(crate) fn sqeuclidean_block(
    xb: ArrayView2<'_, f64>,
    xx: &[f64],
    y: ArrayView2<'_, f64>,
    yy: &[f64],
    scale: f64,
    out: &mut ArrayViewMut2<'_, f64>,
) {
    general_mat_mul(-2.0, &xb, &y.t(), 0.0, out);
    for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
        let xi = xx[i];
        for (c, &yj) in row.iter_mut().zip(yy.iter()) {
            *c = (*c + xi + yj).max(0.0) * scale;
        }
    }
}
