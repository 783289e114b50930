#!/usr/bin/env python3
"""scipy.ndimage timings of the ct-morph benchmark steps on the anchors' volume, single
thread (scipy.ndimage is single-threaded anyway; BLAS/OpenMP pinned to 1 for numpy).

Usage: python3 tools/ct-morph/bench_scipy.py [/tmp/anchors/data/vol.npy] [--repeat N]
Prints one line per step: name, min ms, median ms (same steps as benches/morph.rs).
"""
import os
import sys
import time

for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

args = [a for a in sys.argv[1:] if not a.startswith("--")]
path = args[0] if args else "/tmp/anchors/data/vol.npy"
rep = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7
vol = np.load(path)
s6 = ndi.generate_binary_structure(3, 1)
s6x2 = ndi.iterate_structure(s6, 2)
sq3 = np.ones((3, 3), bool)
M = (vol > -950) & (vol < -400)
Mc = ndi.binary_closing(M, structure=s6)
Mo = ndi.binary_opening(Mc, structure=s6x2)
lab = ndi.label(Mo, structure=s6)[0]


def largest(lab_arr):
    cnt = np.bincount(lab_arr.ravel())
    cnt[0] = 0
    return lab_arr == int(cnt.argmax())


def pipeline():
    m = (vol > -950) & (vol < -400)
    m = ndi.binary_closing(m, structure=s6, iterations=1)
    m = ndi.binary_opening(m, structure=s6x2)
    return largest(ndi.label(m, structure=s6)[0])


steps = [
    ("memcpy_i16_volume", lambda: vol.copy()),
    ("memcpy_bool_mask", lambda: M.copy()),
    ("threshold", lambda: (vol > -950) & (vol < -400)),
    ("binary_closing_gbs31", lambda: ndi.binary_closing(M, structure=s6)),
    ("binary_opening_iter2", lambda: ndi.binary_opening(Mc, structure=s6x2)),
    ("binary_erosion_gbs31", lambda: ndi.binary_erosion(M, structure=s6)),
    ("label_6conn", lambda: ndi.label(Mo, structure=s6)),
    ("largest_from_labels", lambda: largest(lab)),
    ("recipe_total", pipeline),
    ("erosion2d_3x3_512", lambda: ndi.binary_erosion(M[32], structure=sq3)),
]
print(f"# scipy {scipy.__version__} numpy {np.__version__}, {rep} runs after 1 warm-up")
for name, f in steps:
    f()
    ts = []
    for _ in range(rep):
        t = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t) * 1e3)
    print(f"{name:24s} min {min(ts):9.2f} ms  median {sorted(ts)[len(ts) // 2]:9.2f} ms")
