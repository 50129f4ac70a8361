#!/usr/bin/env python3
"""Memory-aware scheduling: wf with a memory budget against `-j` alone.

20 tasks of mixed sizes (50-400 MB, each really allocating and touching its memory and
holding it for a fixed time) under a 1 GB budget. For each configuration we measure the
makespan and the peak total RSS of all task processes (sampled from /proc every 20 ms), and
compare the makespan with the best packing a simulation finds (a lower bound and a greedy
longest-first packing under the same budget and slot count).

    python3 bench/memory.py              # uses target/release/wf, or $WF

Stdlib only. Needs python3 (the tasks are python3 processes) and about 1.5 GB of free memory.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1_000_000
BUDGET = 1000 * MB
HOLD_S = 1.0
JOBS = 8
# Sizes in MB: a fixed mix, so every run is comparable.
SIZES = [400, 50, 300, 100, 250, 50, 400, 150, 200, 100, 350, 50, 300, 200, 100, 400, 150, 50, 250, 100]

ALLOC = "import time; b = bytearray({n} * 1000 * 1000); time.sleep({hold})"


def manifest(budget, declare):
    lines = ["[workflow]", f"jobs = {JOBS}", f'memory = "{budget}"', ""]
    for i, size in enumerate(SIZES):
        lines.append(f"[tasks.t{i:02}]")
        lines.append(f"run = ['python3', '-c', '{ALLOC.format(n=size, hold=HOLD_S)}']")
        if declare:
            # What the task really holds: its buffer plus the interpreter (~10 MB).
            lines.append(f'mem = "{size + 12}M"')
        lines.append("")
    return "\n".join(lines)


def rss_of_tree(root_pid):
    """Total RSS (bytes) of every process whose ancestry reaches root_pid."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rfind(")") + 2:].split()
            pid = int(entry)
            parents[pid] = int(fields[1])
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total = 0
    for pid, value in rss.items():
        p, hops = pid, 0
        while p in parents and p != root_pid and hops < 64:
            p, hops = parents[p], hops + 1
        if p == root_pid and pid != root_pid:
            total += value
    return total


def run(wf, folder, args):
    start = time.monotonic()
    proc = subprocess.Popen([wf, "run", "--output", "quiet", *args], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_of_tree(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    wall = time.monotonic() - start
    done.set()
    sampler.join()
    return code, wall, peak[0]


def best_packing(durations):
    """Lower bound (memory-time area / budget, the longest task, slot-time / slots) and the
    best of several greedy packings (each order: a task starts at the earliest moment its
    memory and a slot are free), for the measured durations of each task."""
    need = [(s + 12) * MB for s in SIZES]
    area = sum(n * d for n, d in zip(need, durations))
    lower = max(area / BUDGET, max(durations), sum(durations) / JOBS)

    def pack(order):
        running = []  # (end, task)
        now, free, slots = 0.0, BUDGET, JOBS
        pending = list(order)
        makespan = 0.0
        while pending:
            placed = False
            for t in list(pending):
                if need[t] <= free and slots > 0:
                    pending.remove(t)
                    free -= need[t]
                    slots -= 1
                    running.append((now + durations[t], t))
                    makespan = max(makespan, now + durations[t])
                    placed = True
            if not placed:
                running.sort()
                end, t = running.pop(0)
                now, free, slots = end, free + need[t], slots + 1
        return makespan

    tasks = range(len(SIZES))
    orders = [
        sorted(tasks, key=lambda t: -need[t]),
        sorted(tasks, key=lambda t: -durations[t]),
        sorted(tasks, key=lambda t: -need[t] * durations[t]),
        sorted(tasks, key=lambda t: need[t]),
        list(tasks),
    ]
    return lower, min(pack(o) for o in orders)


def main():
    wf = os.environ.get("WF") or os.path.join(REPO_ROOT, "target", "release", "wf")
    if not os.path.exists(wf):
        sys.exit(f"no wf binary at {wf}: build with `cargo build --release` or set WF")
    print(f"20 tasks, 50-400 MB each, held {HOLD_S:.1f} s; budget 1 GB; {JOBS} slots")
    rows = []
    durations = None
    configs = [
        ("wf, mem declared, memory = 1G", manifest("1G", True), []),
        ("wf, learnt (2nd run), memory = 1G", manifest("1G", False), ["learn"]),
        ("-j 2, no budget", manifest("off", False), ["-j", "2"]),
        ("-j 3, no budget", manifest("off", False), ["-j", "3"]),
        ("-j 8, no budget", manifest("off", False), ["-j", "8"]),
    ]
    for name, text, args in configs:
        folder = tempfile.mkdtemp(prefix="wf-membench-")
        try:
            with open(os.path.join(folder, "wf.toml"), "w") as f:
                f.write(text)
            if args == ["learn"]:
                run(wf, folder, [])  # first run measures; the budget does not hold back unknowns
                args = []
            code, wall, peak = run(wf, folder, args)
            if durations is None:
                runs = os.path.join(folder, ".wf", "runs")
                last = sorted(os.listdir(runs))[-1]
                with open(os.path.join(runs, last, "report.json")) as f:
                    report = json.load(f)
                durations = [t["duration_s"] for t in report["tasks"]]
            plan = subprocess.run([wf, "plan"], cwd=folder, capture_output=True, text=True).stdout
            predicted = next((l for l in plan.splitlines() if "expected wall time" in l), "")
            rows.append((name, code, wall, peak, predicted))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    lower, packed = best_packing(durations)
    print(f"with the measured task durations: lower bound {lower:.2f} s; "
          f"best packing found by simulation {packed:.2f} s")
    print(f"{'configuration':36} {'exit':>4} {'makespan':>9} {'vs best':>8} {'peak RSS':>9}")
    for name, code, wall, peak, predicted in rows:
        over = "  OVER BUDGET" if peak > BUDGET else ""
        print(f"{name:36} {code:>4} {wall:>8.2f}s {wall / packed:>7.2f}x {peak / MB:>6.0f} MB{over}")
        if predicted:
            print(f"    wf plan said: {predicted.strip()}")
    print(json.dumps({"lower_bound_s": lower, "best_packing_s": packed,
                      "runs": [dict(zip(["name", "exit", "makespan_s", "peak_rss_bytes"], r[:4])) for r in rows]}))


if __name__ == "__main__":
    main()
