"""Argument checks shared by the wrappers: the messages name the argument."""

from __future__ import annotations

import numpy as np


def array(name: str, value, ndim: tuple[int, ...] | None = None, dtype=None) -> np.ndarray:
    """``np.asarray(value, dtype)`` with its rank checked."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot be read as an array ({e})") from None
    if arr.dtype == object:
        raise TypeError(f"{name}: an array of numbers is needed, got dtype object")
    if ndim is not None and arr.ndim not in ndim:
        want = " or ".join(str(n) for n in ndim)
        raise ValueError(f"{name}: needs {want} dimensions, got {arr.ndim} (shape {arr.shape})")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty (shape {arr.shape})")
    return arr


def finite(name: str, arr: np.ndarray) -> np.ndarray:
    """Refuses NaN and infinite values."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name}: holds NaN or infinite values")
    return arr


def unsupported(name: str, value, default) -> None:
    """Refuses a reference-library option that covid_ct does not implement."""
    if value is default:
        return
    try:
        same = bool(value == default)
    except (TypeError, ValueError):  # an array compared with a scalar
        same = False
    if not same:
        raise ValueError(
            f"{name}={value!r} is not supported by covid_ct (only the default {default!r})"
        )
