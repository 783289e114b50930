#!/usr/bin/env python3
"""Golden files for crates/ct-enhance/tests (run from the repository root).

    ANCHORS_WORK=/tmp/anchors python3 tools/ct-enhance/make_goldens.py

Versions (tools/requirements.txt): numpy 2.4.6, scipy 1.17.1, scikit-image 0.26.0,
opencv-python-headless 5.0.0.93, pillow 13.0.0, pydicom 3.0.2.
Inputs: skimage.data pictures cropped to odd sizes, pydicom's CT_small (windowed
W1500/L-500 by the anchors' exact rule), a crop of the anchors' synthetic slice 512 and of
the synthetic HU volume. Everything is small: the whole folder stays well under 1 MB.
"""
import json
import os
import sys

import cv2
import numpy as np
import PIL
import scipy
import scipy.ndimage as ndi
import skimage
from PIL import Image
from skimage import data, exposure

cv2.setNumThreads(1)
ANCH = os.environ.get("ANCHORS_WORK", "/tmp/anchors")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ct-enhance", "tests", "data")
OUT = os.path.normpath(OUT)
os.makedirs(OUT, exist_ok=True)


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


def window_lung(hu):
    hu = hu.astype(np.int64)
    return np.clip(((hu + 1250) * 510 + 1500) // 3000, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- 8-bit inputs
ct_small_hu = np.load(os.path.join(ANCH, "real", "CT_small_hu.npy"))
slice_u8 = np.load(os.path.join(ANCH, "data", "slice512_u8.npy"))
rng = np.random.default_rng(4)
imgs = {
    "camera": data.camera()[100:201, 150:237],  # 101 x 87
    "coffee": cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2GRAY)[120:195, 200:311],  # 75 x 111
    "ctsmall": window_lung(ct_small_hu),  # 128 x 128, real CT
    "slice": slice_u8[180:330, 100:231],  # 150 x 131, synthetic chest CT
    "tiny": rng.integers(0, 256, (7, 5)).astype(np.uint8),
    "flat2": np.array([[10, 10, 10], [10, 200, 10]], np.uint8),
}
for k, v in imgs.items():
    save(f"u8_{k}", v)
    save(f"he_cv2_{k}", cv2.equalizeHist(v))

# skimage on integer input (each level its own bin) and on float input (nbins bins).
save("u8_camsmall", imgs["camera"][:41, :37])
save("he_sk_camsmall", exposure.equalize_hist(imgs["camera"][:41, :37]))
hu_f = ct_small_hu[40:88, 30:70].astype(np.float64)  # 48 x 40 HU as float
save("f64_hu", hu_f)
save("he_skf_hu_256", exposure.equalize_hist(hu_f, nbins=256))
save("he_skf_hu_100", exposure.equalize_hist(hu_f, nbins=100))
cam_f = skimage.img_as_float(imgs["camera"][:40, :33]) ** 1.7
save("f64_cam", cam_f)
save("he_skf_cam_256", exposure.equalize_hist(cam_f, nbins=256))
save("he_sk_hu_levels", exposure.equalize_hist(ct_small_hu[40:88, 30:70]))
save("i16_hu", ct_small_hu[40:88, 30:70].astype(np.int16))

# ---------------------------------------------------------------- CLAHE (u8)
clahe_cases = []
grid = [(2.0, 8, 8), (40.0, 8, 8), (1.0, 4, 4), (3.5, 5, 3), (0.5, 7, 9), (10.0, 16, 2)]
for name in ["camera", "coffee", "ctsmall", "slice"]:
    for clip, tx, ty in grid:
        out = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tx, ty)).apply(imgs[name])
        key = f"clahe_{name}_{clip}_{tx}x{ty}"
        save(key, out)
        clahe_cases.append({"image": name, "clip": clip, "tiles_x": tx, "tiles_y": ty, "file": key})
for clip, tx, ty in [(2.0, 2, 2), (1.0, 5, 7)]:
    out = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tx, ty)).apply(imgs["tiny"])
    key = f"clahe_tiny_{clip}_{tx}x{ty}"
    save(key, out)
    clahe_cases.append({"image": "tiny", "clip": clip, "tiles_x": tx, "tiles_y": ty, "file": key})

# HE then CLAHE, as the seed does.
he_clahe_cases = []
for name in ["ctsmall", "slice"]:
    key = f"heclahe_{name}"
    save(key, cv2.createCLAHE(2.0, (8, 8)).apply(cv2.equalizeHist(imgs[name])))
    he_clahe_cases.append({"image": name, "clip": 2.0, "tiles_x": 8, "tiles_y": 8, "file": key})

# ---------------------------------------------------------------- CLAHE (u16)
u16 = {
    "ct16": (ct_small_hu[20:116, 24:104].astype(np.int32) + 1024).clip(0, 65535).astype(np.uint16),  # 96 x 80
    "ramp16": ((np.arange(45 * 61).reshape(45, 61) * 977) % 65536).astype(np.uint16),
}
clahe16_cases = []
for k, v in u16.items():
    save(f"u16_{k}", v)
    for clip, tx, ty in [(2.0, 8, 8), (40.0, 3, 5)]:
        key = f"clahe16_{k}_{clip}_{tx}x{ty}"
        save(key, cv2.createCLAHE(clip, (tx, ty)).apply(v))
        clahe16_cases.append({"image": k, "clip": clip, "tiles_x": tx, "tiles_y": ty, "file": key})

# ---------------------------------------------------------------- zoom (scipy)
vol = np.load(os.path.join(ANCH, "data", "vol.npy"), mmap_mode="r")
block = np.array(vol[28:35, 230:239, 140:151]).astype(np.float64)  # 7 x 9 x 11, HU
save("vol_f64", block)
zoom_cases = []
for shape in [(10, 12, 15), (4, 5, 6), (13, 7, 21), (1, 3, 11)]:
    for order in (0, 1, 3):
        key = f"zoom_o{order}_{shape[0]}x{shape[1]}x{shape[2]}"
        out = ndi.zoom(block, np.array(shape) / np.array(block.shape), order=order,
                       mode="nearest", grid_mode=False)
        assert out.shape == shape, (out.shape, shape)
        save(key, out)
        zoom_cases.append({"order": order, "shape": list(shape), "file": key, "input": "vol_f64"})
# scipy's nearest rounding: 4 -> 7 puts coordinates exactly on .5 (rounds up).
ramp = np.arange(4 * 3 * 8, dtype=np.float64).reshape(4, 3, 8) ** 1.5
save("ramp_f64", ramp)
for order in (0, 1, 3):
    shape = (7, 5, 15)
    key = f"zoomramp_o{order}"
    save(key, ndi.zoom(ramp, np.array(shape) / np.array(ramp.shape), order=order,
                       mode="nearest", grid_mode=False))
    zoom_cases.append({"order": order, "shape": list(shape), "file": key, "input": "ramp_f64"})
# int16 in, int16 out (scipy rounds half away from zero).
block16 = np.array(vol[30:34, 250:258, 160:170])
save("vol_i16", block16)
zoom_i16_cases = []
for order in (1, 3):
    shape = (7, 11, 6)
    key = f"zoomi16_o{order}"
    out = ndi.zoom(block16, np.array(shape) / np.array(block16.shape), order=order,
                   mode="nearest", grid_mode=False)
    assert out.dtype == np.int16 and out.shape == shape
    save(key, out)
    zoom_i16_cases.append({"order": order, "shape": list(shape), "file": key})

# ---------------------------------------------------------------- Pillow LANCZOS / BOX (mode F)
pil_in = imgs["camera"][:40, :36].astype(np.float32)
save("f32_pil", pil_in)
pil_cases = []
for method, flt in [("lanczos3", Image.LANCZOS), ("area", Image.BOX)]:
    for (h, w) in [(23, 57), (13, 11)]:
        out = np.asarray(Image.fromarray(pil_in, mode="F").resize((w, h), flt), dtype=np.float32)
        key = f"pil_{method}_{h}x{w}"
        save(key, out)
        pil_cases.append({"method": method, "shape": [h, w], "file": key})

manifest = {
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__,
                 "opencv": cv2.__version__, "pillow": PIL.__version__, "python": sys.version.split()[0]},
    "clahe": clahe_cases, "he_clahe": he_clahe_cases, "clahe16": clahe16_cases,
    "zoom": zoom_cases, "zoom_i16": zoom_i16_cases, "pil": pil_cases,
}
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"{len(os.listdir(OUT))} files, {total / 1024:.0f} KiB in {OUT}")
