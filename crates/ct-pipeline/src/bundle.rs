//! A trained pipeline saved for prediction: `<run>/model/` holds `bundle.json` (the
//! per-scan configuration, the feature columns, the fitted gate and classifiers, the class
//! names, what it was trained on) and a copy of every model file the run used, each with its
//! SHA-256. [`crate::Predictor`] reads it back and refuses a bundle of another format
//! version, with a missing or changed file, or whose features this build does not compute.

use std::path::{Path, PathBuf};

use ct_core::Label;
use serde::{Deserialize, Serialize};

use crate::config::PipelineConfig;
use crate::feature_model::FeatureModel;
use crate::models::{ModelUse, sha256_hex};
use crate::outputs::io_err;
use crate::preprocess::ScanRecord;
use crate::{Error, Result};

/// The `format` field of `bundle.json`.
pub const BUNDLE_FORMAT: &str = "covid-ct pipeline bundle";
/// The bundle format version this build writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The bundle's description file inside its folder.
pub const BUNDLE_FILE: &str = "bundle.json";
/// The bundle's folder inside a run folder.
pub const BUNDLE_DIR: &str = "model";

/// One model file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledFile {
    /// The model's name (`lesion_detector`, `lesion_pattern_unet`, …).
    pub name: String,
    /// The file inside the bundle folder.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Where the run took it from (`shipped`, `trained in this run`, or a file).
    pub source: String,
}

/// The data a bundle's classifiers learned from and how they scored on held-out subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedOn {
    /// The data set (its folder, or the phantom cohort's description).
    pub data: String,
    /// Subjects the classifiers were fitted on.
    pub train_subjects: Vec<String>,
    /// Held-out subjects of the run's test split.
    pub test_subjects: Vec<String>,
    /// Accuracy on the test split (these very models).
    pub test_accuracy: f64,
    /// Macro one-vs-rest ROC-AUC on the test split, when defined.
    pub roc_auc: Option<f64>,
    /// The ranges of the training subjects' values, to flag a new scan that lies outside.
    pub ranges: TrainingRanges,
}

/// The range of one value over the training subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// What it is: a feature column, `lung_ml` or `slices`.
    pub name: String,
    /// The smallest training value.
    pub min: f64,
    /// The largest training value.
    pub max: f64,
}

/// A value of a new scan outside its training [`Range`] (widened by [`RANGE_SLACK`] of its
/// width on each side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outside {
    /// The training range.
    pub range: Range,
    /// The scan's value.
    pub value: f64,
}

/// Share of a range's width by which a value may lie beyond it before it is flagged.
pub const RANGE_SLACK: f64 = 0.1;

/// What the training subjects looked like: the classifiers' columns, the lung volume and
/// the slice count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRanges {
    /// One range per value, in the order of [`TrainingRanges::of`].
    pub ranges: Vec<Range>,
}

impl TrainingRanges {
    /// The ranges over `records` of the columns `columns` of a table named `names`, of the
    /// lung volume and of the slice count.
    pub fn of(records: &[&ScanRecord], names: &[String], columns: &[String]) -> TrainingRanges {
        let mut ranges: Vec<Range> = columns
            .iter()
            .filter_map(|c| {
                let j = names.iter().position(|n| n == c)?;
                Some(range_of(c, records.iter().map(|r| r.features[j])))
            })
            .collect();
        ranges.push(range_of("lung_ml", records.iter().map(|r| lung_ml(r))));
        ranges.push(range_of(
            "slices",
            records.iter().map(|r| r.n_slices as f64),
        ));
        TrainingRanges { ranges }
    }

    /// The values of `r` (a row of a table named `names`) outside their training range.
    pub fn outside(&self, r: &ScanRecord, names: &[String]) -> Vec<Outside> {
        self.ranges
            .iter()
            .filter_map(|range| {
                let value = match range.name.as_str() {
                    "lung_ml" => lung_ml(r),
                    "slices" => r.n_slices as f64,
                    c => r.features[names.iter().position(|n| n == c)?],
                };
                let slack = RANGE_SLACK * (range.max - range.min);
                let out = value < range.min - slack || value > range.max + slack;
                out.then(|| Outside {
                    range: range.clone(),
                    value,
                })
            })
            .collect()
    }
}

/// Lung volume (mL) of a record's lung mask.
pub fn lung_ml(r: &ScanRecord) -> f64 {
    r.lung_voxels as f64 * r.spacing.iter().product::<f64>() / 1000.0
}

fn range_of(name: &str, values: impl Iterator<Item = f64>) -> Range {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    Range {
        name: name.to_string(),
        min,
        max,
    }
}

/// The saved pipeline (`bundle.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// The crate that wrote it, e.g. `ct-pipeline 0.1.0`.
    pub written_by: String,
    /// The run's configuration: the per-scan stages of a prediction read it.
    pub config: PipelineConfig,
    /// The columns of the run's feature table.
    pub feature_names: Vec<String>,
    /// Class names by index.
    pub class_names: Vec<String>,
    /// The fitted gate and classifiers.
    pub model: FeatureModel,
    /// The model files beside `bundle.json`.
    pub files: Vec<BundledFile>,
    /// What the classifiers learned from.
    pub trained_on: TrainedOn,
}

fn bad(path: &Path, why: impl Into<String>) -> Error {
    Error::Bundle {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

impl Bundle {
    /// A bundle of a finished run. Every model the run used must have its file at hand
    /// (a merged, sharded run has not: the shards loaded them).
    pub fn of_run(
        cfg: &PipelineConfig,
        feature_names: &[String],
        model: FeatureModel,
        models: &[ModelUse],
        trained_on: TrainedOn,
    ) -> std::result::Result<(Bundle, Vec<(String, std::sync::Arc<Vec<u8>>)>), String> {
        if cfg.oracle_lesions {
            return Err(
                "the run scored lesions with the phantoms' true masks (--oracle-lesions), \
                        which new scans do not have"
                    .into(),
            );
        }
        let mut files = Vec::new();
        let mut bytes = Vec::new();
        for m in models {
            let f = m.file.as_ref().ok_or_else(|| {
                format!(
                    "the file of {} is not at hand (a merged sharded run does not carry its \
                     models)",
                    m.name
                )
            })?;
            files.push(BundledFile {
                name: m.name.clone(),
                file: f.name.to_string(),
                sha256: sha256_hex(&f.bytes),
                source: m.source.clone(),
            });
            bytes.push((f.name.to_string(), f.bytes.clone()));
        }
        let bundle = Bundle {
            format: BUNDLE_FORMAT.to_string(),
            version: BUNDLE_VERSION,
            written_by: format!("ct-pipeline {}", env!("CARGO_PKG_VERSION")),
            config: cfg.clone(),
            feature_names: feature_names.to_vec(),
            class_names: Label::ALL.iter().map(|l| l.name().to_string()).collect(),
            model,
            files,
            trained_on,
        };
        Ok((bundle, bytes))
    }

    /// Writes the bundle into `dir` (replacing an older one): first into a temporary sibling
    /// folder, which is then renamed, so `dir` never holds half a bundle.
    pub fn write(&self, dir: &Path, files: &[(String, std::sync::Arc<Vec<u8>>)]) -> Result<()> {
        let name = dir
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy());
        let tmp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        for (file, bytes) in files {
            let p = tmp.join(file);
            std::fs::write(&p, bytes.as_slice()).map_err(io_err(&p))?;
        }
        crate::outputs::write_json(&tmp.join(BUNDLE_FILE), self)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(io_err(dir))
    }

    /// Reads and checks a bundle: `dir` is its folder (or its `bundle.json`). Returns the
    /// bundle and its folder.
    pub fn read(dir: &Path) -> Result<(Bundle, PathBuf)> {
        let dir = if dir.is_file() {
            dir.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            dir.to_path_buf()
        };
        let path = dir.join(BUNDLE_FILE);
        if !dir.is_dir() {
            return Err(bad(&dir, "no such folder"));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(
                &dir,
                format!(
                    "cannot read {BUNDLE_FILE} ({e}); a bundle is the `model` folder of a \
                     finished pipeline run"
                ),
            )
        })?;
        // Format and version first, so that another version gets a plain answer rather
        // than a parser's complaint about a field.
        let head: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&path, format!("not JSON: {e}")))?;
        if head.get("format").and_then(|v| v.as_str()) != Some(BUNDLE_FORMAT) {
            return Err(bad(&path, format!("not a {BUNDLE_FORMAT} (format field)")));
        }
        let version = head.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(BUNDLE_VERSION)) {
            return Err(bad(
                &path,
                format!(
                    "format version {} (this build reads version {BUNDLE_VERSION}; written by \
                     {}): retrain with this build",
                    version.map_or("missing".into(), |v| v.to_string()),
                    head.get("written_by")
                        .and_then(|v| v.as_str())
                        .unwrap_or("an unknown build")
                ),
            ));
        }
        let bundle: Bundle =
            serde_json::from_str(&text).map_err(|e| bad(&path, format!("damaged: {e}")))?;
        bundle.check(&dir)?;
        Ok((bundle, dir))
    }

    /// The checks a read bundle must pass: this build computes the same feature columns,
    /// the classifiers' columns are among them, every file is there with its checksum.
    fn check(&self, dir: &Path) -> Result<()> {
        let now = crate::preprocess::feature_names(&self.config);
        if now != self.feature_names {
            let first = now
                .iter()
                .zip(&self.feature_names)
                .position(|(a, b)| a != b)
                .unwrap_or(now.len().min(self.feature_names.len()));
            return Err(bad(
                dir,
                format!(
                    "its feature table ({} columns) is not the one this build computes ({} \
                     columns; first difference at column {first}): retrain with this build",
                    self.feature_names.len(),
                    now.len()
                ),
            ));
        }
        self.model
            .column_indices(&self.feature_names)
            .map_err(|e| bad(dir, e.to_string()))?;
        if self.class_names.len() != Label::ALL.len() {
            return Err(bad(dir, format!("{} class names", self.class_names.len())));
        }
        for f in &self.files {
            if f.file.contains(['/', '\\']) || f.file.starts_with('.') {
                return Err(bad(
                    dir,
                    format!("file name {:?} is not a plain name", f.file),
                ));
            }
            let p = dir.join(&f.file);
            let bytes =
                std::fs::read(&p).map_err(|e| bad(dir, format!("{} ({}): {e}", f.file, f.name)))?;
            let sum = sha256_hex(&bytes);
            if sum != f.sha256 {
                return Err(bad(
                    dir,
                    format!(
                        "{} has changed since the bundle was written (sha256 {sum}, recorded {})",
                        f.file, f.sha256
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The bundled file of a model, by name.
    pub fn file(&self, name: &str) -> Option<&BundledFile> {
        self.files.iter().find(|f| f.name == name)
    }
}
