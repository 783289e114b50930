//! The whole pipeline on a tiny phantom cohort: every stage runs, the run folder holds what
//! the issue asks for, sharding gives the same feature table, and a broken scan is skipped.

use ct_pipeline::scan_model::SCAN_WEIGHTS;
use ct_pipeline::{DetectorSource, PipelineConfig, Stage, run, shipped_detector};

mod common;
use common::tiny;

#[test]
fn tiny_cohort_end_to_end_and_sharded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = tiny(dir.path(), "all");
    let s = run(&cfg).expect("pipeline runs");
    assert_eq!(s.n_scans, 12);
    assert_eq!(
        s.bundle,
        Some(cfg.run_dir().join("model")),
        "the run saves itself"
    );
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let c = s.classification.as_ref().expect("classification ran");
    assert!((0.0..=1.0).contains(&c.accuracy));
    assert_eq!(c.test_true.len(), c.test_pred.len());
    let rd = cfg.run_dir();
    for f in [
        "config.json",
        "metrics.json",
        "features.csv",
        "predictions.csv",
        "report.html",
    ] {
        assert!(rd.join(f).is_file(), "{f} missing");
    }
    // One row per test subject; its probabilities sum to 1 and the flag matches the labels.
    let pred = std::fs::read_to_string(rd.join("predictions.csv")).expect("predictions");
    assert_eq!(pred.lines().count(), c.test_ids.len() + 1);
    for line in pred.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(f[4] == "true", f[2] == f[3], "{line}");
        let sum: f64 = f[5..].iter().map(|v| v.parse::<f64>().expect("p")).sum();
        assert!((sum - 1.0).abs() < 1e-3, "{line}");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("metrics.json")).expect("read"))
            .expect("json");
    assert!(m["accuracy"].is_number());
    assert!(m["by_contrast"]["high"]["accuracy"].is_number());
    assert!(m["by_contrast"]["low"]["accuracy"].is_number());
    assert!(m["lung_dice"]["all"].as_f64().expect("dice") > 0.8);
    assert!(m["timings_s"]["lesion_model"].is_number());
    let voxels = &m["detector_training"]["voxels"];
    assert!(voxels[0].as_u64().is_some_and(|n| n > 0), "{voxels}");
    assert!(voxels[1].as_u64().is_some_and(|n| n > 0), "{voxels}");
    // Phantoms carry lesion masks, so the component stage is scored against them.
    let lc = &m["lesion_components"];
    let (n, les) = (lc["components"].as_u64(), lc["lesion"].as_u64());
    assert!(n.is_some_and(|n| n > 0) && les <= n, "{lc}");
    assert!(
        lc["accuracy"]
            .as_f64()
            .is_some_and(|a| (0.0..=1.0).contains(&a))
    );
    // The shipped scan model joined the vote with a weight from its grid.
    let sm = &m["scan_model"];
    assert_eq!(sm["source"], "shipped", "{sm}");
    let w = sm["weight"].as_f64().expect("weight");
    assert!(SCAN_WEIGHTS.contains(&w), "{sm}");
    assert_eq!(
        sm["log_loss"].as_array().map(Vec::len),
        Some(SCAN_WEIGHTS.len())
    );
    let html = std::fs::read_to_string(rd.join("report.html")).expect("report");
    assert!(html.contains("data:image/png;base64,") && html.contains("<svg"));
    assert!(html.contains("pretrained scan model"));
    let csv = std::fs::read_to_string(rd.join("features.csv")).expect("csv");
    let header = csv.lines().next().expect("header");
    assert!(header.contains("lesion_pct") && header.contains("slice_asymmetry_p90"));
    assert!(header.contains("comp_max_score") && header.contains("comp_top_mean_hu"));
    assert!(header.contains("cnn_peak") && header.contains("cnn_focus_max"));
    assert_eq!(csv.lines().count(), 13);

    // Two shards, then the merge: the same rows as the single run.
    let shard = |i: usize| PipelineConfig {
        shard: (i, 2),
        stage: Stage::Preprocess,
        ..tiny(dir.path(), "sharded")
    };
    for i in 0..2 {
        run(&shard(i)).expect("shard runs");
    }
    let mut mc = tiny(dir.path(), "sharded");
    mc.shard = (0, 2);
    mc.stage = Stage::Merge;
    shard_protocol(&mc, &shard);
    let ms = run(&mc).expect("merge runs");
    assert_eq!(ms.n_scans, 12);
    // The preview pictures travel through the shard files: the merged report shows the same
    // scans (per class and group, the smallest id) as the single run's.
    let pictures = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d.join("figures"))
            .expect("figures")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("segmentation_"))
            .collect();
        v.sort();
        v
    };
    assert!(!pictures(&mc.run_dir()).is_empty());
    assert_eq!(pictures(&mc.run_dir()), pictures(&rd));
    // The shards loaded the models; the merge has no files to bundle and says so.
    assert_eq!(ms.bundle, None);
    let merged = std::fs::read_to_string(mc.run_dir().join("features.csv")).expect("csv");
    // The foci travel through the shard files too.
    let foci = |d: std::path::PathBuf| std::fs::read_to_string(d.join("foci.csv")).ok();
    assert_eq!(
        foci(rd.clone()).map(|t| t.lines().count()),
        foci(mc.run_dir()).map(|t| t.lines().count())
    );
    // Same rows and columns; numbers equal to 1e-12 relative, because the shard files go
    // through JSON and serde_json's default float parser may miss the last bit.
    assert_eq!(merged.lines().count(), csv.lines().count());
    for (a, b) in merged.lines().zip(csv.lines()) {
        let (fa, fb): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(u), Ok(v)) => assert!(
                    (u - v).abs() <= 1e-12 * u.abs().max(v.abs()).max(1.0),
                    "{u} vs {v} in row {}",
                    fa[0]
                ),
                _ => assert_eq!(x, y),
            }
        }
    }
}

/// The shard protocol (shards.rs): each shard's file carries its manifest and is written
/// atomically, shards leave config.json to the merge, and the merge names a missing shard
/// and a shard run with other settings; a retried shard replaces only its own file.
fn shard_protocol(merge: &PipelineConfig, shard: &dyn Fn(usize) -> PipelineConfig) {
    let shards = merge.run_dir().join("shards");
    assert!(
        !merge.run_dir().join("config.json").exists(),
        "shards leave config.json alone"
    );
    let text = std::fs::read_to_string(shards.join("features-1-of-2.json")).expect("shard");
    let file: ct_pipeline::ShardFile = serde_json::from_str(&text).expect("shard file");
    assert_eq!((file.manifest.index, file.manifest.count), (1, 2));
    assert_eq!(file.manifest.format, ct_pipeline::SHARD_FORMAT);
    assert_eq!(file.manifest.scan_ids.len(), 6);
    assert!(shards.join("config-1-of-2.json").is_file());
    // A missing shard is named.
    let kept = shards.join("kept.json");
    std::fs::rename(shards.join("features-1-of-2.json"), &kept).expect("move");
    let e = run(merge).expect_err("a shard is missing").to_string();
    assert!(
        e.contains("features-1-of-2.json") && e.contains("1 of 2 shards missing"),
        "{e}"
    );
    // A shard run with another preprocessing setting is named, with the setting.
    run(&PipelineConfig {
        close_radius_mm: 8.0,
        ..shard(1)
    })
    .expect("odd shard runs");
    let e = run(merge).expect_err("settings differ").to_string();
    assert!(
        e.contains("shard 1") && e.contains("close_radius_mm"),
        "{e}"
    );
    // The task retried with the right settings replaces its file; a temporary file left by a
    // killed attempt is ignored.
    std::fs::write(shards.join("features-1-of-2.json.tmp-99999"), "partial").expect("tmp");
    std::fs::remove_file(&kept).expect("remove");
    run(&shard(1)).expect("retried shard runs");
    // Settings only the merge reads may change.
    let other = PipelineConfig {
        vote: ensemble::VotingKind::Hard,
        folds: 3,
        ..merge.clone()
    };
    assert_eq!(
        run(&other).expect("merge with other classifiers").n_scans,
        12
    );
}

#[test]
fn a_broken_scan_is_reported_and_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Build a data set from the phantoms, then truncate one scan's files.
    let cfg = tiny(dir.path(), "make");
    run(&PipelineConfig {
        stage: Stage::Preprocess,
        ..cfg.clone()
    })
    .expect("phantoms");
    let data = cfg.run_dir().join("data");
    let victim = data.join("CAP subjects").join("cap-001");
    for e in std::fs::read_dir(&victim).expect("scan folder") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read");
        std::fs::write(&p, &bytes[..200.min(bytes.len())]).expect("truncate");
    }
    let real = PipelineConfig {
        name: "real".into(),
        data: Some(data),
        ..cfg
    };
    let s = run(&real).expect("the run goes on");
    assert_eq!(s.n_scans, 11);
    assert_eq!(s.failures.len(), 1);
    assert_eq!(s.failures[0].id, "cap-001");
    let html = std::fs::read_to_string(real.run_dir().join("report.html")).expect("report");
    assert!(
        html.contains("cap-001"),
        "the report lists the skipped scan"
    );
}

#[test]
fn the_oracle_scores_candidates_with_the_true_masks_and_needs_phantoms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = PipelineConfig {
        oracle_lesions: true,
        stage: Stage::Preprocess,
        ..tiny(dir.path(), "oracle")
    };
    run(&cfg).expect("oracle run");
    let csv = std::fs::read_to_string(cfg.run_dir().join("features.csv")).expect("csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let maxp = col("lesion_max_prob");
    let mut positives_seen = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let p: f64 = f[maxp].parse().expect("number");
        // Probabilities are the truth: exactly 0 or 1.
        assert!(p == 0.0 || p == 1.0, "{}: max prob {p}", f[0]);
        // (A normal scan may hold an injected out-of-place slice with a lesion.)
        if !f[0].starts_with("normal") && p == 1.0 {
            positives_seen += 1;
        }
    }
    assert!(positives_seen > 0, "no lesion reached the candidates");

    let real = PipelineConfig {
        data: Some(dir.path().to_path_buf()),
        ..cfg
    };
    let err = run(&real).expect_err("a real data set has no true masks");
    assert!(err.to_string().contains("oracle_lesions"), "{err}");
}

#[test]
fn the_shipped_detector_fits_the_default_run_and_saved_detectors_load() {
    // The default run uses the shipped detector: it was made with the default settings.
    let d = shipped_detector().expect("the shipped detector loads");
    let r = d.recipe.as_ref().expect("its recipe");
    let c = PipelineConfig::default();
    assert_eq!(r.phantom_size, c.phantom_size);
    assert_eq!(r.phantom_slices, c.phantom_slices);
    assert_eq!(r.per_class, c.lesion_train_per_class);
    assert_eq!(r.rounds, c.lesion_rounds);
    assert_eq!(r.close_radius_mm, c.close_radius_mm);
    assert_ne!(r.cohort_seed, c.seed, "its cohort is not the evaluated one");
    assert!(d.training_voxels.0 > 0 && d.training_components.0 > 0);

    // The detector stage trains one and saves it; another run loads it from the file.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("models/det.json");
    let cfg = PipelineConfig {
        stage: Stage::Detector,
        save_detector: Some(path.clone()),
        ..tiny(dir.path(), "det")
    };
    let s = run(&cfg).expect("detector stage");
    let trained = s.detector_training.expect("detector summary");
    assert_eq!(trained.source, "trained in this run");
    assert!(path.is_file());
    let load = PipelineConfig {
        stage: Stage::Preprocess,
        detector: DetectorSource::File(path.clone()),
        ..tiny(dir.path(), "load")
    };
    let s = run(&load).expect("run with a saved detector");
    let loaded = s.detector_training.expect("detector summary");
    assert_eq!(loaded.source, path.display().to_string());
    assert_eq!(loaded.voxels, trained.voxels);
    assert_eq!(loaded.recipe, trained.recipe);

    // Without a path the stage refuses; a missing or damaged file is an error naming it.
    let e = run(&PipelineConfig {
        save_detector: None,
        ..cfg.clone()
    })
    .expect_err("nowhere to save");
    assert!(e.to_string().contains("save_detector"), "{e}");
    let missing = dir.path().join("nope.json");
    let e = run(&PipelineConfig {
        detector: DetectorSource::File(missing.clone()),
        ..load.clone()
    })
    .expect_err("missing file");
    assert!(e.to_string().contains("nope.json"), "{e}");
    std::fs::write(&missing, "{\"format\": 1}").expect("write");
    let bad = PipelineConfig {
        name: "bad-model".into(),
        detector: DetectorSource::File(missing),
        ..load
    };
    let e = run(&bad).expect_err("damaged file");
    assert!(e.to_string().contains("nope.json"), "{e}");
    // The models are checked before the run folder is touched (issue 25).
    assert!(!bad.run_dir().exists(), "a failed model left a run folder");
}

#[test]
fn pattern_weights_from_a_file_and_bad_files_are_errors() {
    use ct_pipeline::lesion_patterns::PatternNet;
    let dir = tempfile::tempdir().expect("temp dir");
    // The shipped weights written to a file give the same feature table as the shipped net.
    let path = dir.path().join("unet.safetensors");
    let bytes = PatternNet::shipped().unwrap().to_bytes().unwrap();
    std::fs::write(&path, &bytes).expect("write");
    let base = PipelineConfig {
        stage: Stage::Preprocess,
        ..tiny(dir.path(), "shipped")
    };
    run(&base).expect("shipped weights");
    run(&PipelineConfig {
        stage: Stage::Preprocess,
        pattern_weights: Some(path.clone()),
        ..tiny(dir.path(), "file")
    })
    .expect("weights from a file");
    let table = |name: &str| {
        std::fs::read_to_string(dir.path().join(name).join("features.csv")).expect("features")
    };
    assert_eq!(table("shipped"), table("file"));
    // Other weights (an untrained network) are the ones used: the table changes.
    let other = dir.path().join("random.safetensors");
    let random = PatternNet::new(&covnet_models::cpu_device()).unwrap();
    std::fs::write(&other, random.to_bytes().unwrap()).expect("write");
    run(&PipelineConfig {
        stage: Stage::Preprocess,
        pattern_weights: Some(other),
        ..tiny(dir.path(), "random")
    })
    .expect("other weights");
    assert_ne!(table("shipped"), table("random"));
    // A missing file and a damaged one are errors that name the file.
    let missing = dir.path().join("nope.safetensors");
    let e = run(&PipelineConfig {
        pattern_weights: Some(missing.clone()),
        ..base.clone()
    })
    .expect_err("missing file");
    assert!(e.to_string().contains("nope.safetensors"), "{e}");
    std::fs::write(&missing, &bytes[..bytes.len() / 3]).expect("write");
    let e = run(&PipelineConfig {
        pattern_weights: Some(missing),
        ..base
    })
    .expect_err("damaged file");
    assert!(e.to_string().contains("nope.safetensors"), "{e}");
}

#[test]
fn focus_model_from_a_file_and_bad_files_are_errors() {
    use ct_pipeline::lesion_patterns::PatternNet;
    use ct_pipeline::lesion_patterns::{FOCUS_FEATURE_NAMES, FocusModel};
    let dir = tempfile::tempdir().expect("temp dir");
    // An untrained U-Net calls much of the lung lesion, so every scan has foci to score.
    let weights = dir.path().join("random.safetensors");
    let random = PatternNet::new(&covnet_models::cpu_device()).unwrap();
    std::fs::write(&weights, random.to_bytes().unwrap()).expect("write");
    let base = PipelineConfig {
        stage: Stage::Preprocess,
        pattern_weights: Some(weights),
        ..tiny(dir.path(), "shipped")
    };
    run(&base).expect("shipped focus model");
    let shipped = dir.path().join("focus.json");
    std::fs::write(&shipped, FocusModel::shipped().unwrap().to_json().unwrap()).expect("write");
    run(&PipelineConfig {
        name: "file".into(),
        focus_model: Some(shipped),
        ..base.clone()
    })
    .expect("focus model from a file");
    let read = |name: &str, file: &str| {
        std::fs::read_to_string(dir.path().join(name).join(file)).expect("read")
    };
    assert_eq!(
        read("shipped", "features.csv"),
        read("file", "features.csv")
    );
    // foci.csv: one row per focus, every column filled, lesion shares in [0, 1].
    let foci = read("shipped", "foci.csv");
    let header: Vec<&str> = foci.lines().next().expect("header").split(',').collect();
    assert_eq!(header.len(), 7 + FOCUS_FEATURE_NAMES.len() + 1);
    assert!(foci.lines().count() > 1, "no foci from an untrained net");
    for line in foci.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len(), "{line}");
        let share: f64 = f[header.len() - 1].parse().expect("share");
        assert!((0.0..=1.0).contains(&share), "{line}");
    }
    // Another model (trees fitted to noise-free synthetic foci where only the peak
    // matters) scores the same foci differently.
    let n = 60;
    let k = FOCUS_FEATURE_NAMES.len();
    let x = ndarray::Array2::from_shape_fn((n, k), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 10.0);
    let y: Vec<bool> = (0..n).map(|i| x[[i, 0]] > 0.45).collect();
    let other = FocusModel::train(x.view(), &y, 20, 1, vec!["synthetic".into()]).unwrap();
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, other.to_json().unwrap()).expect("write");
    run(&PipelineConfig {
        name: "other".into(),
        focus_model: Some(other_path),
        ..base.clone()
    })
    .expect("other focus model");
    assert_ne!(
        read("shipped", "features.csv"),
        read("other", "features.csv")
    );
    assert_eq!(read("shipped", "foci.csv"), read("other", "foci.csv"));
    // A missing file and a damaged one are errors that name the file.
    let missing = dir.path().join("nope.json");
    let e = run(&PipelineConfig {
        focus_model: Some(missing.clone()),
        ..base.clone()
    })
    .expect_err("missing file");
    assert!(e.to_string().contains("nope.json"), "{e}");
    std::fs::write(&missing, "{\"format\": 1").expect("write");
    let e = run(&PipelineConfig {
        focus_model: Some(missing),
        ..base
    })
    .expect_err("damaged file");
    assert!(e.to_string().contains("nope.json"), "{e}");
}

#[test]
fn scan_model_choices_and_bad_files() {
    use ct_pipeline::scan_model::ScanModel;
    let dir = tempfile::tempdir().expect("temp dir");
    let base = tiny(dir.path(), "scan");
    run(&PipelineConfig {
        stage: Stage::Preprocess,
        ..base.clone()
    })
    .expect("preprocess");
    let merge = PipelineConfig {
        stage: Stage::Merge,
        ..base.clone()
    };
    let metrics = |c: &PipelineConfig| -> serde_json::Value {
        let s = run(c).expect("merge runs");
        assert!(s.classification.is_some());
        let text = std::fs::read_to_string(c.run_dir().join("metrics.json")).expect("metrics");
        serde_json::from_str(&text).expect("json")
    };
    let shipped = metrics(&merge);
    assert_eq!(shipped["scan_model"]["source"], "shipped");
    // Left out on request.
    let off = metrics(&PipelineConfig {
        scan_model: false,
        ..merge.clone()
    });
    assert!(off["scan_model"].is_null(), "{}", off["scan_model"]);
    // The same model from a file gives the same probabilities.
    let file = dir.path().join("scan.json");
    std::fs::write(&file, ScanModel::shipped().unwrap().to_json().unwrap()).expect("write");
    let from_file = metrics(&PipelineConfig {
        scan_model_file: Some(file.clone()),
        ..merge.clone()
    });
    assert_eq!(
        from_file["scan_model"]["source"],
        file.display().to_string()
    );
    assert_eq!(
        from_file["scan_model"]["log_loss"],
        shipped["scan_model"]["log_loss"]
    );
    assert_eq!(from_file["accuracy"], shipped["accuracy"]);
    // A model over columns this table lacks is an error naming them; a missing or damaged
    // file is an error naming the file.
    let x = ndarray::Array2::from_shape_fn((30, 2), |(i, j)| ((i * 5 + j) % 7) as f64);
    let y: Vec<usize> = (0..30).map(|i| i % 3).collect();
    let foreign = ScanModel::train(
        x.view(),
        &y,
        vec!["no_such_column".into(), "cnn_peak".into()],
        5,
        1,
        vec![],
    )
    .unwrap();
    let foreign_path = dir.path().join("foreign.json");
    std::fs::write(&foreign_path, foreign.to_json().unwrap()).expect("write");
    let e = run(&PipelineConfig {
        scan_model_file: Some(foreign_path),
        ..merge.clone()
    })
    .expect_err("foreign columns");
    assert!(e.to_string().contains("no_such_column"), "{e}");
    let missing = dir.path().join("nope.json");
    let e = run(&PipelineConfig {
        scan_model_file: Some(missing.clone()),
        ..merge.clone()
    })
    .expect_err("missing file");
    assert!(e.to_string().contains("nope.json"), "{e}");
    std::fs::write(&missing, "{\"format\": 1").expect("write");
    let e = run(&PipelineConfig {
        scan_model_file: Some(missing),
        ..merge
    })
    .expect_err("damaged file");
    assert!(e.to_string().contains("nope.json"), "{e}");
}
