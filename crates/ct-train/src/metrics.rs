//! `metrics.jsonl`: one JSON object per line, per optimiser step (`"kind": "step"`) and per
//! epoch and split (`"kind": "epoch"`, `"split": "train"` or `"val"`).
//!
//! Every line has `fold`, `epoch` (1-based), `split`, `loss` and `accuracy`; step lines add
//! `step` and `lr`, epoch lines add `lr`, `seconds` and `scans_per_s`. The file is flushed
//! after each line, so a run that is killed keeps what it logged; `--resume` cuts it back to
//! the last checkpoint, so the resumed curve continues without a seam. The same numbers go
//! to TensorBoard event files under `tensorboard/` (see [`crate::tensorboard`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, io, json};
use crate::tensorboard::EventWriter;

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

/// The open `metrics.jsonl`, mirrored into TensorBoard event files when asked.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
    events: Option<EventWriter>,
}

impl MetricsLog {
    /// Opens (creating) the log for appending; with `keep_bytes`, first cuts it to that
    /// length (a resumed run drops what was logged after its checkpoint). With
    /// `tensorboard`, a fresh event file in that folder replays the lines kept and then
    /// receives every new line.
    pub fn open(
        path: &Path,
        keep_bytes: Option<u64>,
        tensorboard: Option<&Path>,
    ) -> Result<MetricsLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if let Some(n) = keep_bytes {
            file.set_len(n).map_err(io(path))?;
        }
        let mut log = MetricsLog {
            path: path.to_path_buf(),
            file,
            events: None,
        };
        if let Some(dir) = tensorboard {
            let mut events = EventWriter::create(dir)?;
            for line in read_metrics(path)? {
                write_event(&mut events, &line)?;
            }
            log.events = Some(events);
        }
        Ok(log)
    }

    /// Appends a line and flushes.
    pub fn write(&mut self, line: &MetricLine) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(json(&self.path))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))?;
        if let Some(events) = &mut self.events {
            write_event(events, line)?;
        }
        Ok(())
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

/// TensorBoard scalars of a line: per step `fold<K>/train/batch_loss` and `fold<K>/lr` at
/// the optimiser step; per epoch `fold<K>/<split>/loss` and `…/accuracy` at the epoch.
fn write_event(events: &mut EventWriter, m: &MetricLine) -> Result<()> {
    let f = m.fold;
    if m.kind == "step" {
        let loss = format!("fold{f}/train/batch_loss");
        let lr = format!("fold{f}/lr");
        let mut values = vec![(loss.as_str(), m.loss as f32)];
        if let Some(v) = m.lr {
            values.push((lr.as_str(), v as f32));
        }
        events.scalars(m.step.unwrap_or(0) as u64, &values)
    } else {
        let loss = format!("fold{f}/{}/loss", m.split);
        let acc = format!("fold{f}/{}/accuracy", m.split);
        events.scalars(
            m.epoch as u64,
            &[
                (loss.as_str(), m.loss as f32),
                (acc.as_str(), m.accuracy as f32),
            ],
        )
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
