#!/usr/bin/env python3
"""Speed from Python, call overhead included: each covid_ct function against the function
it replaces, on the same arrays, in one process (single-threaded references where they
would otherwise use all cores: OMP/MKL threads 1; covid_ct uses its rayon pool).

    python crates/covid-ct-py/tests/bench.py [--repeats 7]

Prints a Markdown table (median of the repeats) for docs/python.md.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import imagehash  # noqa: E402
import numpy as np  # noqa: E402
import ot  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import classification_report  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

import covid_ct  # noqa: E402
from covid_ct import enhance, ensemble, morph, ot as cot, similarity  # noqa: E402

cv2.setNumThreads(1)


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    grids = np.indices((64, 256, 256))
    mask = np.zeros((64, 256, 256), bool)
    for _ in range(20):
        c = [rng.uniform(0, s) for s in mask.shape]
        mask |= sum((g - x) ** 2 for g, x in zip(grids, c)) <= rng.uniform(10, 40) ** 2
    s3 = ndimage.generate_binary_structure(3, 1)
    img = rng.normal(120, 40, (512, 512)).clip(0, 255).astype(np.uint8)
    img2 = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    pil = Image.fromarray(img)
    vol = rng.normal(0, 300, (64, 128, 128)).astype(np.float32)
    a = np.full(500, 1 / 500)
    M = ot.dist(rng.normal(size=(500, 8)), rng.normal(1, 1, size=(500, 8)))
    w = np.full(2000, 1 / 2000)
    C = ot.dist(rng.normal(size=(2000, 16)), rng.normal(0.5, 1, size=(2000, 16)))
    C /= C.max()
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    t = rng.integers(0, 3, 5000)
    p = np.where(rng.random(5000) < 0.8, t, rng.integers(0, 3, 5000))
    cases = [
        ("binary_erosion 64×256², 6-conn.", lambda: ndimage.binary_erosion(mask, s3), lambda: morph.binary_erosion(mask, s3)),
        ("binary_closing 64×256², 3 iterations", lambda: ndimage.binary_closing(mask, s3, iterations=3), lambda: morph.binary_closing(mask, s3, iterations=3)),
        ("binary_fill_holes 64×256²", lambda: ndimage.binary_fill_holes(mask), lambda: morph.binary_fill_holes(mask)),
        ("label 64×256²", lambda: ndimage.label(mask, s3), lambda: morph.label(mask, s3)),
        ("structural_similarity 512² uint8", lambda: structural_similarity(img, img2), lambda: similarity.structural_similarity(img, img2)),
        ("phash 512² (PIL image)", lambda: imagehash.phash(pil), lambda: similarity.phash(pil)),
        ("whash 512² (PIL image)", lambda: imagehash.whash(pil), lambda: similarity.whash(pil)),
        ("equalizeHist 512²", lambda: cv2.equalizeHist(img), lambda: enhance.equalize_hist(img)),
        ("CLAHE 512², clip 2, 8×8", lambda: cv2.createCLAHE(2.0, (8, 8)).apply(img), lambda: enhance.create_clahe(2.0, (8, 8)).apply(img)),
        ("zoom 64×128² float32 ×0.5, order 1", lambda: ndimage.zoom(vol, 0.5, order=1), lambda: enhance.zoom(vol, 0.5, order=1)),
        ("emd2 500×500", lambda: ot.emd2(a, a, M), lambda: cot.emd2(a, a, M)),
        ("sinkhorn2 500×500, reg 0.5", lambda: ot.sinkhorn2(a, a, M, 0.5), lambda: cot.sinkhorn2(a, a, M, 0.5)),
        ("SVC(probability=True).fit digits 1797×64", lambda: SVC(probability=True, random_state=0).fit(X, y), lambda: ensemble.SVC(probability=True, random_state=0).fit(X, y)),
        ("classification_report 5000 labels", lambda: classification_report(t, p), lambda: ensemble.classification_report(t, p)),
        ("sinkhorn2 2000×2000, C/max C, reg 0.1", lambda: ot.sinkhorn2(w, w, C, 0.1), lambda: cot.sinkhorn2(w, w, C, 0.1)),
    ]
    print(f"covid_ct {covid_ct.__version__}; {os.cpu_count()} cores; median of {args.repeats}\n")
    print("| call | reference | covid_ct | ratio |")
    print("|---|---:|---:|---:|")
    for name, ref, ours in cases:
        t_ref, t_ours = median_time(ref, args.repeats), median_time(ours, args.repeats)
        print(f"| {name} | {t_ref * 1e3:.2f} ms | {t_ours * 1e3:.2f} ms | {t_ref / t_ours:.1f}× |")


if __name__ == "__main__":
    main()
