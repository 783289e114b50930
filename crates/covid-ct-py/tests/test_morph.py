"""covid_ct.morph against scipy.ndimage on fresh random masks: identical results."""

import numpy as np
import pytest
from scipy import ndimage

import covid_ct.morph as cm
from conftest import blobs

SHAPES = [(97,), (61, 45), (23, 31, 27)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("op", ["binary_erosion", "binary_dilation", "binary_opening", "binary_closing"])
def test_morphology_equals_scipy(rng, shape, op):
    mask = blobs(rng, shape)
    rank = len(shape)
    for connectivity in range(1, rank + 1):
        s = ndimage.generate_binary_structure(rank, connectivity)
        for iterations in (1, 2, 0):
            for border_value in (0, 1):
                want = getattr(ndimage, op)(mask, s, iterations=iterations, border_value=border_value)
                got = getattr(cm, op)(mask, s, iterations=iterations, border_value=border_value)
                assert got.dtype == bool and got.shape == mask.shape
                np.testing.assert_array_equal(got, want, err_msg=f"{op} c={connectivity} it={iterations} bv={border_value}")
    # Defaults, a non-boolean input, a random odd element and a strided view.
    np.testing.assert_array_equal(getattr(cm, op)(mask.astype(np.uint8)), getattr(ndimage, op)(mask))
    element = rng.random((3,) * rank) < 0.6
    element[(1,) * rank] = True
    np.testing.assert_array_equal(getattr(cm, op)(mask, element), getattr(ndimage, op)(mask, element))
    view = mask[::2]
    np.testing.assert_array_equal(getattr(cm, op)(view), getattr(ndimage, op)(view))


@pytest.mark.parametrize("shape", SHAPES[1:], ids=lambda s: f"{len(s)}d")
def test_fill_holes_and_label_equal_scipy(rng, shape):
    mask = blobs(rng, shape, n=10)
    rank = len(shape)
    for connectivity in range(1, rank + 1):
        s = ndimage.generate_binary_structure(rank, connectivity)
        np.testing.assert_array_equal(cm.binary_fill_holes(mask, s), ndimage.binary_fill_holes(mask, s))
        got, n = cm.label(mask, s)
        want, m = ndimage.label(mask, s)
        assert n == m and got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cm.binary_fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_structures_equal_scipy():
    for rank in (1, 2, 3):
        for connectivity in range(0, rank + 2):
            np.testing.assert_array_equal(
                cm.generate_binary_structure(rank, connectivity),
                ndimage.generate_binary_structure(rank, connectivity),
            )
            s = ndimage.generate_binary_structure(rank, max(connectivity, 1))
            for n in (1, 2, 3):
                np.testing.assert_array_equal(cm.iterate_structure(s, n), ndimage.iterate_structure(s, n))
