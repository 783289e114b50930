//! Sections on the data and the per-scan stages: summary, cleaning, segmentation, gate.

use ct_core::Label;
use ct_report::Report;

use super::*;
use crate::Result;

/// The report's summary section.
pub(super) fn summary_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs {
        cfg,
        table,
        summary,
        ..
    } = *inputs;
    {
        let s = rep.section("Summary");
        let mut kv: Vec<(&str, String)> = vec![
            (
                "data",
                cfg.data.as_ref().map_or(
                    "built-in phantom cohort (DICOM, COVID-CT-MD layout)".into(),
                    |d| d.display().to_string(),
                ),
            ),
            ("scans processed", summary.n_scans.to_string()),
            ("scans skipped", summary.failures.len().to_string()),
        ];
        if cfg.oracle_lesions {
            kv.push((
                "lesion probabilities",
                "ORACLE: the phantom's true lesion masks, not the detector (--oracle-lesions): \
                 the accuracy below is the ceiling a perfect detector would give"
                    .into(),
            ));
        }
        if let Some(c) = &summary.classification {
            kv.push(("test accuracy", fmt(c.accuracy)));
            for (g, r) in &c.by_contrast {
                kv.push((
                    if g == "high" {
                        "test accuracy, high contrast"
                    } else {
                        "test accuracy, low contrast"
                    },
                    r.accuracy.map_or("-".into(), fmt),
                ));
            }
            kv.push((
                "k-fold accuracy (train)",
                format!("{:.3} ± {:.3}", c.cv_mean, c.cv_std),
            ));
            if let Some(a) = c.roc_auc {
                kv.push(("ROC-AUC (one-vs-rest, macro)", fmt(a)));
            }
        }
        if let Some(d) = summary.dice.get("all") {
            kv.push(("lung Dice (mean)", fmt(*d)));
        }
        if let Some((p, r, _, _)) = summary.cleaning {
            kv.push(("cleaning precision / recall", format!("{p:.3} / {r:.3}")));
        }
        if let Some(m) = summary.peak_rss_mib {
            kv.push(("peak memory", format!("{m:.0} MiB")));
        }
        s.key_values(&kv);
        if !summary.failures.is_empty() {
            s.table(
                &["skipped scan", "path", "error"],
                summary
                    .failures
                    .iter()
                    .map(|f| vec![f.id.clone(), f.path.display().to_string(), f.error.clone()])
                    .collect(),
            );
        }
        if !table.warnings.is_empty() {
            s.pre(&table.warnings.join("\n"));
        }
    }
    Ok(())
}

/// The report's cleaning section.
pub(super) fn cleaning_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs {
        cfg,
        table,
        summary,
        ..
    } = *inputs;
    {
        let s = rep.section("Cleaning: out-of-place slices");
        s.text(&format!(
            "The seed's rule: a slice is removed when the Hamming distance of its perceptual hash (8×8 DCT, imagehash-exact) to both neighbours exceeds {}.",
            cfg.clean_threshold
        ));
        if let Some((p, r, f, t)) = summary.cleaning {
            s.key_values(&[
                ("slices removed", f.to_string()),
                ("truly out of place", t.to_string()),
                ("precision", fmt(p)),
                ("recall", fmt(r)),
            ]);
        }
        let rows: Vec<Vec<String>> = table
            .records
            .iter()
            .filter(|r| !r.removed.is_empty() || r.injected.as_ref().is_some_and(|i| !i.is_empty()))
            .map(|r| {
                vec![
                    r.id.clone(),
                    format!("{:?}", r.removed),
                    r.injected.as_ref().map_or("-".into(), |i| format!("{i:?}")),
                ]
            })
            .collect();
        if !rows.is_empty() {
            s.table(&["scan", "removed", "injected (truth)"], rows);
        }
    }
    Ok(())
}

/// The report's segmentation section.
pub(super) fn segmentation_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs {
        summary, figs, dir, ..
    } = *inputs;
    {
        let s = rep.section("Lung segmentation and enhancement");
        let kv: Vec<(&str, String)> = summary
            .dice
            .iter()
            .map(|(k, v)| {
                (
                    match k.as_str() {
                        "all" => "Dice, all scans",
                        "high" => "Dice, high contrast",
                        "low" => "Dice, low contrast",
                        k if k.starts_with("lesions") => {
                            "Dice, lesion detector vs reference lesion masks"
                        }
                        _ => "Dice, lesion-inclusive feature mask",
                    },
                    fmt(*v),
                )
            })
            .collect();
        let mut kv = kv;
        if let Some(d) = &summary.detector_training {
            kv.push(("lesion detector", d.source.clone()));
            kv.push((
                "lesion detector training: voxels (lesion / other), components (lesion / false)",
                format!(
                    "{} / {}, {} / {}",
                    d.voxels.0, d.voxels.1, d.components.0, d.components.1
                ),
            ));
        }
        if let Some(e) = &summary.lesion_components {
            kv.push((
                "lesion components: lesion / scored",
                format!("{} / {}", e.lesion, e.components),
            ));
            kv.push((
                "component stage vs reference: ROC-AUC, accuracy at ½",
                format!(
                    "{}, {}",
                    e.roc_auc.map_or("–".to_string(), fmt),
                    fmt(e.accuracy)
                ),
            ));
        }
        if !kv.is_empty() {
            s.key_values(&kv);
        }
        s.text("Middle lung slice of the first scan of each class and contrast group: lung window with the mask outline, then the lung box after CLAHE (clip 2.0, 8×8), then the lesion-pattern U-Net on that scan's most involved slice (orange: CAP-like lesion, magenta: COVID-19-like lesion; opacity = probability).");
        let mut row = Vec::new();
        for ((l, g), (id, a, b, c)) in &figs.previews {
            let name = format!("{} ({}) {id}", Label::ALL[*l].name(), group_name(*g));
            save(dir, &format!("segmentation_{id}.png"), a)?;
            save(dir, &format!("clahe_{id}.png"), b)?;
            row.push((a.clone(), format!("{name}: lungs")));
            row.push((b.clone(), format!("{name}: CLAHE")));
            if let Some(c) = c {
                save(dir, &format!("pattern_{id}.png"), c)?;
                row.push((c.clone(), format!("{name}: pattern U-Net")));
            }
        }
        s.png_row(row);
    }
    Ok(())
}

/// The report's gate section.
pub(super) fn gate_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs { summary, .. } = *inputs;
    if let Some(g) = summary
        .classification
        .as_ref()
        .and_then(|c| c.gate.as_ref())
    {
        let s = rep.section("Contrast gate");
        let dir = if g.fitted.high_above { ">" } else { "<=" };
        s.key_values(&[
            (
                "fitted gate (high contrast when)",
                format!("{:?} {dir} {:.4}", g.fitted.feature, g.fitted.threshold),
            ),
            ("fitted gate, train accuracy", fmt(g.fitted_train_accuracy)),
            ("fitted gate, test accuracy", fmt(g.fitted_test_accuracy)),
            (
                "seed's gray gate, fitted threshold (pixels at the slice maximum)",
                g.graygate_threshold.to_string(),
            ),
            (
                "seed's gray gate, test accuracy",
                fmt(g.graygate_test_accuracy),
            ),
        ]);
    }
    if let Some(u) = summary
        .classification
        .as_ref()
        .and_then(|c| c.unsupervised_gate.as_ref())
    {
        let s = rep.section("Contrast gate");
        s.text(&u.describe());
        if let Some(g) = &u.gate {
            let dir = if g.high_above { ">" } else { "<=" };
            s.key_values(&[(
                "gate found without labels (high contrast when)",
                format!("{:?} {dir} {:.4}", g.feature, g.threshold),
            )]);
        }
    }
    Ok(())
}
