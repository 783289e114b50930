//! The run folder's files: JSON, `features.csv`, `foci.csv`, `predictions.csv`, and the
//! shard files read back by the merge.

use std::path::Path;

use ct_core::{Contrast, Label};
use serde::Serialize;

use crate::classify::ClassifyOutput;
use crate::csv_table::write_csv;
use crate::preprocess::ScanRecord;
use crate::summary::FeatureTable;
use crate::{Error, Result};

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(Error::json(path.display().to_string()))?;
    std::fs::write(path, text).map_err(io_err(path))
}

/// The feature table as CSV: `id,label,contrast,<features...>`.
pub(crate) fn write_features_csv(path: &Path, t: &FeatureTable) -> Result<()> {
    let header: Vec<&str> = ["id", "label", "contrast"]
        .into_iter()
        .chain(t.feature_names.iter().map(String::as_str))
        .collect();
    let rows = t.records.iter().map(|r| {
        [
            r.id.clone(),
            r.label.map_or("", Label::name).to_string(),
            r.contrast.map_or("", Contrast::name).to_string(),
        ]
        .into_iter()
        .chain(r.features.iter().map(|v| v.to_string()))
    });
    write_csv(path, &header, rows)
}

/// The pattern U-Net's foci as CSV: `id,label,contrast,focus,z,y,x,<focus features...>,
/// lesion_share` (centroid in voxels of the cleaned scan; the share inside the true lesion
/// mask is empty on real data).
pub(crate) fn write_foci_csv(path: &Path, t: &FeatureTable) -> Result<()> {
    let header: Vec<&str> = ["id", "label", "contrast", "focus", "z", "y", "x"]
        .into_iter()
        .chain(crate::lesion_patterns::FOCUS_FEATURE_NAMES)
        .chain(["lesion_share"])
        .collect();
    let rows = t.records.iter().flat_map(|r| {
        r.pattern_foci.iter().enumerate().map(move |(k, f)| {
            let mut row = vec![
                r.id.clone(),
                r.label.map_or("", Label::name).to_string(),
                r.contrast.map_or("", Contrast::name).to_string(),
                k.to_string(),
                format!("{:.1}", f.centroid[0]),
                format!("{:.1}", f.centroid[1]),
                format!("{:.1}", f.centroid[2]),
            ];
            row.extend(f.features.iter().map(|v| v.to_string()));
            row.push(f.lesion_share.map_or(String::new(), |s| s.to_string()));
            row
        })
    });
    write_csv(path, &header, rows)
}

/// One row per test subject: id, contrast group, true and predicted class, and the soft-vote
/// probabilities.
pub(crate) fn write_predictions_csv(
    path: &Path,
    c: &ClassifyOutput,
    records: &[ScanRecord],
) -> Result<()> {
    let name = |k: usize| Label::ALL.get(k).map_or("", |l| l.name()).to_string();
    let header = [
        "id",
        "contrast",
        "true",
        "predicted",
        "correct",
        "p_normal",
        "p_cap",
        "p_covid",
    ];
    let rows = c.test_ids.iter().enumerate().map(|(k, id)| {
        let contrast = records
            .iter()
            .find(|r| &r.id == id)
            .and_then(|r| r.contrast)
            .map_or("", Contrast::name);
        let (t, p) = (c.test_true[k], c.test_pred[k]);
        let mut row = vec![
            id.clone(),
            contrast.to_string(),
            name(t),
            name(p),
            (t == p).to_string(),
        ];
        row.extend(
            c.test_proba
                .get(k)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .map(|v| format!("{v:.4}")),
        );
        row
    });
    write_csv(path, &header, rows)
}

pub(crate) fn merge_shards(dir: &Path, n: usize) -> Result<FeatureTable> {
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
