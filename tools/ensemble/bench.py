#!/usr/bin/env python3
"""Same-session reference timings for docs/benchmarks.md (ensemble section).

Writes the benchmark inputs (make_classification, 1000 × 512, 3 classes, seed 0) to
$ENSEMBLE_BENCH_DATA (default /tmp/ensemble-bench) as x.npy / y.npy, then times
  * sklearn: make_pipeline(StandardScaler(), SVC(probability=True)) fit (C=1, gamma="scale")
  * xgboost: XGBClassifier(n_estimators=200, tree_method="hist", max_bin=256, n_jobs=1) fit
and prints min/median over --repeats runs. The Rust side reads the same files:
    ENSEMBLE_BENCH_DATA=/tmp/ensemble-bench cargo bench --bench ensemble -- --warm-up-time 1 --measurement-time 3
"""
import argparse
import os
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--only", choices=["svm", "gbdt", "all"], default="all")
args = ap.parse_args()

out = os.environ.get("ENSEMBLE_BENCH_DATA", "/tmp/ensemble-bench")
os.makedirs(out, exist_ok=True)
X, y = make_classification(n_samples=1000, n_features=512, n_informative=40, n_redundant=20,
                           n_classes=3, random_state=0)
np.save(os.path.join(out, "x.npy"), X)
np.save(os.path.join(out, "y.npy"), y.astype(np.int64))


def bench(name, fn):
    # Wall and CPU (process_time: all threads of this process) seconds; on the shared,
    # overloaded machine the CPU time of a single-threaded fit is the steadier number.
    ts, cs = [], []
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    print(f"{name}: wall min {min(ts):.3f} s, median {float(np.median(ts)):.3f} s; "
          f"cpu min {min(cs):.2f} s, median {float(np.median(cs)):.2f} s over {len(ts)} runs")


with threadpool_limits(1):
    if args.only in ("svm", "all"):
        bench("sklearn SVC(probability=True) fit 1000x512x3",
              lambda: make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(X, y))
    if args.only in ("gbdt", "all"):
        bench("xgboost hist 200 rounds 1000x512x3 n_jobs=1",
              lambda: XGBClassifier(n_estimators=200, tree_method="hist", max_bin=256, n_jobs=1,
                                    random_state=0).fit(X, y))
