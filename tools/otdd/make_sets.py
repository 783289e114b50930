"""Synthetic labelled sets for the OTDD speed checks (not committed; written to /tmp/otdd_sets).

Two sets of n samples, d=64 features, 10 Gaussian classes (class c shifts feature block c),
the second set shifted by 0.3 and with a different class balance.
Usage: python3 tools/otdd/make_sets.py [n ...]   (default: 5000 50000)
"""
import os
import sys

import numpy as np

OUT = "/tmp/otdd_sets"


def make(n, shift, seed, weights):
    rng = np.random.default_rng(seed)
    y = rng.choice(10, size=n, p=weights).astype(np.int64)
    X = rng.normal(size=(n, 64))
    for c in range(10):
        X[y == c, 6 * c:6 * c + 6] += 3.0
    return (X + shift).astype(np.float32), y


def main():
    os.makedirs(OUT, exist_ok=True)
    sizes = [int(a) for a in sys.argv[1:]] or [5000, 50000]
    for n in sizes:
        for name, shift, seed, w in [("A", 0.0, n, np.full(10, 0.1)),
                                     ("B", 0.3, n + 1, np.linspace(1, 2, 10) / np.linspace(1, 2, 10).sum())]:
            X, y = make(n, shift, seed, w)
            np.save(f"{OUT}/{name}{n}_X.npy", X)
            np.save(f"{OUT}/{name}{n}_y.npy", y)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
