"""Reading CT volumes in Hounsfield units (the work of pydicom + nibabel), and writing NIfTI."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _native

Spacing = Tuple[float, float, float]


def read_series(
    path: "str | os.PathLike[str]", series_uid: Optional[str] = None
) -> Tuple[np.ndarray, Spacing, Dict[str, Any]]:
    """One series of a DICOM folder as ``(hu, spacing, meta)``.

    ``hu`` is ``int16[z, y, x]`` in Hounsfield units (RescaleSlope/Intercept applied, slices
    sorted along the patient axis), ``spacing`` is ``(dz, dy, dx)`` in mm, ``meta`` holds the
    ids, the source, the slice thickness, the origin and any warnings. The largest series is
    read unless ``series_uid`` names one. Compressed transfer syntaxes (JPEG lossless, JPEG
    2000, RLE) are decoded. A bad file raises ``OSError`` naming the file.
    """
    return _native.read_series(os.fspath(path), series_uid)


def read_volume(path: "str | os.PathLike[str]") -> Tuple[np.ndarray, Spacing, Dict[str, Any]]:
    """Any volume covid-ct reads, as ``(hu, spacing, meta)`` (see :func:`read_series`).

    A DICOM folder or file (its series), ``.nii`` / ``.nii.gz``, ``.npy`` (int16 HU, z, y, x)
    or a folder of PNG/TIFF/JPEG slices.
    """
    return _native.read_volume(os.fspath(path))


def write_nifti(
    path: "str | os.PathLike[str]", hu: np.ndarray, spacing: Spacing = (1.0, 1.0, 1.0)
) -> None:
    """Writes an ``int16[z, y, x]`` volume as ``.nii`` or ``.nii.gz`` with its spacing (mm)."""
    arr = np.asarray(hu)
    if arr.dtype != np.int16:
        raise TypeError(f"hu: dtype {arr.dtype} is not supported (int16 Hounsfield units)")
    if arr.ndim != 3:
        raise ValueError(f"hu: needs 3 dimensions (z, y, x), got shape {arr.shape}")
    dz, dy, dx = (float(s) for s in spacing)
    _native.write_nifti(os.fspath(path), arr, (dz, dy, dx))
