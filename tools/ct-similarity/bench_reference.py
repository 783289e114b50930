#!/usr/bin/env python3
"""Python side of the ct-similarity benchmarks (single thread), same inputs as the Rust side.

Usage (pinned versions: tools/requirements.txt):
  ANCHORS_WORK=/tmp/anchors python3 tools/ct-similarity/bench_reference.py [--repeat 7] [--json out.json]

Inputs: $ANCHORS_WORK/data/vol_u8.npy (64 x 512 x 512 u8); SSIM/PSNR on slices 32 and 33,
hashes (hash_size 8) on slice 32 and on every slice. Prints per-call wall min / median and CPU-time min in ms.
Thread-pool variables are set to 1 before numpy is imported (scikit-image, Pillow, PyWavelets
and imagehash are single-threaded anyway). Also times numpy copies of the PSNR input size
(2 x 256 KiB read, the memory traffic PSNR needs) for the memory-speed comparison.
"""
import argparse
import json
import os
import sys
import time

for v in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"]:
    os.environ[v] = "1"

import numpy as np  # noqa: E402
import imagehash  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402
import pywt  # noqa: E402
import skimage  # noqa: E402
import skimage.metrics  # noqa: E402


def timeit(name, fn, repeat, inner=None, results=None):
    """`repeat` batches of `inner` calls (default: enough for ~20 ms); per-call wall min and
    median, and CPU (time.process_time) min, which waiting for a core does not inflate."""
    t0 = time.perf_counter()
    fn()  # warm-up
    once = time.perf_counter() - t0
    if inner is None:
        inner = int(min(1000, max(1, 0.02 / max(once, 1e-7))))
    ts, cs = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner * 1e3)
        cs.append((time.process_time() - c0) / inner * 1e3)
    ts.sort()
    cs.sort()
    rec = {"kernel": name, "min_ms": ts[0], "median_ms": ts[len(ts) // 2], "cpu_min_ms": cs[0],
           "runs": repeat, "inner": inner}
    print(f"{name:<22} wall min {ts[0]:>9.3f} ms  median {ts[len(ts) // 2]:>9.3f} ms  "
          f"cpu min {cs[0]:>9.3f} ms  ({repeat}x{inner})", flush=True)
    if results is not None:
        results.append(rec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-volume", action="store_true", help="skip the 64-slice hash runs")
    args = ap.parse_args()
    work = os.environ.get("ANCHORS_WORK", "/tmp/anchors")
    vol = np.load(os.path.join(work, "data", "vol_u8.npy"))
    a, b = vol[32], vol[33]
    print(f"numpy {np.__version__} scikit-image {skimage.__version__} Pillow {PIL.__version__} "
          f"ImageHash {imagehash.__version__} PyWavelets {pywt.__version__}; input {vol.shape} {vol.dtype}")
    r = args.repeat
    res = []
    ssim = skimage.metrics.structural_similarity
    timeit("ssim_uniform7", lambda: ssim(a, b, data_range=255), r, results=res)
    timeit("ssim_gauss1.5", lambda: ssim(a, b, data_range=255, gaussian_weights=True, sigma=1.5), r, results=res)
    timeit("ssim_gauss1.5_paper", lambda: ssim(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False), r, results=res)
    timeit("psnr", lambda: skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255), r, results=res)
    buf = np.empty_like(a)
    timeit("memcpy_2x256KiB", lambda: (np.copyto(buf, a), np.copyto(buf, b)), r, results=res)
    img = Image.fromarray(a)
    hf = [("ahash", imagehash.average_hash), ("phash", imagehash.phash),
          ("dhash", imagehash.dhash), ("whash", imagehash.whash)]
    for name, h in hf:
        timeit(name, lambda h=h: h(img, 8), r, results=res)
    timeit("all4_one_slice", lambda: [h(img, 8) for _, h in hf], r, results=res)
    if not args.skip_volume:
        timeit("all4_x64_slices", lambda: [[h(Image.fromarray(vol[z]), 8) for _, h in hf]
                                           for z in range(vol.shape[0])], r, results=res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
