//! Figures and the HTML report of a run.

use std::collections::BTreeMap;
use std::path::Path;

use ct_core::{Contrast, Label};
use ct_report::chart::{self, Series};
use ct_report::image::{self, ColorMap};
use ct_report::{Report, Section};
use ndarray::Array2;

use crate::config::PipelineConfig;
use crate::preprocess::{HU_HIST_BINS, HU_HIST_LO, HU_HIST_STEP, Processed};
use crate::summary::{FeatureTable, Summary};
use crate::{Error, Result};

/// Pictures collected while scans stream through preprocessing: the first scan of each
/// (class, contrast group) gives its segmentation overlay and its CLAHE slice.
#[derive(Debug, Default)]
pub struct Figures {
    previews: BTreeMap<(usize, u8), Preview>,
}

/// One scan's pictures: id, segmentation, CLAHE, pattern U-Net (when it ran).
type Preview = (String, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

impl Figures {
    /// Keeps the pictures of `p` if its (class, group) has none yet.
    pub fn offer_preview(&mut self, p: &Processed) {
        let (Some(l), Some(a), Some(b)) = (p.record.label, &p.preview, &p.preview_enhanced) else {
            return;
        };
        let g = p.record.contrast.map_or(2, |c| c as u8);
        self.previews.entry((l.index(), g)).or_insert_with(|| {
            (
                p.record.id.clone(),
                a.clone(),
                b.clone(),
                p.preview_pattern.clone(),
            )
        });
    }
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|source| Error::Io { path: p, source })
}

fn png_of(values: &Array2<f64>, lo: f64, hi: f64, cmap: ColorMap) -> Result<Vec<u8>> {
    Ok(image::png_bytes(&image::to_rgb(
        values.view(),
        lo,
        hi,
        cmap,
    )?)?)
}

fn group_name(g: u8) -> &'static str {
    match g {
        0 => "high contrast",
        1 => "low contrast",
        _ => "contrast unknown",
    }
}

fn eda_section(s: &mut Section, table: &FeatureTable, dir: &Path) -> Result<()> {
    let names = Label::ALL.map(|l| l.name());
    let mut means: Vec<Option<Array2<f64>>> = Vec::new();
    let mut row_mean = Vec::new();
    let mut row_std = Vec::new();
    for (k, st) in table.eda.slices.iter().enumerate() {
        let (Ok(m), Ok(sd)) = (st.mean(), st.std(0)) else {
            means.push(None);
            continue;
        };
        let a = png_of(&m, 0.0, 255.0, ColorMap::Gray)?;
        let b = png_of(
            &sd,
            0.0,
            sd.iter().cloned().fold(1.0, f64::max),
            ColorMap::Viridis,
        )?;
        save(dir, &format!("mean_{}.png", names[k]), &a)?;
        save(dir, &format!("std_{}.png", names[k]), &b)?;
        row_mean.push((
            a,
            format!("mean image: {} ({} slices)", names[k], st.count()),
        ));
        row_std.push((b, format!("std image: {}", names[k])));
        means.push(Some(m));
    }
    s.text("Per-class mean and standard-deviation images of every lung-window slice (resized), as in the seed's EDA.");
    s.png_row(row_mean).png_row(row_std);
    let mut diffs = Vec::new();
    for (a, b) in [(1usize, 0usize), (2, 0), (2, 1)] {
        if let (Some(ma), Some(mb)) = (&means[a], &means[b]) {
            let d = ma - mb;
            let png =
                image::png_bytes(&image::to_rgb_symmetric(d.view(), ColorMap::BlueWhiteRed)?)?;
            save(
                dir,
                &format!("diff_{}_minus_{}.png", names[a], names[b]),
                &png,
            )?;
            let m = d.iter().fold(0.0f64, |x, v| x.max(v.abs()));
            diffs.push((
                png,
                format!("{} − {} (±{m:.1} grey levels)", names[a], names[b]),
            ));
        }
    }
    s.text("Difference images (blue: lower, red: higher).");
    s.png_row(diffs);
    let edges: Vec<f64> = (0..=HU_HIST_BINS)
        .map(|i| HU_HIST_LO + i as f64 * HU_HIST_STEP)
        .collect();
    let per_class: Vec<(String, Vec<f64>)> = table
        .eda
        .hu_class
        .iter()
        .enumerate()
        .map(|(k, h)| (names[k].to_string(), h.clone()))
        .collect();
    let svg = chart::histogram("HU histogram per class", "HU", &edges, &per_class, true);
    save(dir, "hu_hist_class.svg", svg.as_bytes())?;
    s.svg(&svg);
    let per_group: Vec<(String, Vec<f64>)> = ["high contrast", "low contrast"]
        .iter()
        .zip(&table.eda.hu_contrast)
        .filter(|(_, h)| h.iter().sum::<f64>() > 0.0)
        .map(|(n, h)| (n.to_string(), h.clone()))
        .collect();
    if !per_group.is_empty() {
        let svg = chart::histogram(
            "HU histogram per contrast group",
            "HU",
            &edges,
            &per_group,
            true,
        );
        save(dir, "hu_hist_contrast.svg", svg.as_bytes())?;
        s.svg(&svg);
    }
    // Slice counts and z spacing per class.
    let mut counts: Vec<Series> = Vec::new();
    let mut spacing: Vec<Series> = Vec::new();
    for l in Label::ALL {
        let mut pts: Vec<(f64, f64)> = table
            .records
            .iter()
            .filter(|r| r.label == Some(l))
            .map(|r| (r.n_slices as f64, r.spacing[0]))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = pts.len() as f64;
        counts.push(Series::new(
            l.name(),
            pts.iter()
                .enumerate()
                .map(|(i, p)| (p.0, (i + 1) as f64 / n))
                .collect(),
        ));
        let mut z: Vec<f64> = pts.iter().map(|p| p.1).collect();
        z.sort_by(f64::total_cmp);
        spacing.push(Series::new(
            l.name(),
            z.iter()
                .enumerate()
                .map(|(i, v)| (*v, (i + 1) as f64 / n))
                .collect(),
        ));
    }
    let a = chart::line_chart(
        "Slices per scan (cumulative)",
        "slices",
        "fraction of scans",
        &counts,
    );
    let b = chart::line_chart(
        "Slice spacing (cumulative)",
        "z spacing (mm)",
        "fraction of scans",
        &spacing,
    );
    save(dir, "slice_counts.svg", a.as_bytes())?;
    save(dir, "z_spacing.svg", b.as_bytes())?;
    s.svg(&a).svg(&b);
    Ok(())
}

fn report_text(r: &ensemble::ClassificationReport) -> String {
    r.to_string()
}

/// Writes every figure under `dir` and `report.html` beside it.
pub fn write_report(
    cfg: &PipelineConfig,
    table: &FeatureTable,
    summary: &Summary,
    figs: &Figures,
    dir: &Path,
) -> Result<()> {
    let mut rep = Report::new(&format!("covid-ct run “{}”", cfg.name));
    let fmt = |v: f64| format!("{v:.3}");
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
    eda_section(rep.section("Exploratory data analysis"), table, dir)?;

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
    if let Some(c) = &summary.classification {
        let s = rep.section("Classification (subject level)");
        let models = if cfg.gated_models {
            "per contrast group"
        } else {
            "one model for both contrast groups, with the group as a column"
        };
        s.text(&format!(
            "Per-scan features ({} columns) → {models}: RBF SVM (C, gamma grid-searched over 0.001…100 with stratified k-fold) + gradient-boosted trees ({} rounds), soft vote. Test subjects are routed by the fitted gate; reports are grouped by the true contrast group.",
            table.feature_names.len(),
            cfg.gbdt_rounds
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
    rep.write(&cfg.run_dir().join("report.html"))?;
    Ok(())
}
