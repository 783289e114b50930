#!/usr/bin/env bash
# Times a sharded phantom run on the local one-node cluster of run.sh with 1, 2 and 4 array
# tasks (submission to the end of the merge), for docs/scale.md.
#
#   deploy/slurm/test/scale.sh [PIPELINE_BINARY] [N_PER_CLASS] [SIZE]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${1:-$root/target/release/examples/pipeline}"
n="${2:-10}"
size="${3:-256}"
# shellcheck source=cluster.sh
. "$root/deploy/slurm/test/cluster.sh"
work="$(mktemp -d /tmp/covidct-scale.XXXXXX)"
trap 'stop_cluster "$work"; rm -rf "$work"' EXIT
start_cluster "$work"
args=(--out "$work/runs" --n-per-class "$n" --size "$size")
t0=$(date +%s.%N)
"$bin" "${args[@]}" --name single >/dev/null 2>&1
echo "single process ($(nproc) threads): $(echo "$(date +%s.%N) - $t0" | bc) s"
for tasks in 1 2 4; do
    t0=$(date +%s.%N)
    ids=$("$root/deploy/slurm/submit.sh" --tasks "$tasks" --bin "$bin" --logs "$work/logs-$tasks" \
        --sbatch "--mem=2G --cpus-per-task=1" -- "${args[@]}" --name "tasks-$tasks")
    array=$(sed -n 's/.*array=\([0-9]*\).*/\1/p' <<<"$ids"); merge=$(sed -n 's/.*merge=\([0-9]*\).*/\1/p' <<<"$ids")
    while [ -n "$(squeue -h -j "$array,$merge")" ]; do sleep 1; done
    acc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$work/runs/tasks-$tasks/metrics.json")
    echo "$tasks task(s) of 1 CPU + merge: $(echo "$(date +%s.%N) - $t0" | bc) s, accuracy $acc"
done
du -sh "$work/runs/tasks-4/shards" | awk '{print "shard files, 4 tasks: " $1}'
