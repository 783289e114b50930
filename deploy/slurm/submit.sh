#!/usr/bin/env bash
# Submits a sharded pipeline run to Slurm: a job array of N preprocessing tasks, then the
# merge, which starts only when every task succeeded (afterok). Prints the two job ids.
#
#   deploy/slurm/submit.sh --tasks 16 [--bin target/release/examples/pipeline] \
#       [--logs DIR] [--sbatch "extra sbatch options"] -- --out runs --name big --data /data/ct
#
# Everything after `--` goes to the pipeline (both stages); use the built binary, never
# `cargo run` on compute nodes. Logs: DIR/preprocess-<array>_<task>.out and merge-<job>.out
# (default: runs/slurm-logs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tasks=""
bin="target/release/examples/pipeline"
logs="runs/slurm-logs"
extra=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tasks) tasks="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --logs) logs="$2"; shift 2 ;;
        --sbatch) extra="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "submit.sh: unknown option $1 (pipeline arguments go after --)" >&2; exit 2 ;;
    esac
done
case "$tasks" in
    ''|*[!0-9]*) echo "submit.sh: --tasks N (N >= 1) is required" >&2; exit 2 ;;
esac
[ "$tasks" -ge 1 ] || { echo "submit.sh: --tasks must be at least 1" >&2; exit 2; }
[ -x "$bin" ] || { echo "submit.sh: $bin is not an executable (build it: cargo build --release --example pipeline)" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
mkdir -p "$logs"
export COVID_CT_PIPELINE="$bin" COVID_CT_SHARDS="$tasks"
# shellcheck disable=SC2086
array=$(sbatch --parsable --export=ALL $extra --array="0-$((tasks - 1))" \
    --output="$logs/preprocess-%A_%a.out" "$here/preprocess.sbatch" "$@")
array="${array%%;*}"
# shellcheck disable=SC2086
merge=$(sbatch --parsable --export=ALL $extra --dependency="afterok:${array}" \
    --kill-on-invalid-dep=yes --output="$logs/merge-%j.out" "$here/merge.sbatch" "$@")
merge="${merge%%;*}"
echo "array=${array} merge=${merge} tasks=${tasks} logs=${logs}"
