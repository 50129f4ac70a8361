#!/usr/bin/env bash
# Stops the test cluster started by scripts/slurm-up.sh: slurmd, slurmctld, then munged.
# Each daemon gets SIGTERM through its pid file, a bounded wait, then SIGKILL. Idempotent.
# With --keep-munge, munged stays up (used by slurm-up.sh when it restarts Slurm).
# Environment: WF_SLURM_DOWN_TIMEOUT (seconds to wait per daemon, default 10).
set -euo pipefail

timeout_s="${WF_SLURM_DOWN_TIMEOUT:-10}"
keep_munge=no
[[ ${1:-} == --keep-munge ]] && keep_munge=yes
started=$(date +%s.%N)

# stop PIDFILE COMM: ends the process named COMM whose pid is in PIDFILE, if it is alive.
stop() {
    local file=$1 comm=$2 pid waited=0
    [[ -s $file ]] || return 0
    pid=$(<"$file")
    if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(</proc/$pid/comm) == "$comm" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        while [[ -d /proc/$pid ]] && ((waited < timeout_s * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if [[ -d /proc/$pid ]]; then
            printf 'slurm-down: %s (pid %s) ignored SIGTERM for %ss: SIGKILL\n' "$comm" "$pid" "$timeout_s" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$file"
}

stop /run/slurmd.pid slurmd
stop /run/slurmctld.pid slurmctld
stopped="slurmd, slurmctld"
if [[ $keep_munge == no ]]; then
    stop /run/munge/munged.pid munged
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    stopped="$stopped, munged"
fi
# Job steps of the test jobs (slurmstepd) end with slurmd; anything left is reported, not hunted.
left=$(ps -eo pid=,comm= | awk '$2 == "slurmstepd" { print $1 }' | tr '\n' ' ')
[[ -n $left ]] && printf 'slurm-down: slurmstepd still running: %s\n' "$left" >&2
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
printf 'slurm-down: OK: stopped %s in %ss\n' "$stopped" "$elapsed"
