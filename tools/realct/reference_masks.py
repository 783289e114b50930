#!/usr/bin/env python3
"""Reference lung masks for the real chest-CT test scans (tools/realct/fetch.sh).

    tools/realct/fetch.sh                       # fills target/realct
    python tools/realct/reference_masks.py [--cache DIR] [--only NAME ...]

Writes (paths relative to the repository root):
    crates/ct-morph/tests/data/realct/<name>_ref.nii.gz   uint8 label masks
    crates/ct-morph/tests/data/realct/reference.json      shapes, volumes, hashes, parameters
    docs/img/realct/<name>_ref.png                        review montages

Labels: 0 background, 1 right lung, 2 left lung, 3 airways (trachea and main
bronchi down to ~3 cm below the carina).

Definition of "lung": voxels below -400 HU enclosed by the patient's body that
belong to a lung air component, minus the airways, with vessels/nodules inside
each lung filled slice by slice (2-D hole filling per lung).

Recipe (all thresholds in PARAMS below; volumes use the voxel spacing):
 1. Body, per axial slice: HU > -500, 2-D opening with a disk of radius 2 px,
    keep the largest 2-D component, fill its 2-D holes. This drops the couch,
    the mattress foam (-950..-600), blankets and the outside air. When the body
    covers >= 50 % of the image border (field of view cut inside the patient,
    e.g. pydicom's CT_small), the border is treated as body for the hole
    filling, so lungs touching the image edge still count as enclosed.
 2. Air = HU < -400 inside the filled body; 3-D components (6-connectivity;
    2-D 4-connectivity for a single slice). A component is lung when its volume
    is >= 5 mL (area >= 1 cm^2 for a single slice) and the fraction of its voxels
    below -950 HU is < 0.15 (real lung parenchyma ~0.00-0.01; bowel/stomach gas
    and outside air are mostly pure air). The trachea is connected to the lungs
    and belongs to this component until step 3 removes it.
 3. Airways. Pure air = HU < -900 inside the lung components. From the most
    superior slice down, look for the trachea: a pure-air 2-D blob of 1-6 cm^2,
    compact (fills >= 50 % of its bounding box, aspect <= 2), whose centre lies
    within 20 % of the body width of the body's left-right centre, and which can
    be followed downwards as a single blob (<= 6 cm^2) for >= 30 mm. It is then
    tracked slice by slice downwards: a child is a pure-air blob of the next
    slice overlapping a tracked blob. Leak control per branch: a child is
    dropped (its branch stops) when its area exceeds 1.5x the larger of its
    parent's and grandparent's area + 0.3 cm^2, or 6 cm^2, or when it has
    entered the lung: more than 60 % of the ring 2-4 px around it is lung air
    (main bronchi in the hilum: 0.0-0.5; lobar bronchi inside the lung:
    0.6-0.9). Blobs < 0.05 cm^2 are ignored. The carina is the
    first slice where the tracked blobs overlap >= 2 blobs of >= 0.2 cm^2;
    tracking stops 30 mm below it. Upwards from the seed the lumen is followed
    while it stays a compact central blob of 0.3-6 cm^2. Airway voxels =
    tracked blobs grown (2-D, per slice) by up to 2 px into HU < -400 voxels
    of the body (the lumen's partial volume). Single slices: a blob passing the
    trachea shape/position test is labelled airway without tracking.
 4. Lung voxels = lung components minus airways; recomputed components, again
    keeping those passing the step-2 test (drops pharynx/larynx air and bronchus
    partial-volume crumbs left behind by step 3).
 5. Right/left. Voxel positions are turned into patient LPS coordinates with the
    NIfTI affine (RAS -> LPS) or the DICOM ImagePositionPatient /
    ImageOrientationPatient; patient right = smaller LPS x. The midline is the
    LPS x centroid of the body per slice. A component with >= 10 % of its voxels
    on each side of the midline is treated as two touching lungs and split by
    eroding it (3-D, up to 12 iterations) until it falls into two large pieces on
    opposite sides, which are then grown back inside the component (geodesic
    dilation). If erosion does not separate it, each slice is cut at the column
    of minimum lung thickness within +-30 mm of the midline. Every resulting
    piece is labelled by the side of its centroid.
 6. Each lung is hole-filled in 2-D per axial slice (vessels, nodules), then
    per coronal slice (fixed image row y; volumes of > 1 slice only). The
    coronal pass closes nodules that touch the anterior or posterior chest wall
    (LIDC-IDRI-0001's 3 cm nodule, paravertebral) and dependent dense lung at the
    bases, which are open towards the wall in axial slices but enclosed by lung
    above, below and to both sides; it also adds short vessel segments next to
    the hilum. Filled voxels never overwrite the other lung or the airways. Not
    filled: masses touching the mediastinum or the spine in both planes (the
    ~48 mL left lower lobe tumour of pyrad_lung2 stays outside the mask), and
    anything touching the chest wall in both planes.

Array order: volumes are handled as v[z, y, x] exactly as the Rust reader
(ct-io) returns them: for NIfTI, the stored block transposed (2, 1, 0) and
reversed along z when the affine's k axis points against row x column (in
LPS); for DICOM, slices sorted ascending by dot(ImagePositionPatient, normal).
NIfTI masks are written with the source's affine, header codes and stored axis
order; DICOM masks as Nifti1Image(m.transpose(2, 1, 0), eye(4)), codes 1.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.metadata
import json
import os
import sys

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage as ndi

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DATA = os.path.join(REPO, "crates", "ct-morph", "tests", "data", "realct")
OUT_IMG = os.path.join(REPO, "docs", "img", "realct")

PARAMS = {
    "body_hu": -500.0,
    "body_open_radius_px": 2,
    "body_border_fraction_truncated_fov": 0.5,
    "air_hu": -400.0,
    "pure_air_hu": -950.0,
    "lung_min_volume_ml": 5.0,
    "lung_min_area_cm2_single_slice": 1.0,
    "lung_max_pure_air_fraction": 0.15,
    "lung_base_min_volume_ml": 0.5,
    "lung_base_min_depth_mm": 10.0,
    "airway_lumen_hu": -900.0,
    "trachea_area_cm2": [1.0, 6.0],
    "trachea_max_offset_body_width": 0.2,
    "trachea_min_fill_bbox": 0.5,
    "trachea_max_aspect": 2.0,
    "trachea_min_length_mm": 30.0,
    "trachea_up_min_area_cm2": 0.3,
    "airway_min_blob_cm2": 0.05,
    "carina_min_branch_cm2": 0.2,
    "airway_child_area_factor": 1.5,
    "airway_child_area_slack_cm2": 0.3,
    "airway_max_area_cm2": 6.0,
    "airway_ring_px": [2, 4],
    "airway_max_ring_lung_fraction": 0.6,
    "airway_depth_below_carina_mm": 30.0,
    "airway_grow_px": 2,
    "split_side_fraction": 0.1,
    "split_max_erosions": 12,
    "split_min_piece_fraction": 0.1,
    "split_cut_search_mm": 30.0,
    "fill_holes_coronal": True,
}

LUNG_WINDOW = (-500.0, 1500.0)  # level, width

# --------------------------------------------------------------------------
# Loading: every scan becomes hu[z, y, x] (ct-io order) plus geometry.


class Scan:
    def __init__(self, name, hu, origin, dx, dy, dz, spacing, source, writer):
        self.name = name
        self.hu = hu.astype(np.float32)  # [z, y, x]
        # LPS position of voxel (z, y, x) = origin + x*dx + y*dy + z*dz
        self.origin = np.asarray(origin, float)
        self.dx, self.dy, self.dz = (np.asarray(v, float) for v in (dx, dy, dz))
        self.spacing = [float(s) for s in spacing]  # [z, y, x] mm
        self.source = source  # list of files (relative to the cache)
        self.writer = writer  # callable(mask[z,y,x], path)

    @property
    def voxel_ml(self):
        return float(np.prod(self.spacing)) / 1000.0

    def lps_x(self):
        """LPS x of every voxel, [z, y, x] (broadcast-friendly)."""
        nz, ny, nx = self.hu.shape
        z = np.arange(nz)[:, None, None]
        y = np.arange(ny)[None, :, None]
        x = np.arange(nx)[None, None, :]
        return self.origin[0] + x * self.dx[0] + y * self.dy[0] + z * self.dz[0]

    def superior_step(self):
        """+1 if z index increases towards the head, -1 otherwise."""
        return 1 if self.dz[2] >= 0 else -1


def load_nifti(cache, fname, name):
    path = os.path.join(cache, fname)
    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    assert data.ndim == 3, data.shape
    aff = img.affine.copy()
    lps = np.diag([-1.0, -1.0, 1.0]) @ aff[:3, :]  # rows: LPS; columns: i, j, k, t
    di, dj, dk, t = lps[:, 0], lps[:, 1], lps[:, 2], lps[:, 3]
    normal = np.cross(di, dj)
    flip = float(np.dot(dk, normal)) < 0
    v = data.transpose(2, 1, 0)
    nk = v.shape[0]
    if flip:
        v = v[::-1]
        origin = t + (nk - 1) * dk
        dz = -dk
    else:
        origin, dz = t, dk
    zooms = img.header.get_zooms()[:3]
    spacing = [zooms[2], zooms[1], zooms[0]]

    def writer(mask, out):
        m = mask[::-1] if flip else mask
        stored = np.ascontiguousarray(m.transpose(2, 1, 0)).astype(np.uint8)
        hdr = img.header.copy()
        hdr.set_data_dtype(np.uint8)
        hdr.set_slope_inter(1.0, 0.0)
        hdr["cal_min"], hdr["cal_max"] = 0, 0
        out_img = nib.Nifti1Image(stored, aff, hdr)
        out_img.set_sform(aff, int(img.header["sform_code"]))
        out_img.set_qform(img.header.get_qform(), int(img.header["qform_code"]))
        out_img.header["descrip"] = b"covid-ct realct reference mask"
        nib.save(out_img, out)
        chk = nib.load(out)
        assert np.allclose(chk.affine, aff)
        assert np.array_equal(np.asarray(chk.dataobj), stored)

    return Scan(name, np.ascontiguousarray(v), origin, di, dj, dz, spacing, [fname], writer)


def dicom_hu(ds):
    px = ds.pixel_array.astype(np.float32)
    return px * float(getattr(ds, "RescaleSlope", 1.0)) + float(getattr(ds, "RescaleIntercept", 0.0))


def load_dicom(cache, files, name):
    dss = [pydicom.dcmread(os.path.join(cache, f)) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    order = sorted(range(len(dss)), key=lambda i: float(np.dot(np.array(dss[i].ImagePositionPatient, float), normal)))
    dss = [dss[i] for i in order]
    files = [files[i] for i in order]
    hu = np.stack([dicom_hu(d) for d in dss])
    ps = [float(v) for v in dss[0].PixelSpacing]  # [between rows, between columns]
    ipp0 = np.array(dss[0].ImagePositionPatient, float)
    if len(dss) > 1:
        pos = [float(np.dot(np.array(d.ImagePositionPatient, float), normal)) for d in dss]
        sz = float(np.median(np.diff(pos)))
        dz = (np.array(dss[1].ImagePositionPatient, float) - ipp0)
        dz = dz / np.linalg.norm(dz) * sz
    else:
        # as ct-io: SpacingBetweenSlices, else SliceThickness, else 1 mm
        sz = float(dss[0].get("SpacingBetweenSlices") or dss[0].get("SliceThickness") or 1.0)
        dz = normal * sz
    spacing = [sz, ps[0], ps[1]]

    def writer(mask, out):
        img = nib.Nifti1Image(np.ascontiguousarray(mask.transpose(2, 1, 0)).astype(np.uint8), np.eye(4))
        img.header.set_sform(np.eye(4), 1)
        img.header.set_qform(np.eye(4), 1)
        img.header["descrip"] = b"covid-ct realct reference mask"
        nib.save(img, out)

    return Scan(name, hu, ipp0, row * ps[1], col * ps[0], dz, spacing, files, writer)


# --------------------------------------------------------------------------
# Segmentation


def disk(r):
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def body_mask(hu, P):
    nz = hu.shape[0]
    out = np.zeros(hu.shape, bool)
    st = disk(P["body_open_radius_px"])
    for z in range(nz):
        b = ndi.binary_opening(hu[z] > P["body_hu"], structure=st)
        lab, n = ndi.label(b)
        if n == 0:
            continue
        sizes = ndi.sum(b, lab, range(1, n + 1))
        b = lab == (1 + int(np.argmax(sizes)))
        border = np.concatenate([b[0, :], b[-1, :], b[:, 0], b[:, -1]])
        if border.mean() >= P["body_border_fraction_truncated_fov"]:
            # field of view cut inside the patient: the frame counts as body
            bp = np.pad(b, 1, constant_values=True)
            b = ndi.binary_fill_holes(bp)[1:-1, 1:-1]
        else:
            b = ndi.binary_fill_holes(b)
        out[z] = b
    return out


def component_is_lung(vol_or_area_ok, pure_frac, P):
    return vol_or_area_ok and pure_frac < P["lung_max_pure_air_fraction"]


def lung_components(air, hu, scan, P, body=None):
    """Return (mask of lung components, list of per-component stats).

    With `body` given (scans without a trachea), components touching the
    scan's superior slice may be as small as lung_base_min_volume_ml when they
    lie >= lung_base_min_depth_mm inside the body (lung bases cut by the scan).
    """
    single = hu.shape[0] == 1
    if single:
        st = ndi.generate_binary_structure(2, 1)
        lab, n = ndi.label(air[0], structure=st)
        lab = lab[None]
    else:
        lab, n = ndi.label(air, structure=ndi.generate_binary_structure(3, 1))
    keep = np.zeros(n + 1, bool)
    stats = []
    base_ok = None
    if body is not None and not single and n:
        # components touching the superior slice, with all voxels deep in the body
        top = hu.shape[0] - 1 if scan.superior_step() > 0 else 0
        depth = np.stack([ndi.distance_transform_edt(body[z], sampling=scan.spacing[1:]) for z in range(hu.shape[0])])
        mind = ndi.minimum(depth, lab, np.arange(1, n + 1))
        base_ok = {int(i) for i in np.unique(lab[top]) if i > 0 and mind[i - 1] >= P["lung_base_min_depth_mm"]}
    if n:
        idx = np.arange(1, n + 1)
        cnt = ndi.sum(np.ones_like(air), lab, idx)
        pure = ndi.sum(hu < P["pure_air_hu"], lab, idx)
        for i, c, p in zip(idx, cnt, pure):
            if single:
                size = c * scan.spacing[1] * scan.spacing[2] / 100.0  # cm^2
                big = size >= P["lung_min_area_cm2_single_slice"]
            else:
                size = c * scan.voxel_ml
                big = size >= P["lung_min_volume_ml"]
            frac = p / c
            keep[i] = component_is_lung(big, frac, P)
            if not keep[i] and base_ok is not None and i in base_ok:
                size_ml = c * scan.voxel_ml
                keep[i] = component_is_lung(size_ml >= P["lung_base_min_volume_ml"], frac, P)
            if size >= 1.0:
                stats.append({"size": round(float(size), 2), "pure_air_fraction": round(float(frac), 3), "lung": bool(keep[i])})
    return keep[lab], stats


def blob_props(mask2d, scan):
    ys, xs = np.nonzero(mask2d)
    area_cm2 = len(ys) * scan.spacing[1] * scan.spacing[2] / 100.0
    h = ys.max() - ys.min() + 1
    w = xs.max() - xs.min() + 1
    hmm = h * scan.spacing[1]
    wmm = w * scan.spacing[2]
    fill = len(ys) / float(h * w)
    aspect = max(hmm, wmm) / max(1e-6, min(hmm, wmm))
    return area_cm2, fill, aspect, ys.mean(), xs.mean()


def trachea_like(blob, z, scan, body, lpsx, P):
    area, fill, aspect, cy, cx = blob_props(blob, scan)
    lo, hi = P["trachea_area_cm2"]
    if not (lo <= area <= hi and fill >= P["trachea_min_fill_bbox"] and aspect <= P["trachea_max_aspect"]):
        return False
    bx = lpsx[z][body[z]]
    if bx.size == 0:
        return False
    centre = bx.mean()
    width = bx.max() - bx.min()
    return abs(lpsx[z][blob].mean() - centre) <= P["trachea_max_offset_body_width"] * width


def ring_lung_fraction(blob, lungair, P):
    r0, r1 = P["airway_ring_px"]
    outer = ndi.binary_dilation(blob, structure=disk(r1))
    inner = ndi.binary_dilation(blob, structure=disk(r0))
    ring = outer & ~inner
    if not ring.any():
        return 0.0
    return float(lungair[ring].mean())


def find_airways(hu, body, lung, scan, lpsx, P):
    nz = hu.shape[0]
    lumen = lung & (hu < P["airway_lumen_hu"])
    lungair = lung & (hu >= P["airway_lumen_hu"])  # parenchyma (and lumen partial volume)
    cm2 = scan.spacing[1] * scan.spacing[2] / 100.0
    info = {"trachea_seed_z": None, "airway_top_z": None, "carina_z": None, "airway_last_z": None}
    tracked = np.zeros(hu.shape, bool)
    if nz == 1:
        lab, n = ndi.label(lumen[0])
        for i in range(1, n + 1):
            b = lab == i
            if trachea_like(b, 0, scan, body, lpsx, P):
                tracked[0] |= b
    else:
        step = -scan.superior_step()  # towards the feet
        zs = list(range(nz)) if step == 1 else list(range(nz - 1, -1, -1))
        min_len = int(np.ceil(P["trachea_min_length_mm"] / scan.spacing[0]))
        seed = None
        for k, z in enumerate(zs):
            if not lumen[z].any():
                continue
            lab, n = ndi.label(lumen[z])
            for i in range(1, n + 1):
                b = lab == i
                if not trachea_like(b, z, scan, body, lpsx, P):
                    continue
                # must continue downwards as one compact blob for min_len slices
                cur, ok = b, True
                for j in range(1, min_len + 1):
                    if k + j >= len(zs):
                        ok = False
                        break
                    l2, _ = ndi.label(lumen[zs[k + j]])
                    ids, cn = np.unique(l2[cur & (l2 > 0)], return_counts=True)
                    if len(ids) == 0:
                        ok = False
                        break
                    nxt = l2 == ids[np.argmax(cn)]
                    if nxt.sum() * cm2 > P["airway_max_area_cm2"]:
                        ok = False
                        break
                    cur = nxt
                if ok:
                    seed = (k, b)
                    break
            if seed is not None:
                break
        if seed is not None:
            k0, b0 = seed
            info["trachea_seed_z"] = int(zs[k0])
            tracked[zs[k0]] = b0
            # upwards (larynx side) while the lumen stays a compact central blob
            cur = b0
            for k in range(k0 - 1, -1, -1):
                z = zs[k]
                lab, n = ndi.label(lumen[z])
                ids, cn = np.unique(lab[cur & (lab > 0)], return_counts=True)
                if len(ids) == 0:
                    break
                c = lab == ids[np.argmax(cn)]
                lo_ok = c.sum() * cm2 >= P["trachea_up_min_area_cm2"]
                p = dict(P, trachea_area_cm2=[P["trachea_up_min_area_cm2"], P["airway_max_area_cm2"]])
                if not (lo_ok and trachea_like(c, z, scan, body, lpsx, p)):
                    break
                tracked[z] = c
                cur = c
                info["airway_top_z"] = int(z)
            # (blob, area of its parent blob): the size limit uses the larger of
            # the parent's and the grandparent's area, so a one-slice dip of the
            # lumen (partial volume) does not stop the tracking
            branches = [(b0, b0.sum() * cm2)]
            carina_k = None
            max_k = len(zs) - 1
            for k in range(k0 + 1, len(zs)):
                if carina_k is not None:
                    if (k - carina_k) * scan.spacing[0] > P["airway_depth_below_carina_mm"] + 1e-6:
                        break
                z = zs[k]
                lab, n = ndi.label(lumen[z])
                children = []  # (blob, parent area)
                raw_big = set()
                for parent, gparea in branches:
                    parea = parent.sum() * cm2
                    ref_area = max(parea, gparea)
                    for i in np.unique(lab[parent & (lab > 0)]):
                        c = lab == i
                        area = c.sum() * cm2
                        if area >= P["carina_min_branch_cm2"]:
                            raw_big.add(int(i))
                        if area < P["airway_min_blob_cm2"]:
                            continue
                        if area > P["airway_max_area_cm2"]:
                            continue
                        if area > P["airway_child_area_factor"] * ref_area + P["airway_child_area_slack_cm2"]:
                            continue
                        if ring_lung_fraction(c, lungair[z], P) > P["airway_max_ring_lung_fraction"]:
                            continue
                        if not any((c & o).any() for o, _ in children):
                            children.append((c, parea))
                if carina_k is None and len(raw_big) >= 2:
                    carina_k = k
                    info["carina_z"] = int(z)
                if not children:
                    break
                branches = children
                for c, _ in children:
                    tracked[z] |= c
                info["airway_last_z"] = int(z)
    # grow into the lumen's partial volume
    grow = np.zeros_like(tracked)
    allowed = body & (hu < P["air_hu"])
    for z in range(nz):
        if tracked[z].any():
            grow[z] = ndi.binary_dilation(tracked[z], structure=ndi.generate_binary_structure(2, 1),
                                          iterations=P["airway_grow_px"], mask=allowed[z])
    return grow | tracked, info


def side_of(piece, lpsx, midline):
    """-1 right (smaller LPS x), +1 left."""
    d = (lpsx - midline)[piece]
    return -1 if d.mean() < 0 else 1


def split_component(comp, lpsx, midline, P):
    """Split a component spanning both sides into (right, left) masks or None."""
    st = ndi.generate_binary_structure(comp.ndim, 1)
    e = comp.copy()
    total = comp.sum()
    for _ in range(P["split_max_erosions"]):
        e = ndi.binary_erosion(e, structure=st)
        lab, n = ndi.label(e, structure=st)
        if n < 2:
            continue
        sizes = ndi.sum(e, lab, range(1, n + 1))
        order = np.argsort(sizes)[::-1]
        a, b = order[0] + 1, order[1] + 1
        if sizes[order[1]] < P["split_min_piece_fraction"] * total:
            continue
        pa, pb = lab == a, lab == b
        sa, sb = side_of(pa, lpsx, midline), side_of(pb, lpsx, midline)
        if sa == sb:
            continue
        # geodesic regrowth inside the component
        seeds = np.zeros(comp.shape, np.int8)
        seeds[pa] = sa
        seeds[pb] = sb
        while True:
            un = comp & (seeds == 0)
            if not un.any():
                break
            gr = ndi.binary_dilation(seeds == -1, structure=st) & un
            gl = ndi.binary_dilation(seeds == 1, structure=st) & un
            if not (gr.any() or gl.any()):
                break
            seeds[gr & ~gl] = -1
            seeds[gl & ~gr] = 1
            both = gr & gl
            if both.any() and not (gr & ~gl).any() and not (gl & ~gr).any():
                seeds[both] = np.where((lpsx - midline)[both] < 0, -1, 1)
        rest = comp & (seeds == 0)
        seeds[rest] = np.where((lpsx - midline)[rest] < 0, -1, 1)
        return seeds == -1, seeds == 1, "erosion"
    # fallback: per slice, cut at the column of minimum thickness near the midline
    right = np.zeros_like(comp)
    left = np.zeros_like(comp)
    for z in range(comp.shape[0]):
        s = comp[z]
        if not s.any():
            continue
        xs = lpsx[z] - midline[z]
        # thickness per image column
        colthick = s.sum(axis=0)
        colx = xs.mean(axis=0)
        cand = np.nonzero(np.abs(colx) <= P["split_cut_search_mm"])[0]
        if cand.size == 0:
            r = s & (xs < 0)
        else:
            c = cand[np.argmin(colthick[cand] + 1e-3 * np.abs(colx[cand]))]
            r = s & (xs < colx[c])
        right[z] = r
        left[z] = s & ~r
    return right, left, "cut"


def segment(scan, P):
    hu = scan.hu
    lpsx = scan.lps_x() * np.ones(hu.shape[1:], float)[None]  # full [z,y,x]
    lpsx = np.broadcast_to(lpsx, hu.shape)
    body = body_mask(hu, P)
    air = body & (hu < P["air_hu"])
    lung0, stats0 = lung_components(air, hu, scan, P)
    airway, info = find_airways(hu, body, lung0, scan, lpsx, P)
    no_trachea = info["trachea_seed_z"] is None
    lung, stats = lung_components(lung0 & ~airway if not no_trachea else air, hu, scan, P,
                                  body=body if no_trachea else None)
    # midline per slice: LPS x centroid of the body (fallback: image centre)
    nz = hu.shape[0]
    midline = np.zeros((nz, 1, 1))
    for z in range(nz):
        bx = lpsx[z][body[z]]
        midline[z] = bx.mean() if bx.size else lpsx[z].mean()
    st = ndi.generate_binary_structure(3, 1)
    if nz == 1:
        lab, n = ndi.label(lung[0], structure=ndi.generate_binary_structure(2, 1))
        lab = lab[None]
    else:
        lab, n = ndi.label(lung, structure=st)
    right = np.zeros(hu.shape, bool)
    left = np.zeros(hu.shape, bool)
    splits = []
    for i in range(1, n + 1):
        comp = lab == i
        d = (lpsx - midline)[comp]
        fr = min((d < 0).mean(), (d >= 0).mean())
        if fr >= P["split_side_fraction"]:
            r, l, how = split_component(comp, lpsx, midline, P)
            right |= r
            left |= l
            splits.append({"component_voxels": int(comp.sum()), "method": how})
        elif side_of(comp, lpsx, midline) < 0:
            right |= comp
        else:
            left |= comp
    out = np.zeros(hu.shape, np.uint8)
    out[airway] = 3
    for lbl, m in ((1, right), (2, left)):
        filled = np.zeros_like(m)
        for z in range(nz):
            if m[z].any():
                filled[z] = ndi.binary_fill_holes(m[z])
        out[filled & (out == 0)] = lbl
    if P["fill_holes_coronal"] and nz > 1:
        # then per coronal slice [z, x] (fixed y): closes juxtapleural nodules on
        # the anterior/posterior chest wall, which axial slices leave open
        for lbl in (1, 2):
            m = out == lbl
            filled = np.zeros_like(m)
            for y in range(hu.shape[1]):
                if m[:, y, :].any():
                    filled[:, y, :] = ndi.binary_fill_holes(m[:, y, :])
            out[filled & (out == 0)] = lbl
    info["splits"] = splits
    info["air_components_ge_1"] = stats0
    return out, info


# --------------------------------------------------------------------------
# Montage


def load_font(size):
    try:
        return ImageFont.load_default(size=size)
    except Exception:  # pragma: no cover - old Pillow
        return ImageFont.load_default()


def montage(scan, mask, out_png, title):
    hu = scan.hu
    nz, ny, nx = hu.shape
    step = 10 if nz >= 100 else max(1, nz // 10)
    zs = list(range(0, nz, step))
    # display: patient right on the left (LPS x increasing to the right), anterior on top
    flip_x = scan.dx[0] < 0
    flip_y = scan.dy[1] < 0
    body = (hu > -500).any(axis=0)
    ys, xs = np.nonzero(body)
    if ys.size:
        y0, y1 = max(0, ys.min() - 4), min(ny, ys.max() + 5)
        x0, x1 = max(0, xs.min() - 4), min(nx, xs.max() + 5)
    else:
        y0, y1, x0, x1 = 0, ny, 0, nx
    hmm = (y1 - y0) * scan.spacing[1]
    wmm = (x1 - x0) * scan.spacing[2]
    disp_w = 300
    disp_h = int(round(disp_w * hmm / wmm))
    cols = min(6, max(4, int(np.ceil(np.sqrt(len(zs) * 1.5))))) if len(zs) > 3 else len(zs)
    rows = (len(zs) + cols - 1) // cols
    head = 44
    canvas = Image.new("RGB", (max(cols * disp_w, 620), rows * disp_h + head), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    font = load_font(14)
    for i, line in enumerate(title.split("\n")):
        draw.text((4, 4 + 19 * i), line, fill=(255, 255, 255), font=font)
    lvl, wid = LUNG_WINDOW
    colours = {1: (255, 40, 40), 2: (40, 255, 40), 3: (60, 120, 255)}
    for n, z in enumerate(zs):
        sl = hu[z, y0:y1, x0:x1]
        ms = mask[z, y0:y1, x0:x1]
        if flip_x:
            sl, ms = sl[:, ::-1], ms[:, ::-1]
        if flip_y:
            sl, ms = sl[::-1], ms[::-1]
        g = np.clip((sl - (lvl - wid / 2)) / wid, 0, 1) * 255
        im = Image.fromarray(g.astype(np.uint8)).resize((disp_w, disp_h), Image.BILINEAR)
        rgb = np.stack([np.asarray(im)] * 3, axis=-1)
        mz = np.asarray(Image.fromarray(ms).resize((disp_w, disp_h), Image.NEAREST))
        for lbl, c in colours.items():
            m = mz == lbl
            if m.any():
                edge = m & ~ndi.binary_erosion(m, structure=np.ones((3, 3), bool))
                rgb[edge] = c
        tile = Image.fromarray(rgb)
        td = ImageDraw.Draw(tile)
        td.text((4, 2), f"z={z}", fill=(255, 255, 0), font=font)
        r, c = divmod(n, cols)
        canvas.paste(tile, (c * disp_w, head + r * disp_h))
    canvas.save(out_png, optimize=True)


# --------------------------------------------------------------------------


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dice(a, b):
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else 1.0


def scans(cache):
    dcm = sorted(os.path.relpath(p, cache) for p in glob.glob(os.path.join(cache, "ts_dicom", "*")))
    lidc = sorted(os.path.relpath(p, cache) for p in glob.glob(os.path.join(cache, "lidc_0001", "*.dcm")))
    return {
        "ts_chest_cta": lambda: load_nifti(cache, "ts_chest_cta.nii.gz", "ts_chest_cta"),
        "ts_abdomen": lambda: load_nifti(cache, "ts_abdomen.nii.gz", "ts_abdomen"),
        "ts_dicom": lambda: load_dicom(cache, dcm, "ts_dicom"),
        "pydicom_ct_small": lambda: load_dicom(cache, ["pydicom_ct_small.dcm"], "pydicom_ct_small"),
        "lidc_0001": lambda: load_dicom(cache, lidc, "lidc_0001"),
        "pyrad_lung1": lambda: load_nifti(cache, "pyrad_lung1.nii.gz", "pyrad_lung1"),
        "pyrad_lung2": lambda: load_nifti(cache, "pyrad_lung2.nii.gz", "pyrad_lung2"),
    }


def totalseg_check(cache, mask_abd_zyx, abd):
    """Dice of our lungs vs TotalSegmentator's (classes 10-14) on ts_abdomen_sm."""
    sm = nib.load(os.path.join(cache, "ts_abdomen_sm.nii.gz"))
    seg = nib.load(os.path.join(cache, "ts_abdomen_totalseg.nii.gz"))
    full = np.asarray(nib.load(os.path.join(cache, "ts_abdomen.nii.gz")).dataobj)
    smd = np.asarray(sm.dataobj)
    # ts_abdomen_sm carries the full scan's affine but holds slices k0..k0+29 of it
    k0 = None
    for k in range(full.shape[2] - smd.shape[2] + 1):
        if np.array_equal(full[..., k:k + smd.shape[2]], smd):
            k0 = k
            break
    assert k0 is not None, "ts_abdomen_sm is not a slab of ts_abdomen"
    # back to storage order of ts_abdomen (same convention as its writer)
    stored = mask_abd_zyx.transpose(2, 1, 0)  # no z flip for this file (checked below)
    assert abd.dz[2] > 0
    ours = np.isin(stored[..., k0:k0 + smd.shape[2]], (1, 2))
    g = np.asarray(seg.dataobj)
    theirs = np.isin(g, (10, 11, 12, 13, 14))
    per_slice = []
    for k in range(smd.shape[2]):
        a, b = ours[..., k], theirs[..., k]
        if a.any() or b.any():
            per_slice.append({"k": int(k0 + k), "ours": int(a.sum()), "totalseg": int(b.sum()), "dice": round(dice(a, b), 4)})
    return {
        "reference": "TotalSegmentator 2.18.0 example_seg.nii.gz (classes 10-14 = lung lobes) on ts_abdomen_sm.nii.gz",
        "ts_abdomen_sm_is_ts_abdomen_slices": [int(k0), int(k0 + smd.shape[2] - 1)],
        "voxels_ours": int(ours.sum()),
        "voxels_totalseg": int(theirs.sum()),
        "dice_lungs": round(dice(ours, theirs), 4),
        "per_stored_slice": per_slice,
    }


def lidc_nodule_check(cache, mask, scan):
    """Share of each LIDC reader's nodule contours (lidc_0001_annotation.xml) inside the lungs."""
    import xml.etree.ElementTree as ET

    ns = {"n": "http://www.nih.gov"}
    # slice index of each ImagePositionPatient z (an axial scan: IOP 1/0/0/0/1/0)
    zpos = [round(float(scan.origin[2] + k * scan.dz[2]), 3) for k in range(mask.shape[0])]
    root = ET.parse(os.path.join(cache, "lidc_0001_annotation.xml")).getroot()
    rows = []
    for reader, rs in enumerate(root.findall("n:readingSession", ns)):
        for nod in rs.findall("n:unblindedReadNodule", ns):
            total, labels = 0, {}
            for roi in nod.findall("n:roi", ns):
                z = zpos.index(round(float(roi.find("n:imageZposition", ns).text), 3))
                pts = [(int(e.find("n:xCoord", ns).text), int(e.find("n:yCoord", ns).text))
                       for e in roi.findall("n:edgeMap", ns)]
                im = Image.new("L", (mask.shape[2], mask.shape[1]))
                if len(pts) > 2:
                    ImageDraw.Draw(im).polygon(pts, fill=1, outline=1)
                else:
                    ImageDraw.Draw(im).point(pts, fill=1)
                r = np.asarray(im, bool)
                total += int(r.sum())
                for v, c in zip(*np.unique(mask[z][r], return_counts=True)):
                    labels[str(int(v))] = labels.get(str(int(v)), 0) + int(c)
            inside = labels.get("1", 0) + labels.get("2", 0)
            rows.append({"reader": reader, "nodule": nod.find("n:noduleID", ns).text, "voxels": total,
                         "labels": dict(sorted(labels.items())), "in_lung": round(inside / total, 4)})
    return {"reference": "LIDC-IDRI-0001 069.xml, unblinded reads: nodule contours (x = column, y = row) "
                         "or single points for nodules < 3 mm",
            "nodules": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=os.environ.get("COVID_CT_REALCT", os.path.join(REPO, "target", "realct")))
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    os.makedirs(OUT_DATA, exist_ok=True)
    os.makedirs(OUT_IMG, exist_ok=True)
    jpath = os.path.join(OUT_DATA, "reference.json")
    report = {}
    if os.path.exists(jpath):
        report = json.load(open(jpath))
    versions = {}
    for pkg in ("numpy", "scipy", "nibabel", "pydicom", "pillow", "pylibjpeg", "pylibjpeg-openjpeg"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    report["generator"] = "tools/realct/reference_masks.py"
    report["labels"] = {"0": "background", "1": "right lung", "2": "left lung", "3": "airways"}
    report["array_order"] = "[z, y, x] as returned by ct-io; mask_sha256 is over the uint8 bytes in that C order"
    report["params"] = PARAMS
    report["versions"] = versions
    report.setdefault("scans", {})
    todo = scans(args.cache)
    for name, loader in todo.items():
        if args.only and name not in args.only:
            continue
        scan = loader()
        mask, info = segment(scan, PARAMS)
        out = os.path.join(OUT_DATA, f"{name}_ref.nii.gz")
        scan.writer(mask, out)
        counts = {str(l): int((mask == l).sum()) for l in (1, 2, 3)}
        entry = {
            "source": scan.source if len(scan.source) > 1 else scan.source[0],
            "source_sha256": {f: sha256_file(os.path.join(args.cache, f)) for f in scan.source},
            "mask": os.path.relpath(out, REPO),
            "shape_zyx": list(mask.shape),
            "spacing_zyx_mm": [float(s) for s in scan.spacing],
            "voxel_count": counts,
            "volume_ml": {l: round(c * scan.voxel_ml, 3) for l, c in counts.items()},
            "mask_sha256": hashlib.sha256(np.ascontiguousarray(mask, dtype=np.uint8).tobytes()).hexdigest(),
            "z_superior_step": scan.superior_step(),
            "airways": {k: info[k] for k in ("trachea_seed_z", "airway_top_z", "carina_z", "airway_last_z")},
            "lr_splits": info["splits"],
            "air_components": info["air_components_ge_1"],
        }
        if name == "ts_abdomen":
            entry["totalsegmentator_check"] = totalseg_check(args.cache, mask, scan)
        if name == "lidc_0001":
            entry["lidc_nodule_check"] = lidc_nodule_check(args.cache, mask, scan)
        report["scans"][name] = entry
        v = entry["volume_ml"]
        title = (f"{name}: R (red) {v['1']:.1f} mL, L (green) {v['2']:.1f} mL, airways (blue) {v['3']:.1f} mL\n"
                 f"W1500 L-500; patient right on image left; z = ct-io slice index")
        montage(scan, mask, os.path.join(OUT_IMG, f"{name}_ref.png"), title)
        print(f"{name}: shape {mask.shape} R {v['1']} mL L {v['2']} mL AW {v['3']} mL airways {entry['airways']}"
              f" splits {info['splits']}", flush=True)
        if "totalsegmentator_check" in entry:
            print(f"  dice vs TotalSegmentator lungs: {entry['totalsegmentator_check']['dice_lungs']}")
        for row in entry.get("lidc_nodule_check", {}).get("nodules", []):
            print(f"  LIDC reader {row['reader']} nodule {row['nodule']}: {row['voxels']} voxels, "
                  f"{100 * row['in_lung']:.1f} % in the lungs {row['labels']}")
    with open(jpath, "w") as f:
        json.dump(report, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
