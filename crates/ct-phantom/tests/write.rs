//! The disk layout: DICOM and NIfTI cohorts read back with ct-io, masks, Index.csv and
//! ground_truth.json.

use ct_core::Label;
use ct_phantom::{
    CohortConfig, Format, class_folder, generate_cohort, read_ground_truth, write_cohort,
};

fn cfg() -> CohortConfig {
    CohortConfig {
        n_per_class: 1,
        slices: (8, 8),
        size: 48,
        inject_fraction: 1.0,
        max_injected: 2,
        ..CohortConfig::default()
    }
}

#[test]
fn dicom_cohort_reads_back() {
    let cohort = generate_cohort(&cfg()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_cohort(dir.path(), &cohort, Format::Dicom).unwrap();
    for p in &cohort {
        let series = dir
            .path()
            .join(class_folder(p.truth.label))
            .join(&p.scan.id);
        let back = ct_io::read_volume(&series).unwrap();
        assert_eq!(back.volume.data(), p.scan.volume.data(), "{}", p.scan.id);
        let (a, b) = (back.volume.spacing(), p.scan.volume.spacing());
        assert!(
            (a.z - b.z).abs() < 1e-3 && (a.y - b.y).abs() < 1e-6,
            "{a:?} vs {b:?}"
        );
        let mask = ct_io::read_volume(
            &dir.path()
                .join("masks")
                .join(format!("{}_lesion.nii.gz", p.scan.id)),
        );
        assert!(mask.is_ok(), "{mask:?}");
    }
    let gt = read_ground_truth(dir.path()).unwrap();
    assert_eq!(gt.format, Format::Dicom);
    assert_eq!(gt.scans.len(), 3);
    for (e, p) in gt.scans.iter().zip(&cohort) {
        assert_eq!(e.truth.id, p.truth.id);
        assert_eq!(e.truth.injected, p.truth.injected);
        assert!(!e.truth.injected.is_empty());
        assert!(dir.path().join(&e.path).is_dir());
    }
    let index = std::fs::read_to_string(dir.path().join("Index.csv")).unwrap();
    assert!(index.starts_with("Folder,Diagnosis,Contrast"));
    assert_eq!(index.lines().count(), 4);
    // ct-io's data-set reader sees the three subjects with their classes and groups.
    let ds = ct_io::dataset::Dataset::open(dir.path()).unwrap();
    let mut labels: Vec<Label> = ds.entries().iter().filter_map(|e| e.label).collect();
    labels.sort();
    assert_eq!(labels, Label::ALL.to_vec());
}

#[test]
fn nifti_cohort_reads_back_with_masks() {
    let cohort = generate_cohort(&cfg()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_cohort(dir.path(), &cohort, Format::Nifti).unwrap();
    let gt = read_ground_truth(&dir.path().join("ground_truth.json")).unwrap();
    for (e, p) in gt.scans.iter().zip(&cohort) {
        let back = ct_io::read_volume(&dir.path().join(&e.path)).unwrap();
        assert_eq!(back.volume.data(), p.scan.volume.data());
        let lung = ct_io::read_volume(&dir.path().join(&e.lung_mask_path)).unwrap();
        let ones = lung.volume.data().iter().filter(|&&v| v == 1).count();
        assert_eq!(ones, p.truth.lung_voxels);
    }
    // A file where the folder should be gives a typed error naming the path.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"x").unwrap();
    let err = write_cohort(&blocker, &cohort, Format::Nifti).unwrap_err();
    assert!(err.to_string().contains("blocked"), "{err}");
}
