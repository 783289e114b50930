#!/usr/bin/env bash
# GPU check and benchmark of covnet-models with Burn's tch backend, next to PyTorch eager on the
# same card in the same run, ending with the issue's table (tools/gpu/summarize.py).
#
#   tools/gpu/run.sh build   # here (no GPU needed): builds covnet_bench with the tch feature
#                            # against the PyTorch of $PYTHON, strips it into .gpu-bin/ (ignored
#                            # by git; carry it to the GPU machine, ≤ 64 MiB)
#   tools/gpu/run.sh bench   # on the GPU machine, one invocation, at most COVNET_BUDGET_S
#                            # (default 480 s; steps are skipped when it is spent):
#     1. check: Burn-tch vs Burn-flex (CPU) on the same weights and input, TF32 off: inference
#        and training-mode logits, input and parameter gradients, logits after one Adam step;
#        FusedAdam vs Burn's Adam on the GPU (COVNet-ResNet-50)
#     2. COVNet-ResNet-50, 2x32 slices 3x224x224: train step and inference, fp32 and bf16,
#        Burn-tch and PyTorch eager (cudnn.benchmark on for both); fp32 again with Burn's own
#        Adam (`--optim burn`), and with stock burn-tch if .gpu-bin/covnet_bench_stock exists
#        (`tools/gpu/run.sh build` run at commit 1726eed, before vendor/burn-tch)
#     3. ResNet-18 1-channel 8x1x224x224 (the 0.38x job of BURN-AND-GPU.md), fp32, with the
#        step split into forward / backward / optimizer on both sides
#     4. PyTorch replaying Burn's conv backward, batch norm and Adam one at a time
#        (tools/covnet-models/burn_like_torch.py) on the ResNet-18 job: what each costs here
#     5. ResNet-50 fp32 with cuDNN autotuning off on both sides (how much it explains)
#     6. the replay on the ResNet-50 job
#     7. the tables (slices/s, ratios to PyTorch, splits, replay), also in the log
#
# Dry run on a CPU (no GPU; tiny sizes, libtorch CPU for Burn, PyTorch on CPU, 1 thread):
#   COVNET_DEVICE=cpu PYTHON=/work/venv-torch/bin/python tools/gpu/run.sh bench
# COVNET_BURN_BACKEND=flex with BIN=<a flex-only covnet_bench> tests the script without a tch
# build (the check then compares flex with itself). Sizes can be overridden: COVNET_SCANS
# COVNET_SLICES COVNET_SIZE COVNET_STEPS COVNET_WARMUP (main job), COVNET_CHECK_SIZE,
# COVNET_R18_BATCH COVNET_R18_SIZE. The log goes to $COVNET_LOG (default
# $OUT/covnet_gpu.log when $OUT is set, else /tmp/covnet_gpu.log).
#
# Environment (see docs/covnet-models.md): LIBTORCH_USE_PYTORCH=1 makes torch-sys use the
# libtorch inside the Python torch wheel (2.11.0+cu130 here; tch 0.22 was made for 2.9, hence
# LIBTORCH_BYPASS_VERSION_CHECK=1); crates/covnet-models/build.rs adds
# -Wl,--no-as-needed,-ltorch_cuda so CUDA is really linked; at run time only
# LD_LIBRARY_PATH=<site-packages>/torch/lib is needed.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
case "${1:-bench}" in
build)
    set -e
    export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1
    export PATH="$(dirname "$(command -v "$PYTHON")"):$PATH"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-covnet-tch}
    cargo build -p covnet-models --features tch --example covnet_bench
    mkdir -p .gpu-bin
    # Debug info is most of the binary (dependencies are built at opt-level 3 by the dev
    # profile, so the code itself is optimised); stripped it fits the 64 MiB carry limit.
    strip --strip-debug -o .gpu-bin/covnet_bench "$CARGO_TARGET_DIR/debug/examples/covnet_bench"
    if ! readelf -d .gpu-bin/covnet_bench | grep -q 'libtorch_cuda'; then
        echo "error: .gpu-bin/covnet_bench does not link libtorch_cuda (see build.rs)" >&2
        exit 1
    fi
    ls -la .gpu-bin
    ;;
bench)
    DEVICE=${COVNET_DEVICE:-cuda}
    if [ "$DEVICE" = cuda ]; then
        BB=tch
        d=(2 32 224 10 3 96 8 224)
    elif [ "$DEVICE" = cpu ]; then
        BB=tch-cpu
        d=(1 2 32 2 1 32 2 32)
    else
        echo "COVNET_DEVICE must be cuda or cpu, got $DEVICE" >&2
        exit 2
    fi
    BB=${COVNET_BURN_BACKEND:-$BB}
    SCANS=${COVNET_SCANS:-${d[0]}}
    SLICES=${COVNET_SLICES:-${d[1]}}
    SIZE=${COVNET_SIZE:-${d[2]}}
    STEPS=${COVNET_STEPS:-${d[3]}}
    WARMUP=${COVNET_WARMUP:-${d[4]}}
    CHECK_SIZE=${COVNET_CHECK_SIZE:-${d[5]}}
    R18_BATCH=${COVNET_R18_BATCH:-${d[6]}}
    R18_SIZE=${COVNET_R18_SIZE:-${d[7]}}
    if [ -n "${OUT:-}" ]; then LOG=${COVNET_LOG:-$OUT/covnet_gpu.log}; else LOG=${COVNET_LOG:-/tmp/covnet_gpu.log}; fi
    : >"$LOG"
    BIN=${BIN:-.gpu-bin/covnet_bench}
    TORCH_LIB=$($PYTHON -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || {
        echo "error: $PYTHON cannot import torch" >&2
        exit 1
    }
    export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
    if [ ! -x "$BIN" ]; then
        echo "error: $BIN missing: run 'tools/gpu/run.sh build' where cargo works and carry .gpu-bin" >&2
        exit 1
    fi
    T0=$SECONDS
    BUDGET=${COVNET_BUDGET_S:-480}
    FAILED=0
    # step LIMIT_S DESCRIPTION COMMAND...: runs with a timeout (never past the run's budget,
    # keeping 15 s for the summary), logs, never aborts the script.
    step() {
        local limit=$1 what=$2
        shift 2
        local left=$((BUDGET - (SECONDS - T0) - 15))
        if [ "$left" -lt 20 ]; then
            echo "SKIPPED (time budget of $BUDGET s spent): $what" | tee -a "$LOG"
            return
        fi
        [ "$limit" -gt "$left" ] && limit=$left
        echo "== [$((SECONDS - T0)) s] $what (limit $limit s)" | tee -a "$LOG"
        timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$LOG"
        local rc=${PIPESTATUS[0]}
        if [ "$rc" -ne 0 ]; then
            echo "FAILED (exit $rc; 124 = timed out): $what" | tee -a "$LOG"
            FAILED=$((FAILED + 1))
        fi
    }
    if [ "$DEVICE" = cuda ]; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
    fi
    echo "host: $(nproc) cores; $($PYTHON -c 'import torch; print("torch", torch.__version__)')" | tee -a "$LOG"
    B=(--scans "$SCANS" --slices "$SLICES" --size "$SIZE" --steps "$STEPS" --warmup "$WARMUP")
    THREADS=()
    REPLAY_VARIANTS=native,conv,bn,adam,burn
    if [ "$DEVICE" = cpu ]; then
        # Same thread count on every side in the dry run (flex: rayon; libtorch and PyTorch:
        # at::set_num_threads). One thread by default: OpenMP pools on a shared 2-core
        # machine wait for each other and inflate PyTorch's times many times over.
        export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
        THREADS=(--threads "$RAYON_NUM_THREADS")
        REPLAY_VARIANTS=native,burn
    fi
    TP=("$PYTHON" -u tools/gpu/torch_covnet.py --device "$DEVICE" "${THREADS[@]}")
    R18=(--depth 18 --channels 1 --scans "$R18_BATCH" --slices 1 --size "$R18_SIZE" --steps "$STEPS" --warmup "$WARMUP")
    BL=("$PYTHON" -u tools/covnet-models/burn_like_torch.py --device "$DEVICE" "${THREADS[@]}" --steps "$STEPS" --warmup "$WARMUP")
    # In order of importance, so that a short budget still yields the issue's table.
    step 240 "check burn-$BB against burn-flex (CPU)" \
        "$BIN" check --backend "$BB" --depth 50 --channels 3 --scans 2 --slices 4 --size "$CHECK_SIZE" "${THREADS[@]}"
    step 150 "burn-$BB fp32, ResNet-50" "$BIN" bench --backend "$BB" --depth 50 --channels 3 --dtype f32 "${B[@]}" "${THREADS[@]}"
    step 150 "torch eager fp32+bf16, ResNet-50" "${TP[@]}" "${B[@]}" --depth 50 --channels 3 --dtypes f32,bf16
    step 150 "burn-$BB bf16, ResNet-50" "$BIN" bench --backend "$BB" --depth 50 --channels 3 --dtype bf16 "${B[@]}" "${THREADS[@]}"
    step 90 "burn-$BB fp32, ResNet-50, Burn's Adam" "$BIN" bench --backend "$BB" --depth 50 --channels 3 --dtype f32 --optim burn --label "burn-$BB-burnadam" "${B[@]}" "${THREADS[@]}"
    if [ -x "${BIN}_stock" ]; then
        step 90 "stock burn-$BB fp32, ResNet-50" "${BIN}_stock" bench --backend "$BB" --depth 50 --channels 3 --dtype f32 --label "burn-$BB-stock" "${B[@]}" "${THREADS[@]}"
    fi
    step 90 "burn-$BB fp32, ResNet-18 (1 channel)" "$BIN" bench --backend "$BB" --dtype f32 "${R18[@]}" "${THREADS[@]}"
    step 90 "torch eager fp32, ResNet-18 (1 channel)" "${TP[@]}" --dtypes f32 "${R18[@]}"
    # PyTorch replaying Burn's conv backward, batch norm and Adam (what each costs on this card).
    step 120 "PyTorch replaying Burn's algorithms, ResNet-18 (1 channel)" "${BL[@]}" --check --variants "$REPLAY_VARIANTS" --depth 18 --channels 1 --scans "$R18_BATCH" --slices 1 --size "$R18_SIZE"
    if [ "$DEVICE" = cuda ]; then
        step 90 "burn-$BB fp32, ResNet-50, cuDNN autotuning off" "$BIN" bench --backend "$BB" --depth 50 --channels 3 --dtype f32 --cudnn-benchmark 0 --label "burn-$BB-nobench" "${B[@]}"
        step 90 "torch eager fp32, ResNet-50, cuDNN autotuning off" "${TP[@]}" "${B[@]}" --depth 50 --channels 3 --dtypes f32 --cudnn-benchmark 0 --label torch-eager-nobench
    fi
    step 150 "PyTorch replaying Burn's algorithms, ResNet-50" "${BL[@]}" --variants "$REPLAY_VARIANTS" --depth 50 --channels 3 --scans "$SCANS" --slices "$SLICES" --size "$SIZE"
    echo "== [$((SECONDS - T0)) s] summary ($FAILED failed steps; log $LOG)"
    $PYTHON tools/gpu/summarize.py "$LOG" | tee "$LOG.table.md"
    [ "$FAILED" -eq 0 ]
    ;;
*)
    echo "usage: $0 build|bench" >&2
    exit 2
    ;;
esac
