//! The shard protocol of a sharded run (`--stage preprocess --shard I/N`, then
//! `--stage merge`), made safe for a batch scheduler that retries, kills and reorders tasks:
//!
//! * each shard writes `shards/features-I-of-N.json` under a temporary name and renames it,
//!   so a file that exists is complete; a retried task overwrites only its own file;
//! * the file carries a manifest: format and version, the shard's index and count, a
//!   fingerprint of the run's configuration (every setting but the shard, the stage and the
//!   thread count, and the settings only the merge reads: [`MERGE_TIME_SETTINGS`]) with the
//!   settings themselves, a fingerprint of the data-set listing, and
//!   the ids of the scans the shard was given;
//! * a shard records its configuration as `shards/config-I-of-N.json`, never the shared
//!   `config.json` (the merge writes that);
//! * the merge checks that all N files exist, that they ran with the merge's configuration
//!   and data listing and that no scan is in two shards, and names every missing or
//!   mismatched shard (and, for a configuration, the settings that differ).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PipelineConfig;
use crate::outputs::io_err;
use crate::report::{Figures, KeyedPreview};
use crate::summary::FeatureTable;
use crate::{Error, Result};

/// `format` of a shard file.
pub const SHARD_FORMAT: &str = "covid-ct pipeline shard";
/// Its version.
pub const SHARD_VERSION: u32 = 1;

/// What a shard file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardManifest {
    /// [`SHARD_FORMAT`].
    pub format: String,
    /// [`SHARD_VERSION`].
    pub version: u32,
    /// The crate that wrote it (`ct-pipeline x.y.z`).
    pub written_by: String,
    /// This shard's index.
    pub index: usize,
    /// The number of shards.
    pub count: usize,
    /// SHA-256 of [`Self::settings`].
    pub config_hash: String,
    /// The run's settings that every shard and the merge must share.
    pub settings: Value,
    /// SHA-256 of the data set's listing (every subject's id and path, in order); for
    /// phantoms the cohort is a function of the settings.
    pub data_hash: String,
    /// The ids of the scans this shard was given (processed or failed).
    pub scan_ids: Vec<String>,
}

/// A shard file: its manifest and its part of the feature table.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardFile {
    /// The manifest.
    pub manifest: ShardManifest,
    /// The shard's rows, EDA accumulators, failures and model provenance.
    pub table: FeatureTable,
    /// The report's preview pictures of the shard's scans (class index, contrast group,
    /// then id and PNG bytes), so that a merged report has them too.
    #[serde(default)]
    pub(crate) previews: Vec<KeyedPreview>,
}

/// Settings that only the merge reads (the split, the classifiers, OTDD, the scan model) or
/// that say where and how a task runs: a merge may change them, e.g. to try other
/// classifiers on the same preprocessed shards. Every other setting (a new one included)
/// must be the same in every shard and the merge.
pub const MERGE_TIME_SETTINGS: [&str; 15] = [
    "name",
    "out",
    "shard",
    "stage",
    "threads",
    "save_detector",
    "test_fraction",
    "folds",
    "grid",
    "gbdt_rounds",
    "classifier_features",
    "gated_models",
    "vote",
    "scan_model",
    "scan_model_file",
];

/// The settings every shard and the merge must share: the configuration without
/// [`MERGE_TIME_SETTINGS`].
pub fn shared_settings(cfg: &PipelineConfig) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        for k in MERGE_TIME_SETTINGS {
            m.remove(k);
        }
    }
    v
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::models::sha256_hex(bytes)
}

/// SHA-256 of [`shared_settings`] (serde_json orders object keys, so the text is canonical).
pub fn config_hash(cfg: &PipelineConfig) -> String {
    sha256_hex(shared_settings(cfg).to_string().as_bytes())
}

/// SHA-256 of a data set's listing: every subject's id and path, in the data set's order.
pub fn data_hash(cfg: &PipelineConfig) -> Result<String> {
    let Some(dir) = &cfg.data else {
        return Ok(sha256_hex(b"phantoms"));
    };
    let ds = ct_io::dataset::Dataset::open(dir).map_err(|e| Error::Dataset(Box::new(e)))?;
    let listing: String = ds
        .entries()
        .iter()
        .map(|e| format!("{}\t{}\n", e.id, e.path.display()))
        .collect();
    Ok(sha256_hex(listing.as_bytes()))
}

fn shard_path(dir: &Path, i: usize, n: usize) -> PathBuf {
    dir.join(format!("features-{i}-of-{n}.json"))
}

/// Writes `value` as compact JSON to `path` atomically: a temporary file beside it, then a
/// rename. (Compact: a shard holds ~100 KB of thumbnails per scan, and indentation would
/// double it.)
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string(value).map_err(Error::json(path.display().to_string()))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes this shard's file and its configuration (both atomically).
pub(crate) fn write_shard(
    dir: &Path,
    cfg: &PipelineConfig,
    table: &FeatureTable,
    figures: &Figures,
    scan_ids: Vec<String>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let (i, n) = cfg.shard;
    let manifest = ShardManifest {
        format: SHARD_FORMAT.into(),
        version: SHARD_VERSION,
        written_by: format!("ct-pipeline {}", env!("CARGO_PKG_VERSION")),
        index: i,
        count: n,
        config_hash: config_hash(cfg),
        settings: shared_settings(cfg),
        data_hash: data_hash(cfg)?,
        scan_ids,
    };
    write_json_atomic(&dir.join(format!("config-{i}-of-{n}.json")), cfg)?;
    /// [`ShardFile`] borrowing its table.
    #[derive(Serialize)]
    struct Out<'a> {
        manifest: ShardManifest,
        table: &'a FeatureTable,
        previews: Vec<KeyedPreview>,
    }
    let previews = figures.keyed();
    write_json_atomic(
        &shard_path(dir, i, n),
        &Out {
            manifest,
            table,
            previews,
        },
    )
}

/// The top-level settings on which two settings objects differ.
fn differing(a: &Value, b: &Value) -> Vec<String> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return vec!["(the whole configuration)".into()];
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

/// Reads and checks the N shards of `dir` against the merge's configuration `cfg`, and joins
/// their tables (rows sorted by id) and preview pictures. Every problem found is named in one
/// error.
pub(crate) fn merge_shards(dir: &Path, cfg: &PipelineConfig) -> Result<(FeatureTable, Figures)> {
    let n = cfg.shard.1;
    let missing: Vec<String> = (0..n)
        .filter(|&i| !shard_path(dir, i, n).is_file())
        .map(|i| format!("features-{i}-of-{n}.json"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Shard {
            path: dir.to_path_buf(),
            why: format!(
                "{} of {n} shards missing: {} (run their --stage preprocess again)",
                missing.len(),
                missing.join(", ")
            ),
        });
    }
    let want_settings = shared_settings(cfg);
    let want_config = config_hash(cfg);
    let want_data = data_hash(cfg)?;
    let mut problems = Vec::new();
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    let mut merged: Option<FeatureTable> = None;
    let mut figures = Figures::default();
    for i in 0..n {
        let p = shard_path(dir, i, n);
        let text = std::fs::read_to_string(&p).map_err(io_err(&p))?;
        let file: ShardFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!(
                    "shard {i}: not a {SHARD_FORMAT} version {SHARD_VERSION} file ({e})"
                ));
                continue;
            }
        };
        let m = &file.manifest;
        if m.format != SHARD_FORMAT || m.version != SHARD_VERSION {
            problems.push(format!(
                "shard {i}: format {:?} version {}, expected {SHARD_FORMAT:?} version {SHARD_VERSION}",
                m.format, m.version
            ));
            continue;
        }
        if (m.index, m.count) != (i, n) {
            problems.push(format!(
                "shard {i}: the file says it is shard {} of {}",
                m.index, m.count
            ));
        }
        if m.config_hash != want_config {
            problems.push(format!(
                "shard {i}: ran with other settings than this merge ({})",
                differing(&m.settings, &want_settings).join(", ")
            ));
        }
        if m.data_hash != want_data {
            problems.push(format!(
                "shard {i}: ran on another data-set listing (the data folder changed)"
            ));
        }
        for id in &m.scan_ids {
            if let Some(other) = owner.insert(id.clone(), i) {
                problems.push(format!("scan {id} is in shards {other} and {i}"));
            }
        }
        figures.absorb(file.previews);
        let t = file.table;
        match &mut merged {
            None => merged = Some(t),
            Some(acc) => {
                if acc.feature_names != t.feature_names {
                    problems.push(format!("shard {i}: other feature columns than shard 0"));
                    continue;
                }
                acc.records.extend(t.records);
                acc.failures.extend(t.failures);
                acc.eda.merge(&t.eda)?;
                acc.warnings.extend(t.warnings);
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Shard {
            path: dir.to_path_buf(),
            why: problems.join("; "),
        });
    }
    let mut m = merged.ok_or_else(|| Error::Config {
        name: "shard",
        why: "no shards to merge".into(),
    })?;
    m.records.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((m, figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_must_share_every_preprocessing_setting() {
        let a = PipelineConfig::default();
        let b = PipelineConfig {
            shard: (3, 4),
            stage: crate::Stage::Preprocess,
            threads: 7,
            folds: 3,
            vote: ensemble::VotingKind::Hard,
            scan_model: false,
            ..a.clone()
        };
        assert_eq!(config_hash(&a), config_hash(&b));
        let c = PipelineConfig {
            close_radius_mm: 8.0,
            seed: 1,
            ..a.clone()
        };
        assert_ne!(config_hash(&a), config_hash(&c));
        assert_eq!(
            differing(&shared_settings(&a), &shared_settings(&c)),
            ["close_radius_mm", "seed"]
        );
        // Every merge-time name is a real setting (a renamed field must not slip through).
        let all = serde_json::to_value(&a).unwrap();
        for k in MERGE_TIME_SETTINGS {
            assert!(all.get(k).is_some(), "{k}");
        }
    }
}
