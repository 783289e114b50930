//! Binary morphology and labelling on 1-, 2- and 3-D masks (scipy.ndimage's).

use ct_morph::{MorphParams, Structure};
use numpy::{
    IntoPyArray, PyArray3, PyArrayDyn, PyReadonlyArray3, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{kernel_error, value_error};

/// The structuring element: the given mask, or scipy's default (connectivity 1).
fn structure(rank: usize, given: Option<&PyReadonlyArrayDyn<'_, bool>>) -> PyResult<Structure> {
    match given {
        Some(s) => {
            if s.ndim() != rank {
                return Err(value_error(
                    "structure",
                    format!("has {} dimensions, the input {rank}", s.ndim()),
                ));
            }
            Structure::from_mask(s.as_array()).map_err(|e| value_error("structure", e))
        }
        None => ct_morph::generate_binary_structure(rank, 1).map_err(|e| value_error("input", e)),
    }
}

/// `binary_erosion`, `binary_dilation`, `binary_opening`, `binary_closing` by name.
#[pyfunction]
#[pyo3(signature = (op, input, structure=None, iterations=1, border_value=false))]
fn binary_morphology<'py>(
    py: Python<'py>,
    op: &str,
    input: PyReadonlyArrayDyn<'py, bool>,
    structure: Option<PyReadonlyArrayDyn<'py, bool>>,
    iterations: usize,
    border_value: bool,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let s = self::structure(input.ndim(), structure.as_ref())?;
    let f = match op {
        "erosion" => ct_morph::binary_erosion::<ndarray::IxDyn>,
        "dilation" => ct_morph::binary_dilation::<ndarray::IxDyn>,
        "opening" => ct_morph::binary_opening::<ndarray::IxDyn>,
        "closing" => ct_morph::binary_closing::<ndarray::IxDyn>,
        other => return Err(value_error("op", format!("unknown operation {other:?}"))),
    };
    let params = MorphParams {
        iterations,
        border_value,
    };
    let view = input.as_array();
    let out = py.detach(|| f(view, &s, &params)).map_err(kernel_error)?;
    Ok(out.into_pyarray(py))
}

/// `binary_fill_holes(input, structure=None)`.
#[pyfunction]
#[pyo3(signature = (input, structure=None))]
fn binary_fill_holes<'py>(
    py: Python<'py>,
    input: PyReadonlyArrayDyn<'py, bool>,
    structure: Option<PyReadonlyArrayDyn<'py, bool>>,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let s = self::structure(input.ndim(), structure.as_ref())?;
    let view = input.as_array();
    let out = py
        .detach(|| ct_morph::binary_fill_holes(view, Some(&s)))
        .map_err(kernel_error)?;
    Ok(out.into_pyarray(py))
}

/// `label(input, structure=None) -> (labels int32, n)`.
#[pyfunction]
#[pyo3(signature = (input, structure=None))]
fn label<'py>(
    py: Python<'py>,
    input: PyReadonlyArrayDyn<'py, bool>,
    structure: Option<PyReadonlyArrayDyn<'py, bool>>,
) -> PyResult<(Bound<'py, PyArrayDyn<i32>>, usize)> {
    let s = self::structure(input.ndim(), structure.as_ref())?;
    let view = input.as_array();
    let (labels, n) = py
        .detach(|| ct_morph::label(view, &s))
        .map_err(kernel_error)?;
    if n > i32::MAX as usize {
        return Err(value_error(
            "input",
            "more components than int32 can number",
        ));
    }
    Ok((labels.mapv(|l| l as i32).into_pyarray(py), n))
}

/// `generate_binary_structure(rank, connectivity)`.
#[pyfunction]
fn generate_binary_structure(
    py: Python<'_>,
    rank: usize,
    connectivity: usize,
) -> PyResult<Bound<'_, PyArrayDyn<bool>>> {
    let s = ct_morph::generate_binary_structure(rank, connectivity)
        .map_err(|e| value_error("rank/connectivity", e))?;
    Ok(s.to_mask().into_pyarray(py))
}

/// `iterate_structure(structure, iterations)`.
#[pyfunction]
fn iterate_structure<'py>(
    py: Python<'py>,
    structure: PyReadonlyArrayDyn<'py, bool>,
    iterations: usize,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let s = Structure::from_mask(structure.as_array()).map_err(|e| value_error("structure", e))?;
    let out =
        ct_morph::iterate_structure(&s, iterations).map_err(|e| value_error("iterations", e))?;
    Ok(out.to_mask().into_pyarray(py))
}

/// `segment_lungs(hu, spacing)`: the body-first lung field (ct-morph's `segment_lung_field`)
/// as `(labels uint8, volumes)`: 0 background, 1 right lung, 2 left lung, 3 airways.
#[pyfunction]
fn segment_lungs<'py>(
    py: Python<'py>,
    hu: PyReadonlyArray3<'py, i16>,
    spacing: (f64, f64, f64),
) -> PyResult<(Bound<'py, PyArray3<u8>>, Bound<'py, PyDict>)> {
    let data = hu.as_array().to_owned();
    let mask = py.detach(|| {
        let spacing = ct_core::Spacing::new(spacing.0, spacing.1, spacing.2)
            .map_err(|e| value_error("spacing", e))?;
        let volume = ct_core::Volume::new(data, spacing).map_err(|e| value_error("hu", e))?;
        ct_morph::lung_field::segment_lung_field(
            &volume,
            &ct_morph::lung_field::LungFieldParams::default(),
        )
        .map_err(kernel_error)
    })?;
    let info = PyDict::new(py);
    info.set_item("right_ml", mask.right_ml)?;
    info.set_item("left_ml", mask.left_ml)?;
    info.set_item("airways_ml", mask.airways_ml)?;
    info.set_item("body_ml", mask.body_ml)?;
    info.set_item("airways", format!("{:?}", mask.airways))?;
    Ok((mask.labels.into_data().into_pyarray(py), info))
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_function(wrap_pyfunction!(segment_lungs, parent)?)?;
    parent.add_function(wrap_pyfunction!(binary_morphology, parent)?)?;
    parent.add_function(wrap_pyfunction!(binary_fill_holes, parent)?)?;
    parent.add_function(wrap_pyfunction!(label, parent)?)?;
    parent.add_function(wrap_pyfunction!(generate_binary_structure, parent)?)?;
    parent.add_function(wrap_pyfunction!(iterate_structure, parent)?)?;
    Ok(())
}
