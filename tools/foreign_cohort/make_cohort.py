#!/usr/bin/env python3
"""A second, independent chest-CT cohort generator (issue 24): a foreign cohort the project's
own phantom generator (crates/ct-phantom) never made, to measure whether the pipeline learns
data it was not tuned on.

It shares no code, parameters or lesion models with ct-phantom and was written from the
radiology, not from that crate: anatomy built per slice from a lung-height coordinate, vessels
as blurred random 3-D branch paths, COVID-19 as bilateral peripheral ground-glass patches
(some with crazy paving or a consolidated core), CAP as lobar or segmental consolidation with
air bronchograms (sometimes an effusion), normal lungs with the odd nodule or dependent
atelectasis. Scans differ in slice thickness (1.5-5 mm), pixel size, field of view (some
cut by the reconstruction circle), noise (correlated), IV contrast, couch and mattress, and
half of them are stored head-first-descending (the other z direction).

Output: a class tree the pipeline reads with `--data` (no Index.csv, so no contrast labels):
    OUT/healthy/<id>/0001.dcm ...    OUT/pneumonia/<id>/...    OUT/covid19/<id>/...
DICOM CT images, JPEG 2000 lossless (pydicom + pylibjpeg-openjpeg; pydicom cannot encode the
JPEG Lossless process 14 of COVID-CT-MD, which ct-phantom's own writer exercises), or RLE
lossless or uncompressed with --codec. A ground truth file OUT/../<name>-truth.json beside the
cohort (not inside it) lists each subject's class and settings.

    python tools/foreign_cohort/make_cohort.py --out runs/foreign/data --per-class 30

Pinned versions: tools/foreign_cohort/requirements.txt.
"""

import argparse
import json
import pathlib

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)
from scipy import ndimage

CLASSES = ("healthy", "pneumonia", "covid19")


def lung_profile(t):
    """Relative lung cross-section radius at height t (0 = base, 1 = apex)."""
    return np.sqrt(np.clip(1.0 - ((t - 0.42) / 0.62) ** 2, 0.0, 1.0))


class Scan:
    def __init__(self, rng, label, size):
        self.rng = rng
        self.label = label
        self.size = size
        self.px = rng.uniform(1.1, 1.7)  # mm per pixel
        self.dz = float(rng.choice([1.5, 2.5, 3.0, 5.0]))
        self.lung_len = rng.uniform(220.0, 290.0)  # base to apex, mm
        top = rng.uniform(0.05, 0.15) * self.lung_len
        bottom = rng.uniform(0.10, 0.25) * self.lung_len
        self.nz = int(round((self.lung_len + top + bottom) / self.dz))
        # Height of slice k in lung-length units (0 = lung base, 1 = apex).
        self.t = (np.arange(self.nz) * self.dz - bottom) / self.lung_len
        self.a = rng.uniform(135.0, 185.0)  # body half-width, mm
        self.b = rng.uniform(95.0, 130.0)  # body half-depth
        self.fat = rng.uniform(6.0, 30.0)
        self.contrast = rng.random() < 0.4  # IV contrast
        self.noise = rng.uniform(10.0, 38.0)
        self.circle = rng.random() < 0.5  # reconstruction circle inside the matrix
        self.descending = rng.random() < 0.5
        self.shift = rng.uniform(-15.0, 15.0, size=2)
        self.lung_w = rng.uniform(0.30, 0.36) * self.a
        self.lung_d = rng.uniform(0.70, 0.82) * self.b

    def grid(self):
        c = (np.arange(self.size) - (self.size - 1) / 2.0) * self.px
        y, x = np.meshgrid(c, c, indexing="ij")
        return y - self.shift[1], x - self.shift[0]

    def settings(self):
        return {
            "class": self.label,
            "pixel_mm": round(self.px, 3),
            "slice_mm": self.dz,
            "slices": self.nz,
            "iv_contrast": self.contrast,
            "noise_hu": round(self.noise, 1),
            "reconstruction_circle": self.circle,
            "descending_z": self.descending,
        }


def ellipse(y, x, cy, cx, ry, rx):
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def anatomy(s):
    """HU volume without lesions, the lung mask, and per-lung masks (right = image left)."""
    y, x = s.grid()
    vol = np.full((s.nz, s.size, s.size), -1000.0, dtype=np.float32)
    lungs = np.zeros((s.nz, s.size, s.size), dtype=np.uint8)  # 1 right, 2 left
    blood = 170.0 if s.contrast else 42.0
    for k, t in enumerate(s.t):
        sl = vol[k]
        shoulders = 1.0 + 0.25 * np.clip((t - 0.8) / 0.3, 0.0, 1.0)
        a, b = s.a * shoulders, s.b
        body = ellipse(y, x, 0.0, 0.0, b, a)
        sl[body] = -100.0  # fat
        muscle = ellipse(y, x, 0.0, 0.0, b - s.fat, a - s.fat)
        sl[muscle] = 45.0
        # Couch: a mattress under the back and a dense curved board under it.
        under = (y > b) & (y < b + 35.0) & (np.abs(x) < a * 0.9)
        sl[under & ~body] = -720.0
        board = (y >= b + 35.0) & (y < b + 48.0) & (np.abs(x) < 210.0)
        sl[board] = 260.0
        # Spine and ribs.
        cy_sp = b - 45.0
        sl[ellipse(y, x, cy_sp, 0.0, 19.0, 19.0)] = 750.0
        sl[ellipse(y, x, cy_sp, 0.0, 12.0, 12.0)] = 260.0
        for ang in np.linspace(0.25 * np.pi, 1.75 * np.pi, 14):
            ry, rx = (b - s.fat - 8.0) * np.cos(ang), (a - s.fat - 8.0) * np.sin(ang)
            if t < 1.0 and abs(np.sin(ang)) > 0.2:
                sl[ellipse(y, x, -ry, rx, 5.0, 7.0)] = 650.0
        if t > 0.05:
            sl[ellipse(y, x, -(b - s.fat - 6.0), 0.0, 7.0, 14.0)] = 600.0  # sternum
        # Lungs.
        p = lung_profile(t)
        if p > 0.02:
            for side, cx in ((1, -0.47 * a), (2, 0.47 * a)):
                m = ellipse(y, x, -4.0, cx, s.lung_d * p, s.lung_w * p)
                if t < 0.22:  # the diaphragm's dome: the anterior lung goes first
                    m &= y > (-4.0 + s.lung_d * p) - 2.2 * s.lung_d * p * (t / 0.22 + 0.05)
                m &= muscle
                sl[m] = -860.0 + 45.0 * (y[m] + s.lung_d) / (2.0 * s.lung_d)  # dependent density
                lungs[k][m] = side
        # Mediastinum: heart, aorta, trachea and main bronchi (the heart and aorta push the
        # lungs aside).
        if 0.12 < t < 0.58:
            heart = ellipse(y, x, -28.0, 22.0, 48.0, 58.0)
            sl[heart] = blood
            lungs[k][heart] = 0
        if 0.1 < t < 0.9:
            aorta = ellipse(y, x, cy_sp - 28.0, 18.0, 13.0, 13.0)
            sl[aorta] = blood
            lungs[k][aorta] = 0
        if t >= 0.7:
            sl[ellipse(y, x, -20.0, 0.0, 9.0, 10.0)] = -1000.0
        elif t >= 0.58:
            off = (0.7 - t) / 0.12 * 35.0
            for cx in (-off, off):
                sl[ellipse(y, x, -15.0, cx, 6.0, 6.0)] = -1000.0
        # Upper abdomen below the right lung's dome: liver; stomach with a gas bubble.
        if t < 0.2:
            organ = muscle & (lungs[k] == 0)
            liver = organ & ellipse(y, x, 0.0, -0.35 * a, 0.8 * b, 0.55 * a)
            sl[liver] = 110.0 if s.contrast else 58.0
            stomach = organ & ellipse(y, x, -20.0, 0.4 * a, 40.0, 45.0)
            sl[stomach] = 15.0
            if t < -0.03:  # the gas bubble, below the lung base (the diaphragm between)
                sl[stomach & (y < -35.0)] = -1000.0
    return vol, lungs


def vessels(s, lungs):
    """Blurred random branch paths from each hilum outwards (vessel density in [0, 1])."""
    rng = s.rng
    pts = np.zeros(lungs.shape, dtype=np.float32)
    zc = int(np.argmin(np.abs(s.t - 0.5)))
    for side in (1, 2):
        zz, yy, xx = np.nonzero(lungs[max(zc - 2, 0) : zc + 3] == side)
        if len(zz) == 0:
            continue
        hz, hy, hx = zc, int(np.mean(yy)), int(np.mean(xx) + (20 if side == 1 else -20) / s.px)
        for _ in range(45):
            z, yv, xv = float(hz), float(hy), float(hx)
            d = rng.normal(size=3)
            d[0] *= 0.6 * s.px / s.dz * 3.0
            d /= np.linalg.norm(d) + 1e-9
            w = 1.0
            for _ in range(60):
                d = d + rng.normal(scale=0.25, size=3)
                d /= np.linalg.norm(d) + 1e-9
                z += d[0] * 1.5 * s.px / s.dz
                yv += d[1] * 1.5
                xv += d[2] * 1.5
                zi, yi, xi = int(round(z)), int(round(yv)), int(round(xv))
                if not (0 <= zi < s.nz and 0 <= yi < s.size and 0 <= xi < s.size):
                    break
                if lungs[zi, yi, xi] != side:
                    break
                pts[zi, yi, xi] = max(pts[zi, yi, xi], w)
                w *= 0.985
    dens = ndimage.gaussian_filter(pts, sigma=(0.8 * s.px / s.dz, 1.1, 1.1))
    return np.clip(dens / (dens.max() + 1e-9) * 3.0, 0.0, 1.0)


def soft_ball(s, shape, centre, radii):
    """A soft-edged ellipsoid (mm radii) around a voxel centre, values in [0, 1]."""
    z = (np.arange(shape[0]) - centre[0]) * s.dz / radii[0]
    y = (np.arange(shape[1]) - centre[1]) * s.px / radii[1]
    x = (np.arange(shape[2]) - centre[2]) * s.px / radii[2]
    r = np.sqrt(z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2)
    return 1.0 / (1.0 + np.exp((r - 1.0) * 8.0))


def pick(rng, lungs, side, where):
    zz, yy, xx = np.nonzero((lungs == side) & where)
    if len(zz) == 0:
        zz, yy, xx = np.nonzero(lungs == side)
    i = rng.integers(len(zz))
    return zz[i], yy[i], xx[i]


def lesions(s, vol, lungs):
    """Adds the class's findings inside the lungs; returns the lesion mask."""
    rng = s.rng
    inside = lungs > 0
    lesion = np.zeros(vol.shape, dtype=bool)
    dist = ndimage.distance_transform_edt(inside, sampling=(s.dz, s.px, s.px))
    lower = (s.t < 0.6)[:, None, None]
    posterior = (np.arange(s.size) > s.size * 0.45)[None, :, None]
    if s.label == "covid19":
        n = rng.integers(3, 10)
        sides = [1, 2] + list(rng.choice([1, 2], size=n - 2))
        for side in sides:
            where = (dist < 22.0) & lower & (posterior | (rng.random() < 0.4))
            c = pick(rng, lungs, side, where)
            r = rng.uniform(10.0, 35.0)
            ball = soft_ball(s, vol.shape, c, (r * 0.8, r, r * 1.1)) * inside
            hu = rng.uniform(-560.0, -330.0)
            if rng.random() < 0.4:  # crazy paving: a reticular net over the glass
                yy, xx = np.meshgrid(np.arange(s.size), np.arange(s.size), indexing="ij")
                period = 6.0 / s.px
                net = (np.abs(np.sin(np.pi * yy / period)) < 0.18) | (
                    np.abs(np.sin(np.pi * xx / period)) < 0.18
                )
                hu_map = np.where(net[None], hu + 180.0, hu)
            else:
                hu_map = hu
            vol[:] = vol * (1 - ball) + hu_map * ball
            if rng.random() < 0.3:  # a consolidated core
                core = soft_ball(s, vol.shape, c, (r * 0.3, r * 0.4, r * 0.4)) * inside
                vol[:] = vol * (1 - core) + rng.uniform(-60.0, 30.0) * core
            lesion |= ball > 0.5
    elif s.label == "pneumonia":
        side = int(rng.choice([1, 2]))
        for k in range(1 if rng.random() < 0.7 else 2):
            sd = side if k == 0 else 3 - side
            c = pick(rng, lungs, sd, lower)
            r = rng.uniform(28.0, 60.0)
            ball = soft_ball(s, vol.shape, c, (r, r * 0.8, r * 0.9)) * inside
            vol[:] = vol * (1 - ball) + rng.uniform(5.0, 45.0) * ball
            # Air bronchograms: branching air tubes through the consolidation.
            tubes = np.zeros(vol.shape, dtype=np.float32)
            for _ in range(rng.integers(3, 7)):
                z, yv, xv = (float(v) for v in c)
                d = rng.normal(size=3)
                d /= np.linalg.norm(d) + 1e-9
                for _ in range(40):
                    d += rng.normal(scale=0.15, size=3)
                    d /= np.linalg.norm(d) + 1e-9
                    z += d[0] * s.px / s.dz
                    yv += d[1]
                    xv += d[2]
                    zi, yi, xi = int(round(z)), int(round(yv)), int(round(xv))
                    if not (0 <= zi < s.nz and 0 <= yi < s.size and 0 <= xi < s.size):
                        break
                    tubes[zi, yi, xi] = 1.0
            tubes = ndimage.grey_dilation(tubes, size=(1, 3, 3)) * (ball > 0.6)
            vol[:] = np.where(tubes > 0, -880.0, vol)
            # A thin ground-glass halo at the edge.
            halo = np.clip(soft_ball(s, vol.shape, c, (r * 1.25, r, r * 1.1)) - ball, 0, 1)
            vol[:] = vol * (1 - 0.6 * halo * inside) + (-420.0) * 0.6 * halo * inside
            lesion |= ball > 0.5
        if rng.random() < 0.3:  # a small effusion: fluid in the dependent base
            eff = inside & lower & (dist < 12.0) & posterior & (s.t < 0.25)[:, None, None]
            vol[eff] = 12.0
            lesion |= eff
    else:
        if rng.random() < 0.5:  # a small nodule
            side = int(rng.choice([1, 2]))
            c = pick(rng, lungs, side, dist > 15.0)
            r = rng.uniform(3.0, 6.0)
            ball = soft_ball(s, vol.shape, c, (r, r, r)) * inside
            vol[:] = vol * (1 - ball) + 35.0 * ball
        if rng.random() < 0.4:  # dependent atelectasis: a thin dense band at the back
            band = inside & (dist < 5.0) & posterior & (s.t < 0.35)[:, None, None]
            vol[band] = vol[band] * 0.5 + rng.uniform(-350.0, -50.0) * 0.5
    return lesion


def finish(s, vol):
    """Scanner blur, correlated noise, reconstruction circle, int16 HU."""
    rng = s.rng
    vol = ndimage.gaussian_filter(vol, sigma=(0.3, 0.7, 0.7))
    noise = rng.normal(scale=1.0, size=vol.shape).astype(np.float32)
    noise = ndimage.gaussian_filter(noise, sigma=(0.0, 0.9, 0.9))
    noise *= s.noise / (noise.std() + 1e-9)
    vol = vol + noise
    if s.circle:
        c = (np.arange(s.size) - (s.size - 1) / 2.0)
        outside = (c[:, None] ** 2 + c[None, :] ** 2) > (0.49 * s.size) ** 2
        vol[:, outside] = -1024.0
    return np.clip(np.round(vol), -1024, 3071).astype(np.int16)


def write_series(s, hu, folder, codec, uid_seed):
    subject = folder.name
    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid(entropy_srcs=[uid_seed, subject, "study"])
    series = generate_uid(entropy_srcs=[uid_seed, subject, "series"])
    frame = generate_uid(entropy_srcs=[uid_seed, subject, "frame"])
    order = range(s.nz)
    x0 = -(s.size - 1) / 2.0 * s.px
    for n, k in enumerate(order):
        # Slice k is k·dz above the first; a descending series lists the top first.
        idx = (s.nz - 1 - k) if s.descending else k
        z = idx * s.dz
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop = generate_uid(entropy_srcs=[uid_seed, subject, str(k)])
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{n + 1:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.Modality = "CT"
        ds.PatientID = subject
        ds.PatientName = "Foreign^" + subject
        ds.SeriesDescription = "foreign cohort chest"
        ds.InstanceNumber = n + 1
        ds.ImagePositionPatient = [f"{x0:.3f}", f"{x0:.3f}", f"{z:.3f}"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [f"{s.px:.5f}", f"{s.px:.5f}"]
        ds.SliceThickness = f"{s.dz:.2f}"
        ds.Rows = s.size
        ds.Columns = s.size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.WindowCenter = "-600"
        ds.WindowWidth = "1500"
        stored = (hu[idx].astype(np.int32) + 1024).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        if codec == "jpeg2000":
            ds.compress(JPEG2000Lossless, stored, encoding_plugin="pylibjpeg")
        elif codec == "rle":
            ds.compress(RLELossless, stored)
        ds.save_as(folder / f"{n + 1:04d}.dcm", enforce_file_format=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--codec", choices=["jpeg2000", "rle", "none"], default="jpeg2000")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty")
    truth = {}
    root = np.random.SeedSequence(args.seed)
    jobs = [(label, i) for label in CLASSES for i in range(args.per_class)]
    for j, ((label, i), child) in enumerate(zip(jobs, root.spawn(len(jobs)))):
        rng = np.random.default_rng(child)
        subject = "F" + rng.bytes(4).hex().upper()
        s = Scan(rng, label, args.size)
        vol, lungs = anatomy(s)
        dens = vessels(s, lungs)
        vol = np.where(lungs > 0, vol * (1 - dens) + 40.0 * dens, vol)
        lesion = lesions(s, vol, lungs)
        hu = finish(s, vol)
        write_series(s, hu, args.out / label / subject, args.codec, str(args.seed))
        truth[subject] = s.settings() | {
            "lung_ml": round(float((lungs > 0).sum()) * s.px * s.px * s.dz / 1000.0, 1),
            "lesion_ml": round(float(lesion.sum()) * s.px * s.px * s.dz / 1000.0, 1),
        }
        print(f"[{j + 1}/{len(jobs)}] {label}/{subject}: {s.nz} slices of {s.dz} mm", flush=True)
    side = args.out.parent / f"{args.out.name}-truth.json"
    side.write_text(json.dumps(truth, indent=1))
    print(f"{len(jobs)} scans in {args.out}; truth: {side}")


if __name__ == "__main__":
    main()
