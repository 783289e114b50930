#!/usr/bin/env bash
# CPU throughput of COVNet-ResNet-18 (1 input channel, max pooling, 3 classes) on one scan of
# 16 slices of 1x112x112: Burn flex, Burn tch on CPU (libtorch) and PyTorch eager, with the
# same thread count, in alternating rounds; the table keeps each configuration's best round
# (the machine is shared: minima are the least disturbed numbers).
#
#   tools/covnet-models/cpu_bench.sh            # ROUNDS=3 THREADS=2 STEPS=3 by default
#
# BIN defaults to the tch build (it has flex too): build it with
#   LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 PATH=/work/venv-torch/bin:$PATH \
#   CARGO_TARGET_DIR=/work/target-covnet-tch cargo build -p covnet-models --features tch --example covnet_bench
# With a flex-only binary (BIN=/work/target-covnet/debug/examples/covnet_bench) the tch rows are
# skipped. PYTHON (default /work/venv-torch/bin/python) must have torch and torchvision.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
STEPS=${STEPS:-3}
PYTHON=${PYTHON:-/work/venv-torch/bin/python}
BIN=${BIN:-/work/target-covnet-tch/debug/examples/covnet_bench}
LOG=${LOG:-/tmp/covnet_cpu_bench.log}
TORCH_LIB=$($PYTHON -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
# One thread count for all: rayon (flex), libtorch and PyTorch (at::set_num_threads, and
# OMP_NUM_THREADS for any OpenMP pool started before that call).
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
: >"$LOG"
JOB=(--depth 18 --channels 1 --scans 1 --slices 16 --size 112 --steps "$STEPS" --warmup 1)
BACKENDS=(flex)
if "$BIN" bench --backend tch-cpu --depth 18 --channels 1 --scans 1 --slices 1 --size 32 \
    --steps 1 --warmup 0 --no-train >/dev/null 2>&1; then
    BACKENDS+=(tch-cpu)
else
    echo "note: $BIN has no tch backend; tch-cpu rows skipped" | tee -a "$LOG"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads; $ROUNDS rounds" | tee -a "$LOG"
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$LOG"
    for be in "${BACKENDS[@]}"; do
        "$BIN" bench --backend "$be" "${JOB[@]}" --threads "$THREADS" 2>&1 | tee -a "$LOG"
    done
    $PYTHON -u tools/gpu/torch_covnet.py --device cpu --dtypes f32 "${JOB[@]}" \
        --threads "$THREADS" 2>&1 | tee -a "$LOG"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
python3 tools/gpu/summarize.py "$LOG"
