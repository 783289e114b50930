"""Times the anchors' numpy chest-volume generator (make_inputs.make_volume, 64x512x512 int16)
as the Python reference point for ct-phantom's generator.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 tools/ct-phantom/time_anchor_volume.py [--repeat 3]

Prints the minimum and median wall time of make_volume over the repeats. The two generators
do not draw the same anatomy (the anchor volume is simpler: ellipses, tubes, 4 blobs, no
masks, no trees, no lesion ground truth), so the ratio compares costs per voxel, not outputs.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, "/work/shared/anchors")
import make_inputs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    times = []
    for _ in range(args.repeat):
        rng = np.random.default_rng(20240611)
        t0 = time.perf_counter()
        vol, _ = make_inputs.make_volume(rng)
        times.append(time.perf_counter() - t0)
    print(f"make_volume {vol.shape} {vol.dtype}: min {min(times):.3f} s, median {statistics.median(times):.3f} s "
          f"over {len(times)} runs (numpy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")


if __name__ == "__main__":
    main()
