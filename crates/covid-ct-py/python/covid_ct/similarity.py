"""Image similarity: scikit-image's SSIM and PSNR, and imagehash's perceptual hashes.

The hashes take a PIL image or a uint8 array (``(H, W)`` grey, ``(H, W, 3)`` RGB or
``(H, W, 4)`` RGBA) and return an :class:`ImageHash` that prints, compares and subtracts
(Hamming distance) like imagehash's.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _checks, _native


def _pair(im1, im2, names=("im1", "im2")):
    a = _checks.finite(names[0], _checks.array(names[0], im1, ndim=(2,)))
    b = _checks.finite(names[1], _checks.array(names[1], im2, ndim=(2,)))
    if a.shape != b.shape:
        raise ValueError(f"{names[1]}: shape {b.shape} differs from {names[0]}'s {a.shape}")
    return a, b


def structural_similarity(im1, im2, *, win_size: Optional[int] = None, gradient: bool = False,
                          data_range: Optional[float] = None, channel_axis=None,
                          gaussian_weights: bool = False, full: bool = False,
                          **kwargs) -> Union[float, Tuple[float, np.ndarray]]:
    """``skimage.metrics.structural_similarity`` for 2-D images of dtype uint8, uint16, int16,
    float32 or float64 (floats need ``data_range``, as in scikit-image).

    Keywords ``K1``, ``K2``, ``sigma`` and ``use_sample_covariance`` as scikit-image's. The
    computation is in float64 (scikit-image uses float32 for float32 input: ~1e-6 apart).
    """
    _checks.unsupported("gradient", gradient, False)
    _checks.unsupported("channel_axis", channel_axis, None)
    k1 = float(kwargs.pop("K1", 0.01))
    k2 = float(kwargs.pop("K2", 0.03))
    sigma = float(kwargs.pop("sigma", 1.5))
    use_sample_covariance = bool(kwargs.pop("use_sample_covariance", True))
    if kwargs:
        raise TypeError(f"structural_similarity: unexpected keyword(s) {sorted(kwargs)}")
    a, b = _pair(im1, im2)
    mean, smap = _native.structural_similarity(
        a, b, None if win_size is None else int(win_size), bool(gaussian_weights), sigma,
        use_sample_covariance, k1, k2, None if data_range is None else float(data_range),
        bool(full),
    )
    return (mean, smap) if full else mean


def peak_signal_noise_ratio(image_true, image_test, *, data_range: Optional[float] = None) -> float:
    """``skimage.metrics.peak_signal_noise_ratio`` (dB; ``inf`` for identical images)."""
    a, b = _pair(image_true, image_test, ("image_true", "image_test"))
    return _native.peak_signal_noise_ratio(
        a, b, None if data_range is None else float(data_range)
    )


class ImageHash:
    """A perceptual hash: ``hash`` is its boolean bit array, as imagehash's ``ImageHash``."""

    def __init__(self, binary_array: np.ndarray) -> None:
        self.hash = np.asarray(binary_array, dtype=bool)

    def __str__(self) -> str:
        bits = "".join(str(int(b)) for b in self.hash.flatten())
        width = int(np.ceil(len(bits) / 4))
        return "{:0>{width}x}".format(int(bits, 2), width=width)

    def __repr__(self) -> str:
        return repr(self.hash)

    def __sub__(self, other: "ImageHash") -> int:
        if other is None:
            raise TypeError("Other hash must not be None.")
        if self.hash.size != other.hash.size:
            raise TypeError("ImageHashes must be of the same shape.", self.hash.shape,
                            other.hash.shape)
        return int(np.count_nonzero(self.hash.flatten() != other.hash.flatten()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageHash):
            return False
        return bool(np.array_equal(self.hash.flatten(), other.hash.flatten()))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return sum(2 ** (i % 8) for i, v in enumerate(self.hash.flatten()) if v)

    def __len__(self) -> int:
        return self.hash.size


def hex_to_hash(hexstr: str) -> ImageHash:
    """imagehash's ``hex_to_hash``: a square hash from its hex string."""
    hash_size = int(np.sqrt(len(hexstr) * 4))
    bits = "{:0>{width}b}".format(int(hexstr, 16), width=hash_size * hash_size)
    rows = [bits[i:i + hash_size] for i in range(0, len(bits), hash_size)]
    return ImageHash(np.array([[d == "1" for d in row] for row in rows]))


def _pixels(image) -> np.ndarray:
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("L")  # what imagehash does; exact for every mode
        return np.asarray(image)
    arr = _checks.array("image", image, ndim=(2, 3))
    if arr.dtype != np.uint8:
        raise TypeError(f"image: dtype {arr.dtype} is not supported (uint8, or a PIL image)")
    return arr


def _hash(kind: str, image, hash_size: int) -> ImageHash:
    if int(hash_size) < 2:
        raise ValueError(f"hash_size: must be at least 2, got {hash_size}")
    return ImageHash(_native.image_hash(kind, _pixels(image), int(hash_size)))


def average_hash(image, hash_size: int = 8, mean=np.mean) -> ImageHash:
    """``imagehash.average_hash``."""
    _checks.unsupported("mean", mean, np.mean)
    return _hash("average", image, hash_size)


def phash(image, hash_size: int = 8, highfreq_factor: int = 4) -> ImageHash:
    """``imagehash.phash`` (DCT of the 32×32 Lanczos thumbnail)."""
    _checks.unsupported("highfreq_factor", highfreq_factor, 4)
    return _hash("phash", image, hash_size)


def dhash(image, hash_size: int = 8) -> ImageHash:
    """``imagehash.dhash`` (horizontal gradient)."""
    return _hash("dhash", image, hash_size)


def whash(image, hash_size: int = 8, image_scale=None, mode: str = "haar",
          remove_max_haar_ll: bool = True) -> ImageHash:
    """``imagehash.whash`` (Haar wavelet)."""
    _checks.unsupported("image_scale", image_scale, None)
    _checks.unsupported("mode", mode, "haar")
    _checks.unsupported("remove_max_haar_ll", remove_max_haar_ll, True)
    return _hash("whash", image, hash_size)
