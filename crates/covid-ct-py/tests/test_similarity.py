"""covid_ct.similarity against scikit-image and imagehash on fresh random images."""

import imagehash
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import covid_ct.similarity as cs


def pair(rng, dtype, shape=(67, 53)):
    if np.dtype(dtype).kind == "f":
        a = rng.random(shape).astype(dtype)
        b = np.clip(a + rng.normal(0, 0.1, shape), 0, 1).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -2000), min(info.max, 4000)
        a = rng.integers(lo, hi, shape).astype(dtype)
        b = np.clip(a + rng.normal(0, (hi - lo) / 20, shape), lo, hi).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "float64"])
def test_ssim_and_psnr_equal_skimage(rng, dtype):
    a, b = pair(rng, dtype)
    dr = 1.0 if np.dtype(dtype).kind == "f" else None
    # float32: scikit-image computes in float32, covid_ct in float64.
    tol = 1e-5 if dtype == "float32" else 1e-9
    for kwargs in ({}, {"win_size": 5}, {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}):
        want = structural_similarity(a, b, data_range=dr, **kwargs)
        got = cs.structural_similarity(a, b, data_range=dr, **kwargs)
        assert abs(got - want) <= tol * max(1.0, abs(want)), (kwargs, got, want)
    mean, smap = cs.structural_similarity(a, b, data_range=dr, full=True)
    want_mean, want_map = structural_similarity(a, b, data_range=dr, full=True)
    np.testing.assert_allclose(smap, want_map, rtol=0, atol=10 * tol)
    want = peak_signal_noise_ratio(a, b, data_range=dr)
    assert abs(cs.peak_signal_noise_ratio(a, b, data_range=dr) - want) <= 1e-9 * abs(want)
    assert cs.peak_signal_noise_ratio(a, a.copy(), data_range=dr) == np.inf


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_hashes_equal_imagehash(rng, mode):
    shape = {"L": (120, 90), "RGB": (77, 131, 3), "RGBA": (64, 64, 4)}[mode]
    pixels = rng.integers(0, 256, shape).astype(np.uint8)
    # Smooth structure so that the hashes are not all noise.
    pixels = ((pixels.astype(float) + np.roll(pixels, 7, axis=0)) / 2).astype(np.uint8)
    img = Image.fromarray(pixels, mode)
    for name in ("average_hash", "phash", "dhash", "whash"):
        for size in (8, 16):
            want = getattr(imagehash, name)(img, hash_size=size)
            got = getattr(cs, name)(img, hash_size=size)
            assert str(got) == str(want), (name, size)
            np.testing.assert_array_equal(got.hash, want.hash)
            # The same from the numpy array.
            assert str(getattr(cs, name)(pixels, hash_size=size)) == str(want)
    a, b = cs.phash(img), cs.phash(Image.fromarray(np.flipud(pixels), mode))
    assert a - b == imagehash.phash(img) - imagehash.phash(Image.fromarray(np.flipud(pixels), mode))
    assert cs.hex_to_hash(str(a)) == a and hash(a) == hash(imagehash.hex_to_hash(str(a)))


def test_palette_images_hash_like_imagehash(rng):
    img = Image.fromarray(rng.integers(0, 256, (50, 70, 3)).astype(np.uint8)).convert("P")
    assert str(cs.dhash(img)) == str(imagehash.dhash(img))
