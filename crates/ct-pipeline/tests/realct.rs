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
