#!/usr/bin/env bash
# Brings up a one-node Slurm cluster on this machine for wf's Slurm tests, without systemd or
# cgroups. Idempotent: installs what is missing, rewrites the configuration only when it changed,
# restarts only what is not running (or everything when the configuration changed), then waits
# until the node is idle.
#
# Layout (independent of any checkout):
#   /etc/slurm/slurm.conf            the configuration (Slurm's default path: no SLURM_CONF needed)
#   /run/slurmctld.pid, /run/slurmd.pid, /run/munge/munged.pid
#   /var/log/slurm/                  daemon logs and the job-completion file
#   /var/spool/slurmctld, /var/spool/slurmd
#
# Partitions: `debug` (default) and `other`, both on the single node `localhost`.
# Environment: WF_SLURM_UP_TIMEOUT (seconds to wait for the node, default 60).
set -euo pipefail

timeout_s="${WF_SLURM_UP_TIMEOUT:-60}"
conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
log_dir=/var/log/slurm
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
munge_pid=/run/munge/munged.pid
started=$(date +%s.%N)

say() { printf 'slurm-up: %s\n' "$*" >&2; }
fail() {
    printf 'slurm-up: FAILED: %s\n' "$*" >&2
    for f in "$log_dir/slurmctld.log" "$log_dir/slurmd.log"; do
        [[ -f $f ]] && { printf -- '--- last lines of %s\n' "$f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (it installs packages and starts daemons)"

# True if the pid file names a live process whose command is $2.
alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$2" ]]
}

# --- packages -----------------------------------------------------------------------------
if ! command -v munged >/dev/null || ! command -v slurmctld >/dev/null \
    || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
    say "installing munge and slurm-wlm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null || fail "apt-get update"
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends munge slurm-wlm >/dev/null \
        || fail "apt-get install munge slurm-wlm"
fi

# --- munge ----------------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! alive "$munge_pid" munged; then
    rm -f /run/munge/munge.socket.2 "$munge_pid"
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
fi
munge -n | unmunge >/dev/null || fail "munge round trip (munge -n | unmunge)"

# --- configuration --------------------------------------------------------------------------
install -d -m 0755 "$conf_dir" "$log_dir" /var/spool/slurmctld /var/spool/slurmd
new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<CONF
# Written by wf's scripts/slurm-up.sh: a one-node test cluster (no systemd, no cgroups).
ClusterName=wftest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$log_dir/jobcomp.txt
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Start jobs as soon as they arrive instead of batching submissions.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
# More CPUs than the machine has, so that many tiny test jobs start in one scheduling cycle;
# config_overrides makes slurmctld trust this line instead of what slurmd detects.
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=other Nodes=localhost Default=NO MaxTime=INFINITE State=UP
CONF
conf_changed=no
if ! cmp -s "$new_conf" "$conf"; then
    install -m 0644 "$new_conf" "$conf"
    conf_changed=yes
fi

# --- daemons --------------------------------------------------------------------------------
here=$(cd "$(dirname "$0")" && pwd)
if [[ $conf_changed == yes ]] && { alive "$ctld_pid" slurmctld || alive "$slurmd_pid" slurmd; }; then
    say "configuration changed: restarting the daemons"
    "$here/slurm-down.sh" --keep-munge
fi
if ! alive "$ctld_pid" slurmctld; then
    slurmctld || fail "slurmctld did not start"
fi
if ! alive "$slurmd_pid" slurmd; then
    slurmd -N localhost || fail "slurmd did not start"
fi

# --- wait for an idle node ------------------------------------------------------------------
deadline=$(($(date +%s) + timeout_s))
state=""
while :; do
    # %t is the short state; a trailing flag (* not responding, ~ powered off, # powering up,
    # ! pending power down, % powering down, $ maintenance, @ pending reboot, ^ rebooting,
    # - planned) means not ready yet.
    raw=$(sinfo -h -n localhost -o %t 2>/dev/null | head -n 1 || true)
    state=$(printf '%s' "$raw" | tr -d '*~#!%$@^-')
    case "$raw" in
        idle | mix | alloc) break ;;
    esac
    case "$state" in
        down | drain | drng | fail | failg) \
            scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        inval) fail "slurmctld finds the node invalid (see its log below)" ;;
    esac
    state=$raw
    (($(date +%s) < deadline)) || fail "node not idle after ${timeout_s}s (state: ${state:-no answer})"
    sleep 0.2
done

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
printf 'slurm-up: OK: cluster wftest, node localhost %s, partitions debug (default) and other, %s, ready in %ss\n' \
    "$state" "$(sinfo --version)" "$elapsed"
