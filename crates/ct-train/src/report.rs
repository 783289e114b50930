//! `report.html` of a run: configuration, data, training curves per fold (from
//! `metrics.jsonl`), the out-of-fold confusion matrix, per-fold and per-contrast tables,
//! Grad-CAM overlays and activation histograms.

use std::path::Path;

use ct_report::Report;
use ct_report::chart::{Series, confusion_matrix, line_chart};

use crate::config::TrainConfig;
use crate::dataset::ScanDataset;
use crate::error::{Error, Result};
use crate::interpret::CamFigure;
use crate::metrics::{MetricLine, read_metrics};
use crate::run::RunSummary;

/// The interpretability figures of a run (`None`: the model has no such view).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Grad-CAM overlays.
    pub cams: Option<Vec<CamFigure>>,
    /// Activation samples per backbone stage.
    pub activations: Option<Vec<(String, Vec<f64>)>>,
}

/// Writes `<out>/report.html`.
pub fn write_report(
    out: &Path,
    config: &TrainConfig,
    data: &ScanDataset,
    summary: &RunSummary,
    figures: &Figures,
) -> Result<()> {
    let metrics = read_metrics(&out.join("metrics.jsonl"))?;
    let mut report = Report::new(&format!("ct-train: {}", summary.model));
    config_section(&mut report, config, data);
    curves_section(&mut report, &metrics, summary.folds.len());
    results_section(&mut report, summary);
    interpretability_section(&mut report, figures);
    report
        .write(&out.join("report.html"))
        .map_err(Error::Report)
}

fn interpretability_section(report: &mut Report, figures: &Figures) {
    let s = report.section("Interpretability");
    match &figures.cams {
        Some(cams) if !cams.is_empty() => {
            s.text("Grad-CAM of the predicted class through the slice pooling (left: the slice whose map is largest; right: the map over it), for correctly and wrongly classified scans, each by the model of the fold that did not train on it.");
            s.png_row(
                cams.iter()
                    .map(|c| {
                        let verdict = if c.truth == c.predicted {
                            "right"
                        } else {
                            "wrong"
                        };
                        (
                            c.png.clone(),
                            format!(
                                "{} ({verdict}): {} as {}, slice {}",
                                c.id, c.truth, c.predicted, c.slice
                            ),
                        )
                    })
                    .collect(),
            );
        }
        _ => {
            s.text(
                "Grad-CAM is drawn for COVNet models (this model has no slice pooling to explain).",
            );
        }
    }
    match &figures.activations {
        Some(acts) if !acts.is_empty() => {
            s.svg(&activation_histogram(acts));
        }
        _ => {
            s.text("Activation histograms are drawn for ResNet and DenseNet backbones.");
        }
    }
}

/// Density histograms of activation samples per stage on common bins from 0 to the largest.
fn activation_histogram(acts: &[(String, Vec<f64>)]) -> String {
    let hi = acts
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let bins = 40;
    let edges: Vec<f64> = (0..=bins).map(|i| hi * i as f64 / bins as f64).collect();
    let series: Vec<(String, Vec<f64>)> = acts
        .iter()
        .map(|(name, v)| {
            let mut counts = vec![0.0; bins];
            for &x in v.iter().filter(|x| x.is_finite()) {
                let b = ((x / hi) * bins as f64)
                    .floor()
                    .clamp(0.0, (bins - 1) as f64) as usize;
                counts[b] += 1.0;
            }
            (name.clone(), counts)
        })
        .collect();
    ct_report::chart::histogram(
        "activations per backbone stage (first fold's best model, its validation scans)",
        "activation",
        &edges,
        &series,
        true,
    )
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
