//! Sections on the results: OTDD, classification, model files, timings.

use ct_core::{Contrast, Label};
use ct_report::Report;
use ct_report::chart::{self};
use ct_report::image::ColorMap;

use super::*;
use crate::Result;

/// The report's otdd section.
pub(super) fn otdd_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs { summary, dir, .. } = *inputs;
    if !summary.otdd.is_empty() {
        let s = rep.section("Optimal-transport data-set distance");
        s.text("OTDD (Gaussian inner label distance, outer problem by geomloss's annealed Sinkhorn as microsoft/otdd runs it, debiased, ½/½ cost scaling) on 16×16 lung-window thumbnails, classes as labels.");
        s.table(
            &["data sets", "distance", "samples", "seconds"],
            summary
                .otdd
                .iter()
                .map(|o| {
                    vec![
                        o.name.clone(),
                        format!("{:.3}", o.distance),
                        format!("{} × {}", o.samples.0, o.samples.1),
                        format!("{:.2}", o.seconds),
                    ]
                })
                .collect(),
        );
        for (i, o) in summary.otdd.iter().enumerate() {
            if o.label_distances.len() < 2 {
                continue; // one class a side: nothing to draw
            }
            let names: Vec<&str> = Label::ALL
                .iter()
                .map(|l| l.name())
                .take(o.label_distances.len())
                .collect();
            let svg = chart::heatmap(
                &format!("Label-to-label W²: {}", o.name),
                &o.label_distances,
                &names,
                &names,
                ColorMap::Viridis,
            );
            save(dir, &format!("otdd_labels_{i}.svg"), svg.as_bytes())?;
            s.svg(&svg);
        }
    }
    if let Some(g) = &summary.augmentation {
        let s = rep.section("OTDD augmentation guidance");
        s.text("The seed's use of OTDD to guide augmentation: per class, the distance between the class's original lung-window slices and the same slices after global histogram equalisation (HE), CLAHE (clip 2.0, 8×8) and HE followed by CLAHE. An enhancement close to the originals keeps an augmented training set where the real data are; a far one adds variety and risks a shift between training and test data. Whether training with the preferred one helps ct-train's models is measured in docs/ct-train.md once a model learns (issue 23).");
        let kinds: Vec<String> = g
            .classes
            .first()
            .map(|c| c.distances.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let mut header = vec!["class"];
        header.extend(kinds.iter().map(String::as_str));
        header.push("closest");
        s.table(
            &header,
            g.classes
                .iter()
                .map(|c| {
                    let mut row = vec![c.class.clone()];
                    row.extend(c.distances.iter().map(|(_, d)| format!("{d:.3}")));
                    row.push(c.closest.clone().unwrap_or_else(|| "-".into()));
                    row
                })
                .collect(),
        );
        s.key_values(&[
            (
                "preferred augmentation (closest on average)",
                g.preferred.clone(),
            ),
            ("farthest from the originals", g.farthest.clone()),
        ]);
    }
    Ok(())
}

/// One-vs-rest ROC curves of the test split, all subjects and per true contrast group, each
/// class's AUC in its legend.
fn roc_figures(
    s: &mut ct_report::Section,
    c: &crate::classify::ClassifyOutput,
    dir: &std::path::Path,
) -> Result<()> {
    s.text("ROC curves (one class against the rest, on the vote's probabilities), the area under each in the legend; the diagonal is chance.");
    for (group, rocs) in &c.roc_curves {
        let mut series: Vec<chart::Series> = rocs
            .iter()
            .map(|r| {
                let points = r.curve.fpr.iter().copied().zip(r.curve.tpr.iter().copied());
                chart::Series::new(format!("{} {:.3}", r.class, r.auc), points.collect())
            })
            .collect();
        series.push(chart::Series::new("chance", vec![(0.0, 0.0), (1.0, 1.0)]));
        let title = match group.as_str() {
            "all" => "ROC, test split, all subjects".to_string(),
            g => format!("ROC, test split, {g} contrast"),
        };
        let svg = chart::line_chart(&title, "false-positive rate", "true-positive rate", &series);
        save(dir, &format!("roc_{group}.svg"), svg.as_bytes())?;
        s.svg(&svg);
    }
    Ok(())
}

/// The report's classification section.
pub(super) fn classification_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs {
        cfg,
        table,
        summary,
        dir,
        ..
    } = *inputs;
    if let Some(c) = &summary.classification {
        let s = rep.section("Classification (subject level)");
        let models = if cfg.gated_models {
            "per contrast group"
        } else {
            "one model for both contrast groups, with the group as a column"
        };
        s.text(&format!(
            "Per-scan features ({} columns) → {models}: RBF SVM (C, gamma grid-searched over 0.001…100 with stratified k-fold) + gradient-boosted trees ({} rounds), {}. Test subjects are routed by the fitted gate; reports are grouped by the true contrast group.",
            table.feature_names.len(),
            cfg.gbdt_rounds,
            match c.vote {
                ensemble::VotingKind::Soft => "soft vote (mean of probabilities)",
                ensemble::VotingKind::Hard =>
                    "hard vote (weighted majority of the predicted classes, ties to the lowest class; the probabilities below are vote shares)",
            }
        ));
        s.key_values(&[
            ("test subjects", c.test_ids.len().to_string()),
            ("test accuracy", fmt(c.accuracy)),
            (
                "k-fold accuracy on training subjects",
                format!(
                    "{:.3} ± {:.3} ({} folds)",
                    c.cv_mean,
                    c.cv_std,
                    c.cv_folds.len()
                ),
            ),
        ]);
        if let Some(m) = &c.scan_model {
            s.text(&format!(
                "The pretrained scan model ({}: boosted trees, {} rounds, over the classifiers' default columns, trained on {} + {} + {} phantom subjects of another cohort) joins the vote with the weight that gives the lowest k-fold log-loss on this run's training subjects (tried: {}).",
                m.source,
                m.recipe.rounds,
                m.recipe.subjects[0],
                m.recipe.subjects[1],
                m.recipe.subjects[2],
                m.log_loss
                    .iter()
                    .map(|(w, l)| format!("weight {w:.2}: log-loss {l:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            s.key_values(&[
                ("scan model's weight", format!("{:.2}", m.weight)),
                (
                    "the run's own models alone: test / k-fold accuracy",
                    format!("{:.3} / {:.3}", m.test_accuracy_without, m.cv_mean_without),
                ),
                (
                    "the scan model alone: test / training-subject accuracy",
                    format!(
                        "{:.3} / {:.3}",
                        m.test_accuracy_alone, m.train_accuracy_alone
                    ),
                ),
            ]);
        }
        s.pre(&format!("All test subjects\n{}", report_text(&c.report)));
        let labels = Label::ALL.map(|l| l.name());
        let svg = chart::confusion_matrix(&c.confusion, &labels, "Test split, all subjects");
        save(dir, "confusion_all.svg", svg.as_bytes())?;
        s.svg(&svg);
        for (g, r) in &c.by_contrast {
            s.pre(&format!("{g} contrast\n{}", report_text(r)));
            if let Some(m) = c.confusion_by_contrast.get(g) {
                let svg = chart::confusion_matrix(m, &labels, &format!("Test split, {g} contrast"));
                save(dir, &format!("confusion_{g}.svg"), svg.as_bytes())?;
                s.svg(&svg);
            }
        }
        roc_figures(s, c, dir)?;
        // The misclassified test subjects, with what the vote gave each class.
        let wrong: Vec<Vec<String>> = (0..c.test_ids.len())
            .filter(|&k| c.test_true[k] != c.test_pred[k])
            .map(|k| {
                let mut row = vec![
                    c.test_ids[k].clone(),
                    labels
                        .get(c.test_true[k])
                        .copied()
                        .unwrap_or("")
                        .to_string(),
                    labels
                        .get(c.test_pred[k])
                        .copied()
                        .unwrap_or("")
                        .to_string(),
                ];
                row.extend(
                    c.test_proba
                        .get(k)
                        .into_iter()
                        .flatten()
                        .map(|p| format!("{p:.2}")),
                );
                row
            })
            .collect();
        if wrong.is_empty() {
            s.text("Every test subject is classified correctly.");
        } else {
            s.text("Misclassified test subjects (all of them are in predictions.csv):");
            s.table(
                &[
                    "subject",
                    "true",
                    "predicted",
                    "p Normal",
                    "p CAP",
                    "p COVID-19",
                ],
                wrong,
            );
        }
        for m in &c.models {
            if m.grid.is_empty() {
                continue;
            }
            let cs: Vec<String> = ensemble::SEED_GRID_C
                .iter()
                .map(|v| format!("C={v}"))
                .collect();
            let gs: Vec<String> = ensemble::SEED_GRID_GAMMA
                .iter()
                .map(|v| format!("γ={v}"))
                .collect();
            let grid: Vec<Vec<f64>> = m
                .grid
                .chunks(gs.len())
                .map(|row| row.iter().map(|c| c.mean).collect())
                .collect();
            let title = format!(
                "SVM grid, {} (best C={}, γ={})",
                m.group.map_or("all", Contrast::name),
                m.svm_c,
                m.svm_gamma.map_or("scale".into(), |g| g.to_string())
            );
            let svg = chart::heatmap(
                &title,
                &grid,
                &cs.iter().map(String::as_str).collect::<Vec<_>>(),
                &gs.iter().map(String::as_str).collect::<Vec<_>>(),
                ColorMap::Viridis,
            );
            save(
                dir,
                &format!("svm_grid_{}.svg", m.group.map_or("all", Contrast::name)),
                svg.as_bytes(),
            )?;
            s.svg(&svg);
        }
    }
    Ok(())
}

/// The report's models section.
pub(super) fn models_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs { summary, .. } = *inputs;
    if !summary.models.is_empty() {
        let s = rep.section("Model files");
        s.text(
            "The learned models this run used: where each came from, the SHA-256 of its file \
             (see crates/ct-pipeline/models/MANIFEST.json and the example train_models), the \
             lung recipe of its training scans, and warnings.",
        );
        let rows: Vec<Vec<String>> = summary
            .models
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.source.clone(),
                    m.sha256
                        .as_deref()
                        .map_or("–", |h| &h[..12.min(h.len())])
                        .to_string(),
                    m.lung_recipe.map_or("–", |r| r.name()).to_string(),
                    m.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        s.table(&["model", "source", "sha256", "lung recipe", "note"], rows);
        if let Some(b) = &summary.bundle {
            s.text(&format!(
                "This run is saved for prediction in {} (the configuration, the fitted gate \
                 and classifiers, and a copy of each model file): `predict --model {} SCAN...`.",
                b.display(),
                b.display()
            ));
        }
    }
    Ok(())
}

/// The report's timings section.
pub(super) fn timings_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs { summary, .. } = *inputs;
    {
        let s = rep.section("Timings");
        let rows: Vec<Vec<String>> = summary
            .timings
            .iter()
            .map(|(k, v)| vec![k.clone(), format!("{v:.2}")])
            .collect();
        s.text("Wall-clock seconds per stage; `preprocess.*` rows are seconds summed over scans (several run in parallel).");
        s.table(&["stage", "seconds"], rows);
    }
    Ok(())
}
