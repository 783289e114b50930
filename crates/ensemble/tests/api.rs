//! Behaviour tests: typed errors on bad input, voting rules, grid search, early stopping,
//! two-level aggregation and the contrast gate.

use ct_core::Contrast;
use ensemble::{
    Aggregate, Classifier, Error, GatedClassifier, Gbdt, GbdtParams, Importance, ReportOptions,
    StratifiedKFold, Svm, SvmParams, TwoLevel, Voting, VotingKind, aggregate_scans, grid_search,
    seed_svm_grid, svm_grid,
};
use ndarray::{Array2, ArrayView2, array};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Three Gaussian blobs in `d` dimensions, `n` per class; the first two features carry the
/// class.
fn blobs(n: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::<f64>::zeros((3 * n, d));
    let mut y = Vec::new();
    for c in 0..3 {
        for i in 0..n {
            let r = c * n + i;
            for f in 0..d {
                x[[r, f]] = rng.random::<f64>() - 0.5;
            }
            x[[r, 0]] += [0.0, 2.0, 0.0][c];
            x[[r, 1]] += [0.0, 0.0, 2.0][c];
            y.push(c);
        }
    }
    (x, y)
}

fn svm() -> Box<dyn Classifier> {
    Box::new(Svm::new(SvmParams::default()).unwrap())
}

fn gbdt() -> Box<dyn Classifier> {
    Box::new(
        Gbdt::new(GbdtParams {
            n_estimators: 20,
            ..GbdtParams::default()
        })
        .unwrap(),
    )
}

#[test]
fn bad_input_gives_typed_errors() {
    let (x, y) = blobs(10, 3, 0);
    for mut m in [svm(), gbdt()] {
        // NaN feature
        let mut xn = x.clone();
        xn[[4, 2]] = f64::NAN;
        assert!(matches!(
            m.fit(xn.view(), &y),
            Err(Error::NonFinite { row: 4, col: 2, .. })
        ));
        // mismatched lengths
        assert!(matches!(
            m.fit(x.view(), &y[1..]),
            Err(Error::LengthMismatch { .. })
        ));
        // one class only
        assert!(matches!(
            m.fit(x.slice(ndarray::s![..10, ..]), &y[..10]),
            Err(Error::SingleClass { class: 0 })
        ));
        // a class without samples (labels 0 and 2)
        let y02: Vec<usize> = y.iter().map(|&c| if c == 1 { 0 } else { c }).collect();
        assert!(matches!(
            m.fit(x.view(), &y02),
            Err(Error::ClassMissing { class: 1, .. })
        ));
        // empty
        assert!(matches!(
            m.fit(x.slice(ndarray::s![..0, ..]), &[]),
            Err(Error::Empty { .. })
        ));
        // not fitted
        assert!(matches!(m.predict(x.view()), Err(Error::NotFitted { .. })));
        m.fit(x.view(), &y).unwrap();
        assert!(matches!(
            m.predict(x.slice(ndarray::s![.., ..2])),
            Err(Error::FeatureMismatch {
                expected: 3,
                got: 2
            })
        ));
    }
    assert!(matches!(
        Svm::new(SvmParams {
            c: -1.0,
            ..SvmParams::default()
        }),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Gbdt::new(GbdtParams {
            subsample: 0.0,
            ..GbdtParams::default()
        }),
        Err(Error::InvalidParameter { .. })
    ));
    // empty grid, class missing from a fold
    let cv = StratifiedKFold::default();
    assert!(matches!(
        grid_search(&[], x.view(), &y, &cv, None),
        Err(Error::Empty { .. })
    ));
    let mut ysmall = y.clone();
    ysmall[0] = 3; // class 3 has a single sample: cannot be in 5 folds
    assert!(matches!(
        cv.split(&ysmall),
        Err(Error::ClassMissingFromFold {
            class: 3,
            count: 1,
            n_splits: 5
        })
    ));
}

#[test]
fn svm_and_gbdt_learn_blobs() {
    let (x, y) = blobs(30, 4, 1);
    let (xt, yt) = blobs(30, 4, 2);
    for mut m in [svm(), gbdt()] {
        m.fit(x.view(), &y).unwrap();
        let acc = ensemble::accuracy_score(&yt, &m.predict(xt.view()).unwrap()).unwrap();
        assert!(acc > 0.9, "{}: {acc}", m.name());
        let p = m.predict_proba(xt.view()).unwrap();
        assert_eq!(p.dim(), (90, 3));
        assert!(p.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-12));
    }
}

#[test]
fn gbdt_early_stopping_and_importance() {
    let (x, y) = blobs(30, 5, 3);
    let (xv, yv) = blobs(20, 5, 4);
    let mut m = Gbdt::new(GbdtParams {
        n_estimators: 300,
        early_stopping_rounds: Some(5),
        ..GbdtParams::default()
    })
    .unwrap();
    m.fit_with_eval(x.view(), &y, xv.view(), &yv).unwrap();
    let best = m.best_iteration().unwrap();
    assert_eq!(m.n_rounds(), best + 1);
    assert!(
        m.eval_history().len() < 300,
        "early stopping stopped nothing"
    );
    let h = m.eval_history();
    assert!(h[best] <= h.iter().cloned().fold(f64::INFINITY, f64::min));
    // Only features 0 and 1 carry the class: they hold most of the total gain.
    let imp = m.feature_importances(Importance::TotalGain).unwrap();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(imp[0] + imp[1] > 0.8, "{imp:?}");
    // Plain fit with early stopping uses a stratified hold-out.
    let mut m2 = Gbdt::new(GbdtParams {
        early_stopping_rounds: Some(3),
        ..GbdtParams::default()
    })
    .unwrap();
    m2.fit(x.view(), &y).unwrap();
    assert!(m2.best_iteration().is_some());
}

#[test]
fn gbdt_round_trips_through_json_and_rejects_damaged_models() {
    let (x, y) = blobs(30, 5, 3);
    let mut m = Gbdt::new(GbdtParams {
        n_estimators: 20,
        max_depth: 3,
        ..GbdtParams::default()
    })
    .unwrap();
    m.fit(x.view(), &y).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: Gbdt = serde_json::from_str(&json).unwrap();
    // Bit-identical probabilities: thresholds and leaves survive the text form exactly.
    let (xt, _) = blobs(50, 5, 9);
    assert_eq!(
        m.predict_proba(xt.view()).unwrap(),
        back.predict_proba(xt.view()).unwrap()
    );
    assert_eq!(back.n_rounds(), 20);

    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let damage = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v);
        serde_json::from_value::<Gbdt>(v)
            .expect_err("a damaged model must not load")
            .to_string()
    };
    // A split that links back to itself would loop forever at prediction time.
    let e = damage(&|v| v["model"]["trees"][0][0]["nodes"][0]["Split"]["left"] = 0.into());
    assert!(e.contains("links to"), "{e}");
    // A split on a feature the model does not have would index out of bounds.
    let e = damage(&|v| v["model"]["trees"][0][0]["nodes"][0]["Split"]["feature"] = 99.into());
    assert!(e.contains("feature 99"), "{e}");
    let e = damage(&|v| {
        v["model"]["trees"][1]
            .as_array_mut()
            .unwrap()
            .pop()
            .unwrap();
    });
    assert!(e.contains("trees for 3 classes"), "{e}");
    let e = damage(&|v| v["model"]["base"] = serde_json::json!([0.0]));
    assert!(e.contains("base margins"), "{e}");
    let e = damage(&|v| v["params"]["learning_rate"] = (-1.0).into());
    assert!(e.contains("learning_rate"), "{e}");
}

struct Fixed(Vec<usize>, usize);
impl Classifier for Fixed {
    fn fit(&mut self, _: ArrayView2<'_, f64>, _: &[usize]) -> ensemble::Result<()> {
        Ok(())
    }
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> ensemble::Result<Array2<f64>> {
        let mut p = Array2::zeros((x.nrows(), self.1));
        for (r, &c) in self.0.iter().enumerate() {
            p[[r, c]] = 1.0;
        }
        Ok(p)
    }
    fn n_classes(&self) -> Option<usize> {
        Some(self.1)
    }
    fn name(&self) -> &str {
        "fixed"
    }
    fn clone_unfitted(&self) -> Box<dyn Classifier> {
        Box::new(Fixed(self.0.clone(), self.1))
    }
}

#[test]
fn hard_vote_majority_and_tie_break() {
    let x = Array2::<f64>::zeros((3, 1));
    let members: Vec<Box<dyn Classifier>> = vec![
        Box::new(Fixed(vec![0, 2, 1], 3)),
        Box::new(Fixed(vec![1, 2, 2], 3)),
        Box::new(Fixed(vec![1, 0, 0], 3)),
    ];
    let v = Voting::new(members, VotingKind::Hard).unwrap();
    // row 0: 1 wins 2:1; row 1: 2 wins; row 2: 1, 2, 0 tie -> lowest class 0
    assert_eq!(v.predict(x.view()).unwrap(), vec![1, 2, 0]);
    let members: Vec<Box<dyn Classifier>> = vec![
        Box::new(Fixed(vec![0, 2, 1], 3)),
        Box::new(Fixed(vec![1, 2, 2], 3)),
        Box::new(Fixed(vec![1, 0, 0], 3)),
    ];
    let w = Voting::new(members, VotingKind::Hard)
        .unwrap()
        .with_weights(vec![3.0, 1.0, 1.0])
        .unwrap();
    assert_eq!(w.predict(x.view()).unwrap(), vec![0, 2, 1]);
}

#[test]
fn soft_vote_is_weighted_mean() {
    let (x, y) = blobs(20, 3, 5);
    let mut v = Voting::new(vec![svm(), gbdt()], VotingKind::Soft)
        .unwrap()
        .with_weights(vec![1.0, 3.0])
        .unwrap();
    v.fit(x.view(), &y).unwrap();
    let p = v.predict_proba(x.view()).unwrap();
    let p0 = v.members()[0].predict_proba(x.view()).unwrap();
    let p1 = v.members()[1].predict_proba(x.view()).unwrap();
    let want = (&p0 * 1.0 + &p1 * 3.0) / 4.0;
    assert!(
        p.iter()
            .zip(want.iter())
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );
    assert!(matches!(
        Voting::new(vec![svm()], VotingKind::Soft)
            .unwrap()
            .with_weights(vec![1.0, 2.0]),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn grid_search_scores_every_cell() {
    let (x, y) = blobs(15, 3, 6);
    let grid = seed_svm_grid(&SvmParams::default()).unwrap();
    assert_eq!(grid.len(), 36);
    assert_eq!(
        grid[1].params,
        vec![
            ("C".to_string(), "0.001".to_string()),
            ("gamma".to_string(), "0.01".to_string())
        ]
    );
    let small = svm_grid(
        &[0.01, 10.0],
        &[ensemble::Gamma::Value(0.01), ensemble::Gamma::Scale],
        &SvmParams::default(),
    )
    .unwrap();
    let r = grid_search(
        &small,
        x.view(),
        &y,
        &StratifiedKFold {
            shuffle: true,
            seed: 1,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(r.cells.len(), 4);
    for c in &r.cells {
        assert_eq!(c.fold_scores.len(), 5);
        let m = c.fold_scores.iter().sum::<f64>() / 5.0;
        assert!((m - c.mean).abs() < 1e-15 && c.std >= 0.0);
    }
    assert_eq!(r.cells[r.best_index].rank, 1);
    assert!(r.best_score() >= r.cells.iter().map(|c| c.mean).fold(0.0, f64::max));
    // Best = the first cell (grid order) with the highest mean, like sklearn's best_index_.
    let top = r.cells.iter().map(|c| c.mean).fold(0.0, f64::max);
    assert_eq!(
        r.best_index,
        r.cells.iter().position(|c| c.mean == top).unwrap()
    );
    assert_eq!(r.best_params(), &r.cells[r.best_index].params[..]);
    assert!(r.best_model.predict(x.view()).is_ok());
}

#[test]
fn aggregates_match_numpy() {
    let scan = array![[1.0, 10.0], [4.0, 0.0], [2.0, 5.0], [3.0, 7.0]];
    let f = aggregate_scans(
        &[scan.view()],
        &[
            Aggregate::Mean,
            Aggregate::Max,
            Aggregate::Quantile(0.25),
            Aggregate::Quantile(0.9),
            Aggregate::TopKMean(2),
        ],
    )
    .unwrap();
    // numpy: mean [2.5, 5.5], max [4, 10], quantile .25 [1.75, 3.75], .9 [3.7, 9.1], top-2 [3.5, 8.5]
    let want = [2.5, 5.5, 4.0, 10.0, 1.75, 3.75, 3.7, 9.1, 3.5, 8.5];
    for (a, b) in f.row(0).iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert!(matches!(
        aggregate_scans(&[scan.view()], &[Aggregate::Quantile(1.5)]),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn two_level_and_gate() {
    // 30 scans of 5..12 slices with 3 slice features whose level depends on the class.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut scans = Vec::new();
    let mut y = Vec::new();
    for s in 0..45 {
        let c = s % 3;
        let n = rng.random_range(5..12);
        let mut m = Array2::<f64>::zeros((n, 3));
        for v in m.iter_mut() {
            *v = rng.random::<f64>();
        }
        m.column_mut(c).mapv_inplace(|v| v + 1.0);
        scans.push(m);
        y.push(c);
    }
    let views: Vec<_> = scans.iter().map(|m| m.view()).collect();
    let mut tl = TwoLevel::svm_gbdt_soft(
        SvmParams::default(),
        GbdtParams {
            n_estimators: 20,
            ..Default::default()
        },
    )
    .unwrap();
    tl.fit(&views, &y).unwrap();
    let acc = ensemble::accuracy_score(&y, &tl.predict(&views).unwrap()).unwrap();
    assert!(acc > 0.9, "two-level accuracy {acc}");
    assert_eq!(tl.features(&views).unwrap().ncols(), 18);

    let feats = tl.features(&views).unwrap();
    let groups: Vec<Contrast> = (0..45)
        .map(|i| {
            if i < 24 {
                Contrast::High
            } else {
                Contrast::Low
            }
        })
        .collect();
    let mut gate =
        GatedClassifier::new([(Contrast::High, svm()), (Contrast::Low, gbdt())]).unwrap();
    gate.fit(feats.view(), &y, &groups).unwrap();
    let rep = gate
        .report(feats.view(), &y, &groups, &ReportOptions::ct_labels())
        .unwrap();
    assert_eq!(rep.groups.len(), 2);
    assert_eq!(rep.groups[0].0, Contrast::High);
    assert_eq!(rep.groups[0].1.macro_avg.support, 24);
    assert!(rep.overall.to_string().contains("COVID-19"));
    // The low group's rows come from its own model.
    let low: Vec<usize> = (24..45).collect();
    let pl = gate
        .model(&Contrast::Low)
        .unwrap()
        .predict_proba(feats.select(ndarray::Axis(0), &low).view())
        .unwrap();
    let pg = gate.predict_proba(feats.view(), &groups).unwrap();
    assert_eq!(pg.row(30), pl.row(6));
    let only_high = GatedClassifier::new([(Contrast::High, svm())]).unwrap();
    assert!(matches!(
        only_high.predict(feats.view(), &groups),
        Err(Error::NoModelForGroup { .. })
    ));
}

#[test]
fn svm_and_gated_models_round_trip_through_json_and_refuse_damage() {
    let (x, y) = blobs(20, 4, 5);
    let mut m = Svm::new(SvmParams {
        seed: 3,
        ..SvmParams::default()
    })
    .unwrap();
    m.fit(x.view(), &y).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: Svm = serde_json::from_str(&json).unwrap();
    let (xt, _) = blobs(30, 4, 11);
    // Bit-identical: every number survives the text form, the derived norms are recomputed.
    assert_eq!(
        m.predict_proba(xt.view()).unwrap(),
        back.predict_proba(xt.view()).unwrap()
    );
    assert_eq!(
        m.decision_function(xt.view()).unwrap(),
        back.decision_function(xt.view()).unwrap()
    );

    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let damage = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v);
        serde_json::from_value::<Svm>(v)
            .expect_err("a damaged model must not load")
            .to_string()
    };
    let e = damage(&|v| v["model"]["n_features"] = 7.into());
    assert!(e.contains("expected 7 features"), "{e}");
    let e = damage(&|v| v["model"]["rho"] = serde_json::json!([0.0]));
    assert!(e.contains("binary problems"), "{e}");
    let e = damage(&|v| v["model"]["gamma"] = serde_json::json!(-1.0));
    assert!(e.contains("gamma"), "{e}");
    let e = damage(&|v| v["params"]["c"] = serde_json::json!(0.0));
    assert!(e.contains("C"), "{e}");

    // A gate over concrete models saves and loads as a whole.
    let groups: Vec<Contrast> = (0..y.len())
        .map(|i| {
            if i % 2 == 0 {
                Contrast::High
            } else {
                Contrast::Low
            }
        })
        .collect();
    let fresh = || Svm::new(SvmParams::default()).unwrap();
    let mut gate =
        GatedClassifier::new([(Contrast::High, fresh()), (Contrast::Low, fresh())]).unwrap();
    gate.fit(x.view(), &y, &groups).unwrap();
    let json = serde_json::to_string(&gate).unwrap();
    assert!(
        json.contains("\"high\"") && json.contains("\"low\""),
        "{json:.80}"
    );
    let back: GatedClassifier<Contrast, Svm> = serde_json::from_str(&json).unwrap();
    let gt: Vec<Contrast> = (0..xt.nrows())
        .map(|i| {
            if i % 3 == 0 {
                Contrast::Low
            } else {
                Contrast::High
            }
        })
        .collect();
    assert_eq!(
        gate.predict_proba(xt.view(), &gt).unwrap(),
        back.predict_proba(xt.view(), &gt).unwrap()
    );
    assert_eq!(back.groups().count(), 2);
}
