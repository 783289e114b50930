#!/usr/bin/env python3
"""Convert a 3-D NRRD volume into a NIfTI-1 .nii.gz, using only the Python standard library.

    python3 tools/realct/nrrd_to_nifti.py IN.nrrd OUT.nii.gz

Used by tools/realct/fetch.sh for pyradiomics' lung CTs (the Rust reader ct-io
reads NIfTI and DICOM, not NRRD). Supported input: attached header + data
(`NRRD0001`..`NRRD0005`), `encoding: raw` or `gzip`, either endian, 3 spatial
axes with `space directions` and `space origin` (default origin 0), `space`
left-posterior-superior, right-anterior-superior or left-anterior-superior,
and types int8/uint8/int16/uint16/int32/uint32/float/double. Anything else
(detached data, skips, non-spatial axes) is rejected with a clear error.

Output:
  * the voxel data unchanged (same type and stored order: NRRD's first axis is
    the fastest = NIfTI i), written little-endian, vox_offset 352 (348-byte
    header + 4-byte extension flag 0);
  * pixdim[1..3] = norms of the `space directions` vectors;
  * sform_code = 1 (scanner) with srow = [directions | origin] converted to
    NIfTI's RAS+ (rows x and y negated for LPS input); qform_code = 1 with the
    quaternion of the same rotation (qfac = -1 for a left-handed grid), or
    qform_code = 0 when the directions are not orthogonal (sform only);
  * scl_slope 1, scl_inter 0, xyzt_units mm.

The output is byte-for-byte deterministic: the gzip member has mtime 0, no
file name, and holds the NIfTI bytes in *stored* (uncompressed) deflate blocks
written here, so the result does not depend on the local zlib build (zlib,
zlib-ng and Apple's libz compress differently). The file is therefore about
as large as the raw volume; any gzip reader (flate2, nibabel, gunzip) reads it.
"""

import array
import gzip
import math
import os
import re
import struct
import sys
import zlib

# NRRD type names -> (NIfTI datatype code, bytes per voxel, struct code)
TYPES = {}
for names, code, size, fmt in (
    (("signed char", "int8", "int8_t"), 256, 1, "b"),
    (("uchar", "unsigned char", "uint8", "uint8_t"), 2, 1, "B"),
    (("short", "short int", "signed short", "signed short int", "int16", "int16_t"), 4, 2, "h"),
    (("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), 512, 2, "H"),
    (("int", "signed int", "int32", "int32_t"), 8, 4, "i"),
    (("uint", "unsigned int", "uint32", "uint32_t"), 768, 4, "I"),
    (("float",), 16, 4, "f"),
    (("double",), 64, 8, "d"),
):
    for n in names:
        TYPES[n] = (code, size, fmt)

# NRRD space -> sign flips taking that space to RAS
SPACES = {
    "left-posterior-superior": (-1.0, -1.0, 1.0),
    "lps": (-1.0, -1.0, 1.0),
    "right-anterior-superior": (1.0, 1.0, 1.0),
    "ras": (1.0, 1.0, 1.0),
    "left-anterior-superior": (-1.0, 1.0, 1.0),
    "las": (-1.0, 1.0, 1.0),
}


class NrrdError(Exception):
    pass


def parse_vector(text):
    m = re.fullmatch(r"\(\s*([^()]*?)\s*\)", text.strip())
    if not m:
        raise NrrdError(f"not a vector: {text!r}")
    try:
        return [float(v) for v in m.group(1).split(",")]
    except ValueError:
        raise NrrdError(f"not a numeric vector: {text!r}") from None


def read_nrrd(path):
    """Return (header fields, the bytes after the header)."""
    with open(path, "rb") as f:
        raw = f.read()
    if not re.match(rb"NRRD000[1-5]\r?\n", raw):
        raise NrrdError("missing NRRD000x magic (not an NRRD file, or an unsupported version)")
    end = re.search(rb"\r?\n\r?\n", raw)
    if end is None:
        raise NrrdError("no blank line ending the header (detached .nhdr headers are not supported)")
    fields = {}
    for line in raw[:end.start()].decode("latin-1").splitlines()[1:]:
        if not line or line.startswith("#"):
            continue
        if ":=" in line and (": " not in line or line.index(":=") < line.index(": ")):
            continue  # key:=value pairs
        if ": " not in line:
            raise NrrdError(f"malformed header line {line!r}")
        k, v = line.split(": ", 1)
        fields[k.strip().lower()] = v.strip()
    return fields, raw[end.end():]


def convert(src, dst):
    f, payload = read_nrrd(src)
    for k in ("data file", "datafile"):
        if k in f:
            raise NrrdError("detached data ('data file') is not supported")
    for k in ("line skip", "lineskip", "byte skip", "byteskip"):
        if k in f and int(f[k]) != 0:
            raise NrrdError(f"'{k}: {f[k]}' is not supported")
    if int(f.get("dimension", "0")) != 3:
        raise NrrdError(f"dimension {f.get('dimension')!r}: only 3-D volumes are supported")
    sizes = [int(s) for s in f["sizes"].split()]
    typ = f.get("type", "").lower()
    if typ not in TYPES:
        raise NrrdError(f"type {typ!r} is not supported")
    code, nbytes, fmt = TYPES[typ]
    space = f.get("space", "").lower()
    if space not in SPACES:
        raise NrrdError(f"space {space!r} is not supported (need a 3-D anatomical space)")
    flip = SPACES[space]
    if "space directions" not in f:
        raise NrrdError("no 'space directions' field")
    dirs_txt = re.findall(r"\([^()]*\)|none", f["space directions"])
    if len(dirs_txt) != 3 or "none" in dirs_txt:
        raise NrrdError(f"need 3 spatial axes, got space directions {f['space directions']!r}")
    dirs = [parse_vector(d) for d in dirs_txt]  # dirs[axis] = world vector of one step
    if any(len(d) != 3 for d in dirs):
        raise NrrdError("space directions must be 3-vectors")
    origin = parse_vector(f["space origin"]) if "space origin" in f else [0.0, 0.0, 0.0]
    if len(origin) != 3:
        raise NrrdError("space origin must be a 3-vector")

    enc = f.get("encoding", "raw").lower()
    if enc in ("gzip", "gz"):
        data = gzip.decompress(payload)
    elif enc == "raw":
        data = payload
    else:
        raise NrrdError(f"encoding {enc!r} is not supported (raw or gzip only)")
    n = sizes[0] * sizes[1] * sizes[2]
    if len(data) != n * nbytes:
        raise NrrdError(f"data has {len(data)} bytes, expected {n * nbytes} for sizes {sizes} of {typ}")
    if nbytes > 1 and f.get("endian", "little").lower() == "big":
        swapped = array.array(fmt, data)
        swapped.byteswap()
        data = swapped.tobytes()

    # affine in RAS: column a = flip * dirs[a], translation = flip * origin
    cols = [[flip[r] * dirs[a][r] for r in range(3)] for a in range(3)]
    t = [flip[r] * origin[r] for r in range(3)]
    pix = [math.sqrt(sum(v * v for v in c)) for c in cols]
    if min(pix) <= 0:
        raise NrrdError("a space direction has zero length")
    hdr = nifti_header(sizes, code, nbytes * 8, pix, cols, t)
    body = hdr + b"\0\0\0\0" + data
    tmp = dst + ".tmp"
    with open(tmp, "wb") as out:
        write_stored_gzip(out, body)
    os.replace(tmp, dst)


def quaternion(cols, pix):
    """NIfTI quaternion (b, c, d, qfac) of the rotation, or None if not orthogonal."""
    u = [[c[r] / p for r in range(3)] for c, p in zip(cols, pix)]  # unit columns
    for a in range(3):
        for b in range(a + 1, 3):
            if abs(sum(u[a][r] * u[b][r] for r in range(3))) > 1e-4:
                return None
    det = (u[0][0] * (u[1][1] * u[2][2] - u[1][2] * u[2][1])
           - u[1][0] * (u[0][1] * u[2][2] - u[0][2] * u[2][1])
           + u[2][0] * (u[0][1] * u[1][2] - u[0][2] * u[1][1]))
    qfac = 1.0
    if det < 0:
        qfac = -1.0
        u[2] = [-v for v in u[2]]
    r = [[u[c][row] for c in range(3)] for row in range(3)]  # r[row][col]
    # as nifti1_io.c nifti_mat44_to_quatern
    a = r[0][0] + r[1][1] + r[2][2] + 1.0
    if a > 0.5:
        a = 0.5 * math.sqrt(a)
        b = 0.25 * (r[2][1] - r[1][2]) / a
        c = 0.25 * (r[0][2] - r[2][0]) / a
        d = 0.25 * (r[1][0] - r[0][1]) / a
    else:
        xd = 1.0 + r[0][0] - (r[1][1] + r[2][2])
        yd = 1.0 + r[1][1] - (r[0][0] + r[2][2])
        zd = 1.0 + r[2][2] - (r[0][0] + r[1][1])
        if xd > 1.0:
            b = 0.5 * math.sqrt(xd)
            c = 0.25 * (r[0][1] + r[1][0]) / b
            d = 0.25 * (r[0][2] + r[2][0]) / b
            a = 0.25 * (r[2][1] - r[1][2]) / b
        elif yd > 1.0:
            c = 0.5 * math.sqrt(yd)
            b = 0.25 * (r[0][1] + r[1][0]) / c
            d = 0.25 * (r[1][2] + r[2][1]) / c
            a = 0.25 * (r[0][2] - r[2][0]) / c
        else:
            d = 0.5 * math.sqrt(zd)
            b = 0.25 * (r[0][2] + r[2][0]) / d
            c = 0.25 * (r[1][2] + r[2][1]) / d
            a = 0.25 * (r[1][0] - r[0][1]) / d
        if a < 0.0:
            b, c, d = -b, -c, -d
    return b, c, d, qfac


def nifti_header(sizes, code, bitpix, pix, cols, t):
    q = quaternion(cols, pix)
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    h[38] = ord("r")
    struct.pack_into("<8h", h, 40, 3, sizes[0], sizes[1], sizes[2], 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, code, bitpix)
    qfac = q[3] if q else 1.0
    struct.pack_into("<8f", h, 76, qfac, pix[0], pix[1], pix[2], 0.0, 0.0, 0.0, 0.0)
    struct.pack_into("<fff", h, 108, 352.0, 1.0, 0.0)  # vox_offset, scl_slope, scl_inter
    h[123] = 2  # xyzt_units: mm
    descrip = b"covid-ct tools/realct/nrrd_to_nifti.py"
    h[148:148 + len(descrip)] = descrip
    struct.pack_into("<hh", h, 252, 1 if q else 0, 1)  # qform_code, sform_code
    if q:
        struct.pack_into("<6f", h, 256, q[0], q[1], q[2], t[0], t[1], t[2])
    else:
        struct.pack_into("<6f", h, 256, 0.0, 0.0, 0.0, t[0], t[1], t[2])
    for row in range(3):
        struct.pack_into("<4f", h, 280 + 16 * row, cols[0][row], cols[1][row], cols[2][row], t[row])
    h[344:348] = b"n+1\0"
    return bytes(h)


def write_stored_gzip(out, data):
    """One gzip member (RFC 1952), mtime 0, OS 255, deflate stored blocks (RFC 1951 3.2.4)."""
    out.write(b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff")
    view = memoryview(data)
    n = len(data)
    pos = 0
    while True:
        chunk = view[pos:pos + 65535]
        pos += len(chunk)
        final = pos >= n
        out.write(struct.pack("<BHH", 1 if final else 0, len(chunk), 0xFFFF ^ len(chunk)))
        out.write(chunk)
        if final:
            break
    out.write(struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, n & 0xFFFFFFFF))


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        convert(argv[1], argv[2])
    except (NrrdError, KeyError, ValueError, OSError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        print(f"nrrd_to_nifti: {argv[1]}: {what}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
