//! The `covid_ct._native` extension module: thin bindings of the covid-ct kernels for the
//! `covid_ct` Python package (`python/covid_ct/`), which gives them the names, argument names
//! and defaults of pydicom / scipy.ndimage / scikit-image / imagehash / OpenCV / POT.
//!
//! Every function takes numpy arrays without copying them where the layout allows (any
//! strides are read in place), releases the GIL while it works, and turns every error into a
//! Python exception with the Rust message: `OSError` for files (the message names the
//! file), `ValueError` for values, `TypeError` for dtypes.

use pyo3::prelude::*;

mod arrays;
mod classifiers;
mod enhance;
mod io;
mod morph;
mod ot;
mod similarity;

/// The extension module: one submodule per role.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    io::register(m)?;
    morph::register(m)?;
    similarity::register(m)?;
    enhance::register(m)?;
    ot::register(m)?;
    classifiers::register(m)?;
    Ok(())
}
