//! `report.html` of a run: configuration, data, training curves per fold (from
//! `metrics.jsonl`), the out-of-fold confusion matrix and per-fold and per-contrast tables.

use std::path::Path;

use ct_report::Report;
use ct_report::chart::{Series, confusion_matrix, line_chart};

use crate::config::TrainConfig;
use crate::dataset::ScanDataset;
use crate::error::{Error, Result};
use crate::metrics::{MetricLine, read_metrics};
use crate::run::RunSummary;

/// Writes `<out>/report.html`.
pub fn write_report(
    out: &Path,
    config: &TrainConfig,
    data: &ScanDataset,
    summary: &RunSummary,
) -> Result<()> {
    let metrics = read_metrics(&out.join("metrics.jsonl"))?;
    let mut report = Report::new(&format!("ct-train: {}", summary.model));
    config_section(&mut report, config, data);
    curves_section(&mut report, &metrics, summary.folds.len());
    results_section(&mut report, summary);
    report
        .write(&out.join("report.html"))
        .map_err(Error::Report)
}

fn config_section(report: &mut Report, config: &TrainConfig, data: &ScanDataset) {
    let r = &config.recipe;
    let s = report.section("Run");
    s.key_values(&[
        (
            "model",
            format!(
                "{} (width {})",
                config.model.kind.name(),
                config.model.width
            ),
        ),
        (
            "input",
            format!(
                "{} slices × {}² × {} channel(s)",
                config.slices, r.size, config.model.in_channels
            ),
        ),
        ("recipe", serde_json::to_string(r).unwrap_or_default()),
        ("loss", format!("{:?}", config.loss)),
        (
            "optimiser",
            format!(
                "{:?}, lr {} ({:?})",
                config.optimizer, config.lr, config.schedule
            ),
        ),
        (
            "epochs × batch",
            format!("{} × {}", config.epochs, config.batch_size),
        ),
        ("folds", config.folds.to_string()),
        ("seed", config.seed.to_string()),
        (
            "scans",
            format!(
                "{} prepared ({} from the cache), {} skipped",
                data.items().len(),
                data.cache_hits(),
                data.skipped().len()
            ),
        ),
    ]);
    if !data.skipped().is_empty() {
        s.table(
            &["skipped scan", "why"],
            data.skipped()
                .iter()
                .map(|k| vec![k.id.clone(), k.reason.clone()])
                .collect(),
        );
    }
}

fn series(
    metrics: &[MetricLine],
    fold: usize,
    split: &str,
    value: fn(&MetricLine) -> f64,
) -> Series {
    Series::new(
        split.to_string(),
        metrics
            .iter()
            .filter(|m| m.kind == "epoch" && m.fold == fold && m.split == split)
            .map(|m| (m.epoch as f64, value(m)))
            .collect(),
    )
}

fn curves_section(report: &mut Report, metrics: &[MetricLine], folds: usize) {
    let s = report.section("Training curves");
    s.text("Per fold: mean loss and accuracy per epoch on the fold's training scans (augmented) and its validation scans.");
    for fold in 0..folds {
        let loss = [
            series(metrics, fold, "train", |m| m.loss),
            series(metrics, fold, "val", |m| m.loss),
        ];
        let acc = [
            series(metrics, fold, "train", |m| m.accuracy),
            series(metrics, fold, "val", |m| m.accuracy),
        ];
        s.svg(&line_chart(
            &format!("fold {fold}: loss"),
            "epoch",
            "loss",
            &loss,
        ));
        s.svg(&line_chart(
            &format!("fold {fold}: accuracy"),
            "epoch",
            "accuracy",
            &acc,
        ));
    }
    let steps: Vec<Series> = (0..folds)
        .map(|fold| {
            Series::new(
                format!("fold {fold}"),
                metrics
                    .iter()
                    .filter(|m| m.kind == "step" && m.fold == fold)
                    .filter_map(|m| Some((m.step? as f64, m.loss)))
                    .collect(),
            )
        })
        .collect();
    s.svg(&line_chart(
        "loss per optimiser step",
        "step",
        "batch loss",
        &steps,
    ));
}

fn results_section(report: &mut Report, summary: &RunSummary) {
    let s = report.section("Out-of-fold results");
    s.text(&format!(
        "Every validation scan is predicted once, by the model of the fold that did not train on it (best epoch by validation loss). Accuracy {:.3} over {} of the {} labelled scans; folds stratified by {}.",
        summary.oof_accuracy, summary.n_predicted, summary.n_scans, summary.stratified_by
    ));
    s.svg(&confusion_matrix(
        &summary.confusion,
        &["Normal", "CAP", "COVID-19"],
        "out-of-fold confusion",
    ));
    s.table(
        &[
            "fold",
            "train",
            "val",
            "epochs",
            "best epoch",
            "best val loss",
            "accuracy",
        ],
        summary
            .folds
            .iter()
            .map(|f| {
                vec![
                    f.fold.to_string(),
                    f.n_train.to_string(),
                    f.n_val.to_string(),
                    f.epochs.to_string(),
                    f.best_epoch.to_string(),
                    format!("{:.4}", f.best_val_loss),
                    format!("{:.3}", f.accuracy),
                ]
            })
            .collect(),
    );
    s.table(
        &["contrast group", "scans", "accuracy"],
        summary
            .by_contrast
            .iter()
            .map(|(g, n, a)| vec![g.clone(), n.to_string(), format!("{a:.3}")])
            .collect(),
    );
}
