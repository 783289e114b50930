"""Goldens for the annealed (geomloss) Sinkhorn and the OTDD `Geomloss` outer method.

geomloss and torch are not installed on this machine, so the reference is a numpy float64
transcription of geomloss (GitHub head) `sinkhorn_divergence.py` (`epsilon_schedule`, `max_diameter`,
`sinkhorn_loop` without kernel truncation, `sinkhorn_cost`; `softmin_tensorized` is
`-eps * logsumexp(h - C/eps)`) driven as microsoft/otdd's `DatasetDistance.distance()` drives
it for `method='precomputed_labeldist'`: points Z = [X, label index] (B's labels re-indexed
from len(V1) when debiased), p = 2, blur = entreg**(1/2), scaling = 0.5, tensorized backend,
cost lambda_x*||x-x'||^2/2 + lambda_y*W[y,y']/2 (W: Gaussian W2^2 with symsqrt_v2).

Reads the inputs already committed by make_goldens.py (sk_*.npy, otdd_*.npy) and writes
crates/otdd/tests/data/goldens_geomloss.json plus two potential vectors.
Usage: python3 tools/otdd/make_goldens_geomloss.py
"""
import json
import os

import numpy as np
from scipy.special import logsumexp

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "crates", "otdd", "tests", "data")


def load(name):
    return np.load(os.path.join(DATA, name))


def epsilon_schedule(p, diameter, blur, scaling):
    return ([diameter ** p]
            + [np.exp(e) for e in np.arange(p * np.log(diameter), p * np.log(blur), p * np.log(scaling))]
            + [blur ** p])


def max_diameter(x, y):
    mins = np.minimum(x.min(0), y.min(0))
    maxs = np.maximum(x.max(0), y.max(0))
    return float(np.linalg.norm(maxs - mins))


def softmin(eps, C, h):
    """geomloss softmin_tensorized for one batch: -eps * logsumexp_j(h_j - C_ij/eps)."""
    return -eps * logsumexp(h[None, :] - C / eps, axis=1)


def sinkhorn_loop(a, b, Cxy, Cxx, Cyy, eps_list, debias):
    a_log, b_log = np.log(a), np.log(b)
    Cyx = Cxy.T
    eps = eps_list[0]
    if debias:
        a_x = softmin(eps, Cxx, a_log)
        b_y = softmin(eps, Cyy, b_log)
    a_y = softmin(eps, Cyx, a_log)
    b_x = softmin(eps, Cxy, b_log)
    for eps in eps_list:
        if debias:
            at_x = softmin(eps, Cxx, a_log + a_x / eps)
            bt_y = softmin(eps, Cyy, b_log + b_y / eps)
        at_y = softmin(eps, Cyx, a_log + b_x / eps)
        bt_x = softmin(eps, Cxy, b_log + a_y / eps)
        if debias:
            a_x, b_y = 0.5 * (a_x + at_x), 0.5 * (b_y + bt_y)
        a_y, b_x = 0.5 * (a_y + at_y), 0.5 * (b_x + bt_x)
    eps = eps_list[-1]
    if debias:
        a_x = softmin(eps, Cxx, a_log + a_x / eps)
        b_y = softmin(eps, Cyy, b_log + b_y / eps)
    a_y, b_x = softmin(eps, Cyx, a_log + b_x / eps), softmin(eps, Cxy, b_log + a_y / eps)
    if debias:
        return a_x, b_y, a_y, b_x
    return None, None, a_y, b_x


def sinkhorn_cost(a, b, a_x, b_y, a_y, b_x, debias):
    if debias:
        return float(a @ (b_x - a_x) + b @ (a_y - b_y))
    return float(a @ b_x + b @ a_y)


def sqdist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def sqrtm_ref(S):
    w, V = np.linalg.eigh(S)
    w = np.where(w > w.max() * w.shape[-1] * np.finfo(w.dtype).eps, w, 0.0)
    return (V * np.sqrt(w)) @ V.T


def stats(X, y):
    keep = np.unique(y)
    M = [X[y == c].mean(0) for c in keep]
    S = [np.cov(X[y == c], rowvar=False, ddof=1) for c in keep]
    return keep, M, S


def w2(m1, S1, m2, S2):
    r1 = sqrtm_ref(S1)
    cross = sqrtm_ref(r1 @ S2 @ r1)
    return max(0.0, float(((m1 - m2) ** 2).sum()) + max(0.0, float(np.trace(S1 + S2 - 2 * cross))))


def otdd_geomloss(XA, yA, XB, yB, entreg, debias, scale):
    ka, MA, SA = stats(XA, yA)
    kb, MB, SB = stats(XB, yB)
    W = lambda M1, S1, M2, S2: np.array([[w2(M1[i], S1[i], M2[j], S2[j]) for j in range(len(M2))]
                                         for i in range(len(M1))])
    Wab, Waa, Wbb = W(MA, SA, MB, SB), W(MA, SA, MA, SA), W(MB, SB, MB, SB)
    ia, ib = np.searchsorted(ka, yA), np.searchsorted(kb, yB)
    Cab = scale * (sqdist(XA, XB) + Wab[ia][:, ib])
    Caa = scale * (sqdist(XA, XA) + Waa[ia][:, ia])
    Cbb = scale * (sqdist(XB, XB) + Wbb[ib][:, ib])
    Z1 = np.concatenate([XA, ia[:, None].astype(np.float64)], 1)
    Z2 = np.concatenate([XB, (ib + (len(ka) if debias else 0))[:, None].astype(np.float64)], 1)
    D = max_diameter(Z1, Z2)
    eps_list = epsilon_schedule(2, D, entreg ** 0.5, 0.5)
    a, b = np.full(len(XA), 1 / len(XA)), np.full(len(XB), 1 / len(XB))
    pots = sinkhorn_loop(a, b, Cab, Caa, Cbb, eps_list, debias)
    return sinkhorn_cost(a, b, *pots, debias), D, len(eps_list)


def main():
    g = {"versions": {"numpy": np.__version__}, "reference": "numpy transcription of geomloss (GitHub head) sinkhorn_loop"}
    # 1. plain annealed Sinkhorn on the committed sk_ problem; diameter sqrt(max M) (the crate's
    # default when none is given), scaling 0.5, eps 0.05.
    a, b, M = load("sk_a.npy"), load("sk_b.npy"), load("sk_M.npy")
    eps = 0.05
    D = float(np.sqrt(M.max()))
    eps_list = epsilon_schedule(2, D, eps ** 0.5, 0.5)
    _, _, G, F = sinkhorn_loop(a, b, M, None, None, eps_list, False)
    np.save(os.path.join(DATA, "sk_anneal_F.npy"), F)
    np.save(os.path.join(DATA, "sk_anneal_G.npy"), G)
    g["sinkhorn_annealed"] = {"eps": eps, "diameter": D, "scaling": 0.5, "n_eps": len(eps_list),
                              "dual": float(a @ F + b @ G)}
    # 2. OTDD with the geomloss outer problem on the committed 240-sample anchor subsets.
    XA = load("otdd_XA.npy").astype(np.float64)
    XB = load("otdd_XB.npy").astype(np.float64)
    yA, yB = load("otdd_yA.npy"), load("otdd_yB.npy")
    g["otdd_geomloss"] = {}
    for entreg, debias, scale, tag in [(0.1, False, 0.5, "half_entreg0.1"),
                                       (0.1, True, 0.5, "half_entreg0.1_debiased"),
                                       (10.0, True, 1.0, "unit_entreg10_debiased")]:
        v, D, n = otdd_geomloss(XA, yA, XB, yB, entreg, debias, scale)
        g["otdd_geomloss"][tag] = {"entreg": entreg, "debiased": debias, "scale": scale,
                                   "distance": v, "diameter": D, "n_eps": n}
    with open(os.path.join(DATA, "goldens_geomloss.json"), "w") as f:
        json.dump(g, f, indent=1)
    print(json.dumps(g, indent=1))


if __name__ == "__main__":
    main()
