# Sourced by run.sh and scale.sh: a one-node Slurm cluster on this machine, with its own
# munge key and socket, ports, spool and state under a work folder (nothing of the machine's
# own configuration is touched).
#
#   start_cluster WORK   # exports SLURM_CONF; returns 1 (with the reason on stderr) if a
#                        # daemon does not start or the node does not come up in 60 s
#   stop_cluster WORK    # stops the daemons it started

start_cluster() {
    local work="$1" here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    export SLURM_CONF="$work/slurm.conf"
    mkdir -p "$work/spool" "$work/state"
    dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 2>/dev/null
    chmod 600 "$work/munge.key"
    munged --force --key-file="$work/munge.key" --socket="$work/munge.socket" \
        --pid-file="$work/munged.pid" --log-file="$work/munged.log" \
        --seed-file="$work/munged.seed" || { echo "munged does not start here" >&2; return 1; }
    local mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    sed -e "s|@HOST@|$(hostname -s)|g" -e "s|@DIR@|$work|g" -e "s|@CPUS@|$(nproc)|g" \
        -e "s|@MEM@|$mem|g" -e "s|@CTLD_PORT@|$(( 16817 + RANDOM % 1000 ))|g" \
        -e "s|@D_PORT@|$(( 17818 + RANDOM % 1000 ))|g" "$here/slurm.conf.in" > "$SLURM_CONF"
    slurmctld -f "$SLURM_CONF" || { echo "slurmctld does not start here" >&2; return 1; }
    slurmd -f "$SLURM_CONF" || { echo "slurmd does not start here" >&2; return 1; }
    for _ in $(seq 60); do
        sinfo -h -o %T 2>/dev/null | grep -q idle && return 0
        sleep 1
    done
    tail -5 "$work/slurmd.log" "$work/slurmctld.log" >&2 || true
    echo "the node did not come up" >&2
    return 1
}

stop_cluster() {
    local work="$1" p
    for p in slurmd slurmctld munged; do
        [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true
    done
    sleep 1
    for p in slurmd slurmctld munged; do
        [ -f "$work/$p.pid" ] && kill -9 "$(cat "$work/$p.pid")" 2>/dev/null || true
    done
}
