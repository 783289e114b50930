#!/usr/bin/env python3
"""Golden files for ct_morph::image (scipy 1.17.1, numpy 2.4.6; see tools/requirements.txt).

Writes crates/ct-morph/tests/data/image/:
  img.npy            float32 (48, 56): an HU-like image (smooth blobs, a thin line, noise)
  w.npy              float32 (48, 56): 0/1 weights (a lung-like region with a hole)
  min_r{r}.npy, max_r{r}.npy, open_r{r}.npy  float32: scipy.ndimage minimum_filter,
                     maximum_filter, grey_opening with size 2r+1, mode="nearest"
  mean_r{r}.npy      float64: uniform_filter(img·w) / uniform_filter(w), mode="constant",
                     computed in float64; -850 where the window holds no weight
  hess_r{r}.npy      float64 (2, 48, 56): eigenvalues (smaller, larger) of the Hessian of img
                     smoothed by two normalised box means (uniform_filter over the clipped
                     window), central differences at step max(r, 1) on an edge-padded image
                     (numpy.pad mode="edge"), numpy.linalg.eigvalsh, times r²/step²
  mask.npy           uint8 (40, 44): a binary mask touching the border, with holes
  cdt.npy            int32 (40, 44): distance_transform_cdt of the mask padded by one
                     background pixel, metric="taxicab", cropped back
  hull_pts{k}.npy    int64 (n, 2): integer points (x, y); hull{k}.npy int64 (m, 2): the
                     vertices of scipy.spatial.ConvexHull, counter-clockwise

Usage: python3 tools/ct-morph/make_image_goldens.py
"""
import os

import numpy as np
import scipy
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ct-morph", "tests", "data", "image")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261207)


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


h, w = 48, 56
yy, xx = np.mgrid[0:h, 0:w]
img = np.full((h, w), -850.0)
img += 450.0 * np.exp(-((yy - 14) ** 2 + (xx - 18) ** 2) / (2 * 4.0**2))
img += 800.0 * np.exp(-((yy - 32) ** 2 + (xx - 40) ** 2) / (2 * 2.5**2))
img[:, 8] = 40.0  # a one-pixel vessel
img += rng.normal(0, 25, (h, w))
img = img.astype(np.float32)
wt = (((yy - 24) / 20.0) ** 2 + ((xx - 28) / 24.0) ** 2 <= 1.0).astype(np.float32)
wt[20:26, 30:34] = 0.0
save("img.npy", img)
save("w.npy", wt)

for r in (1, 2, 4):
    size = 2 * r + 1
    save(f"min_r{r}.npy", ndi.minimum_filter(img, size=size, mode="nearest"))
    save(f"max_r{r}.npy", ndi.maximum_filter(img, size=size, mode="nearest"))
    save(f"open_r{r}.npy", ndi.grey_opening(img, size=(size, size), mode="nearest"))

a64, w64 = img.astype(np.float64), wt.astype(np.float64)
for r in (1, 3, 10):
    size = 2 * r + 1
    num = ndi.uniform_filter(a64 * w64, size=size, mode="constant")
    den = ndi.uniform_filter(w64, size=size, mode="constant")
    # 0/1 weights: a window without weight has a mean below one weight in the window.
    out = np.where(den * size * size > 0.5, num / np.where(den == 0, 1, den), -850.0)
    save(f"mean_r{r}.npy", out)


def box_mean(a, r):
    size = 2 * r + 1
    ones = np.ones_like(a)
    return ndi.uniform_filter(a, size=size, mode="constant") / ndi.uniform_filter(ones, size=size, mode="constant")


for r in (1, 2, 5):
    s = box_mean(box_mean(a64, r), r)
    d = max(r, 1)
    p = np.pad(s, d, mode="edge")
    c = p[d:-d, d:-d]
    sh = lambda dy, dx: p[d + dy : d + dy + h, d + dx : d + dx + w]
    hxx = sh(0, d) - 2 * c + sh(0, -d)
    hyy = sh(d, 0) - 2 * c + sh(-d, 0)
    hxy = (sh(d, d) - sh(d, -d) - sh(-d, d) + sh(-d, -d)) / 4.0
    m = np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)
    ev = np.linalg.eigvalsh(m) * (r * r) / (d * d)
    save(f"hess_r{r}.npy", np.moveaxis(ev, -1, 0))

mh, mw = 40, 44
my, mx = np.mgrid[0:mh, 0:mw]
mask = ((((my - 18) / 17.0) ** 2 + ((mx - 20) / 23.0) ** 2) <= 1.0).astype(np.uint8)
mask[0:6, :] = 1  # touches the top border
mask[14:18, 12:20] = 0  # a hole
mask[rng.random((mh, mw)) < 0.03] = 0
save("mask.npy", mask)
cdt = ndi.distance_transform_cdt(np.pad(mask, 1), metric="taxicab")[1:-1, 1:-1]
save("cdt.npy", cdt.astype(np.int32))

sets = [
    rng.integers(-50, 50, (40, 2)),
    rng.integers(0, 8, (60, 2)),  # many duplicates and collinear points on the edges
    np.array([[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [1, 3], [4, 2], [2, 0]]),
    (rng.normal(0, 30, (200, 2))).round().astype(np.int64),
]
for k, pts in enumerate(sets):
    pts = np.asarray(pts, dtype=np.int64)
    hull = ConvexHull(pts.astype(np.float64))
    save(f"hull_pts{k}.npy", pts)
    save(f"hull{k}.npy", pts[hull.vertices].astype(np.int64))

with open(os.path.join(OUT, "VERSIONS.txt"), "w") as f:
    f.write(f"scipy {scipy.__version__} numpy {np.__version__}\n")
print("wrote", OUT)
