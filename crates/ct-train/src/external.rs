//! Evaluation of a finished run on scans it never saw (another data set, another generator):
//! every fold's best model predicts every scan and their probabilities are averaged.
//! Writes `external.csv` (`id,label,contrast,p_normal,p_cap,p_covid,predicted`) and
//! `external.json` into the run folder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::FoldCheckpoints;
use crate::config::TrainConfig;
use crate::dataset::ScanDataset;
use crate::error::{Error, Result, io, json};
use crate::tally::{Tally, write_predictions};
use crate::trainer::{Quiet, Trainer};

/// `external.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalSummary {
    /// What the scans were (the caller's words: a folder, a cohort).
    pub source: String,
    /// Scans predicted.
    pub n_scans: usize,
    /// Scans with a label (the accuracy's denominator).
    pub n_labelled: usize,
    /// Scans that could not be prepared.
    pub skipped: usize,
    /// Folds whose models voted.
    pub folds: usize,
    /// Accuracy over the labelled scans.
    pub accuracy: f64,
    /// Rows = truth, columns = prediction.
    pub confusion: Vec<Vec<usize>>,
    /// Accuracy per contrast group (`high`, `low`, `unknown`) with its count.
    pub by_contrast: Vec<(String, usize, f64)>,
}

/// Predicts `data` with the best model of every fold of the run in `out` (trained with
/// `config`) and writes `external.csv` and `external.json`.
pub fn evaluate_external(
    out: &Path,
    config: &TrainConfig,
    data: &ScanDataset,
    source: &str,
    device: &covnet_models::Device,
) -> Result<ExternalSummary> {
    let folds = fold_dirs(out)?;
    if folds.is_empty() {
        return Err(Error::Checkpoint {
            path: out.join("checkpoints"),
            reason: "no fold has a best.bpk: train the run first".into(),
        });
    }
    let trainer = Trainer {
        data,
        config,
        device: device.clone(),
        observer: &Quiet,
    };
    let all: Vec<usize> = (0..data.items().len()).collect();
    let mut sum = vec![vec![0f32; config.model.num_classes]; all.len()];
    for dir in &folds {
        let net = FoldCheckpoints::new(dir.clone())?.load_weights(&config.model, "best", device)?;
        let (_, probs) = trainer.evaluate(&net, &all, &[])?;
        for (acc, p) in sum.iter_mut().zip(probs) {
            for (a, v) in acc.iter_mut().zip(p) {
                *a += v / folds.len() as f32;
            }
        }
    }
    let summary = summarise(data, &sum, source, folds.len(), config.model.num_classes);
    write_csv(&out.join("external.csv"), data, &sum)?;
    let path = out.join("external.json");
    let text = serde_json::to_vec_pretty(&summary).map_err(json(&path))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(summary)
}

fn fold_dirs(out: &Path) -> Result<Vec<std::path::PathBuf>> {
    let root = out.join("checkpoints");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map_err(io(&root))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("best.bpk").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn summarise(
    data: &ScanDataset,
    probs: &[Vec<f32>],
    source: &str,
    folds: usize,
    k: usize,
) -> ExternalSummary {
    let mut tally = Tally::new(k);
    for (it, p) in data.items().iter().zip(probs) {
        if let Some(label) = it.label {
            tally.add(it, label, p);
        }
    }
    ExternalSummary {
        source: source.to_string(),
        n_scans: data.items().len(),
        n_labelled: tally.count(),
        skipped: data.skipped().len(),
        folds,
        accuracy: tally.accuracy(),
        by_contrast: tally.by_contrast(),
        confusion: tally.confusion,
    }
}

fn write_csv(path: &Path, data: &ScanDataset, probs: &[Vec<f32>]) -> Result<()> {
    let rows = data
        .items()
        .iter()
        .zip(probs)
        .map(|(it, p)| (it, 0, p.as_slice()));
    write_predictions(path, false, rows)
}
