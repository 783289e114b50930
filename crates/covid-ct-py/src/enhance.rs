//! Contrast enhancement and resampling: OpenCV's `equalizeHist` and CLAHE, scipy's `zoom`.

use ct_enhance::{Clahe, Interpolation};
use numpy::{IntoPyArray, PyArray2, PyArrayDyn, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use crate::arrays::{dtype_error, dtype_name, kernel_error, value_error};

/// `cv2.equalizeHist(src)` on a uint8 image.
#[pyfunction]
fn equalize_hist<'py>(
    py: Python<'py>,
    src: PyReadonlyArray2<'py, u8>,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let view = src.as_array();
    let out = py
        .detach(|| ct_enhance::equalize_hist(view))
        .map_err(kernel_error)?;
    Ok(out.into_pyarray(py))
}

/// `cv2.createCLAHE(clipLimit, (tiles_x, tiles_y)).apply(src)` on a uint8 or uint16 image.
#[pyfunction]
fn clahe_apply<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    clip_limit: f64,
    tiles_x: usize,
    tiles_y: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let clahe = Clahe::new(clip_limit, tiles_x, tiles_y)
        .map_err(|e| value_error("clipLimit/tileGridSize", e))?;
    match dtype_name(src)?.as_str() {
        "uint8" => {
            let a: PyReadonlyArray2<'_, u8> = src.extract()?;
            let v = a.as_array();
            let out = py.detach(|| clahe.apply(v)).map_err(kernel_error)?;
            Ok(out.into_pyarray(py).into_any())
        }
        "uint16" => {
            let a: PyReadonlyArray2<'_, u16> = src.extract()?;
            let v = a.as_array();
            let out = py.detach(|| clahe.apply(v)).map_err(kernel_error)?;
            Ok(out.into_pyarray(py).into_any())
        }
        other => Err(dtype_error(
            "src",
            other,
            "uint8, uint16 (as OpenCV's CLAHE)",
        )),
    }
}

/// Runs scipy's `zoom` to `shape` on a 2-D or 3-D array of one voxel type.
macro_rules! zoom_typed {
    ($t:ty, $py:expr, $input:expr, $shape:expr, $method:expr) => {{
        let a: PyReadonlyArrayDyn<'_, $t> = $input.extract()?;
        let v = a.as_array();
        let ndim = v.ndim();
        let out = $py
            .detach(|| -> ct_enhance::Result<ndarray::ArrayD<$t>> {
                let v3 = match ndim {
                    2 => v.insert_axis(ndarray::Axis(0)),
                    _ => v,
                };
                let v3 = v3
                    .into_dimensionality::<ndarray::Ix3>()
                    .expect("rank checked to be 2 or 3");
                let shape = if ndim == 2 {
                    [1, $shape[0], $shape[1]]
                } else {
                    [$shape[0], $shape[1], $shape[2]]
                };
                let z = ct_enhance::zoom(v3, shape, $method)?;
                let z = z.into_dyn();
                Ok(if ndim == 2 {
                    z.index_axis_move(ndarray::Axis(0), 0)
                } else {
                    z
                })
            })
            .map_err(kernel_error)?;
        Ok::<Bound<'_, PyArrayDyn<$t>>, PyErr>(out.into_pyarray($py)).map(|a| a.into_any())
    }};
}

/// `zoom(input, output_shape, order)`: order 0 (nearest), 1 (linear) or 3 (cubic spline,
/// `mode='nearest'`), on uint8, int16, int32, float32 or float64 arrays of 2 or 3 dimensions.
#[pyfunction]
fn zoom<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    output_shape: Vec<usize>,
    order: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let ndim: usize = input.getattr("ndim")?.extract()?;
    if !(2..=3).contains(&ndim) || output_shape.len() != ndim {
        return Err(value_error(
            "input",
            format!(
                "needs 2 or 3 dimensions and a zoom per axis (got {ndim} and {})",
                output_shape.len()
            ),
        ));
    }
    let method = match order {
        0 => Interpolation::Nearest,
        1 => Interpolation::Linear,
        3 => Interpolation::Cubic,
        o => {
            return Err(value_error(
                "order",
                format!("{o}: covid_ct has orders 0, 1 and 3"),
            ));
        }
    };
    let shape = output_shape;
    match dtype_name(input)?.as_str() {
        "uint8" => zoom_typed!(u8, py, input, shape, method),
        "int16" => zoom_typed!(i16, py, input, shape, method),
        "int32" => zoom_typed!(i32, py, input, shape, method),
        "float32" => zoom_typed!(f32, py, input, shape, method),
        "float64" => zoom_typed!(f64, py, input, shape, method),
        other => Err(dtype_error(
            "input",
            other,
            "uint8, int16, int32, float32, float64",
        )),
    }
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_function(wrap_pyfunction!(equalize_hist, parent)?)?;
    parent.add_function(wrap_pyfunction!(clahe_apply, parent)?)?;
    parent.add_function(wrap_pyfunction!(zoom, parent)?)?;
    Ok(())
}
