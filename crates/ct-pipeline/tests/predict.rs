//! A run saves itself as a bundle (`<run>/model`) and `Predictor` applies it to scans: the
//! run's own test subjects get exactly the run's probabilities; a damaged, foreign or
//! incomplete bundle is refused with its reason; a scan it cannot handle is an error.

use std::path::{Path, PathBuf};

use ct_core::{Scan, Spacing, Volume};
use ct_io::dataset::Dataset;
use ct_pipeline::{Error, MIN_SLICES, Predictor, run, write_prediction_page};
use ndarray::Array3;

mod common;
use common::tiny;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("list") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
}

/// The reason `Predictor::load` gives for a copy of the bundle changed by `edit`.
fn refusal(bundle: &Path, scratch: &Path, name: &str, edit: impl FnOnce(&Path)) -> String {
    let dir = scratch.join(name);
    copy_dir(bundle, &dir);
    edit(&dir);
    match Predictor::load(&dir) {
        Ok(_) => panic!("{name}: a damaged bundle loaded"),
        Err(e) => e.chain(),
    }
}

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("bundle.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(&p, v.to_string()).expect("write");
}

#[test]
fn the_bundle_reproduces_the_runs_test_predictions() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Five folds asked, three training subjects per class: fewer folds, and the run says so.
    let cfg = ct_pipeline::PipelineConfig {
        folds: 5,
        ..tiny(dir.path(), "fit")
    };
    let s = run(&cfg).expect("pipeline runs");
    let c = s.classification.as_ref().expect("classified");
    let note = c.cv_note.as_deref().expect("a note on the folds");
    assert!(note.contains("instead of 5"), "{note}");
    let bundle = s.bundle.clone().expect("bundle written");
    let predictor = Predictor::load(&bundle).expect("bundle loads");
    assert_eq!(predictor.bundle().trained_on.test_subjects, c.test_ids);
    assert!(predictor.bundle().model.scan_weight >= 0.0);

    let ds = Dataset::open(&cfg.run_dir().join("data")).expect("data set");
    let pages = dir.path().join("pages");
    for (i, id) in c.test_ids.iter().enumerate() {
        let e = ds.entries().iter().find(|e| &e.id == id).expect("entry");
        let scan = ds.load(e).expect("scan");
        let p = predictor.predict(&scan).expect("prediction");
        // The same per-scan stages and the same fitted models: the same numbers, bit for bit.
        assert_eq!(p.proba.to_vec(), c.test_proba[i], "{id}");
        assert_eq!(p.label.index(), c.test_pred[i], "{id}");
        assert!(p.lung_ml > 0.0);
        if i == 0 {
            let page = write_prediction_page(&pages, &p, &predictor).expect("page");
            let html = std::fs::read_to_string(page).expect("read page");
            assert!(html.contains("data:image/png;base64,"), "pictures");
            assert!(html.contains(p.label.name()) && html.contains("Which learned part"));
        }
    }

    // One-vs-rest ROC curves: their areas average to the macro AUC, and the report draws them.
    let rocs = &c.roc_curves["all"];
    if rocs.len() == 3 {
        let mean = rocs.iter().map(|r| r.auc).sum::<f64>() / 3.0;
        assert!((mean - c.roc_auc.expect("auc")).abs() < 1e-12);
    }
    assert!(cfg.run_dir().join("figures/roc_all.svg").is_file());

    refusals(&bundle, dir.path());
    unusable_scans(&predictor);
}

/// `vote: Hard`: the probabilities are vote shares of the SVM, the trees and the scan model
/// at weights (1 − w)/2, (1 − w)/2 and w, the class is their arg-max, and the bundle gives
/// the same shares for new scans.
#[test]
fn the_hard_vote_counts_classes_and_its_bundle_reproduces_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = ct_pipeline::PipelineConfig {
        vote: ensemble::VotingKind::Hard,
        ..tiny(dir.path(), "hard")
    };
    let s = run(&cfg).expect("pipeline runs");
    let c = s.classification.as_ref().expect("classified");
    assert_eq!(c.vote, ensemble::VotingKind::Hard);
    let predictor = Predictor::load(s.bundle.as_ref().expect("bundle")).expect("loads");
    let w = predictor.bundle().model.scan_weight;
    let a = (1.0 - w) / 2.0;
    // Every share is a sum of some of the three votes.
    let sums = [0.0, a, 2.0 * a, w, a + w, 2.0 * a + w];
    for (row, &pred) in c.test_proba.iter().zip(&c.test_pred) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{row:?}");
        assert!(
            row.iter()
                .all(|v| sums.iter().any(|s| (s - v).abs() < 1e-12)),
            "{row:?}"
        );
        assert_eq!(
            pred,
            ensemble::argmax_rows(&ndarray::Array2::from_shape_vec((1, 3), row.clone()).unwrap())
                [0]
        );
    }
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cfg.run_dir().join("metrics.json")).expect("metrics"),
    )
    .expect("json");
    assert_eq!(metrics["vote"], "Hard");
    let report = std::fs::read_to_string(cfg.run_dir().join("report.html")).expect("report");
    assert!(report.contains("hard vote"));
    // The file-times EDA of the phantom data set (DICOM without dates: file times only).
    assert_eq!(metrics["file_times"]["subjects"], 12);
    // The OTDD augmentation guidance: three classes, three enhancements each.
    let g = &metrics["augmentation_guidance"];
    let kinds = ["HE", "CLAHE", "HE+CLAHE"];
    assert!(
        kinds.contains(&g["preferred"].as_str().expect("preferred")),
        "{g}"
    );
    assert_eq!(g["classes"].as_array().expect("classes").len(), 3);
    for c in g["classes"].as_array().expect("classes") {
        for d in c["distances"].as_array().expect("distances") {
            assert!(kinds.contains(&d[0].as_str().expect("kind")));
            assert!(d[1].as_f64().expect("distance").is_finite(), "{c}");
        }
    }
    assert!(report.contains("OTDD augmentation guidance"));
    assert!(report.contains("File and DICOM times"));
    let ds = Dataset::open(&cfg.run_dir().join("data")).expect("data set");
    for (i, id) in c.test_ids.iter().enumerate().take(3) {
        let e = ds.entries().iter().find(|e| &e.id == id).expect("entry");
        let p = predictor
            .predict(&ds.load(e).expect("scan"))
            .expect("prediction");
        assert_eq!(p.proba.to_vec(), c.test_proba[i], "{id}");
    }
}

/// Each way a bundle can be unusable gives its reason.
fn refusals(bundle: &Path, scratch: &Path) {
    let e = refusal(bundle, scratch, "missing", |d| {
        std::fs::remove_file(d.join("lesion_detector.json")).expect("rm")
    });
    assert!(e.contains("lesion_detector.json"), "{e}");
    let e = refusal(bundle, scratch, "changed", |d| {
        let p = d.join("pattern_focus_model.json");
        let mut b = std::fs::read(&p).expect("read");
        b.push(b' ');
        std::fs::write(&p, b).expect("write");
    });
    assert!(
        e.contains("has changed since the bundle was written"),
        "{e}"
    );
    let e = refusal(bundle, scratch, "version", |d| {
        edit_json(d, |v| v["version"] = 99.into())
    });
    assert!(e.contains("format version 99"), "{e}");
    let e = refusal(bundle, scratch, "foreign", |d| {
        edit_json(d, |v| v["format"] = "something else".into())
    });
    assert!(e.contains("not a covid-ct pipeline bundle"), "{e}");
    let e = refusal(bundle, scratch, "features", |d| {
        edit_json(d, |v| {
            v["feature_names"].as_array_mut().expect("names").pop();
        })
    });
    assert!(e.contains("is not the one this build computes"), "{e}");
    let e = refusal(bundle, scratch, "escape", |d| {
        edit_json(d, |v| v["files"][0]["file"] = "../../etc/passwd".into())
    });
    assert!(e.contains("not a plain name"), "{e}");
    let e = refusal(bundle, scratch, "text", |d| {
        std::fs::write(d.join("bundle.json"), "{ not json").expect("write")
    });
    assert!(e.contains("not JSON"), "{e}");
    let e = Predictor::load(&PathBuf::from("/no/such/bundle"))
        .err()
        .expect("a missing folder")
        .chain();
    assert!(e.contains("no such folder"), "{e}");
}

/// A scan too short to summarise, and one without lungs, are errors (never a diagnosis).
fn unusable_scans(predictor: &Predictor) {
    let spacing = Spacing::new(2.0, 0.8, 0.8).expect("spacing");
    let short = Scan::new(
        "short",
        None,
        Volume::new(
            Array3::from_elem((MIN_SLICES - 1, 64, 64), -800i16),
            spacing,
        )
        .expect("volume"),
    );
    let e = predictor.predict(&short).err().expect("too few slices");
    assert!(matches!(e, Error::NotEnoughData(_)), "{e}");
    let solid = Scan::new(
        "solid",
        None,
        Volume::new(Array3::from_elem((20, 64, 64), 40i16), spacing).expect("volume"),
    );
    let e = predictor.predict(&solid).err().expect("no lungs").chain();
    assert!(e.contains("segment"), "{e}");
}

/// A data set without contrast labels: the gate is looked for in the training subjects'
/// contrast statistics (found, or one group, said either way), saved in the bundle, and
/// applied to new scans; how often it agrees with the phantoms' true export groups is
/// printed (a measurement, not a promise: see docs/pipeline.md).
#[test]
fn without_contrast_labels_the_gate_comes_from_the_statistics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let make = ct_pipeline::PipelineConfig {
        stage: ct_pipeline::Stage::Preprocess,
        ..tiny(dir.path(), "make")
    };
    run(&make).expect("phantoms written");
    let data = make.run_dir().join("data");
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("ground_truth.json")).expect("truth"),
    )
    .expect("json");
    // The data set as a user would have it: class folders, no contrast column.
    let cfg = ct_pipeline::PipelineConfig {
        name: "unlabelled".into(),
        data: Some(data.clone()),
        ..tiny(dir.path(), "x")
    };
    let s = run(&cfg).expect("run");
    let c = s.classification.as_ref().expect("classified");
    assert!(c.gate.is_none(), "no labelled gate without labels");
    let u = c.unsupervised_gate.as_ref().expect("unsupervised gate");
    let sep = u.separation.expect("the statistics vary");
    assert_eq!(sep.n_high + sep.n_low, predictor_train_count(&s));
    let report = std::fs::read_to_string(cfg.run_dir().join("report.html")).expect("report");
    assert!(report.contains("no contrast labels"), "the report says so");
    let predictor = Predictor::load(s.bundle.as_ref().expect("bundle")).expect("loads");
    assert_eq!(predictor.bundle().model.gate, u.gate);
    let ds = Dataset::open(&data).expect("data set");
    let mut agree = 0;
    for e in ds.entries() {
        let p = predictor
            .predict(&ds.load(e).expect("scan"))
            .expect("prediction");
        assert_eq!(p.contrast.is_some(), u.gate.is_some(), "{}", e.id);
        let want = truth[&e.id]["contrast"].as_str().expect("contrast");
        agree += usize::from(p.contrast.map(|g| g.name()) == Some(want));
    }
    println!(
        "{}; agrees with the true groups on {agree}/{}",
        u.describe(),
        ds.entries().len()
    );
}

fn predictor_train_count(s: &ct_pipeline::Summary) -> usize {
    let c = s.classification.as_ref().expect("classified");
    s.n_scans - c.test_ids.len()
}
