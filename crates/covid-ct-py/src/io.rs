//! Reading and writing volumes: ct-io's DICOM series, NIfTI, npy and slice-folder readers.

use std::path::PathBuf;

use ct_core::{Scan, Spacing, Volume};
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{io_error, value_error};

type Read<'py> = (
    Bound<'py, PyArray3<i16>>,
    (f64, f64, f64),
    Bound<'py, PyDict>,
);

/// A scan as `(hu, (dz, dy, dx), meta)`.
fn to_python(py: Python<'_>, scan: Scan) -> PyResult<Read<'_>> {
    let meta = PyDict::new(py);
    meta.set_item("id", &scan.id)?;
    meta.set_item("patient_id", &scan.meta.patient_id)?;
    meta.set_item("series_uid", &scan.meta.series_uid)?;
    meta.set_item(
        "source",
        scan.meta.source.as_ref().map(|p| p.display().to_string()),
    )?;
    meta.set_item("slice_thickness", scan.meta.slice_thickness)?;
    meta.set_item("origin", scan.volume.origin())?;
    let extra = PyDict::new(py);
    for (k, v) in &scan.meta.extra {
        extra.set_item(k, v)?;
    }
    meta.set_item("extra", extra)?;
    meta.set_item("warnings", &scan.meta.warnings)?;
    let s = scan.volume.spacing();
    let hu = scan.volume.into_data().into_pyarray(py);
    Ok((hu, (s.z, s.y, s.x), meta))
}

/// `read_volume(path)`: any volume ct-io reads (DICOM folder or file, NIfTI, npy, slices).
#[pyfunction]
fn read_volume(py: Python<'_>, path: PathBuf) -> PyResult<Read<'_>> {
    let scan = py.detach(|| ct_io::read_volume(&path)).map_err(io_error)?;
    to_python(py, scan)
}

/// `read_series(path, series_uid=None)`: one series of a DICOM folder (the largest by default).
#[pyfunction]
#[pyo3(signature = (path, series_uid=None))]
fn read_series(py: Python<'_>, path: PathBuf, series_uid: Option<String>) -> PyResult<Read<'_>> {
    let opts = ct_io::dicom::DicomReadOptions {
        series_uid,
        ..Default::default()
    };
    let scan = py
        .detach(|| ct_io::dicom::read_series(&path, &opts))
        .map_err(io_error)?;
    to_python(py, scan)
}

/// `write_nifti(path, hu, spacing)`: an int16 volume `(z, y, x)` as `.nii` or `.nii.gz`.
#[pyfunction]
fn write_nifti(
    py: Python<'_>,
    path: PathBuf,
    hu: PyReadonlyArray3<'_, i16>,
    spacing: (f64, f64, f64),
) -> PyResult<()> {
    let data = hu.as_array().to_owned();
    py.detach(|| {
        let spacing =
            Spacing::new(spacing.0, spacing.1, spacing.2).map_err(|e| value_error("spacing", e))?;
        let volume = Volume::new(data, spacing).map_err(|e| value_error("hu", e))?;
        ct_io::nifti::write(&path, &volume).map_err(io_error)
    })
}

pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    parent.add_function(wrap_pyfunction!(read_volume, parent)?)?;
    parent.add_function(wrap_pyfunction!(read_series, parent)?)?;
    parent.add_function(wrap_pyfunction!(write_nifti, parent)?)?;
    Ok(())
}
