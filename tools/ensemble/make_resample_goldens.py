#!/usr/bin/env python3
"""Golden files for crates/ensemble/tests/resample.rs (imbalanced-learn 0.14.2,
scikit-learn 1.7.2, numpy 2.4.6; pins in tools/ensemble/requirements-sklearn.txt).

For two tables (scikit-learn's wine data, 59/71/48 samples, raw units; and an imbalanced
three-class make_classification, 210/60/30 samples) it writes the outputs of
  * SMOTE(random_state=SEED)                         -> <name>_smote_{x,y}.npy
  * EditedNearestNeighbours()                        -> <name>_enn_idx.npy  (sample_indices_)
  * EditedNearestNeighbours(kind_sel="mode", sampling_strategy="all")
                                                     -> <name>_enn_mode_idx.npy
  * SMOTEENN(random_state=SEED)                      -> <name>_smoteenn_{x,y}.npy
and a few draws of np.random.RandomState for the generator test (rng.json).
Run from the repository root:

    python3 -m venv /tmp/imbvenv && /tmp/imbvenv/bin/pip install -r tools/ensemble/requirements-sklearn.txt
    /tmp/imbvenv/bin/python tools/ensemble/make_resample_goldens.py
"""
import json
import os

import imblearn
import numpy as np
import sklearn
from imblearn.combine import SMOTEENN
from imblearn.over_sampling import SMOTE
from imblearn.under_sampling import EditedNearestNeighbours
from sklearn.datasets import load_wine, make_classification

assert imblearn.__version__ == "0.14.2", imblearn.__version__
assert sklearn.__version__ == "1.7.2", sklearn.__version__
assert np.__version__ == "2.4.6", np.__version__

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ensemble", "tests",
                   "data", "resample")
os.makedirs(OUT, exist_ok=True)
SEEDS = {"wine": 7, "blobs": 42}


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def tables():
    X, y = load_wine(return_X_y=True)
    yield "wine", X, y
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, weights=[0.7, 0.2, 0.1],
                               flip_y=0.0, class_sep=0.8, random_state=1)
    yield "blobs", X, y


for name, X, y in tables():
    seed = SEEDS[name]
    y = y.astype(np.int64)
    save(f"{name}_x.npy", X)
    save(f"{name}_y.npy", y)
    xs, ys = SMOTE(random_state=seed).fit_resample(X, y)
    save(f"{name}_smote_x.npy", xs)
    save(f"{name}_smote_y.npy", ys.astype(np.int64))
    enn = EditedNearestNeighbours()
    enn.fit_resample(X, y)
    save(f"{name}_enn_idx.npy", enn.sample_indices_.astype(np.int64))
    enn = EditedNearestNeighbours(kind_sel="mode", sampling_strategy="all")
    enn.fit_resample(X, y)
    save(f"{name}_enn_mode_idx.npy", enn.sample_indices_.astype(np.int64))
    xe, ye = SMOTEENN(random_state=seed).fit_resample(X, y)
    save(f"{name}_smoteenn_x.npy", xe)
    save(f"{name}_smoteenn_y.npy", ye.astype(np.int64))
    print(name, "classes", np.bincount(y).tolist(), "smote", np.bincount(ys).tolist(),
          "smoteenn", np.bincount(ye).tolist())

rng = {}
for seed in (0, 7, 123456789):
    r = np.random.RandomState(seed)
    rng[str(seed)] = {
        "randint_1000": r.randint(0, 1000, size=12).tolist(),
        "randint_7": r.randint(0, 7, size=12).tolist(),
        "uniform": r.uniform(size=6).tolist(),
    }
with open(os.path.join(OUT, "rng.json"), "w") as f:
    json.dump({"numpy": np.__version__, "imbalanced-learn": imblearn.__version__,
               "seeds": SEEDS, "rng": rng}, f, indent=1)
