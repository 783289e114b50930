"""Binary morphology, hole filling and labelling with scipy.ndimage's signatures and results,
and covid-ct's lung segmentation (``segment_lungs``).

Masks of 1, 2 or 3 dimensions; any input is read as ``input != 0`` as scipy does. The
structuring element must have odd extents (scipy's ``origin`` shifts are not supported).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _checks, _native


def _mask(name: str, value) -> np.ndarray:
    arr = _checks.array(name, value, ndim=(1, 2, 3))
    return arr if arr.dtype == bool else arr != 0


def _structure(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    return np.asarray(value) != 0


def _options(output, origin, mask=None) -> None:
    _checks.unsupported("output", output, None)
    _checks.unsupported("origin", origin, 0)
    _checks.unsupported("mask", mask, None)


def _iterations(iterations: int) -> int:
    # scipy: "if iterations is less than 1, the operation is repeated until the result does
    # not change anymore".
    return 0 if int(iterations) < 1 else int(iterations)


def _morphology(op, input, structure, iterations, mask, output, border_value, origin):
    _options(output, origin, mask)
    return _native.binary_morphology(
        op, _mask("input", input), _structure(structure), _iterations(iterations),
        bool(border_value),
    )


def binary_erosion(input, structure=None, iterations=1, mask=None, output=None,
                   border_value=0, origin=0, brute_force=False) -> np.ndarray:
    """``scipy.ndimage.binary_erosion`` (``brute_force`` only changes scipy's speed)."""
    return _morphology("erosion", input, structure, iterations, mask, output, border_value, origin)


def binary_dilation(input, structure=None, iterations=1, mask=None, output=None,
                    border_value=0, origin=0, brute_force=False) -> np.ndarray:
    """``scipy.ndimage.binary_dilation``."""
    return _morphology("dilation", input, structure, iterations, mask, output, border_value,
                       origin)


def binary_opening(input, structure=None, iterations=1, output=None, origin=0, mask=None,
                   border_value=0, brute_force=False) -> np.ndarray:
    """``scipy.ndimage.binary_opening``: erosion then dilation."""
    return _morphology("opening", input, structure, iterations, mask, output, border_value, origin)


def binary_closing(input, structure=None, iterations=1, output=None, origin=0, mask=None,
                   border_value=0, brute_force=False) -> np.ndarray:
    """``scipy.ndimage.binary_closing``: dilation then erosion."""
    return _morphology("closing", input, structure, iterations, mask, output, border_value, origin)


def binary_fill_holes(input, structure=None, output=None, origin=0) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes``: background not connected to the border becomes
    foreground."""
    _options(output, origin)
    return _native.binary_fill_holes(_mask("input", input), _structure(structure))


def label(input, structure=None, output=None) -> Tuple[np.ndarray, int]:
    """``scipy.ndimage.label``: ``(labels int32, number of features)``, labels numbered in
    scan order as scipy numbers them."""
    _checks.unsupported("output", output, None)
    return _native.label(_mask("input", input), _structure(structure))


def generate_binary_structure(rank: int, connectivity: int) -> np.ndarray:
    """``scipy.ndimage.generate_binary_structure`` for ranks 1 to 3."""
    rank, connectivity = int(rank), int(connectivity)
    if not 1 <= rank <= 3:
        raise ValueError(f"rank: covid_ct has ranks 1 to 3, got {rank}")
    # scipy clamps: connectivity < 1 is 1, connectivity > rank is the full box.
    return _native.generate_binary_structure(rank, min(max(connectivity, 1), rank))


def iterate_structure(structure, iterations: int, origin=None) -> np.ndarray:
    """``scipy.ndimage.iterate_structure``: the element dilated by itself ``iterations - 1``
    times."""
    _checks.unsupported("origin", origin, None)
    s = _checks.array("structure", structure, ndim=(1, 2, 3)) != 0
    if int(iterations) < 2:
        return s.copy()
    return _native.iterate_structure(s, int(iterations))


def segment_lungs(hu, spacing=(1.0, 1.0, 1.0)) -> Tuple[np.ndarray, dict]:
    """covid-ct's body-first lung segmentation of an ``int16[z, y, x]`` HU volume with its
    spacing ``(dz, dy, dx)`` in mm: ``(labels, volumes)`` with labels 0 background,
    1 right lung, 2 left lung, 3 airways (x toward the patient's left, as DICOM's LPS), and
    the lungs', airways' and body's volumes in mL. Raises ``ValueError`` when the volume
    holds no body or no lung."""
    arr = _checks.array("hu", hu, ndim=(3,))
    if arr.dtype != np.int16:
        raise TypeError(f"hu: dtype {arr.dtype} is not supported (int16 Hounsfield units)")
    dz, dy, dx = (float(s) for s in spacing)
    return _native.segment_lungs(arr, (dz, dy, dx))
