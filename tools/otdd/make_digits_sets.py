"""Labelled data sets for the OTDD distance table in docs/otdd.md (not committed).

scikit-learn's built-in digits (1797 images of 8x8 pixels, values 0..16, 10 classes) split
into two disjoint halves (seed 0), and perturbed copies of the second half:
  digits_a     first half (899 images)
  digits_b     second half (898 images): the sampling-noise baseline
  noise        digits_b + N(0, 2^2) pixel noise, clipped to 0..16
  shift        digits_b shifted one pixel right (zero fill)
  contrast     digits_b * 0.5 (half contrast)
  invert       16 - digits_b (inverted)
Writes /tmp/otdd_digits/<name>_X.npy (float32, n x 64) and <name>_y.npy (int64).
Usage: python3 tools/otdd/make_digits_sets.py
"""
import os

import numpy as np
from sklearn.datasets import load_digits

OUT = "/tmp/otdd_digits"


def main():
    os.makedirs(OUT, exist_ok=True)
    d = load_digits()
    X, y = d.data.astype(np.float64), d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(y))
    ia, ib = np.sort(perm[: len(y) // 2 + 1]), np.sort(perm[len(y) // 2 + 1:])
    xb = X[ib]
    img = xb.reshape(-1, 8, 8)
    shifted = np.zeros_like(img)
    shifted[:, :, 1:] = img[:, :, :-1]
    sets = {
        "digits_a": (X[ia], y[ia]),
        "digits_b": (xb, y[ib]),
        "noise": (np.clip(xb + rng.normal(0, 2.0, xb.shape), 0, 16), y[ib]),
        "shift": (shifted.reshape(-1, 64), y[ib]),
        "contrast": (xb * 0.5, y[ib]),
        "invert": (16 - xb, y[ib]),
    }
    for name, (x, lab) in sets.items():
        np.save(f"{OUT}/{name}_X.npy", x.astype(np.float32))
        np.save(f"{OUT}/{name}_y.npy", lab)
    print("wrote", {k: v[0].shape for k, v in sets.items()})


if __name__ == "__main__":
    main()
