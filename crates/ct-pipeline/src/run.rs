//! The stages in order: models, data, per-scan preprocessing, OTDD, classification, report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use ct_core::{Contrast, Label};
use ct_io::dataset::Dataset;
use rayon::prelude::*;

use crate::bundle::{BUNDLE_DIR, Bundle, TrainedOn, TrainingRanges};
use crate::classify::{ClassifyOutput, classify};
use crate::config::{PipelineConfig, Stage};
use crate::data::write_phantoms;
use crate::feature_model::FeatureModel;
use crate::lesion_detector::LesionDetector;
use crate::lesion_patterns::{FocusModel, PatternNet};
use crate::models::{ModelUse, RunModels, save_detector};
use crate::outputs::{
    finish_run_dir, prepare_run_dir, write_features_csv, write_foci_csv, write_json,
    write_predictions_csv,
};
use crate::preprocess::{Eda, KnownTruth, ScanRecord, ThumbKind, process_scan, thumb_matrix};
use crate::progress::Progress;
use crate::report::{Figures, write_report};
use crate::scan_model::ScanModel;
use crate::summary::{
    AugmentationGuidance, ClassGuidance, DetectorTraining, Failure, FeatureTable, OtddSummary,
    Summary, metrics_json, peak_rss_mib,
};
use crate::{Error, Result};

/// Reads the data set and preprocesses every scan of this shard (one volume per worker).
fn preprocess(
    cfg: &PipelineConfig,
    dir: &Path,
    truths: &BTreeMap<String, KnownTruth>,
    figures: &Mutex<Figures>,
    (detector, pattern): (&LesionDetector, Option<(&PatternNet, &FocusModel)>),
    models: Vec<ModelUse>,
) -> Result<FeatureTable> {
    let ds = Dataset::open(dir).map_err(|e| Error::Dataset(Box::new(e)))?;
    let (si, sn) = cfg.shard;
    // Phantom folders hold only this shard's scans already; real data sets are split here.
    let entries: Vec<_> = ds
        .entries()
        .iter()
        .enumerate()
        .filter(|(i, _)| cfg.data.is_none() || i % sn == si)
        .map(|(_, e)| e)
        .collect();
    let eda = Mutex::new(Eda::new(cfg.eda_size));
    // A large data set keeps OTDD thumbnails for a deterministic subset of its scans only.
    let total = match cfg.data {
        Some(_) => ds.entries().len(),
        None => 3 * cfg.n_per_class,
    };
    let stride = crate::preprocess::thumbnail_stride(total, cfg.otdd_samples);
    let pb = Progress::bar(entries.len() as u64, "preprocess");
    let out: Vec<std::result::Result<ScanRecord, Failure>> = entries
        .par_iter()
        .map(|e| {
            let fail = |error: String| Failure {
                id: e.id.clone(),
                path: e.path.clone(),
                error,
            };
            let res = ds
                .load(e)
                .map_err(|err| fail(format!("read: {}", crate::error::chain(&err))))
                .and_then(|mut scan| {
                    let mut truth = truths.get(&scan.id).cloned().unwrap_or_default();
                    if truth.contrast.is_none() {
                        truth.contrast = e.contrast;
                    }
                    scan.meta.contrast = truth.contrast;
                    process_scan(&scan, &truth, cfg, detector, pattern)
                        .map_err(|err| fail(err.chain()))
                });
            pb.inc(1);
            let p = res?;
            if let Ok(mut g) = eda.lock() {
                let _ = g.merge(&p.eda);
            }
            if let Ok(mut f) = figures.lock() {
                f.offer_preview(&p);
            }
            let mut record = p.record;
            if !crate::preprocess::keeps_thumbnails(&record.id, stride) {
                record.drop_thumbnails();
            }
            Ok(record)
        })
        .collect();
    pb.finish();
    let mut records = Vec::new();
    let mut failures = Vec::new();
    for r in out {
        match r {
            Ok(rec) => records.push(rec),
            Err(f) => failures.push(f),
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(FeatureTable {
        feature_names: crate::preprocess::feature_names(cfg),
        records,
        failures,
        eda: eda.into_inner().unwrap_or_else(|p| p.into_inner()),
        warnings: ds.warnings().to_vec(),
        detector_training: Some(DetectorTraining::of(detector, &models[0].source)),
        models,
    })
}

fn otdd_stage(
    records: &[ScanRecord],
    cfg: &PipelineConfig,
) -> (Vec<OtddSummary>, Option<AugmentationGuidance>) {
    let mut out = Vec::new();
    // The reference's own outer solver (geomloss's annealed Sinkhorn, as microsoft/otdd
    // calls it), debiased: 10-15 passes instead of hundreds, and self-distance 0.
    let params = otdd::OtddParams {
        outer: otdd::OuterMethod::Geomloss,
        debiased: true,
        max_samples: Some(cfg.otdd_samples),
        seed: cfg.seed,
        ..otdd::OtddParams::default()
    };
    let distance = |a: &[&ScanRecord], ka: ThumbKind, b: &[&ScanRecord], kb: ThumbKind| {
        let t = Instant::now();
        let (xa, ya) = thumb_matrix(a, ka);
        let (xb, yb) = thumb_matrix(b, kb);
        otdd::LabeledData::new(xa.view(), &ya)
            .and_then(|da| otdd::LabeledData::new(xb.view(), &yb).map(|db| (da, db)))
            .and_then(|(da, db)| otdd::otdd(&da, &db, &params))
            .map(|r| (r, t.elapsed().as_secs_f64()))
    };
    let mut run =
        |name: &str, a: &[&ScanRecord], ka, b: &[&ScanRecord], kb| match distance(a, ka, b, kb) {
            Ok((r, seconds)) => {
                out.push(OtddSummary {
                    name: name.to_string(),
                    distance: r.distance,
                    label_distances: r
                        .label_distances
                        .outer_iter()
                        .map(|row| row.to_vec())
                        .collect(),
                    samples: (r.index_a.len(), r.index_b.len()),
                    seconds,
                });
                Some(r.distance)
            }
            Err(e) => {
                eprintln!("OTDD {name}: skipped ({e})");
                None
            }
        };
    let all: Vec<&ScanRecord> = records.iter().collect();
    let group = |g: Contrast| -> Vec<&ScanRecord> {
        records.iter().filter(|r| r.contrast == Some(g)).collect()
    };
    let (high, low) = (group(Contrast::High), group(Contrast::Low));
    if !high.is_empty() && !low.is_empty() {
        run(
            "high vs low contrast (lung-window slices)",
            &high,
            ThumbKind::Original,
            &low,
            ThumbKind::Original,
        );
    }
    run(
        "original vs CLAHE-enhanced slices",
        &all,
        ThumbKind::Original,
        &all,
        ThumbKind::Clahe,
    );
    // The seed's augmentation guidance: per class, how far each enhancement moves the
    // class's slices from the originals.
    let mut classes = Vec::new();
    for label in Label::ALL {
        let members: Vec<&ScanRecord> = records.iter().filter(|r| r.label == Some(label)).collect();
        if members.is_empty() {
            continue;
        }
        let distances: Vec<(String, f64)> = ThumbKind::ENHANCED
            .iter()
            .filter_map(|&k| {
                let name = format!("{}: original vs {}", label.name(), k.name());
                run(&name, &members, ThumbKind::Original, &members, k)
                    .map(|d| (k.name().to_string(), d))
            })
            .collect();
        classes.push(ClassGuidance::new(label.name(), distances));
    }
    (out, AugmentationGuidance::of(classes))
}

/// Runs the pipeline as configured and returns its summary (also written to the run folder).
///
/// A full run or a merge under a reused `--name` first removes the previous run's results;
/// until it has finished, the folder holds an `INCOMPLETE` marker (a shard:
/// `INCOMPLETE-shard-I-of-N`), which stays there when the run fails.
pub fn run(cfg: &PipelineConfig) -> Result<Summary> {
    cfg.validate()?;
    // 1. The models, before the run folder is touched: a bad model file fails here and
    // leaves nothing behind.
    let t = Instant::now();
    let models = RunModels::load(cfg)?;
    let mut timings = BTreeMap::new();
    timings.insert("lesion_model".to_string(), t.elapsed().as_secs_f64());
    prepare_run_dir(cfg)?;
    let summary = run_stages(cfg, models, timings)?;
    finish_run_dir(cfg)?;
    Ok(summary)
}

/// Every stage of the run after the models, in order.
fn run_stages(
    cfg: &PipelineConfig,
    models: RunModels,
    mut timings: BTreeMap<String, f64>,
) -> Result<Summary> {
    let run_dir = cfg.run_dir();
    let fig_dir = run_dir.join("figures");
    // A shard records its settings beside its features (shards.rs); the shared config.json
    // is the full run's or the merge's.
    if cfg.stage != Stage::Preprocess {
        write_json(&run_dir.join("config.json"), cfg)?;
    }
    let RunModels {
        detector,
        pattern,
        scan: scan_model,
    } = models;
    if let Some((d, _)) = &detector {
        save_detector(cfg, d)?;
    }
    if cfg.stage == Stage::Detector {
        let (detector, used) = detector.ok_or_else(|| missing("lesion detector"))?;
        let mut summary = Summary::empty(run_dir, timings);
        summary.detector_training = Some(DetectorTraining::of(&detector, &used.source));
        summary.models = vec![used];
        summary.peak_rss_mib = peak_rss_mib();
        return Ok(summary);
    }
    let figures = Mutex::new(Figures::default());
    // The file-times EDA of a user's data set runs before the run reads it (reading changes
    // the files' access times); phantoms are surveyed once written.
    let survey = |dir: &Path| {
        Dataset::open(dir)
            .ok()
            .map(|ds| crate::file_times::survey(&ds))
    };
    let mut file_times = match (&cfg.data, cfg.stage) {
        (Some(d), Stage::All | Stage::Merge) => survey(d),
        _ => None,
    };
    let table = match (cfg.stage, detector) {
        (Stage::Merge, _) => {
            let (table, figs) = crate::shards::merge_shards(&run_dir.join("shards"), cfg)?;
            if let Ok(mut f) = figures.lock() {
                *f = figs;
            }
            table
        }
        (_, Some(d)) => feature_table(cfg, &run_dir, &figures, (d, pattern), &mut timings)?,
        (_, None) => return Err(missing("lesion detector")),
    };
    write_table_files(&run_dir, &table)?;
    timings.extend(step_sums(&table.records));
    if cfg.stage == Stage::Preprocess {
        let mut summary = Summary::of(run_dir, &table, None, Vec::new(), timings);
        summary.peak_rss_mib = peak_rss_mib();
        return Ok(summary);
    }

    // 5. OTDD.
    let t = Instant::now();
    let pb = Progress::spinner("OTDD");
    let (otdd, augmentation) = otdd_stage(&table.records, cfg);
    pb.finish_and_clear();
    timings.insert("otdd".to_string(), t.elapsed().as_secs_f64());

    // 6. Classification.
    let t = Instant::now();
    let pb = Progress::spinner("classification (grid search, k-fold, test)");
    let classification = classification_stage(cfg, &table, scan_model.as_ref())?;
    pb.finish_and_clear();
    timings.insert("classify".to_string(), t.elapsed().as_secs_f64());
    let (classification, bundle) = match classification {
        Some((c, model)) => {
            if let Some(u) = &c.unsupervised_gate {
                eprintln!("contrast gate: {}", u.describe());
            }
            if let Some(note) = &c.cv_note {
                eprintln!("note: {note}");
            }
            write_predictions_csv(&run_dir.join("predictions.csv"), &c, &table.records)?;
            let bundle = write_bundle(cfg, &table, &c, model, scan_model.as_ref())?;
            (Some(c), bundle)
        }
        None => (None, None),
    };
    if cfg.data.is_none() && cfg.stage == Stage::All {
        file_times = survey(&run_dir.join("data"));
    }
    let mut summary = Summary::of(run_dir.clone(), &table, classification, otdd, timings);
    summary.bundle = bundle;
    summary.file_times = file_times;
    summary.augmentation = augmentation;
    if let Some((_, used)) = &scan_model {
        if let Some(note) = &used.note {
            eprintln!("note: {note}");
        }
        summary.models.push(used.clone());
    }

    // 7. Report.
    let t = Instant::now();
    let figs = figures.into_inner().unwrap_or_else(|p| p.into_inner());
    write_report(cfg, &table, &summary, &figs, &fig_dir)?;
    summary
        .timings
        .insert("report".to_string(), t.elapsed().as_secs_f64());
    summary.peak_rss_mib = peak_rss_mib();
    write_json(&run_dir.join("metrics.json"), &metrics_json(&summary))?;
    Ok(summary)
}

/// A model the stage needs was not loaded (a bug in [`RunModels::load`]'s stage table).
fn missing(what: &str) -> Error {
    Error::Inconsistent(format!("the {what} was not loaded for this stage"))
}

/// Stages 2-4: the data and the per-scan preprocessing of this shard with the loaded models
/// (written as the shard's file when the run is `--stage preprocess`).
fn feature_table(
    cfg: &PipelineConfig,
    run_dir: &Path,
    figures: &Mutex<Figures>,
    ((detector, detector_use), pattern): (
        (LesionDetector, ModelUse),
        Option<((PatternNet, FocusModel), [ModelUse; 2])>,
    ),
    timings: &mut BTreeMap<String, f64>,
) -> Result<FeatureTable> {
    let mut models = vec![detector_use];
    let pattern = pattern.map(|(nets, uses)| {
        models.extend(uses);
        nets
    });
    for note in models.iter().filter_map(|m| m.note.as_ref()) {
        eprintln!("note: {note}");
    }
    // 2. Data.
    let t = Instant::now();
    let (si, sn) = cfg.shard;
    let (dir, truths) = match &cfg.data {
        Some(d) => (d.clone(), BTreeMap::new()),
        None => {
            let d = if sn > 1 {
                run_dir.join(format!("data-{si}-of-{sn}"))
            } else {
                run_dir.join("data")
            };
            let truths = write_phantoms(cfg, &d)?;
            (d, truths)
        }
    };
    timings.insert("data".to_string(), t.elapsed().as_secs_f64());
    // 3-4. Per-scan preprocessing.
    let t = Instant::now();
    let table = preprocess(
        cfg,
        &dir,
        &truths,
        figures,
        (&detector, pattern.as_ref().map(|(p, f)| (p, f))),
        models,
    )?;
    timings.insert("preprocess".to_string(), t.elapsed().as_secs_f64());
    if cfg.stage == Stage::Preprocess {
        let given = table
            .records
            .iter()
            .map(|r| r.id.clone())
            .chain(table.failures.iter().map(|f| f.id.clone()))
            .collect();
        let figs = figures.lock().map_err(|_| {
            Error::Inconsistent("a preprocessing worker panicked while holding the figures".into())
        })?;
        crate::shards::write_shard(&run_dir.join("shards"), cfg, &table, &figs, given)?;
    }
    Ok(table)
}

/// `features.csv`, `foci.csv` (when the pattern network found foci) and one line per failed
/// scan on stderr.
fn write_table_files(run_dir: &Path, table: &FeatureTable) -> Result<()> {
    write_features_csv(&run_dir.join("features.csv"), table)?;
    if table.records.iter().any(|r| !r.pattern_foci.is_empty()) {
        write_foci_csv(&run_dir.join("foci.csv"), table)?;
    }
    for f in &table.failures {
        eprintln!("skipped {} ({}): {}", f.id, f.path.display(), f.error);
    }
    Ok(())
}

/// Per-step sums over scans (CPU seconds spent in each per-scan step).
fn step_sums(records: &[ScanRecord]) -> BTreeMap<String, f64> {
    let mut steps: BTreeMap<String, f64> = BTreeMap::new();
    for r in records {
        for (k, v) in &r.timings {
            *steps.entry(format!("preprocess.{k}")).or_default() += v;
        }
    }
    steps
}

/// Stage 6: the classifiers, joined by the pretrained scan model when it fits the table
/// (the shipped one needs the default columns, e.g. not `--no-pattern-net`; a model the user
/// named must fit). Too few labels skip the stage with a message.
fn classification_stage(
    cfg: &PipelineConfig,
    table: &FeatureTable,
    scan_model: Option<&(ScanModel, ModelUse)>,
) -> Result<Option<(ClassifyOutput, FeatureModel)>> {
    let scan = match scan_model {
        Some((m, used)) => match m.columns(&table.feature_names) {
            Ok(_) => Some((m, used.source.as_str())),
            Err(e) if cfg.scan_model_file.is_none() => {
                eprintln!("the shipped scan model is left out of the vote: {e}");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(match classify(&table.records, cfg, scan) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("classification skipped: {}", e.chain());
            None
        }
    })
}

/// Saves the run's classifiers with its configuration and model files as `<run>/model`
/// (for `predict`); a run whose models are not at hand (a merge of shards) or that scored
/// lesions with phantom truth says why and goes on without one.
fn write_bundle(
    cfg: &PipelineConfig,
    table: &FeatureTable,
    c: &ClassifyOutput,
    model: FeatureModel,
    scan_model: Option<&(ScanModel, ModelUse)>,
) -> Result<Option<std::path::PathBuf>> {
    let mut models = table.models.clone();
    if model.scan_weight > 0.0
        && let Some((_, used)) = scan_model
    {
        models.push(used.clone());
    }
    let test: std::collections::BTreeSet<&String> = c.test_ids.iter().collect();
    let train: Vec<&ScanRecord> = table
        .records
        .iter()
        .filter(|r| r.label.is_some() && !test.contains(&r.id))
        .collect();
    let ranges = TrainingRanges::of(&train, &table.feature_names, &model.columns);
    let trained_on = TrainedOn {
        data: match &cfg.data {
            Some(d) => d.display().to_string(),
            None => format!(
                "the built-in phantom cohort ({} per class, seed {})",
                cfg.n_per_class, cfg.seed
            ),
        },
        train_subjects: train.iter().map(|r| r.id.clone()).collect(),
        test_subjects: c.test_ids.clone(),
        test_accuracy: c.accuracy,
        roc_auc: c.roc_auc,
        ranges,
    };
    match Bundle::of_run(cfg, &table.feature_names, model, &models, trained_on) {
        Ok((bundle, files)) => {
            let dir = cfg.run_dir().join(BUNDLE_DIR);
            bundle.write(&dir, &files)?;
            Ok(Some(dir))
        }
        Err(why) => {
            eprintln!("no model bundle for predict: {why}");
            Ok(None)
        }
    }
}
