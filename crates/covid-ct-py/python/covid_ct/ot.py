"""Optimal transport with POT's signatures: exact EMD (network simplex) and entropic
Sinkhorn. Empty ``a`` or ``b`` means uniform weights, as in POT."""

from __future__ import annotations

import numpy as np

from . import _checks, _native


def _weights(name: str, w, n: int) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64)
    if arr.size == 0:
        return np.full(n, 1.0 / n)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: needs {n} weights (one per row/column of M), got shape {arr.shape}")
    return _checks.finite(name, arr)


def _problem(a, b, M):
    m = _checks.finite("M", _checks.array("M", M, ndim=(2,), dtype=np.float64))
    return _weights("a", a, m.shape[0]), _weights("b", b, m.shape[1]), m


def emd(a, b, M, numItermax: int = 100000, log: bool = False, center_dual: bool = True,
        numThreads=1, check_marginals: bool = True) -> np.ndarray:
    """``ot.emd``: the optimal transport plan."""
    _checks.unsupported("log", log, False)
    a, b, m = _problem(a, b, M)
    return _native.emd(a, b, m, int(numItermax))[0]


def emd2(a, b, M, processes=1, numItermax: int = 100000, log: bool = False,
         return_matrix: bool = False, center_dual: bool = True, numThreads=1,
         check_marginals: bool = True) -> float:
    """``ot.emd2``: the optimal transport cost."""
    _checks.unsupported("log", log, False)
    _checks.unsupported("return_matrix", return_matrix, False)
    a, b, m = _problem(a, b, M)
    return _native.emd(a, b, m, int(numItermax))[1]


def _sinkhorn(a, b, M, reg, method, numItermax, stopThr, log, kwargs):
    _checks.unsupported("log", log, False)
    for k in ("verbose", "warn", "warmstart"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"sinkhorn: unexpected keyword(s) {sorted(kwargs)}")
    reg = float(reg)
    if not reg > 0:
        raise ValueError(f"reg: must be > 0, got {reg}")
    a, b, m = _problem(a, b, M)
    return _native.sinkhorn(a, b, m, reg, method, int(numItermax), float(stopThr))


def sinkhorn(a, b, M, reg, method: str = "sinkhorn", numItermax: int = 1000,
             stopThr: float = 1e-9, verbose: bool = False, log: bool = False,
             **kwargs) -> np.ndarray:
    """``ot.sinkhorn``: the entropic plan (methods ``'sinkhorn'`` and ``'sinkhorn_log'``)."""
    return _sinkhorn(a, b, M, reg, method, numItermax, stopThr, log, kwargs)[0]


def sinkhorn2(a, b, M, reg, method: str = "sinkhorn", numItermax: int = 1000,
              stopThr: float = 1e-9, verbose: bool = False, log: bool = False,
              **kwargs) -> float:
    """``ot.sinkhorn2``: the transport cost ``<P, M>`` of the entropic plan."""
    return _sinkhorn(a, b, M, reg, method, numItermax, stopThr, log, kwargs)[1]
