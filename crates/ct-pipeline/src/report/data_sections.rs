//! Sections on the data and the per-scan stages: summary, cleaning, segmentation, gate.

use ct_core::Label;
use ct_report::Report;

use super::*;
use crate::Result;

/// The file-times EDA: per time kind and group, the spread as dates, whether one threshold
/// separates the two contrast groups, and a histogram of each kind that varies.
pub(super) fn file_times_section(rep: &mut Report, inputs: &Inputs<'_>) -> Result<()> {
    let Inputs { summary, dir, .. } = *inputs;
    let Some(f) = &summary.file_times else {
        return Ok(());
    };
    let s = rep.section("File and DICOM times");
    s.text(&format!(
        "The seed found that the files' access, creation and modification times separated the low- and high-contrast exports of its data set. Here: the file-system times (accessed, modified, inode changed, created where the file system records it; the median over each subject's files, taken before this run read them) and the DICOM study, series, acquisition, content and instance-creation dates of each subject's first readable file, per {} group. A time that tells a group from the others (one threshold with balanced accuracy ≥ {:.2}, at least {} subjects on each side) is a shortcut: the groups were exported or scanned apart, and a classifier or gate that sees it learns the export, not the images.",
        f.grouping,
        crate::SEPARATES_AT,
        crate::SEPARATION_MIN_SUBJECTS
    ));
    let when = ct_io::dicom::format_seconds;
    let mut rows = Vec::new();
    for k in &f.kinds {
        for g in &k.groups {
            rows.push(vec![
                k.name.clone(),
                g.group.clone(),
                g.n.to_string(),
                when(g.min),
                when(g.median),
                when(g.max),
                g.vs_rest.map_or("–".into(), |sep| {
                    format!(
                        "{}{}",
                        sep.describe(),
                        if sep.separates() { ": SEPARATES" } else { "" }
                    )
                }),
            ]);
        }
    }
    s.table(
        &[
            "time",
            "group",
            "subjects",
            "earliest",
            "median",
            "latest",
            "separation",
        ],
        rows,
    );
    let separating = f.separating();
    s.text(&if separating.is_empty() {
        "No time separates the contrast groups (or there are not two of them).".to_string()
    } else {
        format!(
            "Separating the contrast groups: {}.",
            separating
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    for (i, k) in f.kinds.iter().enumerate() {
        if let Some(svg) = times_histogram(f, k) {
            save(dir, &format!("file_times_{i}.svg"), svg.as_bytes())?;
            s.svg(&svg);
        }
    }
    if !f.skipped.is_empty() {
        s.pre(
            &f.skipped
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    Ok(())
}

/// Histogram of one time kind per group, in days after the earliest (`None` when all equal).
fn times_histogram(f: &crate::FileTimes, k: &crate::KindSummary) -> Option<String> {
    let lo = k.groups.iter().map(|g| g.min).fold(f64::INFINITY, f64::min);
    let hi = k
        .groups
        .iter()
        .map(|g| g.max)
        .fold(f64::NEG_INFINITY, f64::max);
    if !hi.is_finite() || !lo.is_finite() || hi <= lo {
        return None;
    }
    const BINS: usize = 30;
    let span = (hi - lo) / 86_400.0;
    let edges: Vec<f64> = (0..=BINS).map(|b| span * b as f64 / BINS as f64).collect();
    let series = k
        .groups
        .iter()
        .map(|g| {
            let mut counts = vec![0.0; BINS];
            for s in f.subjects.iter().filter(|s| s.group == g.group) {
                if let Some(t) = s.times.get(&k.name) {
                    let b = (((t - lo) / 86_400.0 / span) * BINS as f64) as usize;
                    counts[b.min(BINS - 1)] += 1.0;
                }
            }
            (g.group.clone(), counts)
        })
        .collect::<Vec<_>>();
    Some(ct_report::chart::histogram(
        &format!("{} time", k.name),
        &format!("days after {}", ct_io::dicom::format_seconds(lo)),
        &edges,
        &series,
        false,
    ))
}

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
