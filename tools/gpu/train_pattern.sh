#!/usr/bin/env bash
# Trains the lesion-pattern U-Net (ct_pipeline::lesion_patterns) on a GPU machine and leaves its weights
# and log in $OUT (or /tmp). Build here first (no GPU needed):
#   LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 PATH=/work/venv-torch/bin:$PATH \
#     cargo build -p ct-pipeline --features tch --example train_pattern_unet
#   strip --strip-debug -o .gpu-bin/train_pattern_unet target/debug/examples/train_pattern_unet
# then, on the GPU machine with .gpu-bin/train_pattern_unet carried:
#   bash tools/gpu/train_pattern.sh [trainer arguments...]
# (defaults below: 150 phantoms per class, 330 s of training, batch 32, lesion weight 10).
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUTDIR=${OUT:-/tmp}
TORCH_LIB=$($PYTHON -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || {
    echo "error: $PYTHON cannot import torch" >&2
    exit 1
}
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
.gpu-bin/train_pattern_unet --device cuda --per-class 150 --seconds 330 --batch 32 \
    --lesion-weight 10 --out "$OUTDIR/lesion_pattern_unet.safetensors" "$@" 2>&1 |
    tee "$OUTDIR/train_pattern.log"
