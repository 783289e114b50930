//! Checkpoints of one fold: `last` after every epoch and `best` at each better validation
//! loss, each the model's weights and the optimiser's state (Burn's burnpack format, which
//! keeps parameter ids so that the optimiser state finds its parameters again) plus
//! `state.json` (epoch, step, best so far, length of `metrics.jsonl`: everything the
//! schedule and the resume need).

use std::path::{Path, PathBuf};

use covnet_models::burn::optim::ModuleOptimizer;
use covnet_models::burn::store::{BurnpackStore, ModuleSnapshot};
use covnet_models::burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io, json};
use crate::model::{ModelSpec, Net};

/// `state.json`'s format name.
pub const CHECKPOINT_FORMAT: &str = "covid-ct/ct-train checkpoint";
/// `state.json`'s format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Where a fold's training stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldState {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The model the weights belong to.
    pub model: ModelSpec,
    /// Epochs done.
    pub epoch: usize,
    /// Optimiser steps done.
    pub step: usize,
    /// Best validation loss so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Epochs since the best one (early stopping).
    pub stale_epochs: usize,
    /// Whether the fold has finished (all epochs or early stop).
    pub finished: bool,
    /// Length of `metrics.jsonl` when this state was written.
    pub metrics_bytes: u64,
}

impl FoldState {
    /// The state before the first epoch.
    pub fn start(model: &ModelSpec) -> FoldState {
        FoldState {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            model: model.clone(),
            epoch: 0,
            step: 0,
            best: None,
            stale_epochs: 0,
            finished: false,
            metrics_bytes: 0,
        }
    }
}

/// The checkpoint folder of one fold.
#[derive(Debug, Clone)]
pub struct FoldCheckpoints {
    dir: PathBuf,
}

fn record_err(what: &'static str, path: &Path) -> impl FnOnce(String) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Record {
        what,
        path,
        source: e.into(),
    }
}

impl FoldCheckpoints {
    /// `dir` (created).
    pub fn new(dir: PathBuf) -> Result<FoldCheckpoints> {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(FoldCheckpoints { dir })
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The saved state, if any, checked against the model.
    pub fn load_state(&self, model: &ModelSpec) -> Result<Option<FoldState>> {
        let path = self.state_path();
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read(&path).map_err(io(&path))?;
        let state: FoldState = serde_json::from_slice(&text).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: format!("not a ct-train checkpoint state: {e}"),
        })?;
        if state.format != CHECKPOINT_FORMAT || state.version != CHECKPOINT_VERSION {
            return Err(Error::Checkpoint {
                path,
                reason: format!(
                    "format {} v{}, this program reads {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION}",
                    state.format, state.version
                ),
            });
        }
        if &state.model != model {
            return Err(Error::Checkpoint {
                path,
                reason: format!(
                    "it holds a {} (width {}), the run trains a {} (width {})",
                    state.model.kind.name(),
                    state.model.width,
                    model.kind.name(),
                    model.width
                ),
            });
        }
        Ok(Some(state))
    }

    /// Writes `last` (weights and optimiser state), `best` when `is_best`, then
    /// `state.json`. Each file is written under a temporary name and renamed; `state.json`
    /// goes last, so a run killed in between resumes from the previous epoch's state with
    /// this epoch's weights at worst overwritten by complete newer ones.
    pub fn save(
        &self,
        net: &Net,
        optim: &ModuleOptimizer,
        state: &FoldState,
        is_best: bool,
    ) -> Result<()> {
        self.save_weights(net, "last")?;
        let optim_path = self.dir.join("last-optim.bpk");
        let tmp = self.dir.join("last-optim.bpk.tmp");
        optim
            .save(&tmp)
            .map_err(|e| record_err("saving optimiser state", &tmp)(e.to_string()))?;
        std::fs::rename(&tmp, &optim_path).map_err(io(&optim_path))?;
        if is_best {
            self.save_weights(net, "best")?;
        }
        let path = self.state_path();
        let tmp = self.dir.join("state.json.tmp");
        let text = serde_json::to_vec_pretty(state).map_err(json(&path))?;
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    fn save_weights(&self, net: &Net, name: &str) -> Result<()> {
        let path = self.dir.join(format!("{name}.bpk"));
        let tmp = self.dir.join(format!("{name}.bpk.tmp"));
        let mut store = BurnpackStore::from_file(&tmp)
            .overwrite(true)
            .auto_extension(false);
        net.save_into(&mut store)
            .map_err(|e| record_err("saving weights", &tmp)(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The weights `name` (`last` or `best`) into a fresh network of `spec`.
    pub fn load_weights(&self, spec: &ModelSpec, name: &str, device: &Device) -> Result<Net> {
        let path = self.dir.join(format!("{name}.bpk"));
        // Seeded (under the initialisation lock) although the weights are replaced: an
        // unlocked draw from Burn's global generator would shift another run's start.
        let mut net = spec.init_seeded(device, 0)?;
        let mut store = BurnpackStore::from_file(&path).auto_extension(false);
        let res = net
            .load_from(&mut store)
            .map_err(|e| record_err("loading weights", &path)(e.to_string()))?;
        if !res.missing.is_empty() || !res.errors.is_empty() {
            return Err(Error::Checkpoint {
                path,
                reason: format!(
                    "the weights do not fit a {}: missing {:?}, errors {:?}",
                    spec.kind.name(),
                    res.missing,
                    res.errors
                ),
            });
        }
        Ok(net)
    }

    /// The optimiser state of `last` into `optim`.
    pub fn load_optimizer(&self, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = self.dir.join("last-optim.bpk");
        optim
            .load(&path)
            .map_err(|e| record_err("loading optimiser state", &path)(e.to_string()))
    }
}
