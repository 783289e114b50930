"""Same-session POT timings for docs/benchmarks.md (otdd section) (single-threaded BLAS).

Usage: ANCHORS_WORK=/tmp/anchors python3 tools/otdd/bench_pot.py [--only cost,sinkhorn,emd,otdd] [--runs N]
Prints min and median milliseconds per kernel, on the shared anchor inputs.
"""
import os
import sys

for v in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"]:
    os.environ[v] = "1"

import argparse
import time

import numpy as np
import ot

sys.path.insert(0, "/work/shared/anchors")
import bench_anchors as B  # noqa: E402


CPU = {}


def timeit(f, runs, key=None):
    """min and median wall ms; the min process CPU ms goes to CPU[key] (steadier when the
    machine is shared)."""
    f()
    ts, cs = [], []
    for _ in range(runs):
        c = time.process_time()
        t = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t) * 1e3)
        cs.append((time.process_time() - c) * 1e3)
    if key:
        CPU[key] = min(cs)
    return min(ts), float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="cost,sinkhorn,emd,otdd")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    only = args.only.split(",")
    work = os.environ.get("ANCHORS_WORK", "/tmp/anchors")
    feats = np.load(os.path.join(work, "data", "feats.npy"))
    labels = np.load(os.path.join(work, "data", "labels.npy"))
    XA, XB = feats[0].astype(np.float64), feats[1].astype(np.float64)
    yA, yB = labels[0], labels[1]
    C = ot.dist(XA, XB)
    Cn = C / C.max()
    w = np.full(2000, 1 / 2000)
    w5 = np.full(500, 1 / 500)
    C5 = ot.dist(XA[:500], XB[:500])
    rows = []
    if "cost" in only:
        rows.append(("sqeuclid_cost_2000x2000x64", timeit(lambda: ot.dist(XA, XB), args.runs, "sqeuclid_cost_2000x2000x64")))
    if "sinkhorn" in only:
        rows.append(("sinkhorn_2000", timeit(lambda: ot.sinkhorn(w, w, Cn, 0.1), args.runs, "sinkhorn_2000")))
    if "emd" in only:
        rows.append(("emd2_500", timeit(lambda: ot.emd2(w5, w5, C5, numItermax=1_000_000), args.runs, "emd2_500")))
    if "otdd" in only:
        rows.append(("otdd_exact_500", timeit(
            lambda: B.otdd_exact(XA[:500], yA[:500], XB[:500], yB[:500], B.sqrtm_eigh), args.runs, "otdd_exact_500")))
    print(f"POT {ot.__version__}, numpy {np.__version__}, 1 thread, load {os.getloadavg()[0]:.1f}")
    for k, (mn, md) in rows:
        print(f"{k:32s} min {mn:9.2f} ms  median {md:9.2f} ms  min CPU {CPU.get(k, float('nan')):9.2f} ms")


if __name__ == "__main__":
    main()
