#!/usr/bin/env bash
# The phantom pipeline on a real Slurm: a one-node cluster on this machine (Debian's
# slurm-wlm and munge, installed with apt-get when missing), the run as a 4-task job array
# plus the merge (deploy/slurm/submit.sh), compared with the same run in one process; then
# one array task is killed and requeued on purpose and the merge must still agree. Prints
# `single accuracy=…` and `array accuracy=…`. Cleans up its daemons. Called by .ci/run;
# where Slurm cannot be installed or started (no root, no apt), it says so and exits 0.
#
#   deploy/slurm/test/run.sh [PIPELINE_BINARY]      (default target/debug/examples/pipeline)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
here="$root/deploy/slurm/test"
bin="${1:-$root/target/debug/examples/pipeline}"
skip() { echo "slurm test skipped: $*"; exit 0; }
fail() { echo "slurm test FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "$bin is missing (cargo build --example pipeline)"
[ "$(id -u)" = 0 ] || skip "slurmd needs root"
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || skip "slurm-wlm is not installed and there is no apt-get"
    { apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q slurm-wlm munge >/dev/null 2>&1; }; } \
        || skip "apt-get could not install slurm-wlm and munge"
fi

# shellcheck source=cluster.sh
. "$here/cluster.sh"
work="$(mktemp -d /tmp/covidct-slurm.XXXXXX)"
trap 'stop_cluster "$work"; rm -rf "$work"' EXIT
start_cluster "$work" || skip "no Slurm cluster here (see above)"
echo "slurm $(sinfo -V | awk '{print $2}') up: $(sinfo -h -o '%N %c CPUs %m MB')"

# The same tiny phantom run three ways.
out="$work/runs"
args=(--out "$out" --n-per-class 4 --size 64 --folds 2 --no-grid --lesion-train 2 --lesion-rounds 10)
accuracy() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$out/$1/metrics.json"; }
wait_for() {  # job ids...
    for _ in $(seq 600); do
        [ -z "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ] && return 0
        sleep 1
    done
    squeue; fail "jobs $* did not finish in 10 minutes"
}
same_run() {  # name: features.csv and accuracy equal to the single run's
    python3 - "$out/single" "$out/$1" <<'PY'
import csv, json, math, sys
a, b = sys.argv[1], sys.argv[2]
ra = list(csv.reader(open(a + "/features.csv")))
rb = list(csv.reader(open(b + "/features.csv")))
assert len(ra) == len(rb) and ra[0] == rb[0], "different rows or columns"
for x, y in zip(ra[1:], rb[1:]):
    for u, v in zip(x, y):
        try:
            fu, fv = float(u), float(v)
            assert math.isclose(fu, fv, rel_tol=1e-12, abs_tol=1e-12) or (math.isnan(fu) and math.isnan(fv)), (x[0], u, v)
        except ValueError:
            assert u == v, (x[0], u, v)
ma, mb = json.load(open(a + "/metrics.json")), json.load(open(b + "/metrics.json"))
assert ma["accuracy"] == mb["accuracy"], (ma["accuracy"], mb["accuracy"])
assert ma["n_scans"] == mb["n_scans"]
PY
}

"$bin" "${args[@]}" --name single >"$work/single.log" 2>&1 || { tail "$work/single.log"; fail "single run"; }
echo "single accuracy=$(accuracy single)"

ids=$("$root/deploy/slurm/submit.sh" --tasks 4 --bin "$bin" --logs "$work/logs" --sbatch "--mem=1G --cpus-per-task=1" -- "${args[@]}" --name array)
echo "$ids"
array=$(sed -n 's/.*array=\([0-9]*\).*/\1/p' <<<"$ids"); merge=$(sed -n 's/.*merge=\([0-9]*\).*/\1/p' <<<"$ids")
wait_for "$array" "$merge"
[ -f "$out/array/metrics.json" ] || { cat "$work"/logs/*; fail "the merge wrote no metrics.json"; }
same_run array || fail "the array run differs from the single run"
echo "array accuracy=$(accuracy array)"

# A task killed on purpose and requeued: the merge waits for it and agrees.
ids=$("$root/deploy/slurm/submit.sh" --tasks 4 --bin "$bin" --logs "$work/logs2" --sbatch "--mem=1G --cpus-per-task=1" -- "${args[@]}" --name requeued)
array=$(sed -n 's/.*array=\([0-9]*\).*/\1/p' <<<"$ids"); merge=$(sed -n 's/.*merge=\([0-9]*\).*/\1/p' <<<"$ids")
for _ in $(seq 120); do
    [ "$(squeue -h -j "${array}_2" -o %T 2>/dev/null)" = RUNNING ] && break
    sleep 0.5
done
sleep 2
scontrol requeue "${array}_2" || fail "could not requeue task 2"
echo "killed and requeued task ${array}_2"
wait_for "$array" "$merge"
[ -f "$out/requeued/metrics.json" ] || { cat "$work"/logs2/*; fail "the merge after the requeue wrote no metrics.json"; }
same_run requeued || fail "the requeued run differs from the single run"
echo "requeued accuracy=$(accuracy requeued)"
echo "slurm test passed"
