#!/usr/bin/env bash
# GPU check and benchmark of covnet-models (COVNet-ResNet-50) with Burn's tch backend, next to
# PyTorch eager on the same card in the same run.
#
#   tools/gpu/run.sh build   # here (no GPU needed): builds gpu_bench with the tch feature
#                            # against the PyTorch of $PYTHON (default python3), copies it to
#                            # .gpu-bin/gpu_bench (ignore that folder in .git/info/exclude)
#   tools/gpu/run.sh bench   # on the GPU machine: checks Burn-tch outputs against the CPU
#                            # backend, then Burn-tch fp32/bf16 and PyTorch eager fp32/bf16
#
# Environment (see docs/covnet-models.md): LIBTORCH_USE_PYTORCH=1 makes torch-sys use the
# libtorch inside the Python torch wheel (2.11.0+cu130 here; tch 0.22 was made for 2.9, hence
# LIBTORCH_BYPASS_VERSION_CHECK=1); crates/covnet-models/build.rs adds
# -Wl,--no-as-needed,-ltorch_cuda so CUDA is really linked; at run time only
# LD_LIBRARY_PATH=<site-packages>/torch/lib is needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
case "${1:-bench}" in
build)
    export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1
    export PATH="$(dirname "$(command -v "$PYTHON")"):$PATH"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-covnet}
    cargo build -p covnet-models --features tch --example gpu_bench
    mkdir -p .gpu-bin
    cp "$CARGO_TARGET_DIR/debug/examples/gpu_bench" .gpu-bin/gpu_bench
    ls -la .gpu-bin
    ;;
bench)
    TORCH_LIB=$($PYTHON -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    BIN=${BIN:-.gpu-bin/gpu_bench}
    timeout 120 "$BIN" check --backend tch
    timeout 200 "$BIN" bench --backend tch --dtype f32
    timeout 200 "$BIN" bench --backend tch --dtype bf16 || echo "bf16 run failed"
    PYTHONUNBUFFERED=1 timeout 150 $PYTHON tools/gpu/torch_covnet.py
    ;;
*)
    echo "usage: $0 build|bench" >&2
    exit 2
    ;;
esac
