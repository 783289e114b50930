"""Golden files for crates/otdd (POT 0.9.7.post1, numpy, scipy: see tools/requirements.txt).

Writes crates/otdd/tests/data/*.npy and goldens.json. Inputs are small: random problems from a
fixed seed and the first rows of the shared anchor features (/tmp/anchors/data/feats.npy,
regenerate with ANCHORS_WORK=/tmp/anchors python3 /work/shared/anchors/make_inputs.py).

The OTDD references are a numpy transcription of microsoft/otdd's formulas
(otdd/pytorch/distance.py, wasserstein.py, moments.py, sqrtm.py at the GitHub head), because the
`otdd` package is not on PyPI and geomloss/torch are not installed here:
  * classes with fewer than min_labelcount=2 samples are dropped with their samples;
  * per-class mean and covariance with ddof=1 (OnlineStatsRecorder, unbiased);
  * W2^2 = ||mu-mu'||^2 + relu(tr(S + S' - 2 sqrtm(sqrtS S' sqrtS))), sqrtm by eigh with the
    reference's cutoff (eigenvalues <= lmax*d*eps set to 0, symsqrt_v2);
  * cost = lambda_x*||x-x'||^2/2 + lambda_y*W2^2/2 (cost_routines[2] and C2/p in
    batch_augmented_cost);
  * the outer problem is solved to convergence here (POT sinkhorn_log / emd2), where the
    reference calls geomloss's annealed Sinkhorn (see docs/otdd.md for that difference).
Usage: python3 tools/otdd/make_goldens.py
"""
import json
import os

import numpy as np
import ot
import scipy

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "otdd", "tests", "data")
ANCH = os.environ.get("ANCHORS_WORK", "/tmp/anchors")


def save(name, arr):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(arr))


def sqrtm_ref(S):
    """microsoft/otdd symsqrt_v2 in float64."""
    w, V = np.linalg.eigh(S)
    w = np.where(w > w.max() * w.shape[-1] * np.finfo(w.dtype).eps, w, 0.0)
    return (V * np.sqrt(w)) @ V.T


def sqrtm_clamp(S):
    w, V = np.linalg.eigh((S + S.T) * 0.5)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def stats(X, y, min_count=2):
    vals, cts = np.unique(y, return_counts=True)
    keep = vals[cts >= min_count]
    M = [X[y == c].mean(0) for c in keep]
    S = [np.cov(X[y == c], rowvar=False, ddof=1) for c in keep]
    return keep, M, S


def w2_gauss(m1, S1, m2, S2, sq):
    r1 = sq(S1)
    cross = sq(r1 @ S2 @ r1)
    b = max(0.0, float(np.trace(S1 + S2 - 2 * cross)))
    return max(0.0, float(((m1 - m2) ** 2).sum()) + b)


def label_table(XA, yA, XB, yB, sq):
    ka, MA, SA = stats(XA, yA)
    kb, MB, SB = stats(XB, yB)
    W = np.array([[w2_gauss(MA[i], SA[i], MB[j], SB[j], sq) for j in range(len(kb))] for i in range(len(ka))])
    return ka, kb, W


def aug_cost(XA, yA, XB, yB, ka, kb, W, scale):
    ia = np.searchsorted(ka, yA)
    ib = np.searchsorted(kb, yB)
    return scale * (ot.dist(XA, XB) + W[ia][:, ib])


def keep_rows(X, y, min_count=2):
    vals, cts = np.unique(y, return_counts=True)
    keep = vals[cts >= min_count]
    m = np.isin(y, keep)
    return X[m], y[m]


def sinkhorn_scaled(a, b, C, reg, thr=1e-10):
    """POT sinkhorn_log run to convergence, warm-started along eps = reg*10^k, k = 2, 1, 0
    (the log-domain fixed point does not depend on the start; this only saves iterations)."""
    f = np.zeros(len(a))
    g = np.zeros(len(b))
    for e in [reg * 10, reg]:
        P, log = ot.sinkhorn(a, b, C, e, method="sinkhorn_log", numItermax=100000, stopThr=thr,
                             warmstart=(f / e, g / e), log=True, warn=False)
        f, g = e * log["log_u"], e * log["log_v"]
    assert log["err"][-1] < thr, log["err"][-1]
    return P


def ent_value(P, C, a, b, reg):
    """OT_eps = <P,C> + eps*KL(P | a x b)."""
    nz = P > 0
    L = np.log(P[nz]) - np.log(a[:, None] * b[None, :])[nz]
    return float((P * C).sum() + reg * (P[nz] * L).sum())


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    g = {"versions": {"POT": ot.__version__, "numpy": np.__version__, "scipy": scipy.__version__}}

    # 1. costs
    X = rng.normal(size=(7, 5))
    Y = rng.normal(size=(6, 5)) + 0.5
    save("cost_x.npy", X)
    save("cost_y.npy", Y)
    save("cost_ref.npy", ot.dist(X, Y))

    # 2. exact OT
    cases = {}
    # (a) random weights, random cost
    a = rng.random(40) + 0.1
    a /= a.sum()
    b = rng.random(30) + 0.1
    b /= b.sum()
    M = rng.random((40, 30)) * 10
    cases["emd_rand"] = (a, b, M)
    # (b) degenerate: uniform weights, integer costs with many ties
    M = rng.integers(0, 4, size=(25, 25)).astype(np.float64)
    cases["emd_ties"] = (np.full(25, 1 / 25), np.full(25, 1 / 25), M)
    # (c) zero weights in a and b
    a = rng.random(20)
    a[[2, 7, 11]] = 0
    a /= a.sum()
    b = rng.random(15)
    b[[0, 14]] = 0
    b /= b.sum()
    cases["emd_zeros"] = (a, b, rng.random((20, 15)))
    # (d) anchor features: first 120 of each set, squared Euclidean cost
    feats = np.load(os.path.join(ANCH, "data", "feats.npy"))
    labels = np.load(os.path.join(ANCH, "data", "labels.npy"))
    XA, XB = feats[0].astype(np.float64), feats[1].astype(np.float64)
    C = ot.dist(XA[:120], XB[:120])
    cases["emd_feats"] = (np.full(120, 1 / 120), np.full(120, 1 / 120), C)
    # (e) rectangular, both directions of imbalance
    cases["emd_rect"] = (np.full(13, 1 / 13), np.full(31, 1 / 31), rng.random((13, 31)))
    g["emd"] = {}
    for name, (a, b, M) in cases.items():
        G, log = ot.emd(a, b, M, log=True)
        save(f"{name}_a.npy", a)
        save(f"{name}_b.npy", b)
        save(f"{name}_M.npy", M)
        save(f"{name}_G.npy", G)
        save(f"{name}_u.npy", log["u"])
        save(f"{name}_v.npy", log["v"])
        g["emd"][name] = {"cost": float(log["cost"]), "emd2": float(ot.emd2(a, b, M)),
                          "result_code": int(log["result_code"])}

    # 3. Sinkhorn
    g["sinkhorn"] = {}
    a = rng.random(60) + 0.05
    a /= a.sum()
    b = rng.random(50) + 0.05
    b /= b.sum()
    M = ot.dist(rng.normal(size=(60, 3)), rng.normal(size=(50, 3)) + 0.3)
    save("sk_a.npy", a)
    save("sk_b.npy", b)
    save("sk_M.npy", M)
    for method, reg, itmax, tag in [("sinkhorn", 0.5, 1000, "knopp"), ("sinkhorn_log", 0.5, 1000, "log"),
                                    ("sinkhorn", 0.05, 1000, "knopp_small"), ("sinkhorn", 0.5, 7, "knopp_cap"),
                                    ("sinkhorn_log", 0.05, 1000, "log_small")]:
        P, log = ot.sinkhorn(a, b, M, reg, method=method, numItermax=itmax, log=True, warn=False)
        save(f"sk_{tag}_P.npy", P)
        if method == "sinkhorn":
            f, gg = reg * np.log(log["u"]), reg * np.log(log["v"])
        else:
            f, gg = reg * log["log_u"], reg * log["log_v"]
        save(f"sk_{tag}_f.npy", f)
        save(f"sk_{tag}_g.npy", gg)
        g["sinkhorn"][tag] = {"method": method, "reg": reg, "numItermax": itmax,
                              "cost": float(ot.sinkhorn2(a, b, M, reg, method=method, numItermax=itmax, warn=False)),
                              "niter": int(log.get("niter", -1)), "err": [float(e) for e in log["err"]],
                              "value": ent_value(P, M, a, b, reg)}
    # debiased divergence on point clouds
    xs = rng.normal(size=(40, 2))
    xt = rng.normal(size=(35, 2)) * 1.3 + 0.4
    save("div_x.npy", xs)
    save("div_y.npy", xt)
    reg = 0.2
    ua, ub = np.full(40, 1 / 40), np.full(35, 1 / 35)
    vals = []
    for (p, q, wa, wb) in [(xs, xt, ua, ub), (xs, xs, ua, ua), (xt, xt, ub, ub)]:
        Cpq = ot.dist(p, q)
        P = sinkhorn_scaled(wa, wb, Cpq, reg, thr=1e-11)
        vals.append(ent_value(P, Cpq, wa, wb, reg))
    g["divergence"] = {"reg": reg, "ot_ab": vals[0], "ot_aa": vals[1], "ot_bb": vals[2],
                       "S": vals[0] - 0.5 * vals[1] - 0.5 * vals[2]}

    # 4. Gaussian W2 and OTDD on the anchor features (first N of each set, float32 stored)
    N = 240
    XA32, XB32 = feats[0][:N], feats[1][:N]
    yA, yB = labels[0][:N].copy(), labels[1][:N].copy()
    save("otdd_XA.npy", XA32)
    save("otdd_XB.npy", XB32)
    save("otdd_yA.npy", yA)
    save("otdd_yB.npy", yB)
    XA, XB = XA32.astype(np.float64), XB32.astype(np.float64)
    ka, kb, W_clamp = label_table(XA, yA, XB, yB, sqrtm_clamp)
    _, _, W_ref = label_table(XA, yA, XB, yB, sqrtm_ref)
    _, _, W_scipy = label_table(XA, yA, XB, yB, lambda S: scipy.linalg.sqrtm(S).real)
    save("otdd_W.npy", W_clamp)
    g["label_w2"] = {"max_abs_clamp_vs_ref_cutoff": float(np.abs(W_clamp - W_ref).max()),
                     "max_abs_clamp_vs_scipy": float(np.abs(W_clamp - W_scipy).max())}
    ua, ub = np.full(N, 1 / N), np.full(N, 1 / N)
    Cu = aug_cost(XA, yA, XB, yB, ka, kb, W_scipy, 1.0)
    g["otdd"] = {"exact_unit_scipy": float(ot.emd2(ua, ub, Cu, numItermax=10**7))}
    Ch = aug_cost(XA, yA, XB, yB, ka, kb, W_ref, 0.5)
    g["otdd"]["exact_half_ref"] = float(ot.emd2(ua, ub, Ch, numItermax=10**7))
    # means-only and exact inner
    _, MA, _ = stats(XA, yA)
    _, MB, _ = stats(XB, yB)
    Wm = np.array([[((MA[i] - MB[j]) ** 2).sum() for j in range(len(kb))] for i in range(len(ka))])
    g["otdd"]["exact_unit_means"] = float(ot.emd2(ua, ub, aug_cost(XA, yA, XB, yB, ka, kb, Wm, 1.0), numItermax=10**7))
    We = np.array([[ot.emd2([], [], ot.dist(XA[yA == ka[i]], XB[yB == kb[j]]), numItermax=10**7)
                    for j in range(len(kb))] for i in range(len(ka))])
    save("otdd_W_exact.npy", We)
    g["otdd"]["exact_unit_exactinner"] = float(ot.emd2(ua, ub, aug_cost(XA, yA, XB, yB, ka, kb, We, 1.0), numItermax=10**7))
    # (The entropic outer problem on this cost is not in the goldens: POT's sinkhorn_log needs
    # too many iterations at small eps on this machine; see docs/otdd.md.)
    # a class with a single sample is dropped with its sample (min_labelcount = 2)
    yA1 = yA.copy()
    yA1[5] = 7
    save("otdd_yA_single.npy", yA1)
    XA1, yA1k = keep_rows(XA, yA1)
    ka1, kb1, W1 = label_table(XA1, yA1k, XB, yB, sqrtm_ref)
    C1 = aug_cost(XA1, yA1k, XB, yB, ka1, kb1, W1, 0.5)
    g["otdd"]["exact_half_single_dropped"] = float(ot.emd2([], [], C1, numItermax=10**7))

    with open(os.path.join(OUT, "goldens.json"), "w") as f:
        json.dump(g, f, indent=1)
    print(json.dumps(g["otdd"], indent=1))


if __name__ == "__main__":
    main()
