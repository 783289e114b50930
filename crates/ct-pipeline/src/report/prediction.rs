//! The page of one predicted scan: the answer, the pictures a reader checks it against
//! (lung mask, CLAHE, lesion map), the values the classifiers read, and which learned part
//! saw which data.

use std::path::{Path, PathBuf};

use ct_core::Label;
use ct_report::Report;
use ct_report::chart::bar_chart;

use crate::models::Manifest;
use crate::outputs::io_err;
use crate::predict::{Prediction, Predictor};
use crate::{Error, Result};

/// A file name made of the id's letters, digits, `-`, `_` and `.` (others become `_`).
pub(crate) fn page_name(id: &str) -> String {
    let mut s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s + ".html"
}

/// Writes `<dir>/<id>.html` and returns its path.
pub fn write_prediction_page(dir: &Path, p: &Prediction, predictor: &Predictor) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(page_name(&p.id));
    let mut report = Report::new(&format!("covid-ct prediction: {}", p.id));
    answer_section(&mut report, p);
    outside_section(&mut report, p, predictor);
    pictures_section(&mut report, p);
    features_section(&mut report, p, predictor);
    provenance_section(&mut report, predictor);
    report
        .write(&path)
        .map_err(|e| Error::Figure(Box::new(e)))?;
    Ok(path)
}

fn answer_section(report: &mut Report, p: &Prediction) {
    let r = p.record();
    let s = report.section("Answer");
    s.key_values(&[
        ("label", p.label.name().to_string()),
        ("p_normal", format!("{:.3}", p.proba[0])),
        ("p_cap", format!("{:.3}", p.proba[1])),
        ("p_covid", format!("{:.3}", p.proba[2])),
        (
            "contrast group (gate)",
            p.contrast
                .map_or("none (the run had no contrast groups)".into(), |c| {
                    c.name().to_string()
                }),
        ),
        ("lung volume", format!("{:.0} mL", p.lung_ml)),
        (
            "slices",
            format!(
                "{} read, {} removed as out of place",
                r.n_slices,
                r.removed.len()
            ),
        ),
        (
            "voxel spacing (z, y, x)",
            format!(
                "{:.2} × {:.2} × {:.2} mm",
                r.spacing[0], r.spacing[1], r.spacing[2]
            ),
        ),
        ("seconds", format!("{:.1}", p.seconds)),
    ]);
    let names: Vec<String> = Label::ALL.iter().map(|l| l.name().to_string()).collect();
    s.svg(&bar_chart(
        "class probabilities",
        "p",
        &names,
        &[("soft vote".to_string(), p.proba.to_vec())],
    ));
    if !r.warnings.is_empty() {
        s.text(&format!("Reading warnings: {}", r.warnings.join("; ")));
    }
}

fn outside_section(report: &mut Report, p: &Prediction, predictor: &Predictor) {
    let n = predictor.bundle().trained_on.ranges.ranges.len();
    let s = report.section("How far the scan lies from the training data");
    if p.outside.is_empty() {
        s.text(&format!(
            "All {n} checked values (the classifiers' columns, lung volume, slice count) lie \
             within the range of the run's training subjects."
        ));
        return;
    }
    s.text(&format!(
        "{} of {n} checked values lie outside the range of the run's training subjects \
         (widened by {:.0} % of its width on each side). The classifiers never saw scans like \
         this one there: read the answer as an extrapolation, the more so the more values are \
         listed.",
        p.outside.len(),
        crate::bundle::RANGE_SLACK * 100.0
    ));
    let rows = p
        .outside
        .iter()
        .map(|o| {
            vec![
                o.range.name.clone(),
                format!("{:.4}", o.value),
                format!("{:.4} … {:.4}", o.range.min, o.range.max),
            ]
        })
        .collect();
    s.table(&["value", "this scan", "training range"], rows);
}

fn pictures_section(report: &mut Report, p: &Prediction) {
    let s = report.section("What the stages saw");
    if let Some(m) = &p.montage {
        s.png(
            m.clone(),
            "lung mask (lesion-inclusive, orange outline) on up to eight slices",
        );
    }
    let mut row = Vec::new();
    if let Some(b) = &p.processed.preview {
        row.push((b.clone(), "middle lung slice and mask".to_string()));
    }
    if let Some(b) = &p.processed.preview_enhanced {
        row.push((b.clone(), "the same slice after CLAHE".to_string()));
    }
    if let Some(b) = &p.processed.preview_pattern {
        row.push((
            b.clone(),
            "lesion map: the pattern U-Net on its most involved slice".to_string(),
        ));
    }
    if !row.is_empty() {
        s.png_row(row);
    }
    s.text(
        "Grad-CAM overlays belong to a convolutional scan classifier; this bundle's \
         classifiers read the per-scan features below (SVM + gradient-boosted trees), so \
         the lesion map above is the picture of what they read.",
    );
}

fn features_section(report: &mut Report, p: &Prediction, predictor: &Predictor) {
    let b = predictor.bundle();
    let r = p.record();
    let rows: Vec<Vec<String>> = b
        .model
        .columns
        .iter()
        .filter_map(|c| {
            let j = b.feature_names.iter().position(|n| n == c)?;
            Some(vec![c.clone(), format!("{:.4}", r.features[j])])
        })
        .collect();
    report
        .section("The values the classifiers read")
        .table(&["feature", "value"], rows);
}

fn provenance_section(report: &mut Report, predictor: &Predictor) {
    let b = predictor.bundle();
    let manifest = Manifest::shipped().ok();
    let mut rows: Vec<Vec<String>> = b
        .files
        .iter()
        .map(|f| {
            let trained = manifest
                .as_ref()
                .and_then(|m| m.entry(&f.name))
                .filter(|e| e.sha256 == f.sha256)
                .map_or_else(
                    || "see the run that made it".to_string(),
                    |e| e.training_data.clone(),
                );
            vec![f.name.clone(), f.source.clone(), trained]
        })
        .collect();
    let t = &b.trained_on;
    rows.push(vec![
        "gate and classifiers".into(),
        format!("fitted in the run ({})", b.written_by),
        format!(
            "{}: {} subjects; test accuracy {:.3} on {} held-out subjects",
            t.data,
            t.train_subjects.len(),
            t.test_accuracy,
            t.test_subjects.len()
        ),
    ]);
    let s = report.section("Which learned part saw which data");
    s.table(&["part", "source", "trained on"], rows);
    s.text(&format!(
        "Bundle: {} (format version {}).",
        predictor.dir().display(),
        b.version
    ));
}
