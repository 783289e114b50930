"""Bad input is a Python exception naming the argument, never a crash of the interpreter."""

import numpy as np
import pytest

import covid_ct
from covid_ct import enhance, io, morph, ot, similarity


def test_files_raise_oserror_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(OSError, match="nowhere"):
        io.read_volume(missing)
    bad = tmp_path / "junk.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00" * 10)
    with pytest.raises(OSError, match="junk.dcm"):
        io.read_volume(bad)
    with pytest.raises(TypeError, match="hu"):
        io.write_nifti(tmp_path / "x.nii", np.zeros((2, 2, 2)), (1, 1, 1))


def test_arrays_of_the_wrong_kind():
    with pytest.raises(ValueError, match="input"):
        morph.binary_erosion(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="input"):
        morph.binary_dilation(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="structure"):
        morph.binary_erosion(np.ones((5, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="structure"):
        morph.binary_erosion(np.ones((5, 5)), np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="mask"):
        morph.binary_erosion(np.ones((5, 5)), mask=np.ones((5, 5)))
    with pytest.raises(TypeError, match="im1"):
        similarity.structural_similarity(np.zeros((9, 9), np.int64), np.zeros((9, 9), np.int64))
    with pytest.raises(TypeError, match="im2"):
        similarity.structural_similarity(np.zeros((9, 9), np.uint8), np.zeros((9, 9), np.uint16))
    with pytest.raises(ValueError, match="im1"):
        a = np.zeros((9, 9))
        a[1, 1] = np.nan
        similarity.structural_similarity(a, np.zeros((9, 9)), data_range=1.0)
    with pytest.raises(ValueError):
        similarity.structural_similarity(np.zeros((9, 9)), np.zeros((9, 9)))  # float: no range
    with pytest.raises(ValueError, match="image_test"):
        similarity.peak_signal_noise_ratio(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))
    with pytest.raises(TypeError, match="image"):
        similarity.phash(np.zeros((9, 9), np.float32))
    with pytest.raises(ValueError, match="image"):
        similarity.dhash(np.zeros((9, 9, 2), np.uint8))
    with pytest.raises(TypeError, match="src"):
        enhance.equalize_hist(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="src"):
        enhance.create_clahe().apply(np.zeros((16, 16), np.float32))
    with pytest.raises(ValueError):
        enhance.create_clahe(clipLimit=-1.0).apply(np.zeros((16, 16), np.uint8))
    with pytest.raises(TypeError, match="input"):
        enhance.zoom(np.zeros((4, 4), np.uint16), 2, order=1)
    with pytest.raises(ValueError, match="order"):
        enhance.zoom(np.zeros((4, 4)), 2, order=2)
    with pytest.raises(ValueError, match="M"):
        ot.emd2([], [], np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="a"):
        ot.emd2([0.5, 0.5], [], np.ones((3, 3)))
    with pytest.raises(ValueError, match="reg"):
        ot.sinkhorn2([], [], np.ones((3, 3)), 0.0)
    with pytest.raises(ValueError, match="method"):
        ot.sinkhorn([], [], np.ones((3, 3)), 0.1, method="greenkhorn")


def test_wrong_keywords_are_type_errors():
    with pytest.raises(TypeError):
        morph.binary_erosion(np.ones((3, 3)), iteratons=2)
    with pytest.raises(TypeError):
        similarity.structural_similarity(np.zeros((9, 9), np.uint8), np.zeros((9, 9), np.uint8), K3=1)
    assert isinstance(covid_ct.__version__, str)


def test_non_contiguous_and_other_orders_are_read_in_place(rng):
    img = rng.integers(0, 256, (40, 60)).astype(np.uint8)
    f = np.asfortranarray(img)
    assert (enhance.equalize_hist(f) == enhance.equalize_hist(img)).all()
    assert (enhance.equalize_hist(img[::2, ::3]) == enhance.equalize_hist(img[::2, ::3].copy())).all()
