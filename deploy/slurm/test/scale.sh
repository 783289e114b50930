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
work="$(mktemp -d /tmp/covidct-scale.XXXXXX)"
export SLURM_CONF="$work/slurm.conf"
cleanup() {
    for p in slurmd slurmctld munged; do
        [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/spool" "$work/state"
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$work/munge.key"
munged --force --key-file="$work/munge.key" --socket="$work/munge.socket" \
    --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munged.seed"
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
sed -e "s|@HOST@|$(hostname -s)|g" -e "s|@DIR@|$work|g" -e "s|@CPUS@|$(nproc)|g" -e "s|@MEM@|$mem|g" \
    -e "s|@CTLD_PORT@|$(( 16817 + RANDOM % 1000 ))|g" -e "s|@D_PORT@|$(( 17818 + RANDOM % 1000 ))|g" \
    "$root/deploy/slurm/test/slurm.conf.in" > "$SLURM_CONF"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do sinfo -h -o %T | grep -q idle && break; sleep 1; done
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
