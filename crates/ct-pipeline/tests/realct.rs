//! `predict` on real chest CT: a bundle of a tiny phantom run applied to the registry scans
//! of `tools/realct/fetch.sh` gives each a label, probabilities summing to 1 and a page with
//! pictures, flags the scans as lying outside its training data, and refuses the ones it
//! cannot read as a chest volume (one slice; an upper-abdomen series without lungs) with a
//! reason.
//!
//! ```text
//! tools/realct/fetch.sh && cargo test -p ct-pipeline --test realct -- --nocapture
//! ```

use ct_pipeline::{Error, Predictor, run, write_prediction_page};

mod common;
use common::tiny;

#[path = "../../../tools/realct/cache.rs"]
mod realct_cache;
use realct_cache::cache;

/// Chest scans (DICOM series with a couch; NIfTI with tumours).
const CHEST: [&str; 2] = ["lidc_0001", "pyrad_lung1.nii.gz"];

#[test]
fn predict_gives_real_chest_ct_a_label_a_page_and_a_warning() {
    let Some(cache) = cache() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let s = run(&tiny(dir.path(), "fit")).expect("pipeline runs");
    let predictor = Predictor::load(&s.bundle.expect("bundle")).expect("loads");
    let checked = predictor.bundle().trained_on.ranges.ranges.len();
    for name in CHEST {
        let scan = ct_io::read_volume(&cache.join(name)).expect("real scan reads");
        let p = predictor.predict(&scan).expect("a prediction");
        let sum: f64 = p.proba.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9, "{name}: {:?}", p.proba);
        assert!(p.lung_ml > 2000.0, "{name}: {} mL of lung", p.lung_ml);
        // 64² phantoms do not speak for a 512² patient: the prediction says so.
        assert!(!p.outside.is_empty(), "{name}: nothing flagged");
        let page =
            write_prediction_page(&dir.path().join("pages"), &p, &predictor).expect("page written");
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(html.contains("data:image/png;base64,"), "{name}: pictures");
        assert!(html.contains("outside the range"), "{name}: the warning");
        println!(
            "{name}: label={} p={:.3?} lung_ml={:.0} outside_training={}/{checked} ({:.1} s)",
            p.label,
            p.proba,
            p.lung_ml,
            p.outside.len(),
            p.seconds
        );
    }
    let one_slice = ct_io::read_volume(&cache.join("pydicom_ct_small.dcm")).expect("reads");
    let e = predictor.predict(&one_slice).err().expect("refused");
    assert!(matches!(e, Error::NotEnoughData(_)), "{e}");
    let abdomen = ct_io::read_volume(&cache.join("ts_dicom")).expect("reads");
    let e = predictor.predict(&abdomen).err().expect("refused").chain();
    assert!(e.contains("no lung found"), "{e}");
}

/// The file-times EDA on real DICOM: the dates the headers carry (checked against pydicom's
/// reading of the same files: CT_small's study 2004-01-19 07:27:30, acquisition 1997-04-30
/// 11:29:36; LIDC's anonymised 2000-01-01 without times) and the files' own times, per class
/// of a class tree built from the cache.
#[test]
fn file_times_of_real_dicom() {
    let Some(cache) = cache() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("data");
    for (class, subject, files) in [
        ("normal", "lidc", vec![cache.join("lidc_0001")]),
        ("cap", "ct_small", vec![cache.join("pydicom_ct_small.dcm")]),
        ("covid", "ts", vec![cache.join("ts_dicom")]),
    ] {
        let to = root.join(class).join(subject);
        std::fs::create_dir_all(&to).expect("folder");
        for from in files {
            let sources: Vec<_> = if from.is_dir() {
                std::fs::read_dir(&from)
                    .expect("dir")
                    .map(|e| e.expect("entry").path())
                    .collect()
            } else {
                vec![from]
            };
            for f in sources.into_iter().take(5) {
                std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
            }
        }
    }
    let ds = ct_io::dataset::Dataset::open(&root).expect("class tree");
    let f = ct_pipeline::survey_file_times(&ds);
    print!("{}", f.text());
    assert_eq!(f.grouping, "class");
    assert_eq!(f.subjects.len(), 3, "skipped: {:?}", f.skipped);
    let subject = |id: &str| f.subjects.iter().find(|s| s.id == id).expect("subject");
    let when = |id: &str, kind: &str| {
        subject(id)
            .times
            .get(kind)
            .map(|&t| ct_io::dicom::format_seconds(t))
    };
    assert_eq!(
        when("ct_small", "DICOM study").as_deref(),
        Some("2004-01-19 07:27:30")
    );
    assert_eq!(
        when("ct_small", "DICOM acquisition").as_deref(),
        Some("1997-04-30 11:29:36")
    );
    assert_eq!(
        when("ct_small", "DICOM instance creation").as_deref(),
        Some("2004-01-19 07:27:31")
    );
    assert_eq!(
        when("lidc", "DICOM study").as_deref(),
        Some("2000-01-01 00:00:00")
    );
    assert_eq!(when("lidc", "DICOM instance creation"), None);
    assert_eq!(
        when("ts", "DICOM acquisition").as_deref(),
        Some("2022-12-08 14:03:52")
    );
    for s in &f.subjects {
        assert!(s.times.contains_key("file modified"), "{}", s.id);
    }
    // Three groups of one subject each: every DICOM date tells its one subject apart.
    let study = f
        .kinds
        .iter()
        .find(|k| k.name == "DICOM study")
        .expect("study dates");
    assert_eq!(study.groups.len(), 3);
}
