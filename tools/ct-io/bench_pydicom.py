#!/usr/bin/env python3
"""The Python side of benches/io.rs: read the same 300-slice 512x512 uncompressed series with
pydicom (dcmread of every file, sort by ImagePositionPatient . normal, np.stack, rescale to
int16 HU) and report min / median wall time.

Run `cargo bench --bench io` first (it writes the series), then:
    python3 tools/ct-io/bench_pydicom.py [DIR] [--repeat N]
DIR defaults to $CT_IO_BENCH_DIR or <tmp>/ct-io-bench-300, like the bench.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import pydicom


def read_series(d):
    dss = [pydicom.dcmread(os.path.join(d, f)) for f in os.listdir(d)]
    o = np.array(dss[0].ImageOrientationPatient, dtype=float)
    n = np.cross(o[:3], o[3:])
    dss.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), n)))
    vol = np.stack([ds.pixel_array for ds in dss])
    slope = float(dss[0].get("RescaleSlope", 1))
    inter = float(dss[0].get("RescaleIntercept", 0))
    hu = vol.astype(np.float64) * slope + inter
    return np.rint(hu).astype(np.int16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=os.environ.get(
        "CT_IO_BENCH_DIR", os.path.join(tempfile.gettempdir(), "ct-io-bench-300")))
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    read_series(a.dir)  # warm-up (page cache, imports)
    ts = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        v = read_series(a.dir)
        ts.append(time.perf_counter() - t)
    print(f"pydicom {pydicom.__version__} numpy {np.__version__}: shape={v.shape} "
          f"min={min(ts) * 1e3:.1f} ms median={statistics.median(ts) * 1e3:.1f} ms (n={len(ts)})")


if __name__ == "__main__":
    main()
