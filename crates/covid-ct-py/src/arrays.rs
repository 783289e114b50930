//! Conversions shared by the bindings: dtype dispatch and error mapping.

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A value error naming the argument.
pub(crate) fn value_error(arg: &str, why: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{arg}: {why}"))
}

/// A type error naming the argument and the dtypes it accepts.
pub(crate) fn dtype_error(arg: &str, found: &str, accepted: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{arg}: dtype {found} is not supported (accepted: {accepted})"
    ))
}

/// An error of a kernel crate as a `ValueError` with its message (and its sources).
pub(crate) fn kernel_error(e: impl std::error::Error) -> PyErr {
    PyValueError::new_err(chain(&e))
}

/// An error of ct-io as an `OSError` with its message (which names the file).
pub(crate) fn io_error(e: ct_io::Error) -> PyErr {
    PyOSError::new_err(chain(&e))
}

/// The error's message followed by its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The numpy dtype name of an array object (`uint8`, `float64`, …).
pub(crate) fn dtype_name(array: &Bound<'_, PyAny>) -> PyResult<String> {
    array.getattr("dtype")?.getattr("name")?.extract()
}
