//! A whole training run in a run folder: k-fold on subjects, one [`Trainer`] per fold,
//! out-of-fold predictions, a summary and the report.
//!
//! The run folder:
//! - `config.json`: the [`TrainConfig`] (a resumed run must have the same);
//! - `folds.csv`: `id,label,contrast,fold` of every labelled scan (the fold it validates in);
//! - `metrics.jsonl`: see [`crate::metrics`]; `tensorboard/`: the same as TensorBoard event
//!   files (`tensorboard --logdir <run>/tensorboard`);
//! - `checkpoints/fold-K/`: `last.bpk`, `last-optim.bpk`, `best.bpk`, `state.json`;
//! - `oof.csv`: out-of-fold class probabilities of every scan (from its fold's best epoch):
//!   `id,label,contrast,fold,p_normal,p_cap,p_covid,predicted` — the second level's input,
//!   free of leakage;
//! - `summary.json`, `report.html` and `interpretability/gradcam-<id>.png` (Grad-CAM of
//!   three correctly and three wrongly classified scans).

use std::path::{Path, PathBuf};

use ct_core::{Contrast, Label};
use ensemble::StratifiedKFold;
use serde::{Deserialize, Serialize};

use crate::checkpoint::FoldCheckpoints;
use crate::config::TrainConfig;
use crate::dataset::{ScanDataset, Skipped};
use crate::error::{Error, Result, io, json};
use crate::metrics::MetricsLog;
use crate::tally::{Tally, write_predictions};
use crate::trainer::{FoldEnd, FoldOutcome, FoldPlan, Observer, Trainer};

/// How to run (what does not change the result).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Continue the run in `out` from its checkpoints.
    pub resume: bool,
    /// Pause after this many epochs (counted over all folds) of this call.
    pub stop_after: Option<usize>,
    /// The device (training uses its autodiff twin).
    pub device: covnet_models::Device,
}

/// One fold's line in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldSummary {
    /// Fold index.
    pub fold: usize,
    /// Training and validation scans.
    pub n_train: usize,
    /// Validation scans.
    pub n_val: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Best epoch (1-based).
    pub best_epoch: usize,
    /// Its validation loss.
    pub best_val_loss: f64,
    /// Validation accuracy of the best epoch's weights.
    pub accuracy: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The model's name.
    pub model: String,
    /// Labelled scans used.
    pub n_scans: usize,
    /// Scans predicted out of fold (all labelled scans with k folds; the hold-out with one).
    pub n_predicted: usize,
    /// Scans that could not be prepared.
    pub skipped: Vec<SkippedScan>,
    /// Per fold.
    pub folds: Vec<FoldSummary>,
    /// Out-of-fold accuracy over every labelled scan.
    pub oof_accuracy: f64,
    /// Out-of-fold confusion matrix, rows = truth, columns = prediction (Normal, CAP,
    /// COVID-19).
    pub confusion: Vec<Vec<usize>>,
    /// Out-of-fold accuracy per contrast group (`high`, `low`, `unknown`) with its count.
    pub by_contrast: Vec<(String, usize, f64)>,
    /// How the folds were stratified (`label x contrast` or `label`).
    pub stratified_by: String,
}

/// A scan that was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedScan {
    /// Its id.
    pub id: String,
    /// Why.
    pub reason: String,
}

impl From<&Skipped> for SkippedScan {
    fn from(s: &Skipped) -> Self {
        SkippedScan {
            id: s.id.clone(),
            reason: s.reason.clone(),
        }
    }
}

/// How a call to [`train_run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// Every fold finished.
    Done(Box<RunSummary>),
    /// Paused by [`RunOptions::stop_after`]; `--resume` continues.
    Paused {
        /// The fold that paused.
        fold: usize,
        /// Its epochs done.
        epochs: usize,
    },
}

/// The folds of the labelled scans: stratified by label × contrast group where every such
/// group has at least `k` scans, else by label (`folds = 1`: the first of 5 folds, an
/// 80 / 20 split, or of fewer when a class has fewer than 5 scans).
pub fn plan_folds(
    data: &ScanDataset,
    config: &TrainConfig,
) -> Result<(Vec<FoldPlan>, &'static str)> {
    let items = data.items();
    let labelled = data.labelled();
    if labelled.is_empty() {
        return Err(Error::EmptyDataset {
            skipped: data.skipped().len(),
        });
    }
    let labels: Vec<usize> = labelled
        .iter()
        .map(|&i| items[i].label.map_or(0, |l| l.index()))
        .collect();
    let mut present: Vec<usize> = labels.clone();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(Error::SingleClass {
            class: Label::ALL[present[0]].name(),
        });
    }
    let count = |c: usize| labels.iter().filter(|&&l| l == c).count();
    let smallest = present.iter().map(|&c| count(c)).min().unwrap_or(0);
    // One split: hold out a fifth, or more when a class has fewer than five scans.
    let k = if config.folds == 1 {
        smallest.clamp(2, 5)
    } else {
        config.folds
    };
    for &c in &present {
        let count = count(c);
        if count < k {
            return Err(Error::TooFewForFolds {
                class: Label::ALL[c].name(),
                count,
                folds: k,
            });
        }
    }
    let strata: Vec<usize> = labelled
        .iter()
        .zip(&labels)
        .map(|(&i, &l)| {
            l * 3
                + match items[i].contrast {
                    None => 0,
                    Some(Contrast::High) => 1,
                    Some(Contrast::Low) => 2,
                }
        })
        .collect();
    let splitter = StratifiedKFold {
        n_splits: k,
        shuffle: true,
        seed: config.seed,
    };
    let (splits, by) = match splitter.split(&strata) {
        Ok(s) => (s, "label x contrast"),
        Err(_) => (splitter.split(&labels).map_err(Error::Folds)?, "label"),
    };
    let take = if config.folds == 1 { 1 } else { k };
    let plans = splits
        .into_iter()
        .take(take)
        .enumerate()
        .map(|(fold, (train, val))| FoldPlan {
            fold,
            train: train.into_iter().map(|j| labelled[j]).collect(),
            val: val.into_iter().map(|j| labelled[j]).collect(),
        })
        .collect();
    Ok((plans, by))
}

fn differing_fields(a: &TrainConfig, b: &TrainConfig) -> String {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "?".into();
    };
    x.iter()
        .filter(|(k, v)| y.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates the run folder with its `config.json`, or checks that config for `resume`.
fn open_run_folder(config: &TrainConfig, opts: &RunOptions) -> Result<()> {
    let out = &opts.out;
    let config_path = out.join("config.json");
    if opts.resume {
        let text = std::fs::read(&config_path).map_err(io(&config_path))?;
        let saved: TrainConfig = serde_json::from_slice(&text).map_err(json(&config_path))?;
        if &saved != config {
            return Err(Error::ResumeMismatch {
                path: config_path,
                fields: differing_fields(&saved, config),
            });
        }
        return Ok(());
    }
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(Error::RunExists(out.clone()));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let text = serde_json::to_vec_pretty(config).map_err(json(&config_path))?;
    std::fs::write(&config_path, text).map_err(io(&config_path))
}

fn write_folds_csv(path: &Path, data: &ScanDataset, plans: &[FoldPlan]) -> Result<()> {
    let err = |e: csv::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let items = data.items();
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(["id", "label", "contrast", "fold"])
        .map_err(err)?;
    for p in plans {
        for &i in &p.val {
            let it = &items[i];
            let fold = p.fold.to_string();
            w.write_record([
                it.id.as_str(),
                it.label.map_or("", |l| l.name()),
                it.contrast.map_or("", |c| c.name()),
                fold.as_str(),
            ])
            .map_err(err)?;
        }
    }
    w.flush().map_err(io(path))
}

/// Trains every fold of `config` on `data` in `opts.out`.
pub fn train_run(
    data: &ScanDataset,
    config: &TrainConfig,
    opts: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunEnd> {
    config.validate()?;
    let (plans, stratified_by) = plan_folds(data, config)?;
    open_run_folder(config, opts)?;
    write_folds_csv(&opts.out.join("folds.csv"), data, &plans)?;
    let ckpts: Vec<FoldCheckpoints> = plans
        .iter()
        .map(|p| {
            FoldCheckpoints::new(
                opts.out
                    .join("checkpoints")
                    .join(format!("fold-{}", p.fold)),
            )
        })
        .collect::<Result<_>>()?;
    let mut states = Vec::with_capacity(plans.len());
    for c in &ckpts {
        states.push(if opts.resume {
            c.load_state(&config.model)?
        } else {
            None
        });
    }
    // Cut the log back to the latest checkpoint: what came after it is trained again.
    let keep = states
        .iter()
        .flatten()
        .map(|s| s.metrics_bytes)
        .max()
        .unwrap_or(0);
    let mut log = MetricsLog::open(
        &opts.out.join("metrics.jsonl"),
        Some(keep),
        Some(&opts.out.join("tensorboard")),
    )?;
    let trainer = Trainer {
        data,
        config,
        device: opts.device.clone(),
        observer,
    };
    let mut budget = opts.stop_after;
    let mut outcomes = Vec::with_capacity(plans.len());
    for ((plan, ckpt), state) in plans.iter().zip(&ckpts).zip(states) {
        let before = state.as_ref().map_or(0, |s| s.epoch);
        match trainer.train_fold(plan, ckpt, &mut log, state, budget)? {
            FoldEnd::Done(o) => {
                if let Some(b) = budget.as_mut() {
                    *b = b.saturating_sub(o.epochs - before.min(o.epochs));
                }
                outcomes.push(o);
            }
            FoldEnd::Paused { epochs } => {
                return Ok(RunEnd::Paused {
                    fold: plan.fold,
                    epochs,
                });
            }
        }
    }
    let summary = summarise(data, config, &plans, &outcomes, stratified_by);
    write_oof(&opts.out.join("oof.csv"), data, &outcomes)?;
    let path = opts.out.join("summary.json");
    let text = serde_json::to_vec_pretty(&summary).map_err(json(&path))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    let figures = interpretation(data, config, opts, &outcomes)?;
    crate::report::write_report(&opts.out, config, data, &summary, &figures)?;
    Ok(RunEnd::Done(Box::new(summary)))
}

/// Grad-CAM figures (3 right, 3 wrong; saved as `interpretability/gradcam-<id>.png`) and
/// the first fold's activation samples on up to 4 of its validation scans.
fn interpretation(
    data: &ScanDataset,
    config: &TrainConfig,
    opts: &RunOptions,
    outcomes: &[FoldOutcome],
) -> Result<crate::report::Figures> {
    let cams =
        crate::interpret::grad_cam_figures(data, config, &opts.out, outcomes, &opts.device, 3)?;
    if let Some(cams) = &cams {
        let dir = opts.out.join("interpretability");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for c in cams {
            let path = dir.join(format!("gradcam-{}.png", crate::cache::file_stem(&c.id)));
            std::fs::write(&path, &c.png).map_err(io(&path))?;
        }
    }
    let activations = match outcomes.first() {
        Some(o) => {
            let ckpt = FoldCheckpoints::new(
                opts.out
                    .join("checkpoints")
                    .join(format!("fold-{}", o.fold)),
            )?;
            let net = ckpt.load_weights(&config.model, "best", &opts.device)?;
            let idx: Vec<usize> = o.val.iter().copied().take(4).collect();
            crate::interpret::activation_samples(data, config, &net, &idx, &opts.device)?
        }
        None => None,
    };
    Ok(crate::report::Figures { cams, activations })
}

fn write_oof(path: &Path, data: &ScanDataset, outcomes: &[FoldOutcome]) -> Result<()> {
    let items = data.items();
    let rows = outcomes.iter().flat_map(|o| {
        o.val
            .iter()
            .zip(&o.probabilities)
            .map(move |(&i, p)| (&items[i], o.fold, p.as_slice()))
    });
    write_predictions(path, true, rows)
}

fn summarise(
    data: &ScanDataset,
    config: &TrainConfig,
    plans: &[FoldPlan],
    outcomes: &[FoldOutcome],
    stratified_by: &str,
) -> RunSummary {
    let items = data.items();
    let mut tally = Tally::new(config.model.num_classes);
    let mut folds = Vec::new();
    for (plan, o) in plans.iter().zip(outcomes) {
        let mut fold_right = 0;
        for (&i, p) in o.val.iter().zip(&o.probabilities) {
            let truth = items[i].label.unwrap_or(Label::Normal);
            fold_right += usize::from(tally.add(&items[i], truth, p));
        }
        folds.push(FoldSummary {
            fold: o.fold,
            n_train: plan.train.len(),
            n_val: o.val.len(),
            epochs: o.epochs,
            best_epoch: o.best.0,
            best_val_loss: o.best.1,
            accuracy: fold_right as f64 / o.val.len().max(1) as f64,
        });
    }
    RunSummary {
        model: config.model.kind.name().to_string(),
        n_scans: data.labelled().len(),
        n_predicted: tally.count(),
        skipped: data.skipped().iter().map(SkippedScan::from).collect(),
        folds,
        oof_accuracy: tally.accuracy(),
        by_contrast: tally.by_contrast(),
        confusion: tally.confusion,
        stratified_by: stratified_by.to_string(),
    }
}
