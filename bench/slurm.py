#!/usr/bin/env python3
"""Slurm executor benchmark: 200 no-op tasks through `wf run --executor slurm` against the
floor, the same 200 jobs submitted by a shell loop of `sbatch` followed by polling the queue
until it has drained.

Both sides submit one job per task, log each job to a file, and finish when every job has
left the queue. Rounds are interleaved (floor, wf, floor, wf, ...), one warm-up round is not
counted, and the table shows medians and the median of the paired ratios wf / floor.

    sudo scripts/slurm-up.sh          # a one-node test cluster, or any cluster that answers
    cargo build --release
    python3 bench/slurm.py

Environment:
    WF           path to the wf binary (default: <repo>/target/release/wf, then
                 $CARGO_TARGET_DIR/release/wf)
    BENCH_N      number of tasks (default 200)
    BENCH_RUNS   counted rounds (default 3)
    BENCH_POLL   the floor's queue poll interval in seconds (default 0.1)

Stdlib only.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
N = int(os.environ.get("BENCH_N", "200"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
POLL = float(os.environ.get("BENCH_POLL", "0.1"))
ACTIVE = "PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED"


def wf_binary():
    if os.environ.get("WF"):
        return os.environ["WF"]
    candidates = [os.path.join(REPO_ROOT, "target", "release", "wf")]
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.insert(0, os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "wf"))
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    sys.exit("bench/slurm.py: no wf binary (cargo build --release, or set WF)")


def active(ids):
    """Those of `ids` still in the queue."""
    out = subprocess.run(
        ["squeue", "-h", "-t", ACTIVE, "-o", "%i", "-j", ",".join(ids)],
        capture_output=True, text=True, check=False,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


FLOOR_SCRIPT = r"""
set -eu
for i in $(seq 1 "$1"); do
    sbatch --parsable --job-name=bench-floor --output="$2/job-$i.log" --wrap=true
done
"""


def floor(workdir):
    """A shell loop of sbatch, then the queue polled until it is empty of those jobs."""
    start = time.monotonic()
    out = subprocess.run(
        ["sh", "-c", FLOOR_SCRIPT, "sh", str(N), workdir],
        capture_output=True, text=True, check=True,
    )
    ids = [line.split(";")[0] for line in out.stdout.split()]
    assert len(ids) == N, out.stdout
    while active(ids):
        time.sleep(POLL)
    return time.monotonic() - start


def wf_run(wf, workdir):
    manifest = os.path.join(workdir, "wf.toml")
    with open(manifest, "w") as f:
        f.write('[workflow]\nname = "bench"\n[executor]\nkind = "slurm"\n')
        for i in range(N):
            f.write(f'[tasks.t{i}]\nrun = "true"\n')
    start = time.monotonic()
    subprocess.run([wf, "run", manifest, "--output", "quiet"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - start
    runs = os.path.join(workdir, ".wf", "runs")
    (run,) = os.listdir(runs)
    with open(os.path.join(runs, run, "jobs")) as f:
        ids = f.read().split()
    assert len(ids) == N and not active(ids)
    return took


def main():
    if shutil.which("sbatch") is None or subprocess.run(
            ["sinfo", "-h"], capture_output=True, check=False).returncode != 0:
        sys.exit("bench/slurm.py: no Slurm cluster answers (sudo scripts/slurm-up.sh)")
    wf = wf_binary()
    times = {"floor": [], "wf": []}
    for round_ in range(RUNS + 1):
        for name in ("floor", "wf"):
            with tempfile.TemporaryDirectory(prefix=f"wf-bench-slurm-{name}-") as workdir:
                took = floor(workdir) if name == "floor" else wf_run(wf, workdir)
            label = "warm-up" if round_ == 0 else f"round {round_}"
            print(f"{label}: {name} {took:.2f}s", file=sys.stderr, flush=True)
            if round_ > 0:
                times[name].append(took)
    ratios = [w / f for w, f in zip(times["wf"], times["floor"])]
    print(f"{N} no-op jobs, {RUNS} rounds, medians:")
    print(f"  floor (sbatch loop + squeue poll): {statistics.median(times['floor']):.2f}s")
    print(f"  wf run --executor slurm:           {statistics.median(times['wf']):.2f}s")
    print(f"  ratio wf / floor (median of pairs): {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
