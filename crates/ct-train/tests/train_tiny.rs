//! Tiny training runs on a phantom cohort (seconds on 2 cores): the loss falls, a paused run
//! resumed gives the uninterrupted run's curve, and bad input ends in typed errors.

use std::sync::OnceLock;

use ct_train::checkpoint::FoldCheckpoints;
use ct_train::metrics::{MetricLine, read_metrics};
use ct_train::{
    Augment, Error, LossKind, ModelKind, ModelSpec, PrepareOptions, Quiet, RunEnd, RunOptions,
    ScanDataset, Schedule, TrainConfig, ZSampling,
};

fn cohort() -> ct_phantom::CohortConfig {
    ct_phantom::CohortConfig {
        n_per_class: 4,
        size: 64,
        slices: (12, 16),
        seed: 11,
        ..Default::default()
    }
}

fn config() -> TrainConfig {
    let mut c = TrainConfig::new(ModelSpec {
        width: 4,
        ..ModelSpec::new(ModelKind::CovnetResnet18)
    });
    c.recipe.size = 32;
    c.recipe.z = ZSampling::Fixed { slices: 8 };
    c.slices = 4;
    c.augment = Augment::none();
    c.schedule = Schedule::Constant;
    c.lr = 3e-3;
    c.epochs = 6;
    c.batch_size = 4;
    c.folds = 1;
    c.seed = 5;
    c
}

fn data() -> &'static ScanDataset {
    static DATA: OnceLock<ScanDataset> = OnceLock::new();
    DATA.get_or_init(|| {
        ScanDataset::from_phantoms(
            &cohort(),
            &config().recipe,
            &PrepareOptions::default(),
            &|_, _| {},
        )
        .expect("phantoms prepare")
    })
}

fn opts(out: &std::path::Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume: false,
        stop_after: None,
        device: covnet_models::cpu_device(),
    }
}

fn epoch_lines(lines: &[MetricLine], split: &str) -> Vec<f64> {
    lines
        .iter()
        .filter(|m| m.kind == "epoch" && m.split == split)
        .map(|m| m.loss)
        .collect()
}

#[test]
fn phantoms_prepare_with_the_lung_roi() {
    let d = data();
    assert_eq!(d.items().len() + d.skipped().len(), 12);
    assert!(d.skipped().is_empty(), "{:?}", d.skipped());
    for (i, it) in d.items().iter().enumerate() {
        assert_eq!(it.volume.dim(), (8, 32, 32));
        // Lesion flags per prepared slice: none in normal scans, some in most positives.
        let flags = it.lesion_slices.as_ref().unwrap();
        assert_eq!(flags.len(), 8);
        if it.label == Some(ct_core::Label::Normal) {
            assert!(flags.iter().all(|f| !f));
        }
        // Ids, labels and contrast groups are the generator's own.
        let truth = ct_phantom::generate_scan(&cohort(), i).unwrap().truth;
        assert_eq!(
            (&it.id, it.label, it.contrast),
            (&truth.id, Some(truth.label), Some(truth.contrast))
        );
    }
}

#[test]
fn loss_falls_and_the_run_folder_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let end = ct_train::train_run(data(), &config(), &opts(&out), &Quiet).unwrap();
    let RunEnd::Done(summary) = end else {
        panic!("paused")
    };
    let lines = read_metrics(&out.join("metrics.jsonl")).unwrap();
    let train = epoch_lines(&lines, "train");
    assert_eq!(train.len(), 6);
    println!("training loss per epoch: {train:?}");
    assert!(
        train[5] < 0.8 * train[0],
        "training loss did not fall: {train:?}"
    );
    assert_eq!(summary.n_scans, 12);
    assert_eq!(summary.folds.len(), 1);
    assert_eq!(
        summary.confusion.iter().flatten().sum::<usize>(),
        summary.folds[0].n_val
    );
    for f in [
        "config.json",
        "folds.csv",
        "oof.csv",
        "summary.json",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let events: Vec<_> = std::fs::read_dir(out.join("tensorboard"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
    );
    for f in ["last.bpk", "last-optim.bpk", "best.bpk", "state.json"] {
        assert!(out.join("checkpoints/fold-0").join(f).is_file(), "{f}");
    }
    // Interpretability: Grad-CAM overlays (PNG) and the activation histogram in the report.
    let cams: Vec<_> = std::fs::read_dir(out.join("interpretability"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!cams.is_empty() && cams.len() <= 6, "{}", cams.len());
    for c in &cams {
        assert!(std::fs::read(c.path()).unwrap().starts_with(b"\x89PNG"));
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("Grad-CAM of the predicted class")
            && html.contains("activations per backbone stage")
    );
    let oof = std::fs::read_to_string(out.join("oof.csv")).unwrap();
    assert_eq!(oof.lines().count(), 1 + summary.folds[0].n_val);
    // The fold models' vote on other scans (here the training cohort itself: the plumbing).
    let ext = ct_train::evaluate_external(
        &out,
        &config(),
        data(),
        "same cohort",
        &covnet_models::cpu_device(),
    )
    .unwrap();
    assert_eq!((ext.n_scans, ext.n_labelled, ext.folds), (12, 12, 1));
    assert_eq!(ext.confusion.iter().flatten().sum::<usize>(), 12);
    assert_eq!(
        std::fs::read_to_string(out.join("external.csv"))
            .unwrap()
            .lines()
            .count(),
        13
    );
    // A second run into the same folder without --resume is refused, nothing touched.
    let before = std::fs::read(out.join("metrics.jsonl")).unwrap();
    let again = ct_train::train_run(data(), &config(), &opts(&out), &Quiet);
    assert!(matches!(again, Err(Error::RunExists(_))), "{again:?}");
    assert_eq!(std::fs::read(out.join("metrics.jsonl")).unwrap(), before);
}

/// Everything of a metrics line but the timings.
fn comparable(
    lines: &[MetricLine],
) -> Vec<(String, usize, usize, String, Option<usize>, f64, f64)> {
    lines
        .iter()
        .map(|m| {
            (
                m.kind.clone(),
                m.fold,
                m.epoch,
                m.split.clone(),
                m.step,
                m.loss,
                m.accuracy,
            )
        })
        .collect()
}

#[test]
fn a_paused_run_resumes_on_the_same_curve() {
    let mut cfg = config();
    cfg.epochs = 4;
    cfg.augment = Augment::default();
    cfg.schedule = Schedule::Cosine { warmup_steps: 2 };
    cfg.loss = LossKind::Focal { gamma: 2.0 };
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    ct_train::train_run(data(), &cfg, &opts(&straight), &Quiet).unwrap();

    let paused = dir.path().join("paused");
    let mut o = opts(&paused);
    o.stop_after = Some(2);
    let end = ct_train::train_run(data(), &cfg, &o, &Quiet).unwrap();
    assert_eq!(end, RunEnd::Paused { fold: 0, epochs: 2 });
    // A killed run may have logged past its last checkpoint: resume drops that.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(paused.join("metrics.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"kind\":\"step\",\"fold\":0,\"epoch\":3,\"split\":\"train\",\"loss\":9.0,\"accuracy\":0.0}\n").unwrap();
    o.stop_after = None;
    o.resume = true;
    let end = ct_train::train_run(data(), &cfg, &o, &Quiet).unwrap();
    assert!(matches!(end, RunEnd::Done(_)));

    let a = read_metrics(&straight.join("metrics.jsonl")).unwrap();
    let b = read_metrics(&paused.join("metrics.jsonl")).unwrap();
    let (a, b) = (comparable(&a), comparable(&b));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x.5 - y.5).abs())
        .fold(0.0, f64::max);
    println!("largest loss difference, straight vs paused + resumed: {worst:e}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1, x.2, &x.3, x.4), (&y.0, y.1, y.2, &y.3, y.4));
        // Same numbers up to float summation order in the backend's kernels.
        assert!(
            (x.5 - y.5).abs() <= 1e-4 * x.5.abs().max(1.0),
            "{x:?} vs {y:?}"
        );
    }
    assert_eq!(
        std::fs::read(straight.join("oof.csv")).unwrap().len(),
        std::fs::read(paused.join("oof.csv")).unwrap().len()
    );

    // Resuming under another configuration is refused and names what differs.
    let mut other = cfg.clone();
    other.lr = 1e-2;
    let e = ct_train::train_run(data(), &other, &o, &Quiet).unwrap_err();
    assert!(
        matches!(&e, Error::ResumeMismatch { fields, .. } if fields == "lr"),
        "{e}"
    );
    // A checkpoint of another model is refused by name.
    let ck = FoldCheckpoints::new(paused.join("checkpoints/fold-0")).unwrap();
    let wide = ModelSpec {
        width: 8,
        ..cfg.model.clone()
    };
    let e = ck.load_state(&wide).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("width 4"), "{e}");
}

#[test]
fn bad_data_sets_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let items = data().items();
    let recipe = config().recipe;
    let only = |pred: &dyn Fn(&ct_train::ScanItem) -> bool| {
        ScanDataset::from_items(
            recipe.clone(),
            items.iter().filter(|i| pred(i)).cloned().collect(),
        )
    };
    let none = only(&|_| false);
    let e =
        ct_train::train_run(&none, &config(), &opts(&dir.path().join("a")), &Quiet).unwrap_err();
    assert!(matches!(e, Error::EmptyDataset { .. }), "{e}");
    let normal = only(&|i| i.label == Some(ct_core::Label::Normal));
    let e =
        ct_train::train_run(&normal, &config(), &opts(&dir.path().join("b")), &Quiet).unwrap_err();
    assert!(matches!(e, Error::SingleClass { class: "Normal" }), "{e}");
    let mut cfg = config();
    cfg.folds = 5;
    let e = ct_train::train_run(data(), &cfg, &opts(&dir.path().join("c")), &Quiet).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooFewForFolds {
                count: 4,
                folds: 5,
                ..
            }
        ),
        "{e}"
    );
    // Nothing was created for refused runs.
    assert!(!dir.path().join("a").exists() && !dir.path().join("c").exists());
}

#[test]
fn a_diverging_run_stops_with_the_step_and_batch_named() {
    // Plain SGD at the largest allowed rate without clipping diverges within a few steps.
    let mut cfg = config();
    cfg.optimizer = ct_train::OptimizerKind::Sgd {
        momentum: 0.9,
        weight_decay: 0.0,
    };
    cfg.lr = 10.0;
    cfg.grad_clip = None;
    cfg.epochs = 20;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let e = ct_train::train_run(data(), &cfg, &opts(&out), &Quiet).unwrap_err();
    let Error::NonFiniteLoss { step, batch, .. } = &e else {
        panic!("{e}")
    };
    assert!(*step >= 1 && batch.contains('-'), "{e}");
    // What was logged before the divergence is kept.
    assert!(out.join("metrics.jsonl").is_file());
    println!("{e}");
}

#[test]
fn slice_level_training_learns_the_lesion_slices() {
    let mut cfg = config();
    cfg.level = ct_train::Level::Slice;
    cfg.batch_size = 2; // 2 × 4 slices per step
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let RunEnd::Done(summary) = ct_train::train_run(data(), &cfg, &opts(&out), &Quiet).unwrap()
    else {
        panic!("paused")
    };
    let lines = read_metrics(&out.join("metrics.jsonl")).unwrap();
    let train = epoch_lines(&lines, "train");
    println!("slice-level training loss per epoch: {train:?}");
    assert!(
        train[5] < 0.8 * train[0],
        "training loss did not fall: {train:?}"
    );
    // Scan-level predictions from pooled slices, one per validation scan.
    assert_eq!(
        summary.confusion.iter().flatten().sum::<usize>(),
        summary.folds[0].n_val
    );
    // Slice-level examples: a step line's accuracy is over 8 slices.
    assert!(lines.iter().any(|m| m.kind == "step"));
    // A data set without lesion flags cannot train at slice level.
    let plain: Vec<_> = data()
        .items()
        .iter()
        .cloned()
        .map(|mut i| {
            i.lesion_slices = None;
            i
        })
        .collect();
    let plain = ScanDataset::from_items(cfg.recipe.clone(), plain);
    let e = ct_train::train_run(&plain, &cfg, &opts(&dir.path().join("b")), &Quiet).unwrap_err();
    assert!(matches!(e, Error::Parameter { name: "level", .. }), "{e}");
}
