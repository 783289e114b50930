"""Contrast enhancement and resampling: OpenCV's ``equalizeHist`` and CLAHE (pixel for
pixel), scipy.ndimage's ``zoom``."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np

from . import _checks, _native


def equalize_hist(src) -> np.ndarray:
    """``cv2.equalizeHist`` on a uint8 image."""
    arr = _checks.array("src", src, ndim=(2,))
    if arr.dtype != np.uint8:
        raise TypeError(f"src: dtype {arr.dtype} is not supported (uint8, as OpenCV's)")
    return _native.equalize_hist(arr)


class CLAHE:
    """``cv2.CLAHE``: contrast-limited adaptive histogram equalisation."""

    def __init__(self, clipLimit: float = 40.0, tileGridSize: Tuple[int, int] = (8, 8)) -> None:
        self.setClipLimit(clipLimit)
        self.setTilesGridSize(tileGridSize)

    def apply(self, src) -> np.ndarray:
        """The equalised uint8 or uint16 image."""
        arr = _checks.array("src", src, ndim=(2,))
        tx, ty = self._tiles
        return _native.clahe_apply(arr, self._clip, tx, ty)

    def getClipLimit(self) -> float:
        return self._clip

    def setClipLimit(self, clipLimit: float) -> None:
        self._clip = float(clipLimit)

    def getTilesGridSize(self) -> Tuple[int, int]:
        return self._tiles

    def setTilesGridSize(self, tileGridSize: Tuple[int, int]) -> None:
        tx, ty = tileGridSize
        self._tiles = (int(tx), int(ty))


def create_clahe(clipLimit: float = 40.0, tileGridSize: Tuple[int, int] = (8, 8)) -> CLAHE:
    """``cv2.createCLAHE(clipLimit, tileGridSize)``; ``tileGridSize`` is (columns, rows)."""
    return CLAHE(clipLimit, tileGridSize)


def zoom(input, zoom: Union[float, Sequence[float]], output=None, order: int = 3,
         mode: str = "constant", cval: float = 0.0, prefilter: bool = True, *,
         grid_mode: bool = False) -> np.ndarray:
    """``scipy.ndimage.zoom`` of a 2-D or 3-D array (uint8, int16, int32, float32, float64).

    Orders 0 (nearest) and 1 (linear) give scipy's values for every ``mode``: with
    ``grid_mode=False`` no output voxel samples outside the input. Order 3 is scipy's cubic
    spline with ``mode='nearest'`` only (the spline's prefilter depends on the mode): pass
    ``mode='nearest'``.
    """
    arr = _checks.array("input", input, ndim=(2, 3))
    _checks.unsupported("output", output, None)
    _checks.unsupported("grid_mode", grid_mode, False)
    if int(order) == 3:
        if mode != "nearest":
            raise ValueError(
                f"mode={mode!r} with order=3 is not supported by covid_ct: its cubic spline is "
                "scipy's mode='nearest'"
            )
        _checks.unsupported("prefilter", prefilter, True)
    factors = np.broadcast_to(np.asarray(zoom, dtype=float), (arr.ndim,))
    shape = [int(round(n * f)) for n, f in zip(arr.shape, factors)]
    if min(shape) < 1:
        raise ValueError(f"zoom: gives an empty output shape {tuple(shape)}")
    return _native.zoom(arr, shape, int(order))
