//! Writers read back by the readers, slice folders, `read_volume` detection and data-set
//! layouts, on temporary folders.

use std::path::Path;

use ct_core::{Label, Scan, Spacing, Volume, Window};
use ct_io::dataset::{Dataset, DatasetOptions, EntryKind, Layout};
use ct_io::dicom::{self, DicomReadOptions};
use ct_io::slices::{self, SliceFormat};
use ct_io::{AnyArray, Error, nifti, npy};
use ndarray::Array3;
use rayon::prelude::*;

fn phantom(id: &str, nz: usize) -> Scan {
    let data = Array3::from_shape_fn((nz, 12, 10), |(z, y, x)| {
        (z as i32 * 300 + y as i32 * 20 + x as i32 - 1024) as i16
    });
    let vol = Volume::with_origin(
        data,
        Spacing::new(1.25, 0.7, 0.8).unwrap(),
        [-5.0, 10.0, 20.0],
    )
    .unwrap();
    Scan::new(id, Some(Label::Covid), vol)
}

#[test]
fn dicom_writer_round_trips_exactly_including_oblique_orientation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut scan = phantom("case-7", 4);
    let (c, s) = (0.8f64, 0.6f64);
    scan.meta.extra.insert(
        "ImageOrientationPatient".into(),
        format!("1\\0\\0\\0\\{c}\\{}", -s),
    );
    let dir = tmp.path().join("series");
    dicom::write_series(&dir, &scan).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"IM0001.dcm".to_string()) && names.len() == 4);
    let back = dicom::read_series(&dir, &DicomReadOptions::default()).unwrap();
    assert_eq!(back.volume.data(), scan.volume.data());
    assert_eq!(back.id, "case-7");
    assert_eq!(back.meta.patient_id.as_deref(), Some("case-7"));
    assert!(back.meta.warnings.is_empty(), "{:?}", back.meta.warnings);
    let (a, b) = (back.volume.spacing(), scan.volume.spacing());
    assert!((a.z - b.z).abs() < 1e-6 && (a.y - b.y).abs() < 1e-9 && (a.x - b.x).abs() < 1e-9);
    for k in 0..3 {
        assert!((back.volume.origin()[k] - scan.volume.origin()[k]).abs() < 1e-6);
    }
    // Deterministic: the same scan gives the same series UID and identical bytes.
    let dir2 = tmp.path().join("again");
    dicom::write_series(&dir2, &scan).unwrap();
    assert_eq!(
        std::fs::read(dir.join("IM0003.dcm")).unwrap(),
        std::fs::read(dir2.join("IM0003.dcm")).unwrap()
    );
    let list = dicom::list_series(&dir).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].uid,
        ct_io::uid_from(&[b"covid-ct series", b"case-7"])
    );
    // read_volume on one file reads its whole series.
    let one = ct_io::read_volume(&dir.join("IM0002.dcm")).unwrap();
    assert_eq!(one.volume.data(), scan.volume.data());
}

#[test]
fn nifti_and_npy_round_trip_through_write_volume() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = phantom("v", 3);
    for name in ["v.nii", "v.nii.gz", "v.npy"] {
        let p = tmp.path().join(name);
        ct_io::write_volume(&p, &scan).unwrap();
        let back = ct_io::read_volume(&p).unwrap();
        assert_eq!(back.volume.data(), scan.volume.data(), "{name}");
        assert_eq!(back.id, "v");
    }
    let back = nifti::read(&tmp.path().join("v.nii.gz")).unwrap();
    assert!((back.volume.spacing().z - 1.25).abs() < 1e-6);
    // u8 masks write too.
    let mask = scan.volume.map(|&v| (v > 0) as u8);
    nifti::write(&tmp.path().join("m.nii"), &mask).unwrap();
    let img = nifti::read_image(&tmp.path().join("m.nii")).unwrap();
    assert_eq!(img.data, AnyArray::U8(mask.data().clone()));
    assert!(matches!(
        ct_io::write_volume(&tmp.path().join("x.mha"), &scan),
        Err(Error::UnknownFormat { .. })
    ));
}

#[test]
fn slice_folders_natural_order_and_depths() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = phantom("s", 12);
    // 16-bit PNG and TIFF are exact (HU + 1024).
    for (fmt, sub) in [(SliceFormat::Png16, "png"), (SliceFormat::Tiff16, "tif")] {
        let d = tmp.path().join(sub);
        slices::write_folder(&d, &scan.volume, fmt).unwrap();
        let back = ct_io::read_volume(&d).unwrap();
        assert_eq!(back.volume.data(), scan.volume.data(), "{sub}");
    }
    // Natural order: rename to 1.png .. 12.png so that lexicographic order would be wrong.
    let d = tmp.path().join("png");
    for k in 1..=12 {
        std::fs::rename(d.join(format!("{k:04}.png")), d.join(format!("{k}.png"))).unwrap();
    }
    let back = slices::read_scan(&d).unwrap();
    assert_eq!(back.volume.data(), scan.volume.data());
    // 8-bit: grey levels kept, with a warning.
    let d8 = tmp.path().join("png8");
    slices::write_folder(&d8, &scan.volume, SliceFormat::Png8(Window::LUNG)).unwrap();
    let back = slices::read_scan(&d8).unwrap();
    assert_eq!(
        back.volume.data(),
        &scan.volume.window(Window::LUNG).data().mapv(|v| v as i16)
    );
    assert!(back.meta.warnings.iter().any(|w| w.contains("not HU")));
    let dj = tmp.path().join("jpg");
    slices::write_folder(&dj, &scan.volume, SliceFormat::Jpeg8(Window::LUNG)).unwrap();
    assert_eq!(slices::read_scan(&dj).unwrap().volume.shape(), [12, 12, 10]);
    // A slice of another size is a typed error naming it.
    let small = Volume::new(Array3::<i16>::zeros((1, 5, 5)), Spacing::default()).unwrap();
    let odd = tmp.path().join("odd");
    slices::write_folder(&odd, &small, SliceFormat::Png16).unwrap();
    std::fs::copy(odd.join("0001.png"), d.join("99.png")).unwrap();
    assert!(matches!(slices::read_scan(&d), Err(Error::Image { .. })));
}

fn write_subject(root: &Path, class: &str, id: &str, kind: EntryKind) {
    let scan = phantom(id, 2);
    let cdir = root.join(class);
    std::fs::create_dir_all(&cdir).unwrap();
    match kind {
        EntryKind::DicomFolder => dicom::write_series(&cdir.join(id), &scan).unwrap(),
        EntryKind::Nifti => nifti::write_scan(&cdir.join(format!("{id}.nii.gz")), &scan).unwrap(),
        EntryKind::Npy => npy::write(&cdir.join(format!("{id}.npy")), scan.volume.view()).unwrap(),
        EntryKind::SliceFolder => {
            slices::write_folder(&cdir.join(id), &scan.volume, SliceFormat::Png16).unwrap();
        }
    }
}

#[test]
fn covid_ct_md_layout_with_index_and_slice_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_subject(root, "COVID-19 subjects", "P001", EntryKind::DicomFolder);
    write_subject(root, "covid-19 Subjects", "P010", EntryKind::DicomFolder);
    write_subject(root, "CAP subjects", "cap002", EntryKind::DicomFolder);
    write_subject(root, "Normal subjects", "normal003", EntryKind::DicomFolder);
    std::fs::create_dir_all(root.join("Flu subjects/x")).unwrap();
    std::fs::write(
        root.join("Index.csv"),
        "Patient ID,Diagnosis,Contrast\nP001,COVID-19,high\ncap002,Normal,low\n",
    )
    .unwrap();
    npy::write(
        &root.join("Slice-level-labels.npy"),
        Array3::<u8>::zeros((1, 2, 3)).view(),
    )
    .unwrap();
    let ds = Dataset::open(root).unwrap();
    assert_eq!(ds.layout(), Layout::CovidCtMd);
    let ids: Vec<&str> = ds.entries().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.contains(&"P001") && ids.contains(&"P010"));
    let w = ds.warnings().join("\n");
    assert!(w.contains("Flu subjects"), "{w}");
    assert!(w.contains("cap002 is Normal"), "{w}");
    assert_eq!(ds.slice_label_files().len(), 1);
    let p001 = ds.entries().iter().find(|e| e.id == "P001").unwrap();
    assert_eq!(p001.contrast, Some(ct_core::Contrast::High));
    let scan = ds.load(p001).unwrap();
    assert_eq!((scan.id.as_str(), scan.label), ("P001", Some(Label::Covid)));
    assert_eq!(scan.meta.contrast, Some(ct_core::Contrast::High));
    // Parallel loading: every entry, each with its label.
    let n_ok = ds
        .par_iter()
        .map(|(e, r)| (r.unwrap().label == e.label) as usize)
        .sum::<usize>();
    assert_eq!(n_ok, 4);
    // Strict mode rejects the unknown class folder.
    let strict = DatasetOptions {
        strict: true,
        ..Default::default()
    };
    assert!(matches!(
        Dataset::open_with(root, &strict),
        Err(Error::Dataset { .. })
    ));
}

#[test]
fn generic_tree_with_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_subject(root, "normal", "n1", EntryKind::Nifti);
    write_subject(root, "cap", "c1", EntryKind::Npy);
    write_subject(root, "covid", "v1", EntryKind::SliceFolder);
    write_subject(root, "covid", "v2", EntryKind::DicomFolder);
    std::fs::write(root.join("covid/readme.txt"), "x").unwrap();
    let ds = Dataset::open(root).unwrap();
    assert_eq!(ds.layout(), Layout::ClassTree);
    let got: Vec<(String, Option<Label>, EntryKind)> = ds
        .entries()
        .iter()
        .map(|e| (e.id.clone(), e.label, e.kind))
        .collect();
    assert_eq!(got.len(), 4);
    assert!(got.contains(&("n1".into(), Some(Label::Normal), EntryKind::Nifti)));
    assert!(got.contains(&("c1".into(), Some(Label::Cap), EntryKind::Npy)));
    assert!(got.contains(&("v1".into(), Some(Label::Covid), EntryKind::SliceFolder)));
    assert!(got.contains(&("v2".into(), Some(Label::Covid), EntryKind::DicomFolder)));
    assert!(ds.warnings().iter().any(|w| w.contains("readme.txt")));
    let want = phantom("x", 2);
    for (e, r) in ds.iter() {
        let scan = r.unwrap();
        assert_eq!(scan.volume.data(), want.volume.data(), "{}", e.id);
        assert_eq!(scan.label, e.label);
    }
    assert!(matches!(
        Dataset::open(&root.join("normal/n1.nii.gz")),
        Err(Error::Dataset { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(Dataset::open(empty.path()).is_err());
}
