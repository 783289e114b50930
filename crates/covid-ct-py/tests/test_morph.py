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


REALCT = __import__("pathlib").Path(__file__).resolve().parents[3] / "target" / "realct"
MASKS = REALCT.parents[1] / "crates" / "ct-morph" / "tests" / "data" / "realct"


@pytest.mark.skipif(not (REALCT / "lidc_0001").is_dir(), reason="tools/realct/fetch.sh not run")
def test_segment_lungs_on_real_ct_matches_the_reviewed_reference():
    import covid_ct.io as cio

    for name, source in [("lidc_0001", "lidc_0001"), ("pyrad_lung1", "pyrad_lung1.nii.gz")]:
        hu, spacing, _ = cio.read_volume(REALCT / source)
        labels, volumes = cm.segment_lungs(hu, spacing)
        reference, _, _ = cio.read_volume(MASKS / f"{name}_ref.nii.gz")
        got, want = np.isin(labels, (1, 2)), np.isin(reference, (1, 2))
        dice = 2 * (got & want).sum() / (got.sum() + want.sum())
        assert dice > 0.99, (name, dice)
        voxel_ml = np.prod(spacing) / 1000
        assert volumes["right_ml"] + volumes["left_ml"] == pytest.approx(got.sum() * voxel_ml, rel=1e-9)


def test_segment_lungs_refuses_what_is_no_chest():
    with pytest.raises(ValueError):
        cm.segment_lungs(np.full((4, 32, 32), -1000, np.int16), (1.0, 1.0, 1.0))
    with pytest.raises(TypeError, match="hu"):
        cm.segment_lungs(np.zeros((4, 32, 32)), (1.0, 1.0, 1.0))
