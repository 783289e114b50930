#!/usr/bin/env python3
"""Phantom realism V2 beside real chest CT: HU histograms, noise power spectra, a montage.

Inputs
  --phantom DIR  V2 phantoms as written by the ignored test `write_v2_samples`
                 (crates/ct-phantom/tests/v2.rs): <id>.nii.gz (HU) and <id>_regions.nii.gz
                 (0 outside the circle, 1 air, 2 body wall/abdomen/arms, 3 mediastinum,
                 4 lung, 5 couch/mattress/clothing/blanket/pillow)
  --real DIR     target/realct (tools/realct/fetch.sh): ts_chest_cta.nii.gz, and when present
                 lidc_0001/ (DICOM series) and pyrad_lung2.nii.gz
  --out DIR      docs/img/phantom-v2 (PNG figures; a summary is printed)

Regions of the real scans are found with a plain body-first rule (HU > -500, opened, the
largest component, filled per slice): lung = filled body and HU < -400 minus pure-air
components; soft tissue = body with -100 < HU < 100 (eroded); couch = outside the body,
HU > -980, below the body's centre (mattress, shell, clothing). The phantoms use their true
region codes. Noise power spectra come from flat soft-tissue squares (32 x 32 px, detrended),
radially averaged, in cycles/mm, normalised to unit area (shape, not level) and also given as
the noise SD.

Dependencies: numpy, scipy, nibabel, pydicom, pillow (pinned in tools/requirements.txt).
Run:
  CARGO_TARGET_DIR=target-phantom cargo test --release -p ct-phantom --test v2 \
      write_v2_samples -- --ignored
  python tools/ct-phantom/compare_real.py --phantom target-phantom/phantom-v2 \
      --real target/realct --out docs/img/phantom-v2
"""

import argparse
import glob
import os

import nibabel as nib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage as ndi


def load_nifti(path):
    """(z, y, x) int16 HU with rows anterior->posterior, columns patient right->left, and
    (dz, dy, dx) spacing."""
    im = nib.as_closest_canonical(nib.load(path))  # RAS
    v = np.asarray(im.dataobj).astype(np.float32)
    dx, dy, dz = im.header.get_zooms()[:3]
    # RAS: +x toward the patient's right, +y anterior; images have columns toward the
    # patient's left and rows toward posterior.
    v = v[::-1, ::-1, :]
    return np.transpose(v, (2, 1, 0)), (float(dz), float(dy), float(dx))


def load_dicom_dir(d):
    import pydicom

    ds = [pydicom.dcmread(f) for f in sorted(glob.glob(os.path.join(d, "*.dcm")))]
    ds.sort(key=lambda s: float(s.ImagePositionPatient[2]))
    vol = np.stack(
        [s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in ds]
    ).astype(np.float32)
    dz = abs(float(ds[1].ImagePositionPatient[2]) - float(ds[0].ImagePositionPatient[2]))
    py, px = (float(v) for v in ds[0].PixelSpacing)
    return vol, (dz, py, px)


def real_regions(v, sp):
    """Region codes like the phantom's, by a plain body-first rule."""
    r = max(1, int(round(3.0 / sp[1])))
    disk = ndi.generate_binary_structure(2, 1)
    disk = ndi.iterate_structure(disk, r)
    body = v > -500
    body = np.stack([ndi.binary_opening(s, disk) for s in body])
    lab, n = ndi.label(body)
    if n:
        sizes = ndi.sum(np.ones_like(lab), lab, range(1, n + 1))
        body = lab == (1 + int(np.argmax(sizes)))
    body = np.stack([ndi.binary_fill_holes(s) for s in body])
    reg = np.ones(v.shape, np.uint8)
    reg[body] = 2
    air = body & (v < -400)
    lab, n = ndi.label(air)
    if n:
        idx = np.arange(1, n + 1)
        size = ndi.sum(np.ones_like(v), lab, idx)
        pure = ndi.sum(v < -950, lab, idx) / np.maximum(size, 1)
        ok = idx[(size * np.prod(sp) >= 5000) & (pure < 0.15)]  # >= 5 mL, < 15 % pure air
        reg[np.isin(lab, ok)] = 4
    # Couch: outside the body, not air, below the body's centre row.
    rows = np.arange(v.shape[1])[None, :, None]
    cy = np.nonzero(body.any(axis=(0, 2)))[0]
    centre = cy.mean() if cy.size else v.shape[1] / 2
    reg[(~body) & (v > -980) & (rows > centre)] = 5
    reg[v < -1500] = 0
    return reg


def hist(values, lo, hi, bins=110):
    h, e = np.histogram(values, bins=bins, range=(lo, hi), density=True)
    return 0.5 * (e[1:] + e[:-1]), h


def flat_rois(v, reg, size=32, max_rois=40):
    """Flat soft-tissue squares (regions 2/3, HU -100..150, smooth)."""
    rois = []
    nz = v.shape[0]
    for k in range(0, nz, max(1, nz // 16)):
        s = v[k]
        soft = np.isin(reg[k], (2, 3)) & (s > -150) & (s < 200)
        sm = ndi.gaussian_filter(s, 3.0)
        grad = np.hypot(ndi.sobel(sm, 0), ndi.sobel(sm, 1))
        for r in range(0, s.shape[0] - size, size // 2):
            for c in range(0, s.shape[1] - size, size // 2):
                if not soft[r : r + size, c : c + size].all():
                    continue
                g = grad[r : r + size, c : c + size].max()
                rois.append((g, k, r, c))
    rois.sort()
    return [(k, r, c) for _, k, r, c in rois[:max_rois]]


def nps(v, rois, px, size=32):
    """Radially averaged NPS (HU² mm²) and the frequencies (cycles/mm), noise SD."""
    acc = np.zeros((size, size))
    sds = []
    yy, xx = np.mgrid[0:size, 0:size]
    A = np.stack([np.ones(size * size), yy.ravel(), xx.ravel()], 1)
    for k, r, c in rois:
        roi = v[k, r : r + size, c : c + size].astype(np.float64)
        coef, *_ = np.linalg.lstsq(A, roi.ravel(), rcond=None)
        d = roi - (A @ coef).reshape(size, size)
        sds.append(d.std())
        acc += np.abs(np.fft.fftshift(np.fft.fft2(d))) ** 2
    acc *= px * px / (size * size) / max(1, len(rois))
    f = np.fft.fftshift(np.fft.fftfreq(size, px))
    fr = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    bins = np.linspace(0, fr.max(), size // 2 + 1)
    idx = np.digitize(fr.ravel(), bins) - 1
    prof = np.array([acc.ravel()[idx == i].mean() if (idx == i).any() else 0 for i in range(len(bins) - 1)])
    fc = 0.5 * (bins[1:] + bins[:-1])
    keep = fc <= 0.5 / px
    return fc[keep], prof[keep], float(np.median(sds)) if sds else float("nan")


# ---------------------------------------------------------------- tiny plotting with PIL
COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def line_plot(panels, path, w=360, h=240):
    """panels: [(title, xlabel, [(label, x, y, color, width)], (xlo, xhi))]"""
    font = ImageFont.load_default()
    img = Image.new("RGB", (w * len(panels), h + 70), "white")
    d = ImageDraw.Draw(img)
    legend = {}
    for p, (title, xlabel, series, (xlo, xhi)) in enumerate(panels):
        ox, oy, pw, ph = p * w + 40, 20, w - 55, h - 40
        ymax = max((np.max(y) for _, x, y, _, _ in series if len(y)), default=1) * 1.05 or 1
        d.rectangle([ox, oy, ox + pw, oy + ph], outline="black")
        d.text((ox + 4, 4), title, fill="black", font=font)
        for t in np.linspace(xlo, xhi, 5):
            X = ox + (t - xlo) / (xhi - xlo) * pw
            d.line([X, oy + ph, X, oy + ph + 4], fill="black")
            d.text((X - 14, oy + ph + 6), f"{t:g}", fill="black", font=font)
        d.text((ox + pw / 2 - 30, oy + ph + 20), xlabel, fill="black", font=font)
        for label, x, y, color, width in series:
            pts = [
                (ox + (xi - xlo) / (xhi - xlo) * pw, oy + ph - yi / ymax * ph)
                for xi, yi in zip(x, y)
                if xlo <= xi <= xhi
            ]
            if len(pts) > 1:
                d.line(pts, fill=color, width=width)
            legend[label] = color
    x = 10
    for label, color in legend.items():
        d.rectangle([x, h + 42, x + 12, h + 52], fill=color)
        d.text((x + 16, h + 41), label, fill="black", font=font)
        x += 20 + 7 * len(label)
    img.save(path, optimize=True)


def window(s, lo=-1350, hi=150):
    return np.clip((s - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)


def resize_mm(s, sp, mm_per_px=1.4, out=256):
    """A slice at a common scale (mm per pixel), centred, padded/cropped to out x out."""
    zy, zx = sp[1] / mm_per_px, sp[2] / mm_per_px
    r = ndi.zoom(s, (zy, zx), order=1)
    canvas = np.full((out, out), -1024.0, np.float32)
    h, w = r.shape
    y0, x0 = (out - h) // 2, (out - w) // 2
    ys, xs = max(0, -y0), max(0, -x0)
    yd, xd = max(0, y0), max(0, x0)
    hh, ww = min(h - ys, out - yd), min(w - xs, out - xd)
    canvas[yd : yd + hh, xd : xd + ww] = r[ys : ys + hh, xs : xs + ww]
    return canvas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phantom", default="target-phantom/phantom-v2")
    ap.add_argument("--real", default="target/realct")
    ap.add_argument("--out", default="docs/img/phantom-v2")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    scans = []  # (name, vol, spacing, regions, is_real)
    for f in sorted(glob.glob(os.path.join(a.phantom, "*[0-9].nii.gz"))):
        v, sp = load_nifti(f)
        reg, _ = load_nifti(f.replace(".nii.gz", "_regions.nii.gz"))
        scans.append((os.path.basename(f)[:-7], v, sp, reg.astype(np.uint8), False))
    real = []
    p = os.path.join(a.real, "ts_chest_cta.nii.gz")
    if os.path.exists(p):
        real.append(("ts_chest_cta",) + load_nifti(p))
    p = os.path.join(a.real, "lidc_0001")
    if os.path.isdir(p):
        real.append(("lidc_0001",) + load_dicom_dir(p))
    p = os.path.join(a.real, "pyrad_lung2.nii.gz")
    if os.path.exists(p):
        real.append(("pyrad_lung2",) + load_nifti(p))
    for name, v, sp in real:
        scans.append((name, v, sp, real_regions(v, sp), True))
    if not scans:
        raise SystemExit("no scans found")

    # ---- histograms
    panels = []
    for title, code, soft, lo, hi in [
        ("lung (region 4)", 4, False, -1050, -300),
        ("soft tissue (body, -100..100)", 2, True, -150, 150),
        ("couch / outside objects (5)", 5, False, -1050, 450),
    ]:
        series = []
        pooled = []
        for name, v, sp, reg, is_real in scans:
            m = reg == code if not soft else (np.isin(reg, (2, 3)) & (v > -100) & (v < 100))
            vals = v[m]
            if vals.size < 100:
                continue
            if is_real:
                x, y = hist(vals, lo, hi)
                series.append((name, x, y, COLORS[1 + len([s for s in series if s[3] != COLORS[0]]) % 4], 2))
                print(f"{title:32s} {name:14s} n={vals.size:9d} median={np.median(vals):7.1f} p5={np.percentile(vals, 5):7.1f} p95={np.percentile(vals, 95):7.1f}")
            else:
                pooled.append(vals)
        if pooled:
            vals = np.concatenate(pooled)
            x, y = hist(vals, lo, hi)
            series.insert(0, ("phantom v2 (pooled)", x, y, COLORS[0], 2))
            print(f"{title:32s} {'phantom v2':14s} n={vals.size:9d} median={np.median(vals):7.1f} p5={np.percentile(vals, 5):7.1f} p95={np.percentile(vals, 95):7.1f}")
        panels.append((title, "HU", series, (lo, hi)))
    line_plot(panels, os.path.join(a.out, "histograms.png"))

    # ---- noise power spectra
    series_n = []
    series_a = []
    for name, v, sp, reg, is_real in scans:
        rois = flat_rois(v, reg)
        if len(rois) < 3:
            print(f"NPS {name}: only {len(rois)} flat ROIs, skipped")
            continue
        f, prof, sd = nps(v, rois, sp[2])
        area = np.trapezoid(prof, f) or 1.0
        peak = f[int(np.argmax(prof))]
        print(f"NPS {name:14s} rois={len(rois):3d} noise SD={sd:6.1f} HU peak at {peak:.3f} cycles/mm (Nyquist {0.5 / sp[2]:.3f})")
        color = COLORS[1 + (len(series_n) % 4)] if is_real else (31, 119, 180)
        lab = name if is_real else "phantom v2 scans"
        series_n.append((lab, f, prof / area, color, 2 if is_real else 1))
        series_a.append((lab, f, prof, color, 2 if is_real else 1))
    line_plot(
        [
            ("NPS shape (unit area)", "cycles/mm", series_n, (0.0, 0.7)),
            ("NPS (HU^2 mm^2)", "cycles/mm", series_a, (0.0, 0.7)),
        ],
        os.path.join(a.out, "nps.png"),
        w=420,
    )

    # ---- montage: phantom slices (top rows), real slices (bottom row), lung window
    tiles = []
    ph = [s for s in scans if not s[4]]
    for name, v, sp, reg, _ in ph[:: max(1, len(ph) // 8)][:8]:
        tiles.append(window(resize_mm(v[v.shape[0] // 2], sp)))
    rl = [s for s in scans if s[4]]
    for name, v, sp, reg, _ in rl:
        lung_z = np.nonzero((reg == 4).any(axis=(1, 2)))[0]
        ks = np.linspace(lung_z.min(), lung_z.max(), 6)[1:-1].astype(int) if lung_z.size else [v.shape[0] // 2]
        for k in ks:
            tiles.append(window(resize_mm(v[k], sp)))
    while len(tiles) % 4:
        tiles.append(np.zeros((256, 256), np.uint8))
    rows = [np.concatenate(tiles[i : i + 4], axis=1) for i in range(0, len(tiles), 4)]
    m = Image.fromarray(np.concatenate(rows, axis=0)).resize((4 * 200, len(rows) * 200))
    m.save(os.path.join(a.out, "montage.png"), optimize=True)
    print("rows 1-2: phantom v2 (mid slices), further rows: real scans; W1500/L-600, 1.4 mm/px")


if __name__ == "__main__":
    main()
