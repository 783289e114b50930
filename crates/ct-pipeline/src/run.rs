//! The stages in order, the run folder and the summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use ct_core::{Contrast, Label};
use ct_io::dataset::Dataset;
use ct_phantom::{CohortConfig, generate_scan};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classify::{ClassifyOutput, classify};
use crate::config::{DetectorSource, PipelineConfig, Stage};
use crate::lesion_detector::{
    Candidates, ComponentSample, DetectorRecipe, LesionDetector, TrainingSample, candidates,
    component_table, hull_mask, sample_training,
};
use crate::lesion_patterns::FocusModel;
use crate::lesion_patterns::PatternNet;
use crate::preprocess::{
    Eda, KnownTruth, ScanRecord, lesion_inclusive_mask, pack_bits, process_scan, thumb_matrix,
};
use crate::report::{Figures, write_report};
use crate::scan_model::ScanModel;
use crate::{Error, Result};

/// A scan that could not be read or processed (reported and skipped).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// Subject id.
    pub id: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// What went wrong.
    pub error: String,
}

/// The output of the preprocessing stage (one shard's part, or everything).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureTable {
    /// Names of the feature columns.
    pub feature_names: Vec<String>,
    /// One row per processed scan.
    pub records: Vec<ScanRecord>,
    /// Scans that failed.
    pub failures: Vec<Failure>,
    /// EDA accumulators.
    pub eda: Eda,
    /// Data-set warnings (unknown folders, skipped files).
    pub warnings: Vec<String>,
    /// What the lesion detector was trained on: voxels (lesion, other) and components
    /// (lesion, false) of its own phantom cohort.
    #[serde(default)]
    pub detector_training: Option<DetectorTraining>,
}

/// Where the run's lesion detector came from and what it was trained on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorTraining {
    /// Sampled voxels: lesion, other.
    pub voxels: (usize, usize),
    /// Components of the second stage: lesion, false (`(0, 0)`: not trained).
    pub components: (usize, usize),
    /// `shipped` (the detector in `ct-pipeline/models`), `trained in this run`, or the file
    /// it was loaded from.
    #[serde(default)]
    pub source: String,
    /// Its phantom training cohort, when known.
    #[serde(default)]
    pub recipe: Option<DetectorRecipe>,
}

impl DetectorTraining {
    fn of(d: &LesionDetector, source: &str) -> DetectorTraining {
        DetectorTraining {
            voxels: d.training_voxels,
            components: d.training_components,
            source: source.to_string(),
            recipe: d.recipe.clone(),
        }
    }
}

/// OTDD between two labelled slice sets.
#[derive(Debug, Clone, Serialize)]
pub struct OtddSummary {
    /// What was compared.
    pub name: String,
    /// The distance.
    pub distance: f64,
    /// Label-to-label W² (rows: classes of A).
    pub label_distances: Vec<Vec<f64>>,
    /// Samples on each side.
    pub samples: (usize, usize),
    /// Seconds.
    pub seconds: f64,
}

/// What a finished run reports (also written as `metrics.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Scans processed.
    pub n_scans: usize,
    /// Scans that failed.
    pub failures: Vec<Failure>,
    /// Classification results (absent when the data had too few labels).
    pub classification: Option<ClassifyOutput>,
    /// Cleaning precision / recall against known injected slices.
    pub cleaning: Option<(f64, f64, usize, usize)>,
    /// Mean lung Dice per contrast group (`all`, `high`, `low`).
    pub dice: BTreeMap<String, f64>,
    /// The lesion component stage against the reference masks, when known.
    pub lesion_components: Option<ComponentEval>,
    /// What the lesion detector was trained on.
    pub detector_training: Option<DetectorTraining>,
    /// OTDD results.
    pub otdd: Vec<OtddSummary>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Peak resident memory (MiB), from the kernel.
    pub peak_rss_mib: Option<f64>,
}

/// How well the component stage's scores separate lesion components (at least half inside
/// the reference mask) from false ones, over every scan with a reference.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ComponentEval {
    /// Detected components scored.
    pub components: usize,
    /// Of which lesion components.
    pub lesion: usize,
    /// ROC-AUC of the scores (absent when only one kind occurs).
    pub roc_auc: Option<f64>,
    /// Share of components classified right at a score of ½.
    pub accuracy: f64,
}

fn component_eval(records: &[ScanRecord]) -> Option<ComponentEval> {
    let all: Vec<(f64, bool)> = records
        .iter()
        .filter_map(|r| r.lesion_components.as_ref())
        .flatten()
        .copied()
        .collect();
    if all.is_empty() {
        return None;
    }
    let truth: Vec<bool> = all.iter().map(|c| c.1).collect();
    let scores: Vec<f64> = all.iter().map(|c| c.0).collect();
    Some(ComponentEval {
        components: all.len(),
        lesion: truth.iter().filter(|&&t| t).count(),
        roc_auc: ensemble::roc_auc_binary(&truth, &scores).ok(),
        accuracy: all.iter().filter(|c| (c.0 >= 0.5) == c.1).count() as f64 / all.len() as f64,
    })
}

fn bar(n: u64, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>14} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A model read from a file the user named; any error names the file.
fn load_model<T>(
    path: &Path,
    model: &'static str,
    parse: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    let named = |e: Error| Error::LoadModel {
        model,
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let bytes = std::fs::read(path).map_err(|e| named(io_err(path)(e)))?;
    parse(&bytes).map_err(named)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(Error::json(path.display().to_string()))?;
    std::fs::write(path, text).map_err(io_err(path))
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn class_folder(l: Label) -> &'static str {
    match l {
        Label::Normal => "Normal subjects",
        Label::Cap => "CAP subjects",
        Label::Covid => "COVID-19 subjects",
    }
}

/// Generates this shard's phantom scans and writes them as DICOM in the COVID-CT-MD layout;
/// returns the ground truth by id.
fn write_phantoms(cfg: &PipelineConfig, dir: &Path) -> Result<BTreeMap<String, KnownTruth>> {
    let pc = CohortConfig {
        n_per_class: cfg.n_per_class,
        seed: cfg.seed,
        size: cfg.phantom_size,
        slices: cfg.phantom_slices,
        ..CohortConfig::default()
    };
    pc.validate().map_err(Error::Phantom)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    let (si, sn) = cfg.shard;
    let mine: Vec<usize> = (0..pc.len()).filter(|i| i % sn == si).collect();
    let pb = bar(mine.len() as u64, "phantoms");
    let truths: Vec<(String, KnownTruth, serde_json::Value)> = mine
        .par_iter()
        .map(|&i| {
            let ps = generate_scan(&pc, i).map_err(Error::Phantom)?;
            let folder = dir.join(class_folder(ps.truth.label)).join(&ps.scan.id);
            ct_io::dicom::write_series(&folder, &ps.scan).map_err(|source| Error::WriteDicom {
                path: folder.clone(),
                source,
            })?;
            let kt = KnownTruth {
                contrast: Some(ps.truth.contrast),
                injected: Some(ps.truth.injected.clone()),
                lung_bits: Some(pack_bits(ps.truth.lung_mask.view())),
                lesion_bits: Some(pack_bits(ps.truth.lesion_mask.view())),
            };
            let json = serde_json::to_value(&ps.truth).unwrap_or(serde_json::Value::Null);
            pb.inc(1);
            Ok((ps.scan.id.clone(), kt, json))
        })
        .collect::<Result<_>>()?;
    pb.finish();
    let gt: BTreeMap<&str, &serde_json::Value> =
        truths.iter().map(|(id, _, j)| (id.as_str(), j)).collect();
    write_json(&dir.join("ground_truth.json"), &gt)?;
    Ok(truths.into_iter().map(|(id, kt, _)| (id, kt)).collect())
}

/// Seed offset of the lesion detector's training cohort (different patients from the
/// evaluated phantom cohort, which uses `cfg.seed`).
pub const LESION_SEED_OFFSET: u64 = 0x1e51_0000;

/// Generates the detector's training phantoms, segments them as the pipeline does and trains
/// the voxel-level [`LesionDetector`] on their lesion masks.
pub fn train_lesion_detector(cfg: &PipelineConfig) -> Result<LesionDetector> {
    let pc = CohortConfig {
        n_per_class: cfg.lesion_train_per_class,
        seed: cfg.seed.wrapping_add(LESION_SEED_OFFSET),
        size: cfg.phantom_size,
        slices: cfg.phantom_slices,
        inject_fraction: 0.0,
        ..CohortConfig::default()
    };
    pc.validate().map_err(Error::Phantom)?;
    let pb = bar(pc.len() as u64, "lesion model");
    let data: Vec<TrainingSample> = (0..pc.len())
        .into_par_iter()
        .map(|i| {
            let (ps, c) = detector_scan(&pc, i, cfg)?;
            let sample = sample_training(&c, ps.truth.lesion_mask.view(), 3000)?;
            pb.inc(1);
            Ok(sample)
        })
        .collect::<Result<_>>()?;
    pb.finish();
    let mut detector = LesionDetector::train(data, cfg.lesion_rounds, cfg.seed)?;
    // Second stage: the components this detector finds in every other training scan (its
    // in-sample probabilities), labelled by the reference masks.
    let subset: Vec<usize> = (0..pc.len()).step_by(2).collect();
    let pb = bar(subset.len() as u64, "lesion components");
    let samples: Vec<ComponentSample> = subset
        .par_iter()
        .map(|&i| {
            let (ps, c) = detector_scan(&pc, i, cfg)?;
            let p = detector.predict(&c)?;
            let t = component_table(
                &c,
                &p,
                ps.scan.volume.spacing(),
                Some(ps.truth.lesion_mask.view()),
            )?;
            pb.inc(1);
            ComponentSample::from_table(&t)
        })
        .collect::<Result<_>>()?;
    pb.finish();
    detector.train_components(samples, cfg.seed)?;
    detector.recipe = Some(recipe(cfg));
    Ok(detector)
}

/// The recipe of a detector [`train_lesion_detector`] makes for `cfg`.
fn recipe(cfg: &PipelineConfig) -> DetectorRecipe {
    DetectorRecipe {
        phantom_size: cfg.phantom_size,
        phantom_slices: cfg.phantom_slices,
        per_class: cfg.lesion_train_per_class,
        cohort_seed: cfg.seed.wrapping_add(LESION_SEED_OFFSET),
        rounds: cfg.lesion_rounds,
        close_radius_mm: cfg.close_radius_mm,
    }
}

/// The detector shipped with this crate (`crates/ct-pipeline/models/lesion_detector.json`,
/// made by `cargo run --release --example pipeline -- --stage detector --detector train
/// --save-detector crates/ct-pipeline/models/lesion_detector.json`): trained on 60 phantoms
/// per class of 256² (seed 2021 + `0x1e51_0000`), so that a default run need not
/// spend two minutes training it.
pub fn shipped_detector() -> Result<LesionDetector> {
    LesionDetector::from_json(include_str!("../models/lesion_detector.json"))
}

/// Writes the detector to `cfg.save_detector`, if set.
fn save_detector(cfg: &PipelineConfig, d: &LesionDetector) -> Result<()> {
    if let Some(path) = &cfg.save_detector {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        std::fs::write(path, d.to_json()? + "\n").map_err(io_err(path))?;
    }
    Ok(())
}

/// The run's detector and where it came from.
fn obtain_detector(cfg: &PipelineConfig) -> Result<(LesionDetector, String)> {
    let trained = || {
        Ok((
            train_lesion_detector(cfg)?,
            "trained in this run".to_string(),
        ))
    };
    match &cfg.detector {
        DetectorSource::Train => trained(),
        DetectorSource::Auto if cfg.stage == Stage::Detector => trained(),
        DetectorSource::File(path) => {
            let d = load_model(path, "lesion detector", |b| {
                LesionDetector::from_json(&String::from_utf8_lossy(b))
            })?;
            Ok((d, path.display().to_string()))
        }
        DetectorSource::Auto => {
            let shipped = shipped_detector()?;
            let fits = match (&cfg.data, &shipped.recipe) {
                (Some(_), _) => true,
                // The run's recipe up to the cohort seed, and its cohort is not the
                // evaluated one.
                (None, Some(r)) => {
                    *r == DetectorRecipe {
                        cohort_seed: r.cohort_seed,
                        ..recipe(cfg)
                    } && r.cohort_seed != cfg.seed
                }
                (None, None) => false,
            };
            if fits {
                Ok((shipped, "shipped".to_string()))
            } else {
                trained()
            }
        }
    }
}

/// One scan of the detector's training cohort, segmented as the pipeline does, and its
/// candidate voxels.
fn detector_scan(
    pc: &CohortConfig,
    i: usize,
    cfg: &PipelineConfig,
) -> Result<(ct_phantom::PhantomScan, Candidates)> {
    let ps = generate_scan(pc, i).map_err(Error::Phantom)?;
    let hu = &ps.scan.volume;
    let seg = crate::preprocess::lung_mask(hu, &ps.scan.meta, cfg.lung_recipe)?;
    let lung = lesion_inclusive_mask(&seg, cfg.close_radius_mm)?;
    let region = hull_mask(lung.view())?;
    let c = candidates(hu.view(), region.view(), lung.view(), hu.spacing())?;
    Ok((ps, c))
}

/// Reads the data set and preprocesses every scan of this shard (one volume per worker).
fn preprocess(
    cfg: &PipelineConfig,
    dir: &Path,
    truths: &BTreeMap<String, KnownTruth>,
    figures: &Mutex<Figures>,
    (detector, pattern): (&LesionDetector, Option<(&PatternNet, &FocusModel)>),
    source: &str,
) -> Result<FeatureTable> {
    let ds = Dataset::open(dir).map_err(Error::Dataset)?;
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
    let pb = bar(entries.len() as u64, "preprocess");
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
            Ok(p.record)
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
        detector_training: Some(DetectorTraining::of(detector, source)),
    })
}

fn otdd_stage(records: &[ScanRecord], cfg: &PipelineConfig) -> Vec<OtddSummary> {
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
    let mut run = |name: &str, a: &[&ScanRecord], ea: bool, b: &[&ScanRecord], eb: bool| {
        let t = Instant::now();
        let (xa, ya) = thumb_matrix(a, ea);
        let (xb, yb) = thumb_matrix(b, eb);
        let res = otdd::LabeledData::new(xa.view(), &ya)
            .and_then(|da| otdd::LabeledData::new(xb.view(), &yb).map(|db| (da, db)))
            .and_then(|(da, db)| otdd::otdd(&da, &db, &params));
        match res {
            Ok(r) => out.push(OtddSummary {
                name: name.to_string(),
                distance: r.distance,
                label_distances: r
                    .label_distances
                    .outer_iter()
                    .map(|row| row.to_vec())
                    .collect(),
                samples: (r.index_a.len(), r.index_b.len()),
                seconds: t.elapsed().as_secs_f64(),
            }),
            Err(e) => eprintln!("OTDD {name}: skipped ({e})"),
        }
    };
    let all: Vec<&ScanRecord> = records.iter().collect();
    let high: Vec<&ScanRecord> = records
        .iter()
        .filter(|r| r.contrast == Some(Contrast::High))
        .collect();
    let low: Vec<&ScanRecord> = records
        .iter()
        .filter(|r| r.contrast == Some(Contrast::Low))
        .collect();
    if !high.is_empty() && !low.is_empty() {
        run(
            "high vs low contrast (lung-window slices)",
            &high,
            false,
            &low,
            false,
        );
    }
    run("original vs CLAHE-enhanced slices", &all, false, &all, true);
    out
}

/// Runs the pipeline as configured and returns its summary (also written to the run folder).
pub fn run(cfg: &PipelineConfig) -> Result<Summary> {
    cfg.validate()?;
    let run_dir = cfg.run_dir();
    let fig_dir = run_dir.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(io_err(&fig_dir))?;
    write_json(&run_dir.join("config.json"), cfg)?;
    let mut timings = BTreeMap::new();
    let figures = Mutex::new(Figures::default());
    let (si, sn) = cfg.shard;
    let shard_dir = run_dir.join("shards");

    if cfg.stage == Stage::Detector {
        let t = Instant::now();
        let (detector, source) = obtain_detector(cfg)?;
        timings.insert("lesion_model".to_string(), t.elapsed().as_secs_f64());
        save_detector(cfg, &detector)?;
        return Ok(Summary {
            run_dir,
            n_scans: 0,
            failures: Vec::new(),
            classification: None,
            cleaning: None,
            dice: BTreeMap::new(),
            lesion_components: None,
            detector_training: Some(DetectorTraining::of(&detector, &source)),
            otdd: Vec::new(),
            timings,
            peak_rss_mib: peak_rss_mib(),
        });
    }
    // The pretrained scan model, loaded first so that a bad file fails before any work.
    let scan_model = match (cfg.scan_model, &cfg.scan_model_file, cfg.stage) {
        (false, ..) | (_, _, Stage::Preprocess) => None,
        (true, None, _) => Some((ScanModel::shipped()?, "shipped".to_string())),
        (true, Some(path), _) => Some((
            load_model(path, "scan model", |b| {
                ScanModel::from_json(&String::from_utf8_lossy(b))
            })?,
            path.display().to_string(),
        )),
    };
    let table = if cfg.stage == Stage::Merge {
        merge_shards(&shard_dir, sn)?
    } else {
        // 1. The lesion detector (first, so that a bad --detector fails before any work):
        // shipped, loaded, or trained on its own phantom cohort (another seed).
        let t = Instant::now();
        let (detector, source) = obtain_detector(cfg)?;
        timings.insert("lesion_model".to_string(), t.elapsed().as_secs_f64());
        save_detector(cfg, &detector)?;
        let pattern = match (&cfg.pattern_net, &cfg.pattern_weights) {
            (false, _) => None,
            (true, None) => Some(PatternNet::shipped()?),
            (true, Some(path)) => Some(load_model(path, "lesion pattern network", |b| {
                PatternNet::from_bytes(b, &covnet_models::cpu_device())
            })?),
        };
        let focus = match (&cfg.pattern_net, &cfg.focus_model) {
            (false, _) => None,
            (true, None) => Some(FocusModel::shipped()?),
            (true, Some(path)) => Some(load_model(path, "focus model", |b| {
                FocusModel::from_json(&String::from_utf8_lossy(b))
            })?),
        };
        timings.insert("lesion_model".to_string(), t.elapsed().as_secs_f64());
        // 2. Data.
        let t = Instant::now();
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
        // 3-5. Per-scan preprocessing.
        let t = Instant::now();
        let table = preprocess(
            cfg,
            &dir,
            &truths,
            &figures,
            (&detector, pattern.as_ref().zip(focus.as_ref())),
            &source,
        )?;
        timings.insert("preprocess".to_string(), t.elapsed().as_secs_f64());
        if cfg.stage == Stage::Preprocess {
            std::fs::create_dir_all(&shard_dir).map_err(io_err(&shard_dir))?;
            write_json(
                &shard_dir.join(format!("features-{si}-of-{sn}.json")),
                &table,
            )?;
        }
        table
    };
    write_features_csv(&run_dir.join("features.csv"), &table)?;
    if table.records.iter().any(|r| !r.pattern_foci.is_empty()) {
        write_foci_csv(&run_dir.join("foci.csv"), &table)?;
    }
    for f in &table.failures {
        eprintln!("skipped {} ({}): {}", f.id, f.path.display(), f.error);
    }
    // Per-step sums over scans (CPU seconds spent in each per-scan step).
    let mut steps: BTreeMap<String, f64> = BTreeMap::new();
    for r in &table.records {
        for (k, v) in &r.timings {
            *steps.entry(format!("preprocess.{k}")).or_default() += v;
        }
    }
    timings.extend(steps);
    if cfg.stage == Stage::Preprocess {
        return Ok(Summary {
            run_dir,
            n_scans: table.records.len(),
            failures: table.failures,
            classification: None,
            cleaning: crate::preprocess::cleaning_scores(&table.records),
            dice: dice_summary(&table.records),
            lesion_components: component_eval(&table.records),
            detector_training: table.detector_training.clone(),
            otdd: Vec::new(),
            timings,
            peak_rss_mib: peak_rss_mib(),
        });
    }

    // 5. OTDD.
    let t = Instant::now();
    let pb = ProgressBar::new_spinner();
    pb.set_message("OTDD");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let otdd = otdd_stage(&table.records, cfg);
    pb.finish_and_clear();
    timings.insert("otdd".to_string(), t.elapsed().as_secs_f64());

    // 6. Classification.
    let t = Instant::now();
    let pb = ProgressBar::new_spinner();
    pb.set_message("classification (grid search, k-fold, test)");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    // The shipped scan model needs the default columns (e.g. not --no-pattern-net); a
    // model the user named must fit.
    let scan = match &scan_model {
        Some((m, source)) => match m.columns(&table.feature_names) {
            Ok(_) => Some((m, source.as_str())),
            Err(e) if cfg.scan_model_file.is_none() => {
                eprintln!("the shipped scan model is left out of the vote: {e}");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let classification = match classify(&table.records, cfg, scan) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("classification skipped: {e}");
            None
        }
    };
    pb.finish_and_clear();
    timings.insert("classify".to_string(), t.elapsed().as_secs_f64());
    if let Some(c) = &classification {
        write_predictions_csv(&run_dir.join("predictions.csv"), c, &table.records)?;
    }

    let mut summary = Summary {
        run_dir: run_dir.clone(),
        n_scans: table.records.len(),
        failures: table.failures.clone(),
        classification,
        cleaning: crate::preprocess::cleaning_scores(&table.records),
        dice: dice_summary(&table.records),
        lesion_components: component_eval(&table.records),
        detector_training: table.detector_training.clone(),
        otdd,
        timings,
        peak_rss_mib: None,
    };

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

/// The feature table as CSV: `id,label,contrast,<features...>`.
fn write_features_csv(path: &Path, t: &FeatureTable) -> Result<()> {
    let mut out = String::from("id,label,contrast");
    for n in &t.feature_names {
        out.push(',');
        out.push_str(n);
    }
    out.push('\n');
    for r in &t.records {
        out.push_str(&format!(
            "{},{},{}",
            r.id,
            r.label.map_or("", Label::name),
            r.contrast.map_or("", Contrast::name)
        ));
        for v in &r.features {
            out.push_str(&format!(",{v}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(io_err(path))
}

/// The pattern U-Net's foci as CSV: `id,label,contrast,focus,z,y,x,<focus features...>,
/// lesion_share` (centroid in voxels of the cleaned scan; the share inside the true lesion
/// mask is empty on real data).
fn write_foci_csv(path: &Path, t: &FeatureTable) -> Result<()> {
    let mut out = String::from("id,label,contrast,focus,z,y,x");
    for n in crate::lesion_patterns::FOCUS_FEATURE_NAMES {
        out.push(',');
        out.push_str(n);
    }
    out.push_str(",lesion_share\n");
    for r in &t.records {
        for (k, f) in r.pattern_foci.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{k},{:.1},{:.1},{:.1}",
                r.id,
                r.label.map_or("", Label::name),
                r.contrast.map_or("", Contrast::name),
                f.centroid[0],
                f.centroid[1],
                f.centroid[2]
            ));
            for v in &f.features {
                out.push_str(&format!(",{v}"));
            }
            match f.lesion_share {
                Some(s) => out.push_str(&format!(",{s}\n")),
                None => out.push_str(",\n"),
            }
        }
    }
    std::fs::write(path, out).map_err(io_err(path))
}

/// One row per test subject: id, contrast group, true and predicted class, and the soft-vote
/// probabilities.
fn write_predictions_csv(path: &Path, c: &ClassifyOutput, records: &[ScanRecord]) -> Result<()> {
    let name = |k: usize| Label::ALL.get(k).map_or("", |l| l.name());
    let mut out = String::from("id,contrast,true,predicted,correct,p_normal,p_cap,p_covid\n");
    for (k, id) in c.test_ids.iter().enumerate() {
        let contrast = records
            .iter()
            .find(|r| &r.id == id)
            .and_then(|r| r.contrast)
            .map_or("", Contrast::name);
        let (t, p) = (c.test_true[k], c.test_pred[k]);
        out.push_str(&format!(
            "{id},{contrast},{},{},{}",
            name(t),
            name(p),
            t == p
        ));
        for v in c.test_proba.get(k).map(Vec::as_slice).unwrap_or(&[]) {
            out.push_str(&format!(",{v:.4}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(io_err(path))
}

fn dice_summary(records: &[ScanRecord]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut add = |name: &str, f: &dyn Fn(&ScanRecord) -> bool| {
        let v: Vec<f64> = records
            .iter()
            .filter(|r| f(r))
            .filter_map(|r| r.lung_dice)
            .collect();
        if !v.is_empty() {
            out.insert(name.to_string(), v.iter().sum::<f64>() / v.len() as f64);
        }
    };
    add("all", &|_| true);
    add("high", &|r| r.contrast == Some(Contrast::High));
    add("low", &|r| r.contrast == Some(Contrast::Low));
    let closed: Vec<f64> = records.iter().filter_map(|r| r.lung_dice_closed).collect();
    if !closed.is_empty() {
        out.insert(
            "all, lesion-inclusive mask".to_string(),
            closed.iter().sum::<f64>() / closed.len() as f64,
        );
    }
    let les: Vec<f64> = records.iter().filter_map(|r| r.lesion_dice).collect();
    if !les.is_empty() {
        out.insert(
            "lesions (detector vs reference, scans with lesions)".to_string(),
            les.iter().sum::<f64>() / les.len() as f64,
        );
    }
    out
}

fn merge_shards(dir: &Path, n: usize) -> Result<FeatureTable> {
    let mut merged: Option<FeatureTable> = None;
    for i in 0..n {
        let p = dir.join(format!("features-{i}-of-{n}.json"));
        let text = std::fs::read_to_string(&p).map_err(io_err(&p))?;
        let t: FeatureTable =
            serde_json::from_str(&text).map_err(Error::json(p.display().to_string()))?;
        match &mut merged {
            None => merged = Some(t),
            Some(m) => {
                if m.feature_names != t.feature_names {
                    return Err(Error::Shard {
                        path: p,
                        why: "other feature columns than shard 0".into(),
                    });
                }
                m.records.extend(t.records);
                m.failures.extend(t.failures);
                m.eda.merge(&t.eda)?;
                m.warnings.extend(t.warnings);
            }
        }
    }
    let mut m = merged.ok_or_else(|| Error::Config {
        name: "shard",
        why: "no shards to merge".into(),
    })?;
    m.records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(m)
}

/// The `metrics.json` document.
pub fn metrics_json(s: &Summary) -> serde_json::Value {
    let mut by_contrast = serde_json::Map::new();
    if let Some(c) = &s.classification {
        for (g, rep) in &c.by_contrast {
            by_contrast.insert(
                g.clone(),
                serde_json::json!({ "accuracy": rep.accuracy, "report": rep, "text": rep.to_string() }),
            );
        }
    }
    serde_json::json!({
        "accuracy": s.classification.as_ref().map(|c| c.accuracy),
        "roc_auc_ovr_macro": s.classification.as_ref().and_then(|c| c.roc_auc),
        "cv": s.classification.as_ref().map(|c| serde_json::json!({"mean": c.cv_mean, "std": c.cv_std, "folds": c.cv_folds})),
        "report": s.classification.as_ref().map(|c| serde_json::json!({"scores": c.report, "text": c.report.to_string()})),
        "by_contrast": by_contrast,
        "confusion": s.classification.as_ref().map(|c| &c.confusion),
        "gate": s.classification.as_ref().and_then(|c| c.gate.as_ref()),
        "models": s.classification.as_ref().map(|c| &c.models),
        "scan_model": s.classification.as_ref().and_then(|c| c.scan_model.as_ref()),
        "cleaning": s.cleaning.map(|(p, r, f, t)| serde_json::json!({"precision": p, "recall": r, "flagged": f, "injected": t})),
        "lung_dice": s.dice,
        "lesion_components": s.lesion_components,
        "detector_training": s.detector_training,
        "otdd": s.otdd,
        "n_scans": s.n_scans,
        "failures": s.failures,
        "timings_s": s.timings,
        "peak_rss_mib": s.peak_rss_mib,
    })
}
