"""Second-level classifiers with scikit-learn's interface: an RBF ``SVC``, XGBoost-style
boosted trees (``XGBClassifier``) and ``classification_report`` (sklearn's text, byte for
byte).

Differences from the references, by design of the ``ensemble`` crate (docs/ensemble.md):
multi-class SVC is one-vs-rest (sklearn's is one-vs-one: predictions can differ on
borderline samples); binary trees use the softmax objective; the trees' random subsampling
is not XGBoost's generator. Binary SVC decisions are libsvm's.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from . import _checks, _native


def _features(name: str, X) -> np.ndarray:
    return _checks.finite(name, _checks.array(name, X, ndim=(2,), dtype=np.float64))


class _Classifier:
    """Maps any labels to class indices (``classes_``), as scikit-learn does."""

    _native_model: Any

    def fit(self, X, y) -> "_Classifier":
        x = _features("X", X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y: needs one label per row of X ({x.shape[0]}), got shape {y.shape}")
        self.classes_, index = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"y: needs at least two classes, got {self.classes_.tolist()}")
        self._native_model = self._build()
        self._native_model.fit(x, index.astype(np.int64))
        self.n_features_in_ = x.shape[1]
        return self

    def _fitted(self, X) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit first")
        x = _features("X", X)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"X: has {x.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return x

    def predict(self, X) -> np.ndarray:
        x = self._fitted(X)
        return self.classes_[self._native_model.predict(x)]

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, columns in the order of ``classes_``."""
        return self._native_model.predict_proba(self._fitted(X))

    def score(self, X, y) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))


class SVC(_Classifier):
    """``sklearn.svm.SVC`` with the RBF kernel: ``C``, ``gamma`` ('scale', 'auto' or a
    number), ``tol``, ``probability`` (Platt scaling by libsvm's 5-fold procedure),
    ``random_state``; ``max_iter=-1`` means no limit. ``kernel`` must be 'rbf'."""

    def __init__(self, *, C: float = 1.0, kernel: str = "rbf", gamma: Union[str, float] = "scale",
                 tol: float = 1e-3, probability: bool = False, max_iter: int = -1,
                 random_state: Optional[int] = None) -> None:
        _checks.unsupported("kernel", kernel, "rbf")
        self.C, self.kernel, self.gamma, self.tol = C, kernel, gamma, tol
        self.probability, self.max_iter, self.random_state = probability, max_iter, random_state

    def _build(self):
        gamma, value = (self.gamma, None) if isinstance(self.gamma, str) else ("value", float(self.gamma))
        return _native.Svc(float(self.C), gamma, value, float(self.tol), bool(self.probability),
                           False, int(self.random_state or 0),
                           None if self.max_iter is None or self.max_iter < 0 else int(self.max_iter))

    def predict_proba(self, X) -> np.ndarray:
        if not self.probability:
            raise AttributeError("predict_proba is not available when probability=False")
        return super().predict_proba(X)


class XGBClassifier(_Classifier):
    """``xgboost.XGBClassifier`` with ``tree_method='hist'``: ``n_estimators``,
    ``learning_rate``, ``max_depth``, ``reg_lambda``, ``gamma``, ``min_child_weight``,
    ``subsample``, ``colsample_bytree``, ``max_bin``, ``random_state``."""

    def __init__(self, *, n_estimators: int = 100, learning_rate: float = 0.3, max_depth: int = 6,
                 reg_lambda: float = 1.0, gamma: float = 0.0, min_child_weight: float = 1.0,
                 subsample: float = 1.0, colsample_bytree: float = 1.0, max_bin: int = 256,
                 random_state: Optional[int] = None) -> None:
        self.n_estimators, self.learning_rate, self.max_depth = n_estimators, learning_rate, max_depth
        self.reg_lambda, self.gamma, self.min_child_weight = reg_lambda, gamma, min_child_weight
        self.subsample, self.colsample_bytree, self.max_bin = subsample, colsample_bytree, max_bin
        self.random_state = random_state

    def _build(self):
        return _native.Trees(int(self.n_estimators), float(self.learning_rate), int(self.max_depth),
                             float(self.reg_lambda), float(self.gamma), float(self.min_child_weight),
                             float(self.subsample), float(self.colsample_bytree), int(self.max_bin),
                             int(self.random_state or 0))


def classification_report(y_true, y_pred, *, labels: Optional[Sequence] = None,
                          target_names: Optional[Sequence[str]] = None, sample_weight=None,
                          digits: int = 2, output_dict: bool = False,
                          zero_division: Union[str, float] = "warn") -> Union[str, Dict[str, Any]]:
    """``sklearn.metrics.classification_report``: the same text, byte for byte, or the same
    dictionary with ``output_dict=True``."""
    _checks.unsupported("sample_weight", sample_weight, None)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or p.shape != t.shape:
        raise ValueError(f"y_pred: needs the shape of y_true {t.shape}, got {p.shape}")
    present = np.unique(np.concatenate([t, p]))
    wanted = present if labels is None else np.asarray(labels)
    universe = np.unique(np.concatenate([present, wanted]))
    index = {v: i for i, v in enumerate(universe.tolist())}
    names = [str(v) for v in wanted.tolist()] if target_names is None else [str(n) for n in target_names]
    zd = {"warn": "warn", 0: "0", 1: "1"}.get(zero_division, None)
    if zd is None:
        if isinstance(zero_division, float) and np.isnan(zero_division):
            zd = "nan"
        else:
            raise ValueError(f"zero_division: 'warn', 0, 1 or np.nan, got {zero_division!r}")
    text, raw = _native.classification_report(
        np.array([index[v] for v in t.tolist()], dtype=np.int64),
        np.array([index[v] for v in p.tolist()], dtype=np.int64),
        [index[v] for v in wanted.tolist()] if labels is not None else [index[v] for v in present.tolist()],
        names, int(digits), zd,
    )
    if not output_dict:
        return text
    rep = json.loads(raw)
    def score(s):  # JSON has no NaN: serde writes null
        value = lambda v: float("nan") if v is None else v  # noqa: E731
        return {"precision": value(s["precision"]), "recall": value(s["recall"]),
                "f1-score": value(s["f1"]), "support": s["support"]}
    out: Dict[str, Any] = {c["name"]: score(c["scores"]) for c in rep["classes"]}
    if "accuracy" in rep and rep["accuracy"] is not None:
        out["accuracy"] = rep["accuracy"]
    else:
        out["micro avg"] = score(rep["micro_avg"])
    out["macro avg"] = score(rep["macro_avg"])
    out["weighted avg"] = score(rep["weighted_avg"])
    return out
