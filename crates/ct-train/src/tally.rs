//! What `summary.json`, `external.json` and the prediction CSVs share: counting predictions
//! against labels (accuracy, confusion matrix, per contrast group) and writing one row per
//! predicted scan.

use std::path::Path;

use ct_core::{Contrast, Label};

use crate::dataset::ScanItem;
use crate::error::{Error, Result};
use crate::trainer::argmax;

/// Predictions counted against labels.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Rows = truth, columns = prediction.
    pub confusion: Vec<Vec<usize>>,
    /// (scans, right) for high, low and unknown contrast.
    groups: [(usize, usize); 3],
    right: usize,
    n: usize,
}

impl Tally {
    pub fn new(k: usize) -> Tally {
        Tally {
            confusion: vec![vec![0; k]; k],
            groups: [(0, 0); 3],
            right: 0,
            n: 0,
        }
    }

    /// Counts `item` (its label as truth) predicted with `probs`; whether it was right.
    pub fn add(&mut self, item: &ScanItem, truth: Label, probs: &[f32]) -> bool {
        let k = self.confusion.len();
        let pred = argmax(probs);
        self.confusion[truth.index().min(k - 1)][pred.min(k - 1)] += 1;
        let ok = pred == truth.index();
        let g = match item.contrast {
            Some(Contrast::High) => 0,
            Some(Contrast::Low) => 1,
            None => 2,
        };
        self.groups[g].0 += 1;
        self.groups[g].1 += usize::from(ok);
        self.right += usize::from(ok);
        self.n += 1;
        ok
    }

    /// Scans counted.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Share right (0 when nothing was counted).
    pub fn accuracy(&self) -> f64 {
        self.right as f64 / self.n.max(1) as f64
    }

    /// Accuracy per contrast group present: (`high` | `low` | `unknown`, scans, accuracy).
    pub fn by_contrast(&self) -> Vec<(String, usize, f64)> {
        ["high", "low", "unknown"]
            .iter()
            .zip(self.groups)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(g, (n, r))| (g.to_string(), n, r as f64 / n as f64))
            .collect()
    }
}

/// Writes `id,label,contrast[,fold],p_normal,p_cap,p_covid,predicted`, one row per
/// `(scan, fold, probabilities)`; the fold column only when `with_fold`.
pub(crate) fn write_predictions<'a>(
    path: &Path,
    with_fold: bool,
    rows: impl Iterator<Item = (&'a ScanItem, usize, &'a [f32])>,
) -> Result<()> {
    let err = |e: csv::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    let mut header = vec!["id", "label", "contrast"];
    if with_fold {
        header.push("fold");
    }
    header.extend(["p_normal", "p_cap", "p_covid", "predicted"]);
    w.write_record(&header).map_err(err)?;
    for (it, fold, p) in rows {
        let mut rec = vec![
            it.id.clone(),
            it.label.map_or("", |l| l.name()).to_string(),
            it.contrast.map_or("", |c| c.name()).to_string(),
        ];
        if with_fold {
            rec.push(fold.to_string());
        }
        rec.extend((0..3).map(|c| format!("{:.6}", p.get(c).copied().unwrap_or(0.0))));
        rec.push(
            Label::ALL
                .get(argmax(p))
                .map_or("", |l| l.name())
                .to_string(),
        );
        w.write_record(&rec).map_err(err)?;
    }
    w.flush().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}
