//! Golden tests against scikit-learn 1.7.2 and XGBoost 3.1.1 on data sets shipped with
//! scikit-learn. Fixtures: `tools/ensemble/make_goldens.py`.

use std::fs::File;
use std::path::PathBuf;

use ensemble::{
    AucAverage, Classifier, Gamma, Gbdt, GbdtParams, ReportOptions, StandardScaler,
    StratifiedKFold, Svm, SvmParams, ZeroDivision, accuracy_score, classification_report,
    confusion_matrix, roc_auc_ovr,
};
use ndarray::{Array1, Array2};
use ndarray_npy::ReadNpyExt;
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn golden() -> Value {
    serde_json::from_reader(File::open(data("golden.json")).unwrap()).unwrap()
}

fn x(name: &str) -> Array2<f64> {
    let f = File::open(data(name)).unwrap();
    if name.starts_with("digits") {
        Array2::<u8>::read_npy(f).unwrap().mapv(f64::from)
    } else {
        Array2::<f64>::read_npy(f).unwrap()
    }
}

fn y(name: &str) -> Vec<usize> {
    Array1::<i64>::read_npy(File::open(data(name)).unwrap())
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect()
}

struct Split {
    xtr: Array2<f64>,
    ytr: Vec<usize>,
    xte: Array2<f64>,
    yte: Vec<usize>,
}

fn split(name: &str) -> Split {
    Split {
        xtr: x(&format!("{name}_xtr.npy")),
        ytr: y(&format!("{name}_ytr.npy")),
        xte: x(&format!("{name}_xte.npy")),
        yte: y(&format!("{name}_yte.npy")),
    }
}

fn gamma_of(v: &Value) -> Gamma {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => Gamma::Value(v.as_f64().unwrap()),
    }
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_u64().unwrap() as usize)
        .collect()
}

/// The report text must equal sklearn's byte for byte; the numbers must equal its
/// `output_dict` to 1e-12 (they are the same IEEE divisions; only the order of summation in
/// the averages can differ).
#[test]
fn classification_report_matches_sklearn() {
    let g = golden();
    let cases = g["reports"].as_array().unwrap();
    assert!(cases.len() >= 13);
    for (i, c) in cases.iter().enumerate() {
        let yt = usizes(&c["y_true"]);
        let yp = usizes(&c["y_pred"]);
        let opts = ReportOptions {
            labels: c.get("labels").filter(|v| !v.is_null()).map(usizes),
            target_names: c
                .get("target_names")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()),
            digits: c.get("digits").and_then(|v| v.as_u64()).unwrap_or(2) as usize,
            zero_division: match c.get("zero_division") {
                None => ZeroDivision::Warn,
                Some(Value::String(s)) if s == "nan" => ZeroDivision::NaN,
                Some(v) if v.as_f64() == Some(1.0) => ZeroDivision::One,
                Some(_) => ZeroDivision::Zero,
            },
        };
        let rep = classification_report(&yt, &yp, &opts).unwrap();
        assert_eq!(rep.to_string(), c["text"].as_str().unwrap(), "case {i}");
        let d = &c["dict"];
        let close = |a: f64, b: &Value| match b.as_f64() {
            None => assert!(a.is_nan(), "case {i}: expected NaN, got {a}"),
            Some(b) => assert!((a - b).abs() <= 1e-12, "case {i}: {a} vs {b}"),
        };
        for row in &rep.classes {
            let e = &d[row.name.as_str()];
            close(row.scores.precision, &e["precision"]);
            close(row.scores.recall, &e["recall"]);
            close(row.scores.f1, &e["f1-score"]);
            assert_eq!(row.scores.support as f64, e["support"].as_f64().unwrap());
        }
        for (key, s) in [
            ("macro avg", rep.macro_avg),
            ("weighted avg", rep.weighted_avg),
        ] {
            close(s.precision, &d[key]["precision"]);
            close(s.recall, &d[key]["recall"]);
            close(s.f1, &d[key]["f1-score"]);
        }
        match rep.accuracy {
            Some(a) => close(a, &d["accuracy"]),
            None => close(rep.micro_avg.f1, &d["micro avg"]["f1-score"]),
        }
        let cm = confusion_matrix(&yt, &yp, opts.labels.as_deref()).unwrap();
        let want: Vec<Vec<usize>> = c["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(usizes)
            .collect();
        let got: Vec<Vec<usize>> = cm.rows().into_iter().map(|r| r.to_vec()).collect();
        assert_eq!(got, want, "confusion case {i}");
    }
}

/// ROC-AUC on sklearn's own SVC probabilities: equal to 1e-12 (the Mann–Whitney form and
/// sklearn's trapezoids are the same sum in a different order).
#[test]
fn roc_auc_matches_sklearn() {
    let g = golden();
    for name in ["wine", "cancer", "digits"] {
        let e = &g["models"][name];
        let proba =
            Array2::<f64>::read_npy(File::open(data(&format!("{name}_svc_proba.npy"))).unwrap())
                .unwrap();
        let yte = y(&format!("{name}_yte.npy"));
        let auc = roc_auc_ovr(&yte, proba.view(), AucAverage::Macro).unwrap();
        assert!(
            (auc - e["roc_auc"].as_f64().unwrap()).abs() < 1e-12,
            "{name}: {auc}"
        );
        if let Some(w) = e.get("roc_auc_weighted") {
            let aw = roc_auc_ovr(&yte, proba.view(), AucAverage::Weighted).unwrap();
            assert!(
                (aw - w.as_f64().unwrap()).abs() < 1e-12,
                "{name} weighted: {aw}"
            );
        }
    }
}

/// Stratified k-fold without shuffling assigns exactly sklearn's test folds.
#[test]
fn stratified_kfold_matches_sklearn() {
    for name in ["wine", "cancer", "digits"] {
        let ytr = y(&format!("{name}_ytr.npy"));
        let want = y(&format!("{name}_folds.npy"));
        let folds = StratifiedKFold::default().split(&ytr).unwrap();
        let mut got = vec![usize::MAX; ytr.len()];
        for (i, (train, test)) in folds.iter().enumerate() {
            assert_eq!(train.len() + test.len(), ytr.len());
            for &t in test {
                got[t] = i;
            }
        }
        assert_eq!(got, want, "{name}");
    }
}

/// StandardScaler: same arithmetic as sklearn up to summation order (1e-12 relative).
#[test]
fn scaler_matches_sklearn() {
    for name in ["wine", "cancer", "digits"] {
        let s = split(name);
        let want =
            Array2::<f64>::read_npy(File::open(data(&format!("{name}_scaled_head.npy"))).unwrap())
                .unwrap();
        let sc = StandardScaler::fit(s.xtr.view()).unwrap();
        let got = sc.transform(s.xte.slice(ndarray::s![..5, ..])).unwrap();
        for (a, b) in got.iter().zip(want.iter()) {
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
}

/// SVM accuracy within 2 points of `SVC(probability=True)` with the same C and gamma (this
/// crate is one-vs-rest, sklearn one-vs-one), probabilities sum to 1, and ROC-AUC of our
/// probabilities is close to sklearn's (0.02: different Platt folds and OvR vs OvO).
#[test]
fn svm_accuracy_within_two_points_of_sklearn() {
    let g = golden();
    for name in ["wine", "cancer", "digits"] {
        let e = &g["models"][name];
        let s = split(name);
        let params = SvmParams {
            c: e["svm_C"].as_f64().unwrap(),
            gamma: gamma_of(&e["svm_gamma"]),
            ..SvmParams::default()
        };
        let mut svm = Svm::new(params).unwrap();
        svm.fit(s.xtr.view(), &s.ytr).unwrap();
        let acc = accuracy_score(&s.yte, &svm.predict(s.xte.view()).unwrap()).unwrap();
        let want = e["svm_accuracy"].as_f64().unwrap();
        println!("{name}: svm accuracy {acc:.4}, sklearn SVC {want:.4}");
        assert!(
            acc >= want - 0.02,
            "{name}: svm accuracy {acc} vs sklearn {want}"
        );
        let p = svm.predict_proba(s.xte.view()).unwrap();
        for r in p.rows() {
            assert!((r.sum() - 1.0).abs() < 1e-12);
        }
        let auc = roc_auc_ovr(&s.yte, p.view(), AucAverage::Macro).unwrap();
        assert!(
            auc >= e["roc_auc"].as_f64().unwrap() - 0.02,
            "{name}: auc {auc}"
        );
    }
}

/// Binary problems are the same optimisation as libsvm's: decision values agree to the
/// solver tolerance (both stop at a KKT violation below 1e-3; 0.01 absolute), and the number
/// of support vectors agrees within 2.
#[test]
fn svm_binary_decision_matches_libsvm() {
    let g = golden();
    let e = &g["models"]["cancer"];
    let s = split("cancer");
    let params = SvmParams {
        c: e["svm_C"].as_f64().unwrap(),
        gamma: gamma_of(&e["svm_gamma"]),
        probability: false,
        ..SvmParams::default()
    };
    let mut svm = Svm::new(params).unwrap();
    svm.fit(s.xtr.view(), &s.ytr).unwrap();
    let dec = svm.decision_function(s.xte.view()).unwrap();
    let want: Vec<f64> = e["svm_decision"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let worst = dec
        .column(0)
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-2, "max |decision - libsvm| = {worst}");
    let nsv = svm.n_support().unwrap() as i64;
    assert!(
        (nsv - e["svm_n_support"].as_i64().unwrap()).abs() <= 2,
        "n_support {nsv}"
    );
}

/// Trees within 2 points of `XGBClassifier(tree_method="hist")` with the same settings.
#[test]
fn gbdt_accuracy_within_two_points_of_xgboost() {
    let g = golden();
    for name in ["wine", "cancer", "digits"] {
        let e = &g["models"][name];
        let xp = &e["xgb_params"];
        let f = |k: &str, d: f64| xp.get(k).and_then(|v| v.as_f64()).unwrap_or(d);
        let params = GbdtParams {
            n_estimators: f("n_estimators", 100.0) as usize,
            max_depth: f("max_depth", 6.0) as usize,
            learning_rate: f("learning_rate", 0.3),
            subsample: f("subsample", 1.0),
            colsample_bytree: f("colsample_bytree", 1.0),
            lambda: f("reg_lambda", 1.0),
            min_child_weight: f("min_child_weight", 1.0),
            ..GbdtParams::default()
        };
        let s = split(name);
        let mut m = Gbdt::new(params).unwrap();
        m.fit(s.xtr.view(), &s.ytr).unwrap();
        let acc = accuracy_score(&s.yte, &m.predict(s.xte.view()).unwrap()).unwrap();
        let want = e["xgb_accuracy"].as_f64().unwrap();
        println!("{name}: gbdt accuracy {acc:.4}, xgboost {want:.4}");
        assert!(
            acc >= want - 0.02,
            "{name}: gbdt accuracy {acc} vs xgboost {want}"
        );
    }
}

/// `roc_curve` against sklearn's on SVC probabilities (binary and one-vs-rest), rounded
/// scores with many ties and a hand-made tie case, with and without `drop_intermediate`.
/// The points must be identical (counts divided by the same totals); the thresholds are the
/// scores themselves.
#[test]
fn roc_curve_matches_sklearn() {
    let g: Value = serde_json::from_reader(File::open(data("roc.json")).unwrap()).unwrap();
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap())
            .collect()
    };
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 17);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &g["inputs"][name];
        let positive: Vec<bool> = input["positive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        let score = floats(&input["score"]);
        let drop = case["drop_intermediate"].as_bool().unwrap();
        let c = ensemble::roc_curve(&positive, &score, drop).unwrap();
        assert_eq!(c.fpr, floats(&case["fpr"]), "{name} drop {drop}");
        assert_eq!(c.tpr, floats(&case["tpr"]), "{name} drop {drop}");
        assert_eq!(c.thresholds[0], f64::INFINITY);
        assert_eq!(
            c.thresholds[1..],
            floats(&case["thresholds"]),
            "{name} drop {drop}"
        );
        let auc = ensemble::roc_auc_binary(&positive, &score).unwrap();
        assert!(
            (c.area() - auc).abs() < 1e-12,
            "{name}: {} vs {auc}",
            c.area()
        );
    }
    assert!(ensemble::roc_curve(&[true, true], &[0.1, 0.2], true).is_err());
    assert!(ensemble::roc_curve(&[true, false], &[0.1, f64::NAN], true).is_err());
}
