//! Optimal transport: POT's exact EMD and entropic Sinkhorn.

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use otdd::{EmdParams, SinkhornMethod, SinkhornParams};
use pyo3::prelude::*;

use crate::arrays::{kernel_error, value_error};

/// `ot.emd(a, b, M, numItermax)`: the optimal plan and its cost.
#[pyfunction]
#[pyo3(signature = (a, b, m, num_iter_max=100_000))]
fn emd<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    m: PyReadonlyArray2<'py, f64>,
    num_iter_max: u64,
) -> PyResult<(Bound<'py, PyArray2<f64>>, f64)> {
    let params = EmdParams {
        max_iter: num_iter_max,
        ..EmdParams::default()
    };
    let (a, b, m) = (a.as_array(), b.as_array(), m.as_array());
    let r = py
        .detach(|| otdd::emd(a, b, m, &params))
        .map_err(kernel_error)?;
    Ok((r.plan.into_pyarray(py), r.cost))
}

/// `ot.sinkhorn(a, b, M, reg, method, numItermax, stopThr)`: the plan and its cost
/// `<P, M>` (POT's `sinkhorn2`).
#[pyfunction]
#[pyo3(signature = (a, b, m, reg, method="sinkhorn", num_iter_max=1000, stop_thr=1e-9))]
#[allow(clippy::too_many_arguments)]
fn sinkhorn<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    m: PyReadonlyArray2<'py, f64>,
    reg: f64,
    method: &str,
    num_iter_max: usize,
    stop_thr: f64,
) -> PyResult<(Bound<'py, PyArray2<f64>>, f64)> {
    let method = match method {
        "sinkhorn" | "sinkhorn_knopp" => SinkhornMethod::Knopp,
        "sinkhorn_log" => SinkhornMethod::Log,
        other => {
            return Err(value_error(
                "method",
                format!("{other:?}: covid_ct has 'sinkhorn' and 'sinkhorn_log'"),
            ));
        }
    };
    let params = SinkhornParams {
        method,
        max_iter: num_iter_max,
        stop_thr,
        ..SinkhornParams::default()
    };
    let (a, b, m) = (a.as_array(), b.as_array(), m.as_array());
    let r = py
        .detach(|| otdd::sinkhorn(a, b, m, reg, &params))
        .map_err(kernel_error)?;
    Ok((r.plan.into_pyarray(py), r.cost))
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_function(wrap_pyfunction!(emd, parent)?)?;
    parent.add_function(wrap_pyfunction!(sinkhorn, parent)?)?;
    Ok(())
}
