//! `metrics.jsonl`: one JSON object per line, per optimiser step (`"kind": "step"`) and per
//! epoch and split (`"kind": "epoch"`, `"split": "train"` or `"val"`).
//!
//! Every line has `fold`, `epoch` (1-based), `split`, `loss` and `accuracy`; step lines add
//! `step` and `lr`, epoch lines add `lr`, `seconds` and `scans_per_s`. The file is flushed
//! after each line, so a run that is killed keeps what it logged; `--resume` cuts it back to
//! the last checkpoint, so the resumed curve continues without a seam.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, io, json};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricLine {
    /// `step` or `epoch`.
    pub kind: String,
    /// Fold index (0-based).
    pub fold: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// `train` or `val`.
    pub split: String,
    /// Mean loss (of the batch for a step line).
    pub loss: f64,
    /// Accuracy (of the batch for a step line).
    pub accuracy: f64,
    /// Optimiser step (1-based, per fold; step lines only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step: Option<usize>,
    /// Learning rate in use.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lr: Option<f64>,
    /// Wall seconds of the epoch's split (epoch lines).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seconds: Option<f64>,
    /// Scans per second (epoch lines).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scans_per_s: Option<f64>,
}

/// The open `metrics.jsonl`.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens (creating) the log for appending; with `keep_bytes`, first cuts it to that
    /// length (a resumed run drops what was logged after its checkpoint).
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> Result<MetricsLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if let Some(n) = keep_bytes {
            file.set_len(n).map_err(io(path))?;
        }
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends a line and flushes.
    pub fn write(&mut self, line: &MetricLine) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(json(&self.path))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))
    }

    /// The file's length now (stored with each checkpoint).
    pub fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().map_err(io(&self.path))?.len())
    }

    /// Whether nothing was logged yet.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Reads every line of a `metrics.jsonl` (the report and tests).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricLine>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(json(path)))
        .collect()
}
