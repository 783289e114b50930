#![deny(missing_docs)]
//! Reading and writing chest-CT volumes.
//!
//! * [`dicom`]: a folder of DICOM files → [`Scan`] in HU (grouped by SeriesInstanceUID,
//!   sorted along the slice normal, spacing from positions; uncompressed, deflate, RLE,
//!   JPEG lossless and JPEG 2000 decoded), and an uncompressed CT series writer.
//! * [`nifti`]: `.nii` / `.nii.gz` read and write with spacing and orientation.
//! * [`npy`]: `.npy` read and write (`int16` HU, `uint8`, `uint16`, `float32`, ...).
//! * [`slices`]: folders of PNG/TIFF/JPEG slices (natural name order) read and write.
//! * [`dataset`]: COVID-CT-MD and `root/<class>/<subject>` layouts, loaded lazily/in parallel.
//! * [`read_volume`] / [`write_volume`]: pick the format from the path.
//!
//! Volumes are `(z, y, x)`; slice 0 is the one with the smallest position along
//! `row direction × column direction`. Anything odd met while reading (fallback sort keys,
//! uneven gaps, skipped files, non-CT modality) is reported in `scan.meta.warnings`; bad input
//! is a typed [`Error`] naming the file at fault, never a panic.
//!
//! # Example
//! ```
//! use ct_core::{Scan, Spacing, Volume};
//! use ndarray::Array3;
//!
//! let dir = std::env::temp_dir().join(format!("ct-io-doc-{}", std::process::id()));
//! let hu = Array3::from_shape_fn((3, 8, 8), |(z, y, x)| (z * 100 + y * 10 + x) as i16 - 1000);
//! let vol = Volume::new(hu, Spacing::new(2.5, 0.7, 0.7)?)?;
//! let scan = Scan::new("phantom-1", None, vol);
//! ct_io::dicom::write_series(&dir, &scan)?;
//! let back = ct_io::read_volume(&dir)?;
//! assert_eq!(back.volume.data(), scan.volume.data());
//! assert_eq!(back.volume.spacing(), scan.volume.spacing());
//! assert_eq!(back.id, "phantom-1");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod array;
pub mod dataset;
pub mod dicom;
mod error;
pub mod nifti;
pub mod npy;
pub mod output;
pub mod slices;
mod util;

use std::path::Path;

pub use array::{AnyArray, Sample};
pub use ct_core::{Label, Meta, Scan, Spacing, Volume};
pub use error::{Error, Result};
pub use util::{natural_cmp, uid_from};

/// What [`detect`] found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder holding DICOM files.
    DicomFolder,
    /// A single DICOM file (its folder's series is read).
    DicomFile,
    /// `.nii` / `.nii.gz`.
    Nifti,
    /// `.npy`.
    Npy,
    /// A folder of PNG/TIFF/JPEG slices.
    SliceFolder,
}

fn lower_name(path: &Path) -> String {
    util::file_name(path).to_ascii_lowercase()
}

/// Detects the format of `path` from its extension (files) or contents (folders).
pub fn detect(path: &Path) -> Result<Format> {
    if path.is_dir() {
        let files = util::list_files(path)?;
        if files.iter().any(|f| dicom::is_dicom_file(f)) {
            return Ok(Format::DicomFolder);
        }
        if files.iter().any(|f| slices::is_image_file(f)) {
            return Ok(Format::SliceFolder);
        }
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: format!(
                "folder of {} files holds no DICOM file (DICM magic) and no PNG/TIFF/JPEG slice",
                files.len()
            ),
        });
    }
    if !path.exists() {
        return Err(Error::BadPath {
            path: path.to_path_buf(),
            reason: "does not exist".into(),
        });
    }
    let name = lower_name(path);
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Ok(Format::Nifti)
    } else if name.ends_with(".npy") {
        Ok(Format::Npy)
    } else if dicom::is_dicom_file(path) {
        Ok(Format::DicomFile)
    } else {
        Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: "expected a DICOM folder or file, .nii, .nii.gz, .npy or a slice-image folder"
                .into(),
        })
    }
}

/// Reads any supported volume: a DICOM folder (the largest series, see
/// [`dicom::read_series`]), a single DICOM file (its series within its folder), `.nii` /
/// `.nii.gz`, `.npy` (int16 HU) or a PNG/TIFF/JPEG slice folder.
pub fn read_volume(path: &Path) -> Result<Scan> {
    match detect(path)? {
        Format::DicomFolder => dicom::read_series(path, &dicom::DicomReadOptions::default()),
        Format::DicomFile => {
            let one = dicom::read_slice(path)?;
            let dir = path.parent().unwrap_or(Path::new("."));
            let opts = dicom::DicomReadOptions {
                series_uid: Some(one.header.series_uid.unwrap_or_default()),
                ..Default::default()
            };
            dicom::read_series(dir, &opts)
        }
        Format::Nifti => nifti::read(path),
        Format::Npy => npy::read_scan(path),
        Format::SliceFolder => slices::read_scan(path),
    }
}

/// Writes a scan by the output path: `.npy` (int16 HU, `(z, y, x)`), `.nii` / `.nii.gz`
/// (int16 with orientation), anything else is a folder receiving a DICOM series.
pub fn write_volume(path: &Path, scan: &Scan) -> Result<()> {
    let name = lower_name(path);
    if name.ends_with(".npy") {
        npy::write(path, scan.volume.view())
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        nifti::write_scan(path, scan)
    } else if path.extension().is_some() && !path.is_dir() {
        Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            reason: "output must end in .npy, .nii or .nii.gz, or be a folder (DICOM series)"
                .into(),
        })
    } else {
        dicom::write_series(path, scan)
    }
}
