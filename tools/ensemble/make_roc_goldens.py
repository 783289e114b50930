#!/usr/bin/env python3
"""Golden ROC curves for crates/ensemble/tests/golden.rs (scikit-learn 1.7.2, numpy 2.4.6;
pins in tools/ensemble/requirements-sklearn.txt).

Cases: the breast-cancer SVC probabilities already in tests/data (binary), every class of the
digits SVC probabilities one-vs-rest, the same scores rounded to one decimal (many ties),
and a hand-made vector with ties. For each, sklearn's roc_curve(drop_intermediate=True),
and for all but digits classes 1-9 also drop_intermediate=False. Writes
crates/ensemble/tests/data/roc.json (thresholds without the leading inf). Run from the
repository root:

    /tmp/imbvenv/bin/python tools/ensemble/make_roc_goldens.py
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import roc_curve

assert sklearn.__version__ == "1.7.2", sklearn.__version__
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ensemble", "tests", "data")

inputs = {}
cases = []


def add(name, positive, score, both=True):
    inputs[name] = {"positive": positive.astype(bool).tolist(), "score": score.tolist()}
    for drop in (True, False) if both else (True,):
        fpr, tpr, thr = roc_curve(positive.astype(int), score, drop_intermediate=drop)
        assert np.isinf(thr[0])
        cases.append({"name": name, "drop_intermediate": drop, "fpr": fpr.tolist(),
                      "tpr": tpr.tolist(), "thresholds": thr[1:].tolist()})


yte = np.load(os.path.join(DATA, "cancer_yte.npy"))
p = np.load(os.path.join(DATA, "cancer_svc_proba.npy"))
add("cancer class 1", yte == 1, p[:, 1])
add("cancer class 1 rounded", yte == 1, np.round(p[:, 1], 1))
yte = np.load(os.path.join(DATA, "digits_yte.npy"))
p = np.load(os.path.join(DATA, "digits_svc_proba.npy"))
for c in range(p.shape[1]):
    add(f"digits class {c}", yte == c, p[:, c], both=c == 0)
add("ties", np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0]),
    np.array([0.9, 0.9, 0.8, 0.5, 0.5, 0.5, 0.3, 0.3, 0.1, 0.0]))
with open(os.path.join(DATA, "roc.json"), "w") as f:
    json.dump({"sklearn": sklearn.__version__, "inputs": inputs, "cases": cases}, f)
print(len(cases), "cases")
