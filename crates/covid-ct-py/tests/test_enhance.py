"""covid_ct.enhance against OpenCV and scipy.ndimage on fresh random images and volumes."""

import cv2
import numpy as np
import pytest
from scipy import ndimage

import covid_ct.enhance as ce


def test_equalize_hist_equals_opencv(rng):
    for shape in [(64, 64), (37, 101), (512, 512)]:
        img = rng.normal(100, 30, shape).clip(0, 255).astype(np.uint8)
        np.testing.assert_array_equal(ce.equalize_hist(img), cv2.equalizeHist(img))
    flat = np.full((10, 10), 7, np.uint8)
    np.testing.assert_array_equal(ce.equalize_hist(flat), cv2.equalizeHist(flat))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_clahe_equals_opencv(rng, dtype):
    top = 255 if dtype == np.uint8 else 4095
    for shape in [(64, 64), (97, 130)]:
        img = rng.normal(top / 3, top / 8, shape).clip(0, top).astype(dtype)
        for clip, tiles in [(2.0, (8, 8)), (40.0, (8, 8)), (4.0, (3, 5))]:
            want = cv2.createCLAHE(clipLimit=clip, tileGridSize=tiles).apply(img)
            got = ce.create_clahe(clipLimit=clip, tileGridSize=tiles).apply(img)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"clip {clip} tiles {tiles}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8])
def test_zoom_equals_scipy(rng, dtype):
    vol = rng.normal(0, 300, (9, 23, 17))
    vol = vol.astype(dtype) if np.dtype(dtype).kind == "f" else vol.clip(0 if dtype == np.uint8 else -1000, 255 if dtype == np.uint8 else 3000).astype(dtype)
    for factors in [(2.0, 0.5, 1.3), (0.7, 1.0, 2.2)]:
        for order, mode in [(0, "constant"), (1, "constant"), (3, "nearest")]:
            want = ndimage.zoom(vol, factors, order=order, mode=mode)
            got = ce.zoom(vol, factors, order=order, mode=mode)
            assert got.shape == want.shape and got.dtype == want.dtype
            if np.dtype(dtype).kind == "f":
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * 300)
            else:
                # Integer output is rounded: a value within 1e-5 of .5 may round either way.
                assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
                assert (got != want).mean() < 1e-3
    img = vol[0].astype(np.float64)
    np.testing.assert_allclose(ce.zoom(img, 1.5, order=1), ndimage.zoom(img, 1.5, order=1), atol=1e-9)
    with pytest.raises(ValueError, match="mode"):
        ce.zoom(img, 2.0)  # scipy's default order 3 with mode='constant'
