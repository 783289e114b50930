//! The run folder's files: JSON, `features.csv`, `foci.csv`, `predictions.csv`, and the
//! shard files read back by the merge.

use std::path::Path;

use ct_core::{Contrast, Label};
use serde::Serialize;

use crate::classify::ClassifyOutput;
use crate::config::{PipelineConfig, Stage};
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

/// The files at the top of a run folder that a full run or a merge rewrites.
const RUN_FILES: [&str; 6] = [
    "config.json",
    "features.csv",
    "foci.csv",
    "predictions.csv",
    "metrics.json",
    "report.html",
];

/// The marker a run leaves in its folder until it has finished: a folder that still has one
/// holds a run that stopped half-way (its files may be partial or from an earlier run).
pub(crate) fn marker_name(cfg: &PipelineConfig) -> String {
    match cfg.stage {
        Stage::Preprocess => format!("INCOMPLETE-shard-{}-of-{}", cfg.shard.0, cfg.shard.1),
        _ => "INCOMPLETE".to_string(),
    }
}

/// Makes the run folder ready: created, the marker written, and, for a full run or a merge
/// under a reused name, the previous run's files and figures removed so that none is left
/// beside the new results (a preprocessing shard leaves the shared files to the merge).
pub(crate) fn prepare_run_dir(cfg: &PipelineConfig) -> Result<()> {
    let dir = cfg.run_dir();
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    if matches!(cfg.stage, Stage::All | Stage::Merge) {
        for f in RUN_FILES {
            let p = dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        for sub in ["figures", crate::bundle::BUNDLE_DIR] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(io_err(&p))?;
            }
        }
    }
    let figs = dir.join("figures");
    std::fs::create_dir_all(&figs).map_err(io_err(&figs))?;
    let marker = dir.join(marker_name(cfg));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::fs::write(
        &marker,
        format!(
            "This run (stage {:?}) started at {since} s after 1970 and has not finished: the \
             files beside this one may be partial. A finished run removes this file.\n",
            cfg.stage
        ),
    )
    .map_err(io_err(&marker))
}

/// Removes the run's marker: the run finished.
pub(crate) fn finish_run_dir(cfg: &PipelineConfig) -> Result<()> {
    let marker = cfg.run_dir().join(marker_name(cfg));
    std::fs::remove_file(&marker).map_err(io_err(&marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, stage: Stage) -> PipelineConfig {
        PipelineConfig {
            out: dir.to_path_buf(),
            name: "r".into(),
            stage,
            ..PipelineConfig::default()
        }
    }

    #[test]
    fn a_reused_run_folder_keeps_nothing_of_the_previous_run() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("r");
        std::fs::create_dir_all(run.join("figures")).unwrap();
        std::fs::create_dir_all(run.join("shards")).unwrap();
        for f in [
            "predictions.csv",
            "foci.csv",
            "metrics.json",
            "shards/features-0-of-2.json",
        ] {
            std::fs::write(run.join(f), "old").unwrap();
        }
        std::fs::write(run.join("figures/old.png"), "old").unwrap();

        // A shard leaves the shared files alone and marks only itself.
        let mut shard = cfg(tmp.path(), Stage::Preprocess);
        shard.shard = (1, 2);
        prepare_run_dir(&shard).unwrap();
        assert!(run.join("predictions.csv").exists());
        assert!(run.join("INCOMPLETE-shard-1-of-2").exists());
        finish_run_dir(&shard).unwrap();
        assert!(!run.join("INCOMPLETE-shard-1-of-2").exists());

        // The merge clears the previous results but keeps the shards.
        let merge = cfg(tmp.path(), Stage::Merge);
        prepare_run_dir(&merge).unwrap();
        for f in [
            "predictions.csv",
            "foci.csv",
            "metrics.json",
            "figures/old.png",
        ] {
            assert!(!run.join(f).exists(), "{f} left over");
        }
        assert!(run.join("shards/features-0-of-2.json").exists());
        assert!(run.join("figures").is_dir());
        assert!(run.join("INCOMPLETE").exists(), "marked until it finishes");
        finish_run_dir(&merge).unwrap();
        assert!(!run.join("INCOMPLETE").exists());
    }
}
