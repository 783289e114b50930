#!/usr/bin/env python3
"""Golden files for crates/ensemble/tests (scikit-learn 1.7.2, xgboost 3.1.1, numpy 2.4.6).

Writes small fixed train/test splits of data sets shipped in scikit-learn (wine, breast
cancer, a 600-sample subset of digits) and the reference outputs of SVC, XGBClassifier,
classification_report, confusion_matrix, roc_auc_score, StratifiedKFold and StandardScaler
into crates/ensemble/tests/data/. Run from the repository root:

    python3 tools/ensemble/make_goldens.py
"""
import json
import os

import numpy as np
import sklearn
import xgboost
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             roc_auc_score)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from xgboost import XGBClassifier

assert sklearn.__version__ == "1.7.2", sklearn.__version__
assert xgboost.__version__ == "3.1.1", xgboost.__version__

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ensemble", "tests", "data")
os.makedirs(OUT, exist_ok=True)


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def datasets():
    X, y = load_wine(return_X_y=True)
    yield "wine", X, y, np.float64
    X, y = load_breast_cancer(return_X_y=True)
    yield "cancer", X, y, np.float64
    X, y = load_digits(return_X_y=True)
    # A 600-sample subset keeps the fixture small; pixel values 0..16 fit in u8 exactly.
    yield "digits", X[:600], y[:600], np.uint8


SVM_SETTINGS = {"wine": (1.0, "scale"), "cancer": (10.0, 0.01), "digits": (10.0, "scale")}
XGB_SETTINGS = {
    "wine": dict(n_estimators=50),
    "cancer": dict(n_estimators=50, max_depth=4, learning_rate=0.1, subsample=0.8,
                   colsample_bytree=0.8, reg_lambda=2.0, min_child_weight=2.0),
    "digits": dict(n_estimators=30, max_depth=4),
}

golden = {"sklearn": sklearn.__version__, "xgboost": xgboost.__version__, "models": {},
          "reports": []}

for name, X, y, dtype in datasets():
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    save(f"{name}_xtr.npy", Xtr.astype(dtype))
    save(f"{name}_xte.npy", Xte.astype(dtype))
    save(f"{name}_ytr.npy", ytr.astype(np.int64))
    save(f"{name}_yte.npy", yte.astype(np.int64))
    Xtr = Xtr.astype(dtype).astype(np.float64)
    Xte = Xte.astype(dtype).astype(np.float64)

    C, gamma = SVM_SETTINGS[name]
    svc = make_pipeline(StandardScaler(), SVC(C=C, gamma=gamma, probability=True, random_state=0))
    svc.fit(Xtr, ytr)
    pred = svc.predict(Xte)
    proba = svc.predict_proba(Xte)
    entry = {"svm_C": C, "svm_gamma": gamma, "svm_accuracy": accuracy_score(yte, pred)}
    save(f"{name}_svc_proba.npy", proba)
    if len(np.unique(y)) == 2:
        entry["svm_decision"] = svc.decision_function(Xte).tolist()
        entry["svm_n_support"] = int(svc[-1].n_support_.sum())
        entry["roc_auc"] = roc_auc_score(yte, proba[:, 1])
    else:
        entry["roc_auc"] = roc_auc_score(yte, proba, multi_class="ovr")
        entry["roc_auc_weighted"] = roc_auc_score(yte, proba, multi_class="ovr", average="weighted")
    entry["confusion"] = confusion_matrix(yte, pred).tolist()

    params = XGB_SETTINGS[name]
    xgb = XGBClassifier(tree_method="hist", n_jobs=1, random_state=0, **params)
    xgb.fit(Xtr, ytr)
    entry["xgb_params"] = params
    entry["xgb_accuracy"] = accuracy_score(yte, xgb.predict(Xte))

    sc = StandardScaler().fit(Xtr)
    save(f"{name}_scaled_head.npy", sc.transform(Xte[:5]))
    folds = np.empty(len(ytr), dtype=np.int64)
    for i, (_, te) in enumerate(StratifiedKFold(5).split(Xtr, ytr)):
        folds[te] = i
    save(f"{name}_folds.npy", folds)
    golden["models"][name] = entry

    names = {"wine": ["class_0", "class_1", "class_2"], "cancer": ["malignant", "benign"],
             "digits": None}[name]
    golden["reports"].append(dict(y_true=yte.tolist(), y_pred=pred.tolist(), target_names=names))

# Hand-made prediction vectors that hit the zero-division and label-subset paths.
rng = np.random.default_rng(0)
yt = rng.integers(0, 4, 40)
yp = np.where(rng.random(40) < 0.6, yt, rng.integers(0, 4, 40))
yp[yp == 3] = 0  # class 3 never predicted: precision 0/0
cases = [
    dict(y_true=yt.tolist(), y_pred=yp.tolist()),
    dict(y_true=yt.tolist(), y_pred=yp.tolist(), zero_division=1.0),
    dict(y_true=yt.tolist(), y_pred=yp.tolist(), zero_division="nan"),
    dict(y_true=yt.tolist(), y_pred=yp.tolist(), digits=4),
    dict(y_true=yt.tolist(), y_pred=yp.tolist(), labels=[0, 1, 2, 3, 4],
         target_names=["Normal", "CAP", "COVID-19", "other", "never seen"], zero_division="nan"),
    dict(y_true=yt.tolist(), y_pred=yp.tolist(), labels=[2, 0]),  # subset: "micro avg" row
    dict(y_true=[0, 0, 1, 1], y_pred=[0, 0, 0, 0], zero_division=0.0),
    dict(y_true=[0, 1, 2, 2, 1, 0], y_pred=[0, 2, 1, 2, 0, 0], digits=3,
         target_names=["a very long class name", "b", "c"]),
    dict(y_true=[1, 1, 1], y_pred=[1, 1, 1]),
    dict(y_true=[0, 1, 2], y_pred=[3, 3, 3], zero_division="nan"),
]
golden["reports"].extend(cases)
for case in golden["reports"]:
    kw = {}
    for k in ("labels", "target_names", "digits"):
        if case.get(k) is not None:
            kw[k] = case[k]
    zd = case.get("zero_division", "warn")
    kw["zero_division"] = np.nan if zd == "nan" else zd
    case["text"] = classification_report(case["y_true"], case["y_pred"], **kw)
    d = classification_report(case["y_true"], case["y_pred"], output_dict=True, **kw)
    case["dict"] = json.loads(json.dumps(d).replace("NaN", "null"))
    labels = case.get("labels")
    case["confusion"] = confusion_matrix(case["y_true"], case["y_pred"], labels=labels).tolist()

with open(os.path.join(OUT, "golden.json"), "w") as f:
    json.dump(golden, f, indent=1)
print("wrote", OUT)
