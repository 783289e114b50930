#!/usr/bin/env python3
"""Golden files for crates/ct-similarity/tests (pinned versions: tools/requirements.txt).

Writes crates/ct-similarity/tests/data/:
  images/*.png      small real photographs (skimage.data: astronaut, camera, coffee, chelsea;
                    crops and Pillow-resized copies of odd sizes; grey, RGB, RGBA, LA, 16-bit grey)
                    and CT slices (pydicom's CT_small windowed, the anchor synthetic slice z=32)
  hashes.json       per image: str(imagehash.average_hash/phash/dhash/whash(img, hash_size))
                    for hash sizes 8 and 16, plus Pillow's convert('L').resize(..., LANCZOS)
                    pixels for the 8x8, 9x8 and 32x32 sizes (to test the resize on its own)
  ssim/*.npy        image pairs (u8, u16, i16, f64) and one full SSIM map
  ssim.json         skimage.metrics.structural_similarity / peak_signal_noise_ratio /
                    mean_squared_error for each pair and each variant

Run: python3 tools/ct-similarity/make_goldens.py   (needs /tmp/anchors: see shared/anchors)
"""
import importlib.metadata
import json
import os
import sys

import numpy as np
import imagehash
import PIL
import pywt
import scipy
import skimage
from PIL import Image
from skimage import data as skd
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "crates", "ct-similarity", "tests", "data")
ANCHORS = os.environ.get("ANCHORS_WORK", "/tmp/anchors")
rng = np.random.default_rng(20261126)


def save(name, img):
    path = os.path.join(OUT, "images", name)
    img.save(path, optimize=True)
    return name


def build_images():
    imgs = []
    ast, cam, cof, che = skd.astronaut(), skd.camera(), skd.coffee(), skd.chelsea()
    # crops of odd sizes, grey and colour
    crops = [
        (cam, (100, 140, 37, 53)), (cam, (200, 50, 61, 45)), (cam, (0, 0, 9, 9)),
        (cam, (300, 300, 15, 33)), (cam, (10, 400, 100, 77)), (cam, (250, 120, 64, 64)),
        (ast, (30, 150, 71, 59)), (ast, (200, 200, 33, 120)), (ast, (0, 0, 17, 17)),
        (ast, (400, 10, 90, 91)), (cof, (50, 100, 65, 43)), (cof, (200, 300, 128, 96)),
        (cof, (10, 10, 11, 150)), (che, (80, 120, 83, 67)), (che, (150, 200, 47, 101)),
        (che, (0, 300, 25, 19)), (cof, (300, 500, 99, 73)), (ast, (100, 300, 48, 31)),
    ]
    for i, (src, (y, x, h, w)) in enumerate(crops):
        a = src[y:y + h, x:x + w]
        imgs.append(save(f"crop{i:02d}_{'grey' if a.ndim == 2 else 'rgb'}_{w}x{h}.png", Image.fromarray(a)))
    # Pillow-downsized whole photographs (odd sizes)
    for i, (src, size) in enumerate([(ast, (113, 97)), (cam, (129, 131)), (cof, (151, 101)),
                                      (che, (90, 60)), (cam, (47, 160)), (cof, (64, 43))]):
        im = Image.fromarray(src).resize(size, Image.BILINEAR)
        imgs.append(save(f"small{i:02d}_{im.mode.lower()}_{size[0]}x{size[1]}.png", im))
    # RGBA and LA (alpha must be ignored by convert('L'))
    for i, (src, (y, x, h, w)) in enumerate([(ast, (120, 180, 57, 81)), (che, (60, 60, 40, 30))]):
        a = src[y:y + h, x:x + w]
        alpha = rng.integers(0, 256, size=a.shape[:2], dtype=np.uint8)
        imgs.append(save(f"rgba{i:02d}_{w}x{h}.png", Image.fromarray(np.dstack([a, alpha]), "RGBA")))
    la = np.dstack([cam[60:103, 300:351], rng.integers(0, 256, size=(43, 51), dtype=np.uint8)])
    imgs.append(save("la00_51x43.png", Image.fromarray(la, "LA")))
    # synthetic edge cases: constant, two-level, horizontal ramp
    imgs.append(save("const_23x19.png", Image.fromarray(np.full((19, 23), 77, np.uint8))))
    two = np.zeros((40, 40), np.uint8); two[:, 20:] = 200
    imgs.append(save("twolevel_40x40.png", Image.fromarray(two)))
    ramp = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (30, 1))
    imgs.append(save("ramp_50x30.png", Image.fromarray(ramp)))
    # CT: pydicom CT_small (windowed u8, HU as 16-bit with +1024 offset), anchor slice
    ct8 = np.load(os.path.join(ANCHORS, "real", "CT_small_u8.npy"))
    cthu = np.load(os.path.join(ANCHORS, "real", "CT_small_hu.npy"))
    imgs.append(save("ct_small_u8_128x128.png", Image.fromarray(ct8)))
    imgs.append(save("ct_small_crop_u8_77x93.png", Image.fromarray(ct8[20:113, 30:107])))
    # 16-bit grey: Pillow opens it as I;16 and convert('L') clips at 255
    ct16 = (cthu.astype(np.int32) + 1024).clip(0, 65535).astype(np.uint16)
    imgs.append(save("ct_small_u16_128x128.png", Image.fromarray(ct16)))
    imgs.append(save("ct_small_u16div8_128x128.png", Image.fromarray((ct16 // 8).astype(np.uint16))))
    s512 = np.load(os.path.join(ANCHORS, "data", "slice512_u8.npy"))
    imgs.append(save("anchor_slice32_512x512.png", Image.fromarray(s512)))
    imgs.append(save("anchor_crop_u8_200x150.png", Image.fromarray(s512[180:330, 150:350])))
    return imgs


def hashes():
    out = {}
    for name in sorted(os.listdir(os.path.join(OUT, "images"))):
        im = Image.open(os.path.join(OUT, "images", name))
        im.load()
        rec = {"mode": im.mode, "size": list(im.size)}
        for hs in (8, 16):
            rec[f"ahash{hs}"] = str(imagehash.average_hash(im, hs))
            rec[f"phash{hs}"] = str(imagehash.phash(im, hs))
            rec[f"dhash{hs}"] = str(imagehash.dhash(im, hs))
            rec[f"whash{hs}"] = str(imagehash.whash(im, hs))
        grey = im.convert("L")
        rec["grey_sum"] = int(np.asarray(grey, dtype=np.int64).sum())
        for (w, h) in ((8, 8), (9, 8), (32, 32), (13, 7)):
            r = grey.resize((w, h), Image.Resampling.LANCZOS)
            rec[f"resize{w}x{h}"] = np.asarray(r).astype(int).ravel().tolist()
        out[name] = rec
    return out


def num(x):
    """JSON has no inf/nan: store those as strings ("inf", "nan")."""
    x = float(x)
    return x if np.isfinite(x) else str(x)


def ssim_goldens():
    os.makedirs(os.path.join(OUT, "ssim"), exist_ok=True)
    cam = skd.camera()
    s512 = np.load(os.path.join(ANCHORS, "data", "slice512_u8.npy"))
    v33 = np.load(os.path.join(ANCHORS, "data", "vol_u8.npy"), mmap_mode="r")[33]
    ct8 = np.load(os.path.join(ANCHORS, "real", "CT_small_u8.npy"))
    cthu = np.load(os.path.join(ANCHORS, "real", "CT_small_hu.npy"))
    pairs = {}
    a = cam[100:141, 200:253]
    noise = rng.normal(0, 20, a.shape)
    pairs["cam_noise_u8"] = (a, np.clip(a + noise, 0, 255).astype(np.uint8))
    pairs["ct_slices_u8"] = (s512[190:290, 140:257], np.asarray(v33[190:290, 140:257]))
    pairs["ct_small_shift_u8"] = (ct8[:, :-3], ct8[:, 3:])
    pairs["tiny_7x9_u8"] = (cam[300:307, 300:309], cam[301:308, 300:309])
    pairs["const_u8"] = (np.full((12, 15), 9, np.uint8), np.full((12, 15), 9, np.uint8))
    pairs["const_vs_ramp_u8"] = (np.full((12, 15), 9, np.uint8), np.tile(np.arange(15, dtype=np.uint8), (12, 1)))
    u16 = (cthu.astype(np.int32) + 1024).astype(np.uint16)
    pairs["ct_small_u16"] = (u16[10:70, 5:66], u16[12:72, 5:66])
    pairs["ct_small_i16"] = (cthu[40:95, 30:80], cthu[41:96, 30:80])
    f = a.astype(np.float64) / 255.0
    pairs["cam_f64"] = (f, np.clip(f + rng.normal(0, 0.05, f.shape), 0, 1))
    pairs["signed_f64"] = (f * 2 - 1, np.clip(f * 2 - 1 + rng.normal(0, 0.1, f.shape), -1, 1))
    variants = {
        "uniform": dict(),
        "uniform_pop": dict(use_sample_covariance=False),
        "uniform_win5": dict(win_size=5),
        "gauss_paper": dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False),
        "gauss_sample": dict(gaussian_weights=True, sigma=1.5),
        "gauss_sigma1": dict(gaussian_weights=True, sigma=1.0, use_sample_covariance=False),
    }
    res = {}
    for name, (x, y) in pairs.items():
        np.save(os.path.join(OUT, "ssim", f"{name}_a.npy"), np.ascontiguousarray(x))
        np.save(os.path.join(OUT, "ssim", f"{name}_b.npy"), np.ascontiguousarray(y))
        dr = 1.0 if x.dtype == np.float64 and name == "cam_f64" else (2.0 if x.dtype == np.float64 else None)
        rec = {"dtype": str(x.dtype), "shape": list(x.shape), "data_range": dr}
        for vn, kw in variants.items():
            if min(x.shape) < (kw.get("win_size") or (11 if kw.get("gaussian_weights") else 7)):
                continue
            rec["ssim_" + vn] = num(structural_similarity(x, y, data_range=dr, **kw))
        rec["mse"] = num(mean_squared_error(x, y))
        try:
            rec["psnr"] = num(peak_signal_noise_ratio(x, y))
        except ValueError:
            rec["psnr"] = None
        rec["psnr_dr100"] = num(peak_signal_noise_ratio(x, y, data_range=100.0))
        res[name] = rec
    m, S = structural_similarity(*pairs["cam_noise_u8"], full=True)
    np.save(os.path.join(OUT, "ssim", "cam_noise_u8_fullmap_uniform.npy"), S)
    m, S = structural_similarity(*pairs["cam_noise_u8"], full=True, gaussian_weights=True, use_sample_covariance=False)
    np.save(os.path.join(OUT, "ssim", "cam_noise_u8_fullmap_gauss.npy"), S)
    # the anchor pair (full 512x512, only the numbers: the test reads /tmp/anchors if present)
    res["anchor_32_33"] = {
        "ssim_uniform": float(structural_similarity(s512, np.asarray(v33))),
        "ssim_gauss_paper": float(structural_similarity(s512, np.asarray(v33), gaussian_weights=True, use_sample_covariance=False)),
        "psnr": float(peak_signal_noise_ratio(s512, np.asarray(v33))),
    }
    return res


def main():
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    for f in os.listdir(os.path.join(OUT, "images")):
        os.remove(os.path.join(OUT, "images", f))
    build_images()
    versions = {"pillow": PIL.__version__, "imagehash": imagehash.__version__, "pywt": importlib.metadata.version("PyWavelets"),
                "skimage": skimage.__version__, "scipy": scipy.__version__, "numpy": np.__version__}
    with open(os.path.join(OUT, "hashes.json"), "w") as fh:
        json.dump({"versions": versions, "images": hashes()}, fh, separators=(",", ":"))
    with open(os.path.join(OUT, "ssim.json"), "w") as fh:
        json.dump({"versions": versions, "pairs": ssim_goldens()}, fh, indent=1)
    print("ok", versions, file=sys.stderr)


if __name__ == "__main__":
    main()
