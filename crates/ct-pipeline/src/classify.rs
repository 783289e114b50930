//! Subject-level classification: stratified split, contrast gate, per-group SVM + gradient-
//! boosted trees with grid search and soft voting, stratified k-fold and the held-out test.
//!
//! First-level models plug in as feature sources: every [`ScanRecord`] carries a feature
//! vector, and a CNN stage appends its per-scan outputs (aggregated slice probabilities or
//! embeddings) to it before this stage runs.

use std::collections::BTreeMap;

use ct_core::{Contrast, Label};
use ct_enhance::{ContrastGate, GrayGate, ScanDecision};
use ensemble::{
    AucAverage, ClassificationReport, Gamma, GatedClassifier, Gbdt, GbdtParams, ReportOptions,
    RocCurve, SEED_GRID_C, SEED_GRID_GAMMA, StratifiedKFold, Svm, SvmParams, VotingKind,
    classification_report, confusion_matrix, grid_search, roc_auc_ovr, roc_curve, svm_grid,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::{FeatureSet, PipelineConfig};
use crate::feature_model::{
    FeatureModel, SvmTrees, blend, hard_vote, member_proba, route, with_gate_column,
};
use crate::preprocess::ScanRecord;
use crate::scan_model::{ScanModel, ScanRecipe, choose_weight};
use crate::{Error, Result};

/// Cross-validated grid cell of the SVM.
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    /// C.
    pub c: f64,
    /// gamma.
    pub gamma: f64,
    /// Mean fold accuracy.
    pub mean: f64,
    /// Standard deviation over folds.
    pub std: f64,
}

/// The model chosen for one contrast group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupModel {
    /// The group (`None`: the ungated model).
    pub group: Option<Contrast>,
    /// Training subjects.
    pub n_train: usize,
    /// The SVM's C and gamma.
    pub svm_c: f64,
    /// The SVM's gamma (`None`: `scale`).
    pub svm_gamma: Option<f64>,
    /// Every grid cell (empty without grid search).
    pub grid: Vec<GridCell>,
}

/// Gate evaluation on the test split.
#[derive(Debug, Clone, Serialize)]
pub struct GateSummary {
    /// The fitted gate (statistic, threshold, direction).
    pub fitted: ContrastGate,
    /// Its accuracy on the training subjects.
    pub fitted_train_accuracy: f64,
    /// Its accuracy on the test subjects.
    pub fitted_test_accuracy: f64,
    /// The seed's gray gate (threshold fitted on training subjects) on the test subjects.
    pub graygate_test_accuracy: f64,
    /// The gray gate's fitted threshold.
    pub graygate_threshold: usize,
}

/// A contrast gate found in the training subjects' contrast statistics alone (the data set
/// has no contrast groups), or the finding that they form one group.
#[derive(Debug, Clone, Serialize)]
pub struct UnsupervisedGate {
    /// The gate (`None`: one contrast group; every scan goes to one model).
    pub gate: Option<ContrastGate>,
    /// The best two-group split seen (`None`: no statistic varies).
    pub separation: Option<ct_enhance::Separation>,
    /// Required share of variance between the groups ([`ct_enhance::MIN_SEPARATION`]).
    pub min_separation: f64,
}

impl UnsupervisedGate {
    /// One sentence for the report and the log.
    pub fn describe(&self) -> String {
        let sep = |s: &ct_enhance::Separation| {
            format!(
                "{:?} splits the training scans {}/{} (high/low) with η = {:.2}",
                s.feature, s.n_high, s.n_low, s.eta
            )
        };
        match (&self.gate, &self.separation) {
            (Some(_), Some(s)) => format!(
                "no contrast labels: a gate was found without them ({}; η ≥ {:.2} required)",
                sep(s),
                self.min_separation
            ),
            (None, Some(s)) => format!(
                "no contrast labels and no clear two groups ({}; η ≥ {:.2} required): one \
                 contrast group, one model",
                sep(s),
                self.min_separation
            ),
            _ => "no contrast labels and no varying contrast statistic: one contrast group, \
                  one model"
                .to_string(),
        }
    }
}

/// Everything the classification stage reports.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyOutput {
    /// Ids of the test subjects.
    pub test_ids: Vec<String>,
    /// Predicted class per test subject.
    pub test_pred: Vec<usize>,
    /// True class per test subject.
    pub test_true: Vec<usize>,
    /// Soft-vote probabilities per test subject (Normal, CAP, COVID-19).
    pub test_proba: Vec<Vec<f64>>,
    /// Accuracy on the test split.
    pub accuracy: f64,
    /// Macro one-vs-rest ROC-AUC on the test split.
    pub roc_auc: Option<f64>,
    /// The test report over all subjects.
    pub report: ClassificationReport,
    /// The test report per true contrast group.
    pub by_contrast: BTreeMap<String, ClassificationReport>,
    /// Test confusion matrix (rows true, columns predicted).
    pub confusion: Vec<Vec<usize>>,
    /// Confusion matrix per contrast group.
    pub confusion_by_contrast: BTreeMap<String, Vec<Vec<usize>>>,
    /// Stratified k-fold accuracy on the training subjects: per fold.
    pub cv_folds: Vec<f64>,
    /// Mean of `cv_folds`.
    pub cv_mean: f64,
    /// Standard deviation of `cv_folds`.
    pub cv_std: f64,
    /// Why the k-fold used fewer folds than asked (a class with fewer training subjects).
    pub cv_note: Option<String>,
    /// The gate, when contrast groups are known.
    pub gate: Option<GateSummary>,
    /// The gate found without contrast labels, when the data set has none.
    pub unsupervised_gate: Option<UnsupervisedGate>,
    /// The final models.
    pub models: Vec<GroupModel>,
    /// The pretrained scan model's part (`None`: not used).
    pub scan_model: Option<ScanModelUse>,
    /// Soft or hard voting.
    pub vote: VotingKind,
    /// One-vs-rest ROC curves of the test split: under `all`, and per true contrast group
    /// when the groups are known. A class without positives or negatives in a group has none.
    pub roc_curves: BTreeMap<String, Vec<ClassRoc>>,
}

/// One class's one-vs-rest ROC curve on the test split.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRoc {
    /// The class's name.
    pub class: String,
    /// The area under the curve.
    pub auc: f64,
    /// The curve (sklearn's `roc_curve`, intermediate points dropped).
    pub curve: RocCurve,
}

/// The one-vs-rest ROC curves of `proba` (columns Normal, CAP, COVID-19) for the rows `idx`.
fn class_rocs(y: &[usize], proba: &Array2<f64>, idx: &[usize]) -> Vec<ClassRoc> {
    Label::ALL
        .iter()
        .filter_map(|l| {
            let positive: Vec<bool> = idx.iter().map(|&i| y[i] == l.index()).collect();
            let score: Vec<f64> = idx.iter().map(|&i| proba[[i, l.index()]]).collect();
            let curve = roc_curve(&positive, &score, true).ok()?;
            Some(ClassRoc {
                class: l.name().to_string(),
                auc: curve.area(),
                curve,
            })
        })
        .collect()
}

/// The columns of a feature table (named `names`) that the classifiers see under `set`.
pub fn classifier_columns(names: &[String], set: FeatureSet) -> Vec<usize> {
    let is_detector = |n: &str| crate::lesion_detector::LESION_FEATURE_NAMES.contains(&n);
    let is_pattern = |n: &str| {
        crate::lesion_patterns::PATTERN_FEATURE_NAMES.contains(&n)
            || crate::lesion_patterns::FOCUS_SCAN_FEATURE_NAMES.contains(&n)
    };
    let keep = |n: &str| match set {
        FeatureSet::All => true,
        FeatureSet::Lesion => is_detector(n) || is_pattern(n),
        FeatureSet::Detector => is_detector(n),
        FeatureSet::Pattern => is_pattern(n),
        FeatureSet::Radiomic => !is_detector(n) && !is_pattern(n),
    };
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| keep(n))
        .map(|(j, _)| j)
        .collect()
}

/// How the pretrained scan model ([`crate::scan_model`]) took part in a run.
#[derive(Debug, Clone, Serialize)]
pub struct ScanModelUse {
    /// `shipped` or the file it was read from.
    pub source: String,
    /// Its training cohort.
    pub recipe: ScanRecipe,
    /// Its share of the soft vote, chosen from [`crate::scan_model::SCAN_WEIGHTS`] by the
    /// k-fold log-loss on the training subjects (the run's own models get the rest).
    pub weight: f64,
    /// `(weight, k-fold log-loss)` for every weight tried.
    pub log_loss: Vec<(f64, f64)>,
    /// k-fold accuracy of the run's own models alone (weight 0).
    pub cv_mean_without: f64,
    /// Accuracy of the scan model alone on the run's training subjects (which it never saw).
    pub train_accuracy_alone: f64,
    /// Test accuracy of the scan model alone.
    pub test_accuracy_alone: f64,
    /// Test accuracy of the run's own models alone.
    pub test_accuracy_without: f64,
}

/// The scan model's probabilities for the training and test subjects and its chosen weight.
struct ScanPart<'a> {
    train_proba: Array2<f64>,
    test_proba: Array2<f64>,
    weight: f64,
    log_loss: Vec<(f64, f64)>,
    recipe: ScanRecipe,
    source: &'a str,
}

/// Stratified split on `(label, contrast)`: returns (train, test) indices into `records`.
pub fn split(records: &[&ScanRecord], test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut strata: BTreeMap<(usize, Option<Contrast>), Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        strata
            .entry((r.label.map_or(9, Label::index), r.contrast))
            .or_default()
            .push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut idx) in strata {
        idx.shuffle(&mut rng);
        let k = if idx.len() >= 2 {
            ((idx.len() as f64 * test_fraction).round() as usize).clamp(1, idx.len() - 1)
        } else {
            0
        };
        test.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

fn rows(x: &Array2<f64>, idx: &[usize]) -> Array2<f64> {
    x.select(ndarray::Axis(0), idx)
}

fn min_class_count(y: &[usize]) -> usize {
    let mut c = [0usize; 3];
    for &v in y {
        c[v] += 1;
    }
    c.iter().copied().filter(|&n| n > 0).min().unwrap_or(0)
}

/// SVM (grid-searched over the seed's C × gamma grid when `grid`) + trees, soft vote.
fn build_model(
    x: &Array2<f64>,
    y: &[usize],
    cfg: &PipelineConfig,
    group: Option<Contrast>,
) -> Result<(SvmTrees, GroupModel)> {
    let folds = min_class_count(y).min(cfg.folds);
    let mut info = GroupModel {
        group,
        n_train: y.len(),
        svm_c: 10.0,
        svm_gamma: None,
        grid: Vec::new(),
    };
    if cfg.grid && folds >= 2 {
        let gammas: Vec<Gamma> = SEED_GRID_GAMMA.iter().map(|&g| Gamma::Value(g)).collect();
        let base = SvmParams {
            probability: false,
            seed: cfg.seed,
            ..SvmParams::default()
        };
        let cands = svm_grid(&SEED_GRID_C, &gammas, &base)?;
        let cv = StratifiedKFold {
            n_splits: folds,
            shuffle: true,
            seed: cfg.seed,
        };
        let res = grid_search(&cands, x.view(), y, &cv, None)?;
        for (k, cell) in res.cells.iter().enumerate() {
            info.grid.push(GridCell {
                c: SEED_GRID_C[k / SEED_GRID_GAMMA.len()],
                gamma: SEED_GRID_GAMMA[k % SEED_GRID_GAMMA.len()],
                mean: cell.mean,
                std: cell.std,
            });
        }
        let b = res.best_index;
        info.svm_c = SEED_GRID_C[b / SEED_GRID_GAMMA.len()];
        info.svm_gamma = Some(SEED_GRID_GAMMA[b % SEED_GRID_GAMMA.len()]);
    }
    let svm = Svm::new(SvmParams {
        c: info.svm_c,
        gamma: info.svm_gamma.map_or(Gamma::Scale, Gamma::Value),
        probability: true,
        seed: cfg.seed,
        ..SvmParams::default()
    })?;
    let gbdt = Gbdt::new(GbdtParams {
        n_estimators: cfg.gbdt_rounds,
        max_depth: 3,
        learning_rate: 0.1,
        subsample: 0.9,
        colsample_bytree: 0.8,
        seed: cfg.seed,
        ..GbdtParams::default()
    })?;
    Ok((SvmTrees { svm, trees: gbdt }, info))
}

/// Fits the gated model (one per contrast group present, falling back to one ungated model
/// when a group lacks a class) and returns it with its description.
fn fit_gated(
    x: &Array2<f64>,
    y: &[usize],
    groups: &[Contrast],
    cfg: &PipelineConfig,
) -> Result<(GatedClassifier<Contrast, SvmTrees>, Vec<GroupModel>)> {
    let mut models = Vec::new();
    let mut infos = Vec::new();
    let mut gated_ok = true;
    for g in Contrast::ALL {
        if !cfg.gated_models {
            gated_ok = false;
            break;
        }
        let idx: Vec<usize> = (0..y.len()).filter(|&i| groups[i] == g).collect();
        let yg: Vec<usize> = idx.iter().map(|&i| y[i]).collect();
        let classes = yg.iter().collect::<std::collections::BTreeSet<_>>().len();
        if idx.is_empty() {
            continue;
        }
        if classes < 3 || min_class_count(&yg) < 2 {
            gated_ok = false;
            break;
        }
        let (m, info) = build_model(&rows(x, &idx), &yg, cfg, Some(g))?;
        models.push((g, m));
        infos.push(info);
    }
    if gated_ok && !models.is_empty() {
        let mut gc = GatedClassifier::new(models)?;
        gc.fit(x.view(), y, groups)?;
        return Ok((gc, infos));
    }
    // Ungated: one model for every subject, registered under `High`; `route` sends every
    // group to it.
    let (m, info) = build_model(x, y, cfg, None)?;
    let mut gc = GatedClassifier::new([(Contrast::High, m)])?;
    gc.fit(x.view(), y, &vec![Contrast::High; y.len()])?;
    Ok((gc, vec![info]))
}

fn accuracy(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// The contrast gate fitted on the training subjects' known groups, and the seed's gray gate
/// beside it, each scored on the test subjects.
fn fit_gate(
    recs: &[&ScanRecord],
    (train, test): (&[usize], &[usize]),
    truth_groups: &[Contrast],
) -> Result<GateSummary> {
    let samples: Vec<_> = train
        .iter()
        .map(|&i| (recs[i].contrast_stats, truth_groups[i]))
        .collect();
    let (fitted, train_acc) = ContrastGate::fit(&samples)?;
    let routed: Vec<Contrast> = test
        .iter()
        .map(|&i| fitted.classify(&recs[i].contrast_stats))
        .collect();
    let gg_train: Vec<(Vec<usize>, Contrast)> = train
        .iter()
        .map(|&i| (recs[i].graygate_counts.clone(), truth_groups[i]))
        .collect();
    let gray = GrayGate::fit(ScanDecision::Majority, &gg_train)?;
    let gray_pred: Vec<Contrast> = test
        .iter()
        .map(|&i| gray.decide(&recs[i].graygate_counts))
        .collect();
    let acc = |p: &[Contrast]| {
        let right = p
            .iter()
            .zip(test)
            .filter(|(a, i)| **a == truth_groups[**i])
            .count();
        right as f64 / p.len().max(1) as f64
    };
    Ok(GateSummary {
        fitted,
        fitted_train_accuracy: train_acc,
        fitted_test_accuracy: acc(&routed),
        graygate_test_accuracy: acc(&gray_pred),
        graygate_threshold: gray.threshold,
    })
}

/// The gate of a data set without contrast labels, from its training subjects.
fn unsupervised_gate(recs: &[&ScanRecord], train: &[usize]) -> Result<UnsupervisedGate> {
    let stats: Vec<_> = train.iter().map(|&i| recs[i].contrast_stats).collect();
    let (gate, separation) = ContrastGate::fit_unsupervised(&stats)?;
    Ok(UnsupervisedGate {
        gate,
        separation,
        min_separation: ct_enhance::MIN_SEPARATION,
    })
}

/// Runs the classification stage on labelled records. `scan`: the pretrained scan model and
/// where it came from (`shipped` or its file), to join the vote. Returns the report and the
/// fitted model (trained on the training split; its test probabilities are the report's).
pub fn classify(
    all: &[ScanRecord],
    cfg: &PipelineConfig,
    scan: Option<(&ScanModel, &str)>,
) -> Result<(ClassifyOutput, FeatureModel)> {
    let recs: Vec<&ScanRecord> = all.iter().filter(|r| r.label.is_some()).collect();
    if recs.len() < 6 {
        return Err(Error::NotEnoughData(format!(
            "only {} labelled scans; classification needs at least 6",
            recs.len()
        )));
    }
    let names = crate::preprocess::feature_names(cfg);
    let cols = classifier_columns(&names, cfg.classifier_features);
    if let Some(r) = recs.iter().find(|r| r.features.len() != names.len()) {
        return Err(Error::Inconsistent(format!(
            "{} has {} features, the table names {}",
            r.id,
            r.features.len(),
            names.len()
        )));
    }
    let x = Array2::from_shape_fn((recs.len(), cols.len()), |(i, j)| recs[i].features[cols[j]]);
    let y: Vec<usize> = recs
        .iter()
        .map(|r| r.label.map_or(0, Label::index))
        .collect();
    let known_contrast = recs.iter().all(|r| r.contrast.is_some());
    let truth_groups: Vec<Contrast> = recs
        .iter()
        .map(|r| r.contrast.unwrap_or(Contrast::High))
        .collect();

    let (train, test) = split(&recs, cfg.test_fraction, cfg.seed);
    let xtr = rows(&x, &train);
    let ytr: Vec<usize> = train.iter().map(|&i| y[i]).collect();
    let yte: Vec<usize> = test.iter().map(|&i| y[i]).collect();
    let gte_true: Vec<Contrast> = test.iter().map(|&i| truth_groups[i]).collect();

    // The gate: fitted on the training subjects' known groups, applied to the test subjects;
    // without known groups, found in the training subjects' contrast statistics.
    let gate = if known_contrast {
        Some(fit_gate(&recs, (&train, &test), &truth_groups)?)
    } else {
        None
    };
    let unsupervised = if known_contrast {
        None
    } else {
        Some(unsupervised_gate(&recs, &train)?)
    };
    let fitted_gate = gate
        .as_ref()
        .map(|g| g.fitted)
        .or(unsupervised.as_ref().and_then(|u| u.gate));
    let gtr: Vec<Contrast> = train
        .iter()
        .map(|&i| match (&gate, &fitted_gate) {
            (Some(_), _) => truth_groups[i],
            (None, Some(g)) => g.classify(&recs[i].contrast_stats),
            (None, None) => Contrast::High,
        })
        .collect();

    // One model for both groups: the group (known for training subjects, the gate's
    // decision for test subjects) becomes a feature column.
    let gate_column = !cfg.gated_models && fitted_gate.is_some();
    let xtr = if gate_column {
        with_gate_column(&xtr, &gtr)
    } else {
        xtr
    };

    // Stratified k-fold on the training subjects (gated by their known groups).
    let smallest = min_class_count(&ytr);
    let k = smallest.min(cfg.folds).max(2);
    let cv_note = (smallest < cfg.folds).then(|| {
        format!(
            "k-fold with {k} folds instead of {}: the smallest class has {smallest} training \
             subject(s)",
            cfg.folds
        )
    });
    let cv = StratifiedKFold {
        n_splits: k,
        shuffle: true,
        seed: cfg.seed,
    };
    let folds = cv.split(&ytr)?;
    let mut oof = Array2::<f64>::zeros((ytr.len(), 3));
    // The SVM's and the trees' own out-of-fold probabilities, for the hard vote.
    let mut oof_members = [oof.clone(), oof.clone()];
    for (tr, va) in &folds {
        let xa = rows(&xtr, tr);
        let ya: Vec<usize> = tr.iter().map(|&i| ytr[i]).collect();
        let ga: Vec<Contrast> = tr.iter().map(|&i| gtr[i]).collect();
        let (m, _) = fit_gated(&xa, &ya, &ga, cfg)?;
        let xv = rows(&xtr, va);
        let gv: Vec<Contrast> = va.iter().map(|&i| route(&m, gtr[i])).collect();
        let p = m.predict_proba(xv.view(), &gv)?;
        for (k, &i) in va.iter().enumerate() {
            oof.row_mut(i).assign(&p.row(k));
        }
        if cfg.vote == VotingKind::Hard {
            let members = member_proba(&m, xv.view(), &gv)?;
            for (all, fold) in oof_members.iter_mut().zip(&members) {
                for (k, &i) in va.iter().enumerate() {
                    all.row_mut(i).assign(&fold.row(k));
                }
            }
        }
    }
    let fold_accuracy = |p: &Array2<f64>| -> Vec<f64> {
        let pred = ensemble::argmax_rows(p);
        folds
            .iter()
            .map(|(_, va)| {
                let a: Vec<usize> = va.iter().map(|&i| pred[i]).collect();
                let b: Vec<usize> = va.iter().map(|&i| ytr[i]).collect();
                accuracy(&a, &b)
            })
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // The pretrained scan model: its probabilities for every subject (it was trained on
    // another cohort, so the training subjects are unseen too) and its weight in the vote,
    // chosen by the k-fold log-loss of the blend on the training subjects.
    let scan_part = match scan {
        None => None,
        Some((model, source)) => {
            let sc = model.columns(&names)?;
            let xs =
                Array2::from_shape_fn((recs.len(), sc.len()), |(i, j)| recs[i].features[sc[j]]);
            let ps = model.predict_proba(xs.view())?;
            let train_proba = rows(&ps, &train);
            let (weight, log_loss) = choose_weight(oof.view(), train_proba.view(), &ytr);
            Some(ScanPart {
                train_proba,
                test_proba: rows(&ps, &test),
                weight,
                log_loss,
                recipe: model.recipe.clone(),
                source,
            })
        }
    };
    // The scan model's weight is chosen on the soft blend's log-loss under either vote; the
    // hard vote then counts the members' classes at those weights.
    let [oof_svm, oof_trees] = &oof_members;
    let (cv_without, cv_folds) = match cfg.vote {
        VotingKind::Soft => {
            let without = fold_accuracy(&oof);
            let with = match &scan_part {
                Some(p) => fold_accuracy(&(&oof * (1.0 - p.weight) + &p.train_proba * p.weight)),
                None => without.clone(),
            };
            (without, with)
        }
        VotingKind::Hard => (
            fold_accuracy(&hard_vote(oof_svm, oof_trees, None, 0.0)),
            fold_accuracy(&match &scan_part {
                Some(p) => hard_vote(oof_svm, oof_trees, Some(&p.train_proba), p.weight),
                None => hard_vote(oof_svm, oof_trees, None, 0.0),
            }),
        ),
    };
    let cv_mean = mean(&cv_folds);
    let cv_std = (cv_folds.iter().map(|a| (a - cv_mean).powi(2)).sum::<f64>()
        / cv_folds.len() as f64)
        .sqrt();

    // Final model on all training subjects; the test subjects are routed by the gate.
    let (fitted, models) = fit_gated(&xtr, &ytr, &gtr, cfg)?;
    let model = FeatureModel {
        columns: cols.iter().map(|&j| names[j].clone()).collect(),
        gate: fitted_gate,
        gate_column,
        models: fitted,
        scan_weight: scan_part.as_ref().map_or(0.0, |p| p.weight),
        vote: cfg.vote,
    };
    let test_recs: Vec<&ScanRecord> = test.iter().map(|&i| recs[i]).collect();
    let local = model.local_proba(&test_recs, &names)?;
    let (proba, scan_model) = match scan_part {
        None => (local, None),
        Some(p) => {
            let acc = |q: &Array2<f64>, y: &[usize]| accuracy(&ensemble::argmax_rows(q), y);
            let used = ScanModelUse {
                source: p.source.to_string(),
                recipe: p.recipe,
                weight: p.weight,
                log_loss: p.log_loss,
                cv_mean_without: mean(&cv_without),
                train_accuracy_alone: acc(&p.train_proba, &ytr),
                test_accuracy_alone: acc(&p.test_proba, &yte),
                test_accuracy_without: acc(&local, &yte),
            };
            let proba = match cfg.vote {
                VotingKind::Soft => blend(local, Some(&p.test_proba), p.weight),
                VotingKind::Hard => model.predict_proba(&test_recs, &names, Some(&p.test_proba))?,
            };
            (proba, Some(used))
        }
    };
    let pred = ensemble::argmax_rows(&proba);
    let opts = ReportOptions::ct_labels();
    let report = classification_report(&yte, &pred, &opts)?;
    let labels = [0usize, 1, 2];
    let cm = |t: &[usize], p: &[usize]| -> Result<Vec<Vec<usize>>> {
        Ok(confusion_matrix(t, p, Some(&labels))?
            .outer_iter()
            .map(|r| r.to_vec())
            .collect())
    };
    let mut by_contrast = BTreeMap::new();
    let mut confusion_by_contrast = BTreeMap::new();
    if known_contrast {
        for g in Contrast::ALL {
            let idx: Vec<usize> = (0..yte.len()).filter(|&i| gte_true[i] == g).collect();
            if idx.is_empty() {
                continue;
            }
            let t: Vec<usize> = idx.iter().map(|&i| yte[i]).collect();
            let p: Vec<usize> = idx.iter().map(|&i| pred[i]).collect();
            by_contrast.insert(g.name().to_string(), classification_report(&t, &p, &opts)?);
            confusion_by_contrast.insert(g.name().to_string(), cm(&t, &p)?);
        }
    }
    let roc_auc = roc_auc_ovr(&yte, proba.view(), AucAverage::Macro).ok();
    let mut roc_curves = BTreeMap::new();
    roc_curves.insert(
        "all".to_string(),
        class_rocs(&yte, &proba, &(0..yte.len()).collect::<Vec<_>>()),
    );
    if known_contrast {
        for g in Contrast::ALL {
            let idx: Vec<usize> = (0..yte.len()).filter(|&i| gte_true[i] == g).collect();
            let rocs = class_rocs(&yte, &proba, &idx);
            if !rocs.is_empty() {
                roc_curves.insert(g.name().to_string(), rocs);
            }
        }
    }
    let out = ClassifyOutput {
        test_ids: test.iter().map(|&i| recs[i].id.clone()).collect(),
        accuracy: accuracy(&pred, &yte),
        roc_auc,
        report,
        by_contrast,
        confusion: cm(&yte, &pred)?,
        confusion_by_contrast,
        test_pred: pred,
        test_true: yte,
        test_proba: proba.outer_iter().map(|r| r.to_vec()).collect(),
        cv_folds,
        cv_mean,
        cv_std,
        cv_note,
        gate,
        unsupervised_gate: unsupervised,
        models,
        scan_model,
        vote: cfg.vote,
        roc_curves,
    };
    Ok((out, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radiomic_and_lesion_columns_split_the_table() {
        let cfg = PipelineConfig::default();
        let names = crate::preprocess::feature_names(&cfg);
        let cols = |set| classifier_columns(&names, set);
        let (radiomic, lesion) = (cols(FeatureSet::Radiomic), cols(FeatureSet::Lesion));
        assert!(!radiomic.is_empty() && !lesion.is_empty());
        assert!(radiomic.iter().all(|j| !lesion.contains(j)), "disjoint");
        assert_eq!(radiomic.len() + lesion.len(), cols(FeatureSet::All).len());
        // No learned model's output among the radiomic columns.
        assert!(radiomic.iter().all(|&j| {
            let n = names[j].as_str();
            !crate::lesion_detector::LESION_FEATURE_NAMES.contains(&n) && !n.starts_with("cnn_")
        }));
        assert!(radiomic.iter().any(|&j| names[j] == "clahe_lung_mean"));
    }
}
