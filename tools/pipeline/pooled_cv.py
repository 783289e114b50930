#!/usr/bin/env python3
"""Pooled evaluation of the pipeline's feature table over several phantom cohorts.

One cohort's 30-subject test split moves by 0.033 per subject, too coarse to choose between
two feature sets. This script pools the feature tables (`runs/<name>/features.csv`) of
several cohorts (different `--seed`s) and scores the classifiers' default column set
(`--classifier-features lesion`: the voxel detector's and the pattern U-Net's features, plus
the contrast group) two ways:

- cv:   stratified 5-fold inside each cohort (stratified on class × contrast), 2 repeats,
        mean accuracy and low-contrast accuracy over cohorts and repeats;
- loco: leave one cohort out: train on the others (~450 subjects), test on it.

The models are fast stand-ins for the pipeline's grid-searched SVM + gradient-boosted trees:
scikit-learn's logistic regression (C = 0.1, standardised) soft-voted with XGBoost (150
rounds, depth 3, rate 0.1, subsample 0.9, colsample 0.8; the pipeline's GBDT settings), and
XGBoost alone. Versions: tools/requirements.txt (scikit-learn 1.7.2, xgboost 3.1.1).

    # the tables (each run ~3 min on 2 cores):
    for s in 2021 7 11 13 17 19; do
        cargo run --release --example pipeline -- --name p$s --seed $s --stage preprocess
    done
    python3 tools/pipeline/pooled_cv.py p2021 p7 p11 p13 p17 p19
    # a column set without some features, e.g. the U-Net's peak:
    python3 tools/pipeline/pooled_cv.py --drop cnn_peak p2021 p7 p11 p13 p17 p19
    # how single columns separate the subtle positives from normal scans (ROC-AUC; needs the
    # phantoms' ground_truth.json in runs/<name>/data/ or runs/<name>/):
    python3 tools/pipeline/pooled_cv.py --subtle-auc cnn_peak,cnn_focus_max p2021 p7 ...
    # what a pretrained scan model adds (needs each run's predictions.csv for its split):
    python3 tools/pipeline/pooled_cv.py --vote p2021 p7 p11 p13 p17 p19

`--vote` stands in for the pipeline's pretrained scan model: for each cohort, XGBoost
trained on the other cohorts (the "pretrained" model, which never saw the cohort) is
soft-voted with LR + XGBoost trained on the cohort's own training split (the subjects not
in its predictions.csv) at weights 0 ... 1, and at the weight with the lowest 5-fold
log-loss on the training split among 0, 0.25, 0.5 (the pipeline's rule); accuracy on the
cohort's test split.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

LABELS = {"Normal": 0, "CAP": 1, "COVID-19": 2}
# The classifiers' default columns: every detector ("lesion_", "comp_", and the context
# features listed in ct-pipeline's LESION_FEATURE_NAMES) and pattern U-Net ("cnn_") column.
DETECTOR_EXTRA = {
    "scan_noise_hu",
    "aerated_lr_ratio",
    "hull_fill_min_side",
    "hull_fill_max_side",
    "slice_asymmetry_p90",
}


def is_default_column(name):
    return name.startswith(("lesion_", "comp_", "cnn_")) or name in DETECTOR_EXTRA


def load(run, drop):
    path = f"runs/{run}/features.csv"
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"{path}: {e.strerror} (run the pipeline with --name {run} first)")
    if not rows:
        sys.exit(f"{path}: no rows")
    cols = [c for c in rows[0] if is_default_column(c) and c not in drop]
    x = np.array([[float(r[c]) for c in cols] + [float(r["contrast"] == "low")] for r in rows])
    y = np.array([LABELS[r["label"]] for r in rows])
    low = np.array([r["contrast"] == "low" for r in rows])
    return cols, x, y, low


def models(kind, seed):
    xgb = XGBClassifier(
        n_estimators=150,
        max_depth=3,
        learning_rate=0.1,
        subsample=0.9,
        colsample_bytree=0.8,
        random_state=seed,
        verbosity=0,
        n_jobs=2,
    )
    if kind == "xgb":
        return [xgb]
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    return [lr, xgb]


def proba(kind, seed, xtr, ytr, xte):
    p = 0.0
    for m in models(kind, seed):
        m.fit(xtr, ytr)
        p = p + m.predict_proba(xte)
    return p


def subtle_auc(runs, cols):
    """ROC-AUC of each column for the subtle positives (CAP and COVID-19) against normals."""
    y, vals = [], {c: [] for c in cols}
    for run in runs:
        paths = [f"runs/{run}/data/ground_truth.json", f"runs/{run}/ground_truth.json"]
        path = next((p for p in paths if os.path.exists(p)), None)
        if path is None:
            sys.exit(f"runs/{run}: no ground_truth.json (phantom runs only)")
        with open(path) as f:
            truth = json.load(f)
        with open(f"runs/{run}/features.csv", newline="") as f:
            for r in csv.DictReader(f):
                t = truth.get(r["id"])
                if t is None:
                    sys.exit(f"{path}: no entry for {r['id']}")
                if r["label"] == "Normal" or t.get("subtle"):
                    y.append(r["label"] != "Normal")
                    for c in cols:
                        if c not in r:
                            sys.exit(f"runs/{run}/features.csv: no column {c}")
                        vals[c].append(float(r[c]))
    print(f"subtle positives {sum(y)}, normals {len(y) - sum(y)}")
    for c in cols:
        print(f"  {c:28s} ROC-AUC {roc_auc_score(y, vals[c]):.3f}")


def vote(data, runs):
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    acc = {w: [] for w in grid + ["chosen"]}
    for run in runs:
        _, x, y, _ = data[run]
        x = x[:, :-1]  # the scan model takes no contrast column
        xo = np.vstack([d[1][:, :-1] for r, d in data.items() if r != run])
        yo = np.concatenate([d[2] for r, d in data.items() if r != run])
        ps = proba("xgb", 0, xo, yo, x)
        ids = [r["id"] for r in csv.DictReader(open(f"runs/{run}/features.csv"))]
        try:
            test = {r["id"] for r in csv.DictReader(open(f"runs/{run}/predictions.csv"))}
        except OSError as e:
            sys.exit(f"runs/{run}/predictions.csv: {e.strerror}")
        te = np.array([i in test for i in ids])
        tr = np.where(~te)[0]
        xl = data[run][1]
        local = proba("lr+xgb", 0, xl[tr], y[tr], xl[te]) / 2
        oof = np.zeros((len(tr), 3))
        for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(xl[tr], y[tr]):
            oof[b] = proba("lr+xgb", 0, xl[tr][a], y[tr][a], xl[tr][b]) / 2
        def loss(w):
            p = (1 - w) * oof + w * ps[tr]
            return -np.mean(np.log(np.clip(p[np.arange(len(tr)), y[tr]], 1e-6, 1)))
        chosen = min([0.0, 0.25, 0.5], key=loss)
        for w in grid + ["chosen"]:
            v = chosen if w == "chosen" else w
            pred = ((1 - v) * local + v * ps[te]).argmax(1)
            acc[w].append((pred == y[te]).mean())
    for w, a in acc.items():
        name = "chosen" if w == "chosen" else f"w={w:.2f}"
        print(f"{name:7s} test {' '.join(f'{v:.3f}' for v in a)}  mean {np.mean(a):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run names under runs/")
    ap.add_argument("--drop", default="", help="comma-separated columns to leave out")
    ap.add_argument("--vote", action="store_true", help="the pretrained scan model's "
                    "stand-in: other cohorts' model voted with each cohort's own")
    ap.add_argument("--subtle-auc", default="", help="comma-separated columns: only print "
                    "how each separates the subtle positives from normals")
    a = ap.parse_args()
    if a.subtle_auc:
        subtle_auc(a.runs, [c for c in a.subtle_auc.split(",") if c])
        return
    drop = {c for c in a.drop.split(",") if c}
    data = {r: load(r, drop) for r in a.runs}
    if a.vote:
        vote(data, a.runs)
        return
    ncols = {len(d[0]) for d in data.values()}
    if len(ncols) != 1:
        sys.exit(f"the runs' tables have different default column sets: {ncols}")
    print(f"{len(a.runs)} cohorts, {sum(len(d[2]) for d in data.values())} subjects, "
          f"{ncols.pop()} columns + contrast group")
    for kind in ["lr+xgb", "xgb"]:
        cv, cv_low = [], []
        for _, x, y, low in data.values():
            for rep in range(2):
                p = np.zeros((len(y), 3))
                folds = StratifiedKFold(5, shuffle=True, random_state=rep)
                for tr, te in folds.split(x, y * 2 + low):
                    p[te] = proba(kind, rep, x[tr], y[tr], x[te])
                pred = p.argmax(1)
                cv.append((pred == y).mean())
                cv_low.append((pred[low] == y[low]).mean())
        loco = []
        for run, (_, x, y, _) in data.items():
            xtr = np.vstack([d[1] for r, d in data.items() if r != run])
            ytr = np.concatenate([d[2] for r, d in data.items() if r != run])
            loco.append((proba(kind, 0, xtr, ytr, x).argmax(1) == y).mean())
        print(f"{kind:7s} cv {np.mean(cv):.3f} (low contrast {np.mean(cv_low):.3f})  "
              f"loco {np.mean(loco):.3f}  [{' '.join(f'{v:.2f}' for v in loco)}]")


if __name__ == "__main__":
    main()
