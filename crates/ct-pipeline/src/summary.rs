//! What a run reports: the feature table, the summary and `metrics.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ct_core::Contrast;
use serde::{Deserialize, Serialize};

use crate::classify::ClassifyOutput;
use crate::lesion_detector::{DetectorRecipe, LesionDetector};
use crate::models::ModelUse;
use crate::preprocess::{Eda, ScanRecord};

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
    /// The model files the preprocessing used.
    #[serde(default)]
    pub models: Vec<ModelUse>,
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
    pub(crate) fn of(d: &LesionDetector, source: &str) -> DetectorTraining {
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

/// One class's row of the OTDD augmentation guidance.
#[derive(Debug, Clone, Serialize)]
pub struct ClassGuidance {
    /// The class.
    pub class: String,
    /// OTDD between the class's original slices and each enhancement of them.
    pub distances: Vec<(String, f64)>,
    /// The enhancement closest to the originals.
    pub closest: Option<String>,
}

impl ClassGuidance {
    pub(crate) fn new(class: &str, distances: Vec<(String, f64)>) -> ClassGuidance {
        let closest = distances
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k.clone());
        ClassGuidance {
            class: class.to_string(),
            distances,
            closest,
        }
    }
}

/// The seed's OTDD augmentation guidance: per class, the OTDD between the original
/// lung-window slices and their HE-, CLAHE- and HE+CLAHE-enhanced versions. The enhancement
/// that moves every class least is the safest augmentation (it keeps the training data where
/// the originals are); the farthest adds the most variety and the most risk of a shift.
#[derive(Debug, Clone, Serialize)]
pub struct AugmentationGuidance {
    /// Per class.
    pub classes: Vec<ClassGuidance>,
    /// The enhancement with the smallest distance averaged over the classes.
    pub preferred: String,
    /// The enhancement with the largest.
    pub farthest: String,
}

impl AugmentationGuidance {
    pub(crate) fn of(classes: Vec<ClassGuidance>) -> Option<AugmentationGuidance> {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for c in &classes {
            for (k, d) in &c.distances {
                let e = sums.entry(k.clone()).or_default();
                e.0 += d;
                e.1 += 1;
            }
        }
        let means: Vec<(String, f64)> = sums
            .into_iter()
            .filter(|(_, (_, n))| *n == classes.len())
            .map(|(k, (s, n))| (k, s / n as f64))
            .collect();
        let pick = |better: fn(f64, f64) -> bool| {
            means
                .iter()
                .fold(None::<&(String, f64)>, |best, m| match best {
                    Some(b) if !better(m.1, b.1) => Some(b),
                    _ => Some(m),
                })
                .map(|(k, _)| k.clone())
        };
        Some(AugmentationGuidance {
            preferred: pick(|a, b| a < b)?,
            farthest: pick(|a, b| a > b)?,
            classes,
        })
    }
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
    /// The model files the run used (checksums, provenance, warnings).
    pub models: Vec<ModelUse>,
    /// OTDD results.
    pub otdd: Vec<OtddSummary>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Peak resident memory (MiB), from the kernel.
    pub peak_rss_mib: Option<f64>,
    /// The saved pipeline for `predict` (`<run>/model`), when it was written.
    pub bundle: Option<PathBuf>,
    /// The data set's file and DICOM times per group (the seed's EDA of file times).
    pub file_times: Option<crate::FileTimes>,
    /// The OTDD augmentation guidance (per class, original vs each enhancement).
    pub augmentation: Option<AugmentationGuidance>,
}

impl Summary {
    /// A summary of no scans (the `--stage detector` run).
    pub(crate) fn empty(run_dir: PathBuf, timings: BTreeMap<String, f64>) -> Summary {
        Summary {
            run_dir,
            n_scans: 0,
            failures: Vec::new(),
            classification: None,
            cleaning: None,
            dice: BTreeMap::new(),
            lesion_components: None,
            detector_training: None,
            models: Vec::new(),
            otdd: Vec::new(),
            timings,
            peak_rss_mib: None,
            bundle: None,
            file_times: None,
            augmentation: None,
        }
    }

    /// The summary of a feature table and what the later stages made of it; the
    /// evaluations against known truth (cleaning, Dice, components) come from the records.
    pub(crate) fn of(
        run_dir: PathBuf,
        table: &FeatureTable,
        classification: Option<ClassifyOutput>,
        otdd: Vec<OtddSummary>,
        timings: BTreeMap<String, f64>,
    ) -> Summary {
        Summary {
            run_dir,
            n_scans: table.records.len(),
            failures: table.failures.clone(),
            classification,
            cleaning: crate::preprocess::cleaning_scores(&table.records),
            dice: dice_summary(&table.records),
            lesion_components: component_eval(&table.records),
            detector_training: table.detector_training.clone(),
            models: table.models.clone(),
            otdd,
            timings,
            peak_rss_mib: None,
            bundle: None,
            file_times: None,
            augmentation: None,
        }
    }
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

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
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

/// Per group (`all`, `high`, `low`), each class's one-vs-rest test AUC.
fn roc_auc_by_class(c: &crate::classify::ClassifyOutput) -> serde_json::Value {
    c.roc_curves
        .iter()
        .map(|(g, rocs)| {
            let by_class: serde_json::Map<String, serde_json::Value> = rocs
                .iter()
                .map(|r| (r.class.clone(), r.auc.into()))
                .collect();
            (g.clone(), by_class.into())
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The survey without the per-subject list (that stays in the report's data): per time
/// kind, the groups' spreads and the separation.
fn file_times_json(f: &crate::FileTimes) -> serde_json::Value {
    serde_json::json!({
        "grouping": f.grouping,
        "subjects": f.subjects.len(),
        "kinds": f.kinds,
        "separating": f.separating().iter().map(|k| (k.name.clone(), k.separated_groups())).collect::<BTreeMap<_, _>>(),
        "skipped": f.skipped,
    })
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
        "roc_auc_by_class": s.classification.as_ref().map(roc_auc_by_class),
        "vote": s.classification.as_ref().map(|c| c.vote),
        "cv": s.classification.as_ref().map(|c| serde_json::json!({"mean": c.cv_mean, "std": c.cv_std, "folds": c.cv_folds, "note": c.cv_note})),
        "report": s.classification.as_ref().map(|c| serde_json::json!({"scores": c.report, "text": c.report.to_string()})),
        "by_contrast": by_contrast,
        "confusion": s.classification.as_ref().map(|c| &c.confusion),
        "gate": s.classification.as_ref().and_then(|c| c.gate.as_ref()),
        "unsupervised_gate": s.classification.as_ref().and_then(|c| c.unsupervised_gate.as_ref()),
        "models": s.classification.as_ref().map(|c| &c.models),
        "scan_model": s.classification.as_ref().and_then(|c| c.scan_model.as_ref()),
        "cleaning": s.cleaning.map(|(p, r, f, t)| serde_json::json!({"precision": p, "recall": r, "flagged": f, "injected": t})),
        "lung_dice": s.dice,
        "lesion_components": s.lesion_components,
        "detector_training": s.detector_training,
        "model_files": s.models,
        "otdd": s.otdd,
        "n_scans": s.n_scans,
        "failures": s.failures,
        "timings_s": s.timings,
        "peak_rss_mib": s.peak_rss_mib,
        "bundle": s.bundle,
        "file_times": s.file_times.as_ref().map(file_times_json),
        "augmentation_guidance": s.augmentation,
    })
}
