#!/usr/bin/env python3
"""Python side of benches/enhance.rs: same inputs (the anchors' slice512_u8.npy and vol.npy),
single thread (OMP/OPENBLAS=1, cv2.setNumThreads(1)). Prints min and median ms per call.

    ANCHORS_WORK=/tmp/anchors python3 tools/ct-enhance/bench_python.py [--skip-cubic]
"""
import os
import sys

for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import time

import cv2
import numpy as np
import scipy.ndimage as ndi
from skimage import exposure

cv2.setNumThreads(1)
A = os.environ.get("ANCHORS_WORK", "/tmp/anchors")
img = np.load(os.path.join(A, "data", "slice512_u8.npy"))
vol = np.load(os.path.join(A, "data", "vol.npy"))


def bench(name, f, samples):
    """min/median CPU time per call (time.process_time_ns, all threads) over batches of
    >= 30 ms of CPU: on a shared, loaded machine wall time mostly measures waiting."""
    c = time.process_time_ns()
    f()
    one = max(time.process_time_ns() - c, 1)
    k = int(min(max(30_000_000 // one, 1), 10_000))
    ts = []
    for _ in range(samples):
        c = time.process_time_ns()
        for _ in range(k):
            f()
        ts.append((time.process_time_ns() - c) / k / 1e6)
    print(f"{name:40s} min {min(ts):10.3f} ms  median {np.median(ts):10.3f} ms  ({samples} x {k} calls, CPU time)", flush=True)


clahe = cv2.createCLAHE(2.0, (8, 8))
bench("cv2.equalizeHist 512", lambda: cv2.equalizeHist(img), 15)
bench("cv2.CLAHE(2,(8,8)) 512", lambda: clahe.apply(img), 15)
bench("cv2 HE then CLAHE 512", lambda: clahe.apply(cv2.equalizeHist(img)), 15)
bench("skimage.equalize_hist 512", lambda: exposure.equalize_hist(img), 7)
bench("skimage.equalize_adapthist 512", lambda: exposure.equalize_adapthist(img), 3)
factors = np.array((96, 256, 256)) / np.array(vol.shape)
orders = (0, 1) if "--skip-cubic" in sys.argv else (0, 1, 3)
for order in orders:
    bench(f"scipy zoom order {order} -> 96x256x256", lambda: ndi.zoom(vol, factors, order=order, mode="nearest", grid_mode=False), 3 if order < 3 else 1)
