#!/usr/bin/env python3
"""Golden files for ct-morph (scipy.ndimage 1.17.1, numpy; see tools/requirements.txt).

Writes crates/ct-morph/tests/data/:
  manifest.txt      one line per check (see below), whitespace separated
  s_<name>.npy      structuring elements (bool)
  <case>_in.npy     input mask: np.packbits(mask.ravel(), bitorder="little") (uint8)
  <case>_out.npy    uint8 (K, nbytes): row k = packbits of output k of that case
  <case>_lab<s>.npy labels of the input (uint8 if < 256 components, else uint16) under structure s

manifest lines:
  case  <case> <z> <y> <x> <rank>
  morph <case> <k> <op> <struct> <iterations> <border_value>
  fill  <case> <k> <struct> <per_slice 0|1>
  label <case> <struct> <n_components>
  stats <case> <struct> <label> <voxels> <zmin> <ymin> <xmin> <zmax> <ymax> <xmax> <cz> <cy> <cx>

Usage: python3 tools/ct-morph/make_goldens.py [/tmp/anchors/data/vol.npy]
"""
import os
import sys

import numpy as np
import scipy
from scipy import ndimage as ndi

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "ct-morph", "tests", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261126)
lines = [f"# scipy {scipy.__version__} numpy {np.__version__}"]
structs = {}


def S(name, arr):
    arr = np.asarray(arr, bool)
    structs[name] = arr
    np.save(os.path.join(OUT, f"s_{name}.npy"), arr)
    return name


g = ndi.generate_binary_structure
it = ndi.iterate_structure
S("c2", g(2, 1)); S("b2", g(2, 2)); S("c2x2", it(g(2, 1), 2)); S("box35", np.ones((3, 5), bool))
S("disk2", (np.add.outer(np.arange(-2, 3) ** 2, np.arange(-2, 3) ** 2) <= 4))
S("asym2", np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], bool))
S("c3", g(3, 1)); S("e3", g(3, 2)); S("b3", g(3, 3)); S("c3x2", it(g(3, 1), 2)); S("e3x2", it(g(3, 2), 2))
zz, yy, xx = np.mgrid[-2:3, -2:3, -2:3]
S("ball2", zz ** 2 + yy ** 2 + xx ** 2 <= 4)
S("asym3", rng.random((3, 3, 3)) < 0.4)
structs["asym3"][1, 1, 1] = False  # an element without its centre
np.save(os.path.join(OUT, "s_asym3.npy"), structs["asym3"])
S("line3x", np.ones((1, 1, 3), bool))


def pack(m):
    return np.packbits(np.asarray(m, bool).ravel(), bitorder="little")


def case(name, m, morphs, fills=(), labels=(), stats=()):
    m = np.asarray(m, bool)
    shp = (1,) * (3 - m.ndim) + m.shape
    lines.append(f"case {name} {shp[0]} {shp[1]} {shp[2]} {m.ndim}")
    np.save(os.path.join(OUT, f"{name}_in.npy"), pack(m))
    outs = []
    for op, sname, iters, bv in morphs:
        s = structs[sname]
        f = {"erode": ndi.binary_erosion, "dilate": ndi.binary_dilation,
             "open": ndi.binary_opening, "close": ndi.binary_closing}[op]
        if op in ("erode", "dilate"):
            r = f(m, structure=s, iterations=iters, border_value=bv)
        else:
            r = f(m, structure=s, iterations=iters, border_value=bv)
        lines.append(f"morph {name} {len(outs)} {op} {sname} {iters} {int(bv)}")
        outs.append(pack(r))
    for sname, per_slice in fills:
        s = structs[sname]
        if per_slice:
            r = np.stack([ndi.binary_fill_holes(sl, structure=s) for sl in m])
        else:
            r = ndi.binary_fill_holes(m, structure=s)
        lines.append(f"fill {name} {len(outs)} {sname} {int(per_slice)}")
        outs.append(pack(r))
    if outs:
        np.save(os.path.join(OUT, f"{name}_out.npy"), np.stack(outs))
    for sname in labels:
        lab, n = ndi.label(m, structure=structs[sname])
        assert n < 65536
        dt = np.uint8 if n < 256 else np.uint16  # keep the fixtures small
        np.save(os.path.join(OUT, f"{name}_lab{sname}.npy"), lab.astype(dt))
        lines.append(f"label {name} {sname} {n}")
    for sname in stats:
        lab, n = ndi.label(m, structure=structs[sname])
        idx = np.arange(1, n + 1)
        sizes = ndi.sum_labels(np.ones_like(lab), lab, idx)
        coms = ndi.center_of_mass(np.ones(lab.shape), lab, idx)
        objs = ndi.find_objects(lab)
        for l, sz, com, ob in zip(idx, sizes, coms, objs):
            lo = [0] * (3 - m.ndim) + [sl.start for sl in ob]
            hi = [0] * (3 - m.ndim) + [sl.stop - 1 for sl in ob]
            com = [0.0] * (3 - m.ndim) + list(com)
            lines.append(f"stats {name} {sname} {l} {int(sz)} " + " ".join(map(str, lo + hi))
                         + " " + " ".join(repr(float(c)) for c in com))


def all_morphs(snames, extra=()):
    ms = []
    for s in snames:
        for op in ("erode", "dilate", "open", "close"):
            for bv in (False, True):
                ms.append((op, s, 1, bv))
        ms.append(("erode", s, 2, False))
        ms.append(("close", s, 2, False))
    return ms + list(extra)


# 1. random 2-D masks touching every edge
m2 = rng.random((23, 70)) < 0.55
case("rand2d", m2, all_morphs(["c2", "b2", "c2x2", "box35", "disk2", "asym2"],
                              [("erode", "c2", 0, False), ("dilate", "b2", 0, False), ("open", "c2", 3, False)]),
     fills=[("c2", 0), ("b2", 0)], labels=["c2", "b2"], stats=["b2"])
m2d = rng.random((31, 66)) < 0.72  # dense: background holes to fill
case("dense2d", m2d, [], fills=[("c2", 0), ("b2", 0)], labels=["c2", "b2"])

# 2. random 3-D masks
m3 = rng.random((9, 20, 70)) < 0.6
case("rand3d", m3, all_morphs(["c3", "e3", "b3", "c3x2", "e3x2", "ball2", "asym3"],
                              [("erode", "c3", 0, False), ("dilate", "line3x", 3, True)]),
     fills=[("c3", 0), ("b3", 0), ("c2", 1)], labels=["c3", "e3", "b3"])
m3d = rng.random((8, 17, 67)) < 0.75
case("dense3d", m3d, [], fills=[("c3", 0), ("b3", 0), ("c2", 1), ("b2", 1)], labels=["c3", "b3"])

# 3. thin structures: diagonals (26-only), z lines, planes, a hollow box, corner voxels
t = np.zeros((7, 16, 66), bool)
for i in range(7):
    t[i, i, i] = True            # 3-D diagonal: 26-connected only
    t[i, 2 + i, 20 + i] = True   # 3-D diagonal
    t[i, 10, 40 + (i % 2)] = True  # zig-zag: 18-connected in (z, x)
t[:, 15, 65] = True              # a z line in the corner
t[3, :, 30] = True               # a y line
t[0:7, 5:12, 50:60] = False
t[1:6, 5:12, 50:60] = True
t[2:5, 7:10, 52:58] = False      # hollow box: a 3-D hole
t[0, 0, 64] = True; t[6, 15, 0] = True
for y in range(12, 16):
    t[5, y, 2:2 + (y - 10)] = True
case("thin3d", t, all_morphs(["c3", "b3", "c3x2"]), fills=[("c3", 0), ("b3", 0)],
     labels=["c3", "e3", "b3"], stats=["c3", "b3"])
# 1-voxel-thick volumes
one = rng.random((1, 12, 70)) < 0.6
case("onez", one, all_morphs(["c3", "b3"]), fills=[("c3", 0)], labels=["c3", "b3"])
line = rng.random((1, 1, 130)) < 0.5
case("onerow", line, all_morphs(["c3"]), labels=["b3"])

# 4. thresholded CT (a crop of the anchor volume)
vol_path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/anchors/data/vol.npy"
vol = np.load(vol_path, mmap_mode="r")
crop = np.asarray(vol[24:40, 128:192, 90:186])  # 16x64x96, lung edge + vessels
M = (crop > -950) & (crop < -400)
c3, c3x2 = structs["c3"], structs["c3x2"]
Mc = ndi.binary_closing(M, structure=c3)
Mo = ndi.binary_opening(Mc, structure=c3x2)
case("ct", M, [("close", "c3", 1, False), ("open", "c3x2", 1, False), ("erode", "b3", 1, False),
               ("dilate", "e3", 1, False)], fills=[("c3", 0), ("c2", 1)], labels=["c3"])
case("ctopen", Mo, [("open", "c3x2", 1, False)], fills=[("c2", 1)], labels=["c3"], stats=["c3"])

with open(os.path.join(OUT, "manifest.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
tot = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
print(f"wrote {len(lines)} manifest lines, {tot} bytes in {OUT}")
