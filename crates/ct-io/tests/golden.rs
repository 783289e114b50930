//! Golden tests against pydicom / nibabel / numpy on the fixtures made by
//! `tools/ct-io/make_fixtures.py` (see `tests/data/README.md`).
//!
//! Tolerance: HU values must be identical (the references are integers after pydicom's
//! `apply_modality_lut` rounded half away from zero, the same rule ct-io uses). Spacing and
//! origins are compared to 1e-4 mm: DICOM stores them as decimal strings (DS) and NIfTI as
//! f32, so the last digits are representation noise, not a disagreement.

use std::path::{Path, PathBuf};

use ct_io::dicom::{self, DicomReadOptions};
use ct_io::{AnyArray, Error, npy};
use ndarray::{Array2, Array3, s};

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn i16_npy(p: &str) -> Array3<i16> {
    match npy::read(&data(p)).unwrap() {
        AnyArray::I16(a) => a,
        other => panic!("{p}: expected int16, got {}", other.dtype()),
    }
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("expected.json")).unwrap()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

#[test]
fn axial_series_in_every_transfer_syntax_matches_pydicom() {
    let want = i16_npy("axial_hu.npy");
    for dir in [
        "axial_explicit",
        "axial_implicit",
        "axial_deflate",
        "axial_rle",
        "axial_jpegls14",
    ] {
        let scan = dicom::read_series(&data(dir), &DicomReadOptions::default())
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(scan.volume.data(), &want, "{dir}: HU differ from pydicom");
        let sp = scan.volume.spacing();
        assert!(
            close(sp.z, 2.5) && close(sp.y, 0.7) && close(sp.x, 0.8),
            "{dir}: {sp:?}"
        );
        let o = scan.volume.origin();
        assert!(
            close(o[0], -50.0) && close(o[1], -60.0) && close(o[2], -80.0),
            "{dir}: {o:?}"
        );
        assert_eq!(scan.id, "FIXTURE-1");
        assert!(scan.meta.series_uid.is_some());
        assert_eq!(scan.meta.extra["SortedBy"], "Position");
    }
}

#[test]
fn non_dicom_files_are_skipped_and_listed() {
    let scan = dicom::read_series(&data("axial_explicit"), &DicomReadOptions::default()).unwrap();
    let w = scan.meta.warnings.join("\n");
    assert!(w.contains("skipped 2 non-DICOM file(s)"), "{w}");
    assert!(w.contains("notes.txt") && w.contains("thumbs.db"), "{w}");
    // Nothing else is wrong with this series.
    assert_eq!(scan.meta.warnings.len(), 1, "{w}");
}

#[test]
fn oblique_unsigned_12bit_with_fractional_rescale_matches_pydicom() {
    let want = i16_npy("oblique_hu.npy");
    let scan = dicom::read_series(&data("oblique_u12"), &DicomReadOptions::default()).unwrap();
    assert_eq!(scan.volume.data(), &want);
    assert!(close(scan.volume.spacing().z, 3.0));
    assert!(scan.meta.warnings.is_empty(), "{:?}", scan.meta.warnings);
}

#[test]
fn real_single_files_match_pydicom() {
    let exp = expected();
    for name in ["CT_small", "J2K_pixelrep_mismatch", "693_J2KI"] {
        let e = &exp[name];
        let res = dicom::read_slice(&data(&format!("{name}.dcm")));
        let slice = match res {
            Ok(s) => s,
            Err(err) => panic!("{name} ({}): {err}", e["transfer_syntax"]),
        };
        let hu = slice.hu.mapv(|v| v as i64);
        let shape = [
            e["shape"][0].as_u64().unwrap() as usize,
            e["shape"][1].as_u64().unwrap() as usize,
        ];
        assert_eq!(hu.dim(), (shape[0], shape[1]), "{name}");
        assert_eq!(
            hu.sum(),
            e["sum"].as_i64().unwrap(),
            "{name}: HU sum differs from pydicom"
        );
        assert_eq!(
            hu.mapv(|v| v * v).sum(),
            e["sumsq"].as_i64().unwrap(),
            "{name}: HU sum of squares differs from pydicom"
        );
        let dec: Array2<i16> =
            i16_npy(&format!("{name}_hu_dec4.npy")).index_axis_move(ndarray::Axis(0), 0);
        assert_eq!(slice.hu.slice(s![..;4, ..;4]), dec, "{name}");
    }
}

#[test]
fn fallbacks_are_reported() {
    let scan =
        dicom::read_series(&data("fallback_sliceloc"), &DicomReadOptions::default()).unwrap();
    assert_eq!(scan.meta.extra["SortedBy"], "SliceLocation");
    assert!(
        scan.meta
            .warnings
            .iter()
            .any(|w| w.contains("sorted by SliceLocation"))
    );
    assert!(close(scan.volume.spacing().z, 2.5));
    // Slice order: the fixture's slice k has content offset +7k, so means increase along z
    // only if the order is right; compare with the position-sorted twin instead.
    let scan2 =
        dicom::read_series(&data("fallback_instance"), &DicomReadOptions::default()).unwrap();
    assert_eq!(scan2.meta.extra["SortedBy"], "InstanceNumber");
    assert!(
        scan2
            .meta
            .warnings
            .iter()
            .any(|w| w.contains("sorted by InstanceNumber"))
    );
    assert_eq!(scan.volume.data(), scan2.volume.data());
    // spacing.z falls back to SliceThickness (2.5) when there are no positions.
    assert!(close(scan2.volume.spacing().z, 2.5));
}

#[test]
fn duplicate_and_uneven_positions_are_reported() {
    let dup = dicom::read_series(&data("duplicate_pos"), &DicomReadOptions::default()).unwrap();
    assert_eq!(dup.volume.shape()[0], 4, "duplicates are kept");
    assert!(
        dup.meta
            .warnings
            .iter()
            .any(|w| w.contains("duplicated slice position")),
        "{:?}",
        dup.meta.warnings
    );
    let un = dicom::read_series(&data("uneven_gap"), &DicomReadOptions::default()).unwrap();
    assert!(
        un.meta
            .warnings
            .iter()
            .any(|w| w.contains("uneven slice gaps")),
        "{:?}",
        un.meta.warnings
    );
    assert!(close(un.volume.spacing().z, 2.5), "median gap");
}

#[test]
fn single_slice_is_a_warning_or_an_error() {
    let one = dicom::read_series(&data("single_slice"), &DicomReadOptions::default()).unwrap();
    assert_eq!(one.volume.shape(), [1, 32, 32]);
    assert!(close(one.volume.spacing().z, 2.5));
    assert!(one.meta.warnings.iter().any(|w| w.contains("single-slice")));
    let strict = DicomReadOptions {
        allow_single_slice: false,
        ..Default::default()
    };
    assert!(matches!(
        dicom::read_series(&data("single_slice"), &strict),
        Err(Error::SingleSlice { .. })
    ));
}

#[test]
fn mixed_series_reads_the_largest_or_the_one_asked() {
    let exp = expected();
    let largest = exp["mixed_series"]["largest"].as_str().unwrap();
    let other = exp["mixed_series"]["other"].as_str().unwrap();
    let list = dicom::list_series(&data("mixed_series")).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].uid.as_str(), list[0].n_files), (largest, 4));
    assert_eq!((list[1].uid.as_str(), list[1].n_files), (other, 2));
    let scan = dicom::read_series(&data("mixed_series"), &DicomReadOptions::default()).unwrap();
    assert_eq!(scan.volume.shape()[0], 4);
    assert!(scan.meta.warnings.iter().any(|w| w.contains("2 series")));
    let opts = DicomReadOptions {
        series_uid: Some(other.to_string()),
        ..Default::default()
    };
    let b = dicom::read_series(&data("mixed_series"), &opts).unwrap();
    assert_eq!(b.volume.shape()[0], 2);
    assert_eq!(b.meta.series_uid.as_deref(), Some(other));
    let missing = DicomReadOptions {
        series_uid: Some("1.2.3".into()),
        ..Default::default()
    };
    assert!(matches!(
        dicom::read_series(&data("mixed_series"), &missing),
        Err(Error::SeriesNotFound { .. })
    ));
}

#[test]
fn bad_inputs_give_typed_errors() {
    let d = DicomReadOptions::default();
    let e = dicom::read_series(&data("mixed_shape"), &d).unwrap_err();
    assert!(matches!(e, Error::MixedShapes { .. }), "{e}");
    let e = dicom::read_series(&data("truncated"), &d).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("b.dcm"), "{e}");
    let e = dicom::read_series(&data("no_pixel_data"), &d).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingTag {
                tag: "PixelData",
                ..
            }
        ),
        "{e}"
    );
    // Skipping unreadable files is opt-in and reported.
    let skip = DicomReadOptions {
        skip_unreadable: true,
        ..Default::default()
    };
    let s = dicom::read_series(&data("truncated"), &skip).unwrap();
    assert_eq!(s.volume.shape()[0], 2);
    assert!(s.meta.warnings.iter().any(|w| w.contains("b.dcm")));
    // Non-CT: a warning by default, an error when CT is required.
    let mr = dicom::read_series(&data("modality_mr"), &d).unwrap();
    assert!(
        mr.meta
            .warnings
            .iter()
            .any(|w| w.contains("modality is MR"))
    );
    let strict = DicomReadOptions {
        require_ct: true,
        ..Default::default()
    };
    assert!(matches!(
        dicom::read_series(&data("modality_mr"), &strict),
        Err(Error::NotCt { .. })
    ));
    // A folder with no DICOM at all.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"hello").unwrap();
    assert!(matches!(
        dicom::read_series(tmp.path(), &d),
        Err(Error::NoDicom { skipped: 1, .. })
    ));
}

#[test]
fn nifti_matches_nibabel() {
    let exp = expected();
    for (file, golden) in [
        ("vol_i16.nii.gz", "vol_i16_nib.npy"),
        ("vol_u8_scaled.nii", "vol_u8_scaled_nib.npy"),
        ("vol_flip.nii", "vol_flip_nib.npy"),
    ] {
        let scan = ct_io::nifti::read(&data(file)).unwrap();
        let mut want = i16_npy(golden);
        let e = &exp["nifti"][file];
        let aff: Vec<Vec<f64>> = serde_json::from_value(e["affine"].clone()).unwrap();
        if aff[2][2] < 0.0 {
            // ct-io puts slice 0 at the smallest position along the normal.
            want.invert_axis(ndarray::Axis(0));
            assert!(scan.meta.warnings.iter().any(|w| w.contains("reversed")));
        }
        assert_eq!(scan.volume.data(), &want, "{file}");
        let z: Vec<f64> = serde_json::from_value(e["zooms"].clone()).unwrap();
        let sp = scan.volume.spacing();
        assert!(
            close(sp.x, z[0]) && close(sp.y, z[1]) && close(sp.z, z[2]),
            "{file}: {sp:?} vs {z:?}"
        );
    }
    // Origin: LPS of nibabel's RAS translation.
    let scan = ct_io::nifti::read(&data("vol_i16.nii.gz")).unwrap();
    let o = scan.volume.origin();
    assert!(
        close(o[0], -90.0) && close(o[1], -110.0) && close(o[2], -40.0),
        "{o:?}"
    );
    let flip = ct_io::nifti::read(&data("vol_flip.nii")).unwrap();
    let of = flip.volume.origin();
    // k runs from z = 40 down to 40 - 6*2.5 = 25: reversed, slice 0 is at z = 25.
    assert!(close(of[2], 25.0), "{of:?}");
}

#[test]
fn npy_matches_numpy() {
    let f = |z: usize, y: usize, x: usize| (100 * z + 10 * y + x) as f64;
    for (file, signed) in [
        ("npy_int16.npy", true),
        ("npy_uint8.npy", false),
        ("npy_uint16.npy", false),
        ("npy_float32.npy", false),
        ("npy_uint32.npy", false),
        ("npy_fortran_i2.npy", true),
        ("npy_big_u2.npy", false),
    ] {
        let a = npy::read(&data(file)).unwrap();
        assert_eq!(a.shape(), [2, 3, 4], "{file}");
        let (hu, _) = a.to_i16();
        for ((z, y, x), v) in hu.indexed_iter() {
            let want = f(z, y, x) - if signed { 50.0 } else { 0.0 };
            assert_eq!(*v as f64, want, "{file} at {z},{y},{x}");
        }
    }
    // ct-io writes byte-identical files to numpy's np.save for C-order little-endian arrays.
    for file in [
        "npy_int16.npy",
        "npy_uint8.npy",
        "npy_uint16.npy",
        "npy_float32.npy",
        "npy_uint32.npy",
    ] {
        let bytes = std::fs::read(data(file)).unwrap();
        let ours = match npy::read(&data(file)).unwrap() {
            AnyArray::I16(a) => npy::to_bytes(a.view()),
            AnyArray::U8(a) => npy::to_bytes(a.view()),
            AnyArray::U16(a) => npy::to_bytes(a.view()),
            AnyArray::F32(a) => npy::to_bytes(a.view()),
            AnyArray::U32(a) => npy::to_bytes(a.view()),
            other => panic!("{file}: {}", other.dtype()),
        };
        assert_eq!(ours, bytes, "{file}: bytes differ from np.save");
    }
}
