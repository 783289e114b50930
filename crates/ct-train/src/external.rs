//! Evaluation of a finished run on scans it never saw (another data set, another generator):
//! every fold's best model predicts every scan and their probabilities are averaged.
//! Writes `external.csv` (`id,label,contrast,p_normal,p_cap,p_covid,predicted`) and
//! `external.json` into the run folder.

use std::path::Path;

use ct_core::{Contrast, Label};
use serde::{Deserialize, Serialize};

use crate::checkpoint::FoldCheckpoints;
use crate::config::TrainConfig;
use crate::dataset::ScanDataset;
use crate::error::{Error, Result, io, json};
use crate::trainer::{Quiet, Trainer, argmax};

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
    let mut confusion = vec![vec![0usize; k]; k];
    let mut groups = [("high", 0usize, 0usize), ("low", 0, 0), ("unknown", 0, 0)];
    let (mut right, mut n) = (0, 0);
    for (it, p) in data.items().iter().zip(probs) {
        let Some(label) = it.label else { continue };
        let pred = argmax(p);
        confusion[label.index().min(k - 1)][pred.min(k - 1)] += 1;
        let ok = usize::from(pred == label.index());
        right += ok;
        n += 1;
        let g = match it.contrast {
            Some(Contrast::High) => 0,
            Some(Contrast::Low) => 1,
            None => 2,
        };
        groups[g].1 += 1;
        groups[g].2 += ok;
    }
    ExternalSummary {
        source: source.to_string(),
        n_scans: data.items().len(),
        n_labelled: n,
        skipped: data.skipped().len(),
        folds,
        accuracy: right as f64 / n.max(1) as f64,
        confusion,
        by_contrast: groups
            .iter()
            .filter(|g| g.1 > 0)
            .map(|&(g, c, r)| (g.to_string(), c, r as f64 / c as f64))
            .collect(),
    }
}

fn write_csv(path: &Path, data: &ScanDataset, probs: &[Vec<f32>]) -> Result<()> {
    let mut text = String::from("id,label,contrast,p_normal,p_cap,p_covid,predicted\n");
    for (it, p) in data.items().iter().zip(probs) {
        let prob = |c: usize| p.get(c).copied().unwrap_or(0.0);
        text.push_str(&format!(
            "{},{},{},{:.6},{:.6},{:.6},{}\n",
            crate::run::csv_field(&it.id),
            it.label.map_or("", |l| l.name()),
            it.contrast.map_or("", |c| c.name()),
            prob(0),
            prob(1),
            prob(2),
            Label::ALL.get(argmax(p)).map_or("", |l| l.name()),
        ));
    }
    std::fs::write(path, text).map_err(io(path))
}
