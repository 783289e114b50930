//! Metrics with scikit-learn 1.7 semantics: `classification_report` (text identical to
//! sklearn's, and the numbers as a struct), `confusion_matrix`, `accuracy_score` and one-vs-rest
//! `roc_auc_score`.

use std::fmt;

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::error::{Error, Result};

/// What a precision, recall or F-score with a zero denominator becomes (sklearn's
/// `zero_division`). `Warn` is sklearn's default: it yields 0 (this crate prints no warning).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub enum ZeroDivision {
    /// 0, sklearn's default `"warn"` (without the warning).
    #[default]
    Warn,
    /// 0.
    Zero,
    /// 1.
    One,
    /// NaN; NaN entries are then left out of the macro and weighted averages.
    NaN,
}

impl ZeroDivision {
    fn value(self) -> f64 {
        match self {
            ZeroDivision::Warn | ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
            ZeroDivision::NaN => f64::NAN,
        }
    }
}

/// Options of [`classification_report`], mirroring sklearn's keyword arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// The classes to report, in order; `None` is the sorted union of `y_true` and `y_pred`.
    pub labels: Option<Vec<usize>>,
    /// Display names of the reported classes (same length as the labels); `None` prints the
    /// class indices.
    pub target_names: Option<Vec<String>>,
    /// Digits after the decimal point in the text (sklearn's default 2).
    pub digits: usize,
    /// Zero-division policy.
    pub zero_division: ZeroDivision,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            labels: None,
            target_names: None,
            digits: 2,
            zero_division: ZeroDivision::Warn,
        }
    }
}

impl ReportOptions {
    /// Options that name the classes with `ct_core::Label` names (`Normal`, `CAP`, `COVID-19`).
    pub fn ct_labels() -> ReportOptions {
        ReportOptions {
            labels: Some(vec![0, 1, 2]),
            target_names: Some(
                ct_core::Label::ALL
                    .iter()
                    .map(|l| l.name().to_string())
                    .collect(),
            ),
            ..ReportOptions::default()
        }
    }
}

/// Precision, recall, F1 and support of one row of a report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1-score.
    pub f1: f64,
    /// Number of true samples (for averages: the total).
    pub support: usize,
}

/// One class's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    /// The class index.
    pub label: usize,
    /// Its display name.
    pub name: String,
    /// Its scores.
    pub scores: Scores,
}

/// The numbers of sklearn's `classification_report(output_dict=True)`; `Display` prints the
/// text report exactly as sklearn does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Per-class rows, in label order.
    pub classes: Vec<ClassRow>,
    /// Accuracy, when the micro average equals it (the labels cover every class present).
    pub accuracy: Option<f64>,
    /// The micro average, printed as `micro avg` when it is not the accuracy.
    pub micro_avg: Scores,
    /// Unweighted mean over classes (NaNs left out).
    pub macro_avg: Scores,
    /// Support-weighted mean over classes (NaNs left out).
    pub weighted_avg: Scores,
    /// Digits used by the text.
    pub digits: usize,
    /// sklearn prints supports as floats (`1.0`) when no sample at all is predicted correctly
    /// (its counts then go through a float zero array); the text reproduces that quirk.
    pub float_support: bool,
}

fn divide(num: f64, den: f64, zd: ZeroDivision) -> f64 {
    if den == 0.0 { zd.value() } else { num / den }
}

/// `_nanaverage`: mean of the non-NaN values, weighted when `w` is given (all-zero weights fall
/// back to the plain mean); NaN if nothing is left.
fn nanaverage(a: &[f64], w: Option<&[f64]>) -> f64 {
    let keep: Vec<usize> = (0..a.len()).filter(|&i| !a[i].is_nan()).collect();
    if keep.is_empty() {
        return f64::NAN;
    }
    let plain = || keep.iter().map(|&i| a[i]).sum::<f64>() / keep.len() as f64;
    match w {
        None => plain(),
        Some(w) => {
            let sw: f64 = keep.iter().map(|&i| w[i]).sum();
            if sw == 0.0 {
                plain()
            } else {
                keep.iter().map(|&i| a[i] * w[i]).sum::<f64>() / sw
            }
        }
    }
}

fn check_pair(y_true: &[usize], y_pred: &[usize]) -> Result<()> {
    if y_true.is_empty() {
        return Err(Error::Empty {
            what: "y_true".into(),
        });
    }
    if y_true.len() != y_pred.len() {
        return Err(Error::LengthMismatch {
            what: "y_pred vs y_true".into(),
            expected: y_true.len(),
            got: y_pred.len(),
        });
    }
    Ok(())
}

/// Sorted union of the labels in both vectors (sklearn's `unique_labels`).
pub fn unique_labels(y_true: &[usize], y_pred: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = y_true.iter().chain(y_pred.iter()).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// sklearn's `classification_report` for class-index labels.
///
/// Differences from sklearn: a `target_names` length that differs from the labels is an
/// error even when `labels` is given (sklearn warns and truncates), and no warnings are printed.
pub fn classification_report(
    y_true: &[usize],
    y_pred: &[usize],
    opts: &ReportOptions,
) -> Result<ClassificationReport> {
    check_pair(y_true, y_pred)?;
    let present = unique_labels(y_true, y_pred);
    let (labels, labels_given) = match &opts.labels {
        Some(l) if l.is_empty() => {
            return Err(Error::Empty {
                what: "labels".into(),
            });
        }
        Some(l) => (l.clone(), true),
        None => (present.clone(), false),
    };
    let micro_is_accuracy = !labels_given || present.iter().all(|p| labels.contains(p));
    let names: Vec<String> = match &opts.target_names {
        Some(t) if t.len() != labels.len() => {
            return Err(Error::LengthMismatch {
                what: "target_names vs number of classes".into(),
                expected: labels.len(),
                got: t.len(),
            });
        }
        Some(t) => t.clone(),
        None => labels.iter().map(|l| l.to_string()).collect(),
    };
    let zd = opts.zero_division;
    let nl = labels.len();
    let (mut tp, mut pred, mut truth) = (vec![0usize; nl], vec![0usize; nl], vec![0usize; nl]);
    let pos = |v: usize| labels.iter().position(|&l| l == v);
    for (&t, &p) in y_true.iter().zip(y_pred.iter()) {
        let (it, ip) = (pos(t), pos(p));
        if let Some(i) = it {
            truth[i] += 1;
            if t == p {
                tp[i] += 1;
            }
        }
        if let Some(i) = ip {
            pred[i] += 1;
        }
    }
    let prf = |tp: usize, pred: usize, truth: usize| -> (f64, f64, f64) {
        let (tp, pred, truth) = (tp as f64, pred as f64, truth as f64);
        (
            divide(tp, pred, zd),
            divide(tp, truth, zd),
            divide(2.0 * tp, truth + pred, zd),
        )
    };
    let mut classes = Vec::with_capacity(nl);
    let (mut ps, mut rs, mut fs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..nl {
        let (p, r, f) = prf(tp[i], pred[i], truth[i]);
        ps.push(p);
        rs.push(r);
        fs.push(f);
        classes.push(ClassRow {
            label: labels[i],
            name: names[i].clone(),
            scores: Scores {
                precision: p,
                recall: r,
                f1: f,
                support: truth[i],
            },
        });
    }
    let total: usize = truth.iter().sum();
    let (mp, mr, mf) = prf(tp.iter().sum(), pred.iter().sum(), total);
    let micro_avg = Scores {
        precision: mp,
        recall: mr,
        f1: mf,
        support: total,
    };
    let macro_avg = Scores {
        precision: nanaverage(&ps, None),
        recall: nanaverage(&rs, None),
        f1: nanaverage(&fs, None),
        support: total,
    };
    let w: Vec<f64> = truth.iter().map(|&t| t as f64).collect();
    let weighted_avg = Scores {
        precision: nanaverage(&ps, Some(&w)),
        recall: nanaverage(&rs, Some(&w)),
        f1: nanaverage(&fs, Some(&w)),
        support: total,
    };
    Ok(ClassificationReport {
        classes,
        accuracy: micro_is_accuracy.then_some(mf),
        micro_avg,
        macro_avg,
        weighted_avg,
        digits: opts.digits,
        float_support: !y_true.iter().zip(y_pred.iter()).any(|(t, p)| t == p),
    })
}

/// Python's `format(v, f">9.{digits}f")`, including `nan`/`inf` spelled as Python does.
fn pyf(v: f64, digits: usize) -> String {
    let s = if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:.digits$}")
    };
    format!("{s:>9}")
}

impl fmt::Display for ClassificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits;
        let name_width = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        let width = name_width.max("weighted avg".len()).max(d);
        let pad = |s: &str| format!("{s:>width$}");
        let sup = |n: usize| {
            if self.float_support {
                format!("{n}.0")
            } else {
                n.to_string()
            }
        };
        write!(f, "{} ", pad(""))?;
        for h in ["precision", "recall", "f1-score", "support"] {
            write!(f, " {h:>9}")?;
        }
        f.write_str("\n\n")?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &Scores| -> fmt::Result {
            writeln!(
                f,
                "{}  {} {} {} {:>9}",
                pad(name),
                pyf(s.precision, d),
                pyf(s.recall, d),
                pyf(s.f1, d),
                sup(s.support)
            )
        };
        for c in &self.classes {
            row(f, &c.name, &c.scores)?;
        }
        f.write_str("\n")?;
        match self.accuracy {
            Some(acc) => writeln!(
                f,
                "{}  {:>9} {:>9} {} {:>9}",
                pad("accuracy"),
                "",
                "",
                pyf(acc, d),
                sup(self.micro_avg.support)
            )?,
            None => row(f, "micro avg", &self.micro_avg)?,
        }
        row(f, "macro avg", &self.macro_avg)?;
        row(f, "weighted avg", &self.weighted_avg)
    }
}

impl ClassificationReport {
    /// The sklearn text report (same as `to_string()`).
    pub fn text(&self) -> String {
        self.to_string()
    }
}

/// Fraction of equal entries (sklearn's `accuracy_score`).
pub fn accuracy_score(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_pair(y_true, y_pred)?;
    let ok = y_true
        .iter()
        .zip(y_pred.iter())
        .filter(|(a, b)| a == b)
        .count();
    Ok(ok as f64 / y_true.len() as f64)
}

/// sklearn's `confusion_matrix`: entry `[i, j]` counts samples of true class `labels[i]`
/// predicted as `labels[j]`; `labels = None` is the sorted union of both vectors. Samples
/// whose true or predicted class is not in `labels` are left out, as in sklearn.
pub fn confusion_matrix(
    y_true: &[usize],
    y_pred: &[usize],
    labels: Option<&[usize]>,
) -> Result<Array2<usize>> {
    check_pair(y_true, y_pred)?;
    let labels: Vec<usize> = match labels {
        Some([]) => {
            return Err(Error::Empty {
                what: "labels".into(),
            });
        }
        Some(l) => l.to_vec(),
        None => unique_labels(y_true, y_pred),
    };
    let mut cm = Array2::<usize>::zeros((labels.len(), labels.len()));
    for (&t, &p) in y_true.iter().zip(y_pred.iter()) {
        if let (Some(i), Some(j)) = (
            labels.iter().position(|&l| l == t),
            labels.iter().position(|&l| l == p),
        ) {
            cm[[i, j]] += 1;
        }
    }
    Ok(cm)
}

/// Area under the ROC curve of binary `positive` flags against `score` (ties count one
/// half, which is exactly the trapezoidal area of sklearn's `roc_curve`).
pub fn roc_auc_binary(positive: &[bool], score: &[f64]) -> Result<f64> {
    check_binary_scores(positive, score)?;
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    // Mann–Whitney U with mid-ranks for ties.
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            if positive[o] {
                rank_sum_pos += mid;
            }
        }
        i = j + 1;
    }
    let (np, nn) = (n_pos as f64, n_neg as f64);
    Ok((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn))
}

/// A receiver operating characteristic curve: sklearn's `roc_curve` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RocCurve {
    /// False-positive rate at each threshold, starting at 0 and ending at 1.
    pub fpr: Vec<f64>,
    /// True-positive rate at each threshold, starting at 0 and ending at 1.
    pub tpr: Vec<f64>,
    /// The score thresholds, descending; the first is `+inf` (nothing predicted positive).
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// The trapezoidal area under the curve (equal to [`roc_auc_binary`]).
    pub fn area(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(f, t)| (f[1] - f[0]) * (t[1] + t[0]) / 2.0)
            .sum()
    }
}

/// `sklearn.metrics.roc_curve(positive, score, drop_intermediate=...)`: one point per
/// distinct score (ties move together), preceded by (0, 0) at threshold `+inf`;
/// `drop_intermediate` drops points on a straight line between their neighbours, as sklearn
/// does by default. Needs positive and negative samples.
pub fn roc_curve(positive: &[bool], score: &[f64], drop_intermediate: bool) -> Result<RocCurve> {
    check_binary_scores(positive, score)?;
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    // Cumulative true and false positives at the last row of each distinct score.
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0usize;
    for (k, &i) in order.iter().enumerate() {
        tp += positive[i] as usize;
        let last_of_score = order.get(k + 1).is_none_or(|&n| score[n] != score[i]);
        if last_of_score {
            tps.push(tp);
            fps.push(k + 1 - tp);
            thresholds.push(score[i]);
        }
    }
    if drop_intermediate && fps.len() > 2 {
        let bends = |v: &[usize], j: usize| v[j - 1] + v[j + 1] != 2 * v[j];
        let keep: Vec<usize> = (0..fps.len())
            .filter(|&j| j == 0 || j + 1 == fps.len() || bends(&fps, j) || bends(&tps, j))
            .collect();
        fps = keep.iter().map(|&j| fps[j]).collect();
        tps = keep.iter().map(|&j| tps[j]).collect();
        thresholds = keep.iter().map(|&j| thresholds[j]).collect();
    }
    let (n_neg, n_pos) = (
        *fps.last().unwrap_or(&0) as f64,
        *tps.last().unwrap_or(&0) as f64,
    );
    let rate = |v: &[usize], n: f64| -> Vec<f64> {
        std::iter::once(0.0)
            .chain(v.iter().map(|&c| c as f64 / n))
            .collect()
    };
    Ok(RocCurve {
        fpr: rate(&fps, n_neg),
        tpr: rate(&tps, n_pos),
        thresholds: std::iter::once(f64::INFINITY).chain(thresholds).collect(),
    })
}

/// Same lengths, finite scores, both classes present.
fn check_binary_scores(positive: &[bool], score: &[f64]) -> Result<()> {
    if positive.len() != score.len() {
        return Err(Error::LengthMismatch {
            what: "scores vs labels".into(),
            expected: positive.len(),
            got: score.len(),
        });
    }
    if let Some(i) = score.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite {
            row: i,
            col: 0,
            value: score[i],
        });
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 || n_pos == positive.len() {
        return Err(Error::Undefined {
            reason: "a ROC curve needs both positive and negative samples".into(),
        });
    }
    Ok(())
}

/// How one-vs-rest AUCs are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AucAverage {
    /// Unweighted mean over classes (sklearn's default `average="macro"`).
    #[default]
    Macro,
    /// Weighted by class prevalence (`average="weighted"`).
    Weighted,
}

/// `roc_auc_score(y_true, proba, multi_class="ovr", average=...)`: column k of `proba`
/// scores class k. `y_true` must hold every class `0..n_columns`. With two columns this is
/// the binary AUC of column 1 (sklearn's `roc_auc_score(y_true, proba[:, 1])`). As in sklearn,
/// rows of a multi-class `proba` must sum to 1.
pub fn roc_auc_ovr(
    y_true: &[usize],
    proba: ArrayView2<'_, f64>,
    average: AucAverage,
) -> Result<f64> {
    if y_true.len() != proba.nrows() {
        return Err(Error::LengthMismatch {
            what: "rows of proba vs y_true".into(),
            expected: y_true.len(),
            got: proba.nrows(),
        });
    }
    let k = proba.ncols();
    if k < 2 {
        return Err(Error::InvalidProbabilities {
            reason: format!("need >= 2 columns, got {k}"),
        });
    }
    let counts = crate::classifier::class_counts(y_true, k);
    if let Some(&bad) = y_true.iter().find(|&&v| v >= k) {
        return Err(Error::UnknownLabel {
            label: bad,
            n_classes: k,
        });
    }
    if let Some(c) = counts.iter().position(|&c| c == 0) {
        return Err(Error::ClassMissing {
            class: c,
            n_classes: k,
            context: "roc_auc_ovr: y_true must contain every column's class".into(),
        });
    }
    if k == 2 {
        let pos: Vec<bool> = y_true.iter().map(|&v| v == 1).collect();
        return roc_auc_binary(&pos, &proba.column(1).to_vec());
    }
    for (i, r) in proba.rows().into_iter().enumerate() {
        let s = r.sum();
        // numpy.allclose(1, s): |s - 1| <= 1e-8 + 1e-5.
        if s.is_nan() || (s - 1.0).abs() > 1e-8 + 1e-5 {
            return Err(Error::InvalidProbabilities {
                reason: format!("row {i} sums to {s}, not 1"),
            });
        }
    }
    let mut aucs = Vec::with_capacity(k);
    for c in 0..k {
        let pos: Vec<bool> = y_true.iter().map(|&v| v == c).collect();
        aucs.push(roc_auc_binary(&pos, &proba.column(c).to_vec())?);
    }
    Ok(match average {
        AucAverage::Macro => aucs.iter().sum::<f64>() / k as f64,
        AucAverage::Weighted => {
            let n: usize = counts.iter().sum();
            aucs.iter()
                .zip(counts.iter())
                .map(|(a, &c)| a * c as f64)
                .sum::<f64>()
                / n as f64
        }
    })
}
