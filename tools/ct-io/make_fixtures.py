#!/usr/bin/env python3
"""Make the ct-io golden fixtures in crates/ct-io/tests/data/ (committed; CI never runs this).

Sources: pydicom's bundled CT files (MIT; see tests/data/README.md), cropped and varied into
small multi-slice series; the same series in several transfer syntaxes; bad inputs; NIfTI
files from nibabel; .npy files from numpy. The reference HU of every series is computed
here with pydicom (`pixel_array` + `apply_modality_lut`), stacked in the order of
ImagePositionPatient projected on row x column, and rounded half away from zero.

Needs: pydicom 3.0.2, numpy, nibabel (tools/requirements.txt) and, for the JPEG-lossless
copy, dcmtk's `dcmcjpeg` (`apt-get install dcmtk`); without it that fixture is skipped.

Usage: python3 tools/ct-io/make_fixtures.py
"""
import json
import os
import random
import shutil
import subprocess
import warnings

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "ct-io", "tests", "data")
RNG = random.Random(20240611)
PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root
EXPECTED = {}


def uid(tag):
    return generate_uid(prefix=PREFIX, entropy_srcs=["ct-io fixtures", tag])


def round_half_away(x):
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.float64)


def hu_of(ds):
    """pydicom's HU, rounded half away from zero and saturated to int16."""
    v = apply_modality_lut(ds.pixel_array, ds)
    return np.clip(round_half_away(np.asarray(v, dtype=np.float64)), -32768, 32767).astype("<i2")


def base_slices(n, size=64):
    """n slices of size x size cut from CT_small (128x128), each a shifted crop plus a per-slice
    offset, so every slice differs."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    raw = ds.pixel_array.astype(np.int32)
    out = []
    for k in range(n):
        y0, x0 = 20 + 3 * k, 30 + 2 * k
        out.append(raw[y0:y0 + size, x0:x0 + size] + 7 * k)
    return ds, out


def make_series(folder, n=5, orientation=(1, 0, 0, 0, 1, 0), spacing_z=2.5, origin=(-50.0, -60.0, -80.0),
                slope=1.0, intercept=-1024.0, signed=True, bits_stored=16, modality="CT",
                series_tag=None, names=None, instance_reverse=True, drop=(), z_positions=None, shape=64):
    """Writes a series; returns the list of datasets in true spatial order (slice 0 first)."""
    src, imgs = base_slices(n, shape)
    row = np.array(orientation[:3], float)
    col = np.array(orientation[3:], float)
    normal = np.cross(row, col)
    tag = series_tag or os.path.basename(folder)
    series_uid = uid(tag)
    study_uid = uid("study")
    os.makedirs(folder, exist_ok=True)
    order = list(range(n))
    RNG.shuffle(order)
    dss = []
    for k in range(n):
        ds = pydicom.Dataset()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPInstanceUID = uid(f"{tag}/{k}")
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = modality
        ds.PatientID = "FIXTURE-1"
        ds.PatientName = "Fixture^One"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Manufacturer = "ct-io fixtures"
        z = z_positions[k] if z_positions is not None else k * spacing_z
        pos = np.array(origin) + z * normal
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.SliceLocation = round(float(np.dot(pos, normal)), 4)
        ds.InstanceNumber = (n - k) if instance_reverse else (k + 1)
        ds.PixelSpacing = [0.7, 0.8]
        ds.SliceThickness = 2.5
        ds.Rows, ds.Columns = shape, shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        img = imgs[k]
        if not signed:
            img = np.clip(img, 0, 2 ** bits_stored - 1)
        ds.PixelData = img.astype("<i2" if signed else "<u2").tobytes()
        for tag in drop:
            if tag in ds:
                delattr(ds, tag)
        name = names[order[k]] if names else f"{RNG.getrandbits(32):08x}.dcm"
        ds.save_as(os.path.join(folder, name), enforce_file_format=True)
        dss.append(ds)
    return dss


def golden(folder, key, dss, spacing, origin, warnings_expected=()):
    arr = np.stack([hu_of(pydicom.dcmread(os.path.join(folder, f)))
                    for f in sorted_files_by_position(folder)])
    np.save(os.path.join(OUT, key + "_hu.npy"), arr, allow_pickle=False)
    EXPECTED[key] = {"shape": list(arr.shape), "spacing": spacing, "origin": origin,
                     "warnings": list(warnings_expected)}


def sorted_files_by_position(folder):
    """pydicom-side sort: ImagePositionPatient . (row x col), files without DICM skipped."""
    items = []
    for f in os.listdir(folder):
        p = os.path.join(folder, f)
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        o = np.array(ds.ImageOrientationPatient, float)
        d = float(np.dot(np.array(ds.ImagePositionPatient, float), np.cross(o[:3], o[3:])))
        items.append((d, f))
    return [f for _, f in sorted(items)]


def transcode(src, dst, ts):
    os.makedirs(dst, exist_ok=True)
    for f in sorted(os.listdir(src)):
        ds = pydicom.dcmread(os.path.join(src, f), force=True)
        if "PixelData" not in ds:
            continue
        if ts == RLELossless:
            ds.compress(RLELossless, encoding_plugin="pydicom")
        elif ts == ImplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = ts
        elif ts == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = ts
        ds.save_as(os.path.join(dst, f), enforce_file_format=True)


def main():
    if os.path.isdir(OUT):
        for f in os.listdir(OUT):
            if f != "README.md":
                p = os.path.join(OUT, f)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(OUT, exist_ok=True)

    # 1. Axial series, explicit VR LE, shuffled random names, reversed InstanceNumber,
    #    plus non-DICOM files that must be skipped and listed.
    ax = os.path.join(OUT, "axial_explicit")
    dss = make_series(ax, names=["b.dcm", "IM10", "IM2", "zz_001", "0007"])
    with open(os.path.join(ax, "notes.txt"), "w") as f:
        f.write("not a DICOM file\n")
    with open(os.path.join(ax, "thumbs.db"), "wb") as f:
        f.write(b"\x00" * 200)
    golden(ax, "axial", dss, [2.5, 0.7, 0.8], [-50.0, -60.0, -80.0])

    # 2. The same pixels in other transfer syntaxes (golden: the same axial_hu.npy).
    transcode(ax, os.path.join(OUT, "axial_implicit"), ImplicitVRLittleEndian)
    transcode(ax, os.path.join(OUT, "axial_deflate"), DeflatedExplicitVRLittleEndian)
    transcode(ax, os.path.join(OUT, "axial_rle"), RLELossless)
    if shutil.which("dcmcjpeg"):
        dst = os.path.join(OUT, "axial_jpegls14")
        os.makedirs(dst, exist_ok=True)
        for f in sorted(os.listdir(ax)):
            if f.endswith(".txt") or f.endswith(".db"):
                continue
            # +e14 = lossless, selection value 1 -> 1.2.840.10008.1.2.4.70 (process 14 SV1)
            subprocess.run(["dcmcjpeg", "+e1", os.path.join(ax, f), os.path.join(dst, f)], check=True)
        # pydicom cannot decode JPEG lossless without plugins, so check losslessness with
        # dcmtk's own decoder: decompressed pixels must equal the source's.
        for f in os.listdir(dst):
            ts = pydicom.dcmread(os.path.join(dst, f)).file_meta.TransferSyntaxUID
            assert ts == "1.2.840.10008.1.2.4.70", ts
            tmp = os.path.join("/tmp", "ct-io-djpeg.dcm")
            subprocess.run(["dcmdjpeg", os.path.join(dst, f), tmp], check=True)
            assert np.array_equal(hu_of(pydicom.dcmread(tmp)), hu_of(pydicom.dcmread(os.path.join(ax, f))))
        EXPECTED["jpeg_lossless_tool"] = subprocess.run(["dcmcjpeg", "--version"], capture_output=True,
                                                        text=True).stdout.splitlines()[0]

    # 3. Oblique series (rotated 30 degrees about x), unsigned 12-bit, slope 2, intercept -1024.5:
    #    non-integer HU before rounding.
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    ob = os.path.join(OUT, "oblique_u12")
    dss = make_series(ob, n=4, orientation=(1, 0, 0, 0, c, -s), spacing_z=3.0, slope=0.5,
                      intercept=-1024.25, signed=False, bits_stored=12, shape=48)
    golden(ob, "oblique", dss, [3.0, 0.7, 0.8], None)

    # 4. Fallbacks: no ImagePositionPatient (SliceLocation sort), then neither (InstanceNumber).
    make_series(os.path.join(OUT, "fallback_sliceloc"), n=4, drop=("ImagePositionPatient",), instance_reverse=True,
                shape=32)
    make_series(os.path.join(OUT, "fallback_instance"), n=4,
                drop=("ImagePositionPatient", "SliceLocation"), instance_reverse=False, shape=32)

    # 5. Geometry problems: duplicated position, uneven gap, single slice.
    make_series(os.path.join(OUT, "duplicate_pos"), n=4, z_positions=[0, 2.5, 2.5, 5.0], shape=32)
    make_series(os.path.join(OUT, "uneven_gap"), n=4, z_positions=[0, 2.5, 5.0, 10.0], shape=32)
    make_series(os.path.join(OUT, "single_slice"), n=1, shape=32)

    # 6. Bad inputs.
    mixed = os.path.join(OUT, "mixed_series")
    make_series(mixed, n=4, series_tag="mixed-a", shape=32)
    make_series(mixed, n=2, series_tag="mixed-b", shape=32, origin=(0, 0, 300))
    EXPECTED["mixed_series"] = {"largest": uid("mixed-a"), "other": uid("mixed-b")}
    shp = os.path.join(OUT, "mixed_shape")
    make_series(shp, n=3, shape=32, series_tag="mixed_shape")
    make_series(shp, n=1, shape=16, series_tag="mixed_shape", origin=(0, 0, 100))
    make_series(os.path.join(OUT, "modality_mr"), n=3, modality="MR", shape=32)
    trunc = os.path.join(OUT, "truncated")
    make_series(trunc, n=3, shape=32, names=["a.dcm", "b.dcm", "c.dcm"])
    data = open(os.path.join(trunc, "b.dcm"), "rb").read()
    open(os.path.join(trunc, "b.dcm"), "wb").write(data[: len(data) - 700])
    nopix = os.path.join(OUT, "no_pixel_data")
    make_series(nopix, n=2, shape=32, names=["a.dcm", "b.dcm"])
    ds = pydicom.dcmread(os.path.join(nopix, "a.dcm"))
    del ds.PixelData
    ds.save_as(os.path.join(nopix, "a.dcm"), enforce_file_format=True)

    # 7. Real JPEG 2000 CT slices from pydicom (single files) with pydicom's HU, decimated
    #    to every 4th row/column plus whole-image sums, to keep the repository small.
    for name in ["J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm", "CT_small.dcm"]:
        src = get_testdata_file(name)
        shutil.copyfile(src, os.path.join(OUT, name))
        ds = pydicom.dcmread(src)
        hu = hu_of(ds).astype(np.int64)
        key = name[:-4]
        np.save(os.path.join(OUT, key + "_hu_dec4.npy"), hu[::4, ::4].astype("<i2"), allow_pickle=False)
        EXPECTED[key] = {"shape": list(hu.shape), "sum": int(hu.sum()), "sumsq": int((hu * hu).sum()),
                         "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
                         "bits_stored": int(ds.BitsStored), "pixel_representation": int(ds.PixelRepresentation)}

    # 8. NIfTI from nibabel: int16 with an LPS-style affine (gz), uint8 with scl_slope/inter,
    #    and one whose k axis runs against row x column.
    nif = {}
    vol = np.arange(5 * 6 * 7, dtype=np.int16).reshape(7, 6, 5) * 3 - 400  # (k, j, i) order
    data_ijk = np.ascontiguousarray(vol.transpose(2, 1, 0))
    aff = np.array([[-0.7, 0, 0, 90.0], [0, -0.8, 0, 110.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data_ijk, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    nib.save(img, os.path.join(OUT, "vol_i16.nii.gz"))
    u8 = (np.arange(4 * 3 * 2, dtype=np.uint8).reshape(2, 3, 4) * 10).transpose(2, 1, 0)
    img = nib.Nifti1Image(np.ascontiguousarray(u8), np.diag([1.5, 1.25, 3.0, 1.0]))
    img.header.set_slope_inter(2.0, -100.0)
    nib.save(img, os.path.join(OUT, "vol_u8_scaled.nii"))
    aff_flip = np.array([[-0.7, 0, 0, 90.0], [0, -0.8, 0, 110.0], [0, 0, -2.5, 40.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data_ijk, aff_flip)
    img.set_sform(aff_flip, code=1)
    img.set_qform(aff_flip, code=1)
    nib.save(img, os.path.join(OUT, "vol_flip.nii"))
    for f in ["vol_i16.nii.gz", "vol_u8_scaled.nii", "vol_flip.nii"]:
        im = nib.load(os.path.join(OUT, f))
        arr = np.asarray(im.dataobj, dtype=np.float64)  # scaled by nibabel
        zyx = round_half_away(arr.transpose(2, 1, 0))
        np.save(os.path.join(OUT, f.split(".")[0] + "_nib.npy"), zyx.astype("<i2"), allow_pickle=False)
        nif[f] = {"zooms": [float(z) for z in im.header.get_zooms()],
                  "affine": im.affine.tolist(), "shape": list(arr.shape)}
    EXPECTED["nifti"] = nif

    # 9. .npy from numpy: each dtype ct-io reads, C order; plus a Fortran-order and a big-endian
    #    file. Content: value(z, y, x) = 100 z + 10 y + x (- 50 for signed).
    z, y, x = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    base = 100 * z + 10 * y + x
    for dt in ["<i2", "|u1", "<u2", "<f4", "<u4"]:
        a = (base - 50 if dt == "<i2" else base).astype(dt)
        np.save(os.path.join(OUT, f"npy_{np.dtype(dt).name}.npy"), a, allow_pickle=False)
    np.save(os.path.join(OUT, "npy_fortran_i2.npy"), np.asfortranarray((base - 50).astype("<i2")), allow_pickle=False)
    np.save(os.path.join(OUT, "npy_big_u2.npy"), base.astype(">u2"), allow_pickle=False)

    EXPECTED["versions"] = {"pydicom": pydicom.__version__, "numpy": np.__version__, "nibabel": nib.__version__}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(EXPECTED, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
