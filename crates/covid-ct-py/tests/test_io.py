"""covid_ct.io against pydicom and nibabel: a DICOM series written by pydicom from random HU,
read back; NIfTI written here and read by nibabel; the real CT of tools/realct when cached."""

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

import covid_ct.io as cio

REALCT = Path(__file__).resolve().parents[3] / "target" / "realct"


def write_series(folder: Path, hu: np.ndarray, spacing, slope=1.0, intercept=-1024.0):
    series, study = generate_uid(), generate_uid()
    for k, plane in enumerate(hu):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID = "CT", "random-1"
        ds.SeriesInstanceUID, ds.StudyInstanceUID = series, study
        ds.Rows, ds.Columns = plane.shape
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.ImagePositionPatient = [0.0, 0.0, float(-k * spacing[0])]  # stored top to bottom
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = len(hu) - k  # numbering that disagrees with the position
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        stored = np.round((plane - intercept) / slope).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        ds.save_as(folder / f"IM{k:04d}.dcm", enforce_file_format=True)


def test_read_series_equals_pydicom(rng, tmp_path):
    hu = rng.integers(-1024, 2000, (7, 40, 33)).astype(np.int16)
    write_series(tmp_path, hu, (2.5, 0.7, 0.8))
    got, spacing, meta = cio.read_series(tmp_path)
    # pydicom's reading: HU per file, stacked by the z position (ascending: feet to head).
    files = [pydicom.dcmread(p) for p in sorted(tmp_path.glob("*.dcm"))]
    files.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    want = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in files])
    assert got.dtype == np.int16 and got.shape == want.shape
    np.testing.assert_array_equal(got, want.astype(np.int16))
    assert spacing == pytest.approx((2.5, 0.7, 0.8))
    assert meta["patient_id"] == "random-1"
    again, _, _ = cio.read_volume(tmp_path / "IM0003.dcm")  # a file: its whole series
    np.testing.assert_array_equal(again, got)


def test_nifti_round_trip_through_nibabel(rng, tmp_path):
    hu = rng.integers(-1024, 3000, (11, 24, 19)).astype(np.int16)
    path = tmp_path / "scan.nii.gz"
    cio.write_nifti(path, hu, (3.0, 0.5, 0.6))
    img = nib.load(str(path))
    assert img.get_data_dtype() == np.int16
    assert img.header.get_zooms()[:3] == pytest.approx((0.6, 0.5, 3.0))  # (x, y, z)
    back, spacing, _ = cio.read_volume(path)
    np.testing.assert_array_equal(back, hu)
    assert spacing == pytest.approx((3.0, 0.5, 0.6))


@pytest.mark.skipif(not (REALCT / "lidc_0001").is_dir(), reason="tools/realct/fetch.sh not run")
def test_real_ct_equals_pydicom():
    got, spacing, meta = cio.read_series(REALCT / "lidc_0001")
    files = [pydicom.dcmread(p) for p in (REALCT / "lidc_0001").iterdir() if p.suffix == ".dcm"]
    files.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    want = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in files])
    np.testing.assert_array_equal(got, want.astype(np.int16))
