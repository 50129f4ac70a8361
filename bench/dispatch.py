#!/usr/bin/env python3
"""Dispatch-overhead benchmark: wf against GNU make, ninja, xargs -P and a C floor.

Every tool runs the same no-op workloads with 2 job slots; the runs are
interleaved round by round, and the table shows medians and paired ratios
against the floor (a C program that only posix_spawns the processes).

    python3 bench/dispatch.py                    # all workloads
    python3 bench/dispatch.py --only indep,chain # some of them
    python3 bench/dispatch.py --memory           # wf peak RSS on 100,000 tasks

Environment:
    WF           path to the wf binary (default: <repo>/target/release/wf)
    WF_BEFORE    path to another wf binary (e.g. built from the previous commit): it runs
                 in the same rounds as `wf-before`, and the table adds wf / wf-before
    BENCH_N      number of tasks in `indep` (default 10000)
    BENCH_RUNS   counted rounds per workload (default 5; one warm-up round more)
    BENCH_MEM_N  number of tasks for --memory (default 100000)
    BENCH_FLOOD_BYTES  bytes each task of the flood workloads writes (default 200000000)
    BENCH_WF_OUTPUT    wf's output mode on the no-op workloads: `quiet` (the default, like
                 `make -s` and `ninja --quiet`) or `default` (wf's default: a line per task)

Stdlib only; see bench/README.md.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)

JOBS = 2
WORKLOADS = ["indep", "chain", "layers", "sched", "flood", "flood-pipe", "flood-null"]
TOOLS = ["floor", "floor-log", "make", "ninja", "xargs", "wf", "wf-before"]
# The tools compared with the floor in the tables (wf-before only when WF_BEFORE is set).
COMPARED = ["floor-log", "make", "ninja", "xargs", "wf", "wf-before"]

# The flood workloads: FLOOD_TASKS tasks each write BENCH_FLOOD_BYTES to stdout, and every
# tool's stdout goes to the same kind of place: a fresh file on disk (`flood`), a pipe read by
# `cat > /dev/null` (`flood-pipe`), or /dev/null (`flood-null`). No-op workloads: /dev/null.
FLOOD_TASKS = 2
FLOOD_STDOUT = {"flood": "file", "flood-pipe": "pipe", "flood-null": "null"}

CHAIN_N = 2000
LAYERS = 20
LAYER_WIDTH = 100
LAYER_FANIN = 2
LAYER_SEED = 20240611
SCHED_CHAIN = 10
SCHED_INDEP = 40
SCHED_SLEEP = "0.1"
SCHED_BOUND = max(SCHED_CHAIN * 0.1, (SCHED_CHAIN + SCHED_INDEP) * 0.1 / JOBS)


def note(msg):
    print(f"note: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Workload graphs: a list of (name, argv, deps), in declaration order.
# --------------------------------------------------------------------------

def graph_indep(n):
    return [(f"t{i}", ["true"], []) for i in range(n)]


def graph_chain(n):
    return [(f"t{i}", ["true"], [f"t{i-1}"] if i else []) for i in range(n)]


def graph_layers():
    rng = random.Random(LAYER_SEED)
    tasks = []
    for k in range(LAYERS):
        for j in range(LAYER_WIDTH):
            deps = []
            if k > 0:
                deps = [f"l{k-1}_{p}" for p in sorted(rng.sample(range(LAYER_WIDTH), LAYER_FANIN))]
            tasks.append((f"l{k}_{j}", ["true"], deps))
    return tasks


def flood_command(nbytes):
    return ["head", "-c", str(nbytes), "/dev/zero"]


def graph_flood(nbytes):
    return [(f"f{i}", flood_command(nbytes), []) for i in range(FLOOD_TASKS)]


def graph_sched():
    sleep = ["sleep", SCHED_SLEEP]
    tasks = [(f"i{i}", sleep, []) for i in range(SCHED_INDEP)]  # declared first
    tasks += [(f"c{i}", sleep, [f"c{i-1}"] if i else []) for i in range(SCHED_CHAIN)]
    return tasks


# --------------------------------------------------------------------------
# Generators for each tool. Each writes into its own directory and returns the
# command to run there plus a reset function called (untimed) before each run.
# --------------------------------------------------------------------------

def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_list(items):
    return "[" + ", ".join(toml_str(x) for x in items) + "]"


def gen_wf(d, tasks, wf_bin, output="quiet"):
    path = os.path.join(d, "wf.toml")
    with open(path, "w") as f:
        f.write(f'[workflow]\nname = "bench"\njobs = {JOBS}\nshell = ["sh", "-c"]\n')
        for name, argv, deps in tasks:
            f.write(f"\n[tasks.{name}]\nrun = {toml_list(argv)}\n")
            if deps:
                f.write(f"deps = {toml_list(deps)}\n")
    state = os.path.join(d, ".wf")
    cmd = [wf_bin, "run", path] + (["--output", output] if output else [])
    return cmd, lambda: shutil.rmtree(state, ignore_errors=True)


def gen_make(d, tasks):
    path = os.path.join(d, "Makefile")
    names = [t[0] for t in tasks]
    with open(path, "w") as f:
        # No built-in rules or suffixes: make does no implicit-rule search.
        f.write("MAKEFLAGS += --no-builtin-rules\n.SUFFIXES:\n")
        f.write(".PHONY: all " + " ".join(names) + "\n")
        f.write("all: " + " ".join(names) + "\n")
        for name, argv, deps in tasks:
            f.write(f"{name}: {' '.join(deps)}\n\t{' '.join(argv)}\n")
    return ["make", "-s", f"-j{JOBS}", "-f", path, "all"], lambda: None


def gen_ninja(d, tasks):
    path = os.path.join(d, "build.ninja")
    with open(path, "w") as f:
        # One rule per distinct command; outputs are never created, so every
        # edge is dirty on every run. No restat, no depfiles.
        rules = {}
        for _, argv, _ in tasks:
            cmd = " ".join(argv)
            if cmd not in rules:
                rules[cmd] = f"r{len(rules)}"
                f.write(f"rule {rules[cmd]}\n  command = {cmd}\n")
        for name, argv, deps in tasks:
            inputs = (" " + " ".join(deps)) if deps else ""
            f.write(f"build {name}: {rules[' '.join(argv)]}{inputs}\n")
        f.write("build all: phony " + " ".join(t[0] for t in tasks) + "\ndefault all\n")
    log = [os.path.join(d, ".ninja_log"), os.path.join(d, ".ninja_deps")]

    def reset():
        for p in log:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    return ["ninja", "--quiet", f"-j{JOBS}", "-f", path], reset


def gen_xargs(d, n):
    path = os.path.join(d, "lines")
    with open(path, "w") as f:
        f.write("x\n" * n)
    return ["xargs", "-P", str(JOBS), "-n", "1", "true"], lambda: None, path


def floor_args(workload, n, flood_bytes=0):
    if workload == "indep":
        return ["1", str(n), str(JOBS), "/bin/true"]
    if workload == "chain":
        return ["1", str(CHAIN_N), "1", "/bin/true"]
    if workload == "layers":
        return [str(LAYERS), str(LAYER_WIDTH), str(JOBS), "/bin/true"]
    if workload == "sched":
        sleep = shutil.which("sleep") or "/bin/sleep"
        return ["1", str(SCHED_CHAIN + SCHED_INDEP), str(JOBS), sleep, SCHED_SLEEP]
    if workload in FLOOD_STDOUT:
        head = shutil.which("head") or "/usr/bin/head"
        return ["1", str(FLOOD_TASKS), str(JOBS), head] + flood_command(flood_bytes)[1:]
    raise ValueError(workload)


# --------------------------------------------------------------------------
# Running and measuring.
# --------------------------------------------------------------------------

class Job:
    def __init__(self, tool, cmd, cwd, reset=lambda: None, stdin_path=None, stdout="null",
                 env=None, min_bytes=0):
        self.tool, self.cmd, self.cwd, self.reset, self.stdin_path = tool, cmd, cwd, reset, stdin_path
        # Where the tool's stdout goes: "null", "file" (a fresh file in its folder, its size
        # checked against min_bytes), or "pipe" (read by `cat > /dev/null`, inside the timing).
        self.stdout, self.env, self.min_bytes = stdout, env, min_bytes
        self.times, self.rss_kb, self.error = [], [], None

    def open_stdout(self):
        """The tool's stdout (untimed), and the reader of a pipe, if any."""
        if self.stdout == "file":
            path = os.path.join(self.cwd, "stdout.out")
            try:
                os.unlink(path)  # a fresh file each run: no truncation inside the timing
            except FileNotFoundError:
                pass
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), None
        if self.stdout == "pipe":
            r, w = os.pipe()
            reader = subprocess.Popen(["cat"], stdin=r, stdout=subprocess.DEVNULL)
            os.close(r)
            return w, reader
        return subprocess.DEVNULL, None

    def run(self, record):
        """Run once; returns wall seconds, or None if the tool failed."""
        if self.error:
            return None
        self.reset()
        stdin = open(self.stdin_path, "rb") if self.stdin_path else subprocess.DEVNULL
        err = tempfile.TemporaryFile()
        out, reader = self.open_stdout()
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(self.cmd, cwd=self.cwd, stdin=stdin,
                                 stdout=out, stderr=err, env=self.env)
            if reader:
                os.close(out)  # the tool holds the only write end: the reader sees its end
            _, status, ru = os.wait4(p.pid, 0)
            if reader:
                reader.wait()
            t1 = time.perf_counter()
            p.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if self.stdin_path:
                stdin.close()
        if self.stdout == "file":
            size = os.fstat(out).st_size
            os.close(out)
            os.unlink(os.path.join(self.cwd, "stdout.out"))  # no dirty pages piling up
            if p.returncode == 0 and size < self.min_bytes:
                p.returncode = 1
                err.write(f"stdout has {size} bytes, expected at least {self.min_bytes}".encode())
        if p.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            self.error = f"exit {p.returncode}: " + " | ".join(tail)
            note(f"{self.tool} failed ({self.error}); dropped from this workload")
            return None
        err.close()
        if record:
            self.times.append(t1 - t0)
            self.rss_kb.append(ru.ru_maxrss)
        return t1 - t0


def ensure_ninja(allow_install):
    if shutil.which("ninja"):
        return True
    if not allow_install:
        note("ninja not found; skipping ninja (--no-install given)")
        return False
    if not shutil.which("apt-get") or os.geteuid() != 0:
        note("ninja not found and apt-get unavailable (or not root); skipping ninja")
        return False
    note("ninja not found; installing ninja-build with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    install = ["apt-get", "install", "-y", "-q", "ninja-build"]
    if subprocess.call(install, **quiet) != 0:
        subprocess.call(["apt-get", "update", "-q"], **quiet)
        subprocess.call(install, **quiet)
    if shutil.which("ninja"):
        return True
    note("could not install ninja-build; skipping ninja")
    return False


def build_floor(tmp):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("error: no C compiler (cc) found; the floor program is required")
    out = os.path.join(tmp, "floor")
    subprocess.check_call([cc, "-O2", "-o", out, os.path.join(BENCH_DIR, "floor.c")])
    return out


def find_wf(variable="WF", default=os.path.join(REPO_ROOT, "target", "release", "wf")):
    wf = os.environ.get(variable) or default
    if not wf:
        return None
    wf = os.path.abspath(wf)
    if os.path.isfile(wf) and os.access(wf, os.X_OK):
        return wf
    note(f"wf binary not found at {wf}; skipping it (build it with `cargo build --release` or set {variable})")
    return None


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def warn_if_busy():
    try:
        with open("/proc/loadavg") as f:
            load = float(f.read().split()[0])
    except (OSError, ValueError):
        return
    if load > 0.5:
        note(f"1-minute load average is {load:.2f}: other work is running, timings will be noisy")


def setup_workload(workload, tmp, floor_bin, n, have, wf_bins, flood_bytes):
    tasks = {"indep": lambda: graph_indep(n), "chain": lambda: graph_chain(CHAIN_N),
             "layers": graph_layers, "sched": graph_sched}.get(
                 workload, lambda: graph_flood(flood_bytes))()
    flood = workload in FLOOD_STDOUT
    # Flood workloads: every tool's stdout goes to the same kind of place, and must receive
    # every byte the tasks wrote; wf prints its task output as by default (grouped).
    io = dict(stdout=FLOOD_STDOUT[workload], min_bytes=FLOOD_TASKS * flood_bytes) if flood else {}
    base = os.path.join(tmp, workload)
    jobs = []
    for tool in TOOLS:
        if not have.get(tool):
            continue
        if (tool == "xargs" and workload != "indep") or (tool == "floor-log" and not flood):
            continue
        d = os.path.join(base, tool)
        os.makedirs(d)
        if tool == "floor":
            jobs.append(Job(tool, [floor_bin] + floor_args(workload, n, flood_bytes), d, **io))
        elif tool == "floor-log":
            logs = os.path.join(d, "logs")
            os.makedirs(logs)
            env = dict(os.environ, FLOOR_LOGS=logs)
            reset = lambda logs=logs: [os.unlink(os.path.join(logs, f)) for f in os.listdir(logs)]
            jobs.append(Job(tool, [floor_bin] + floor_args(workload, n, flood_bytes), d, reset,
                            env=env, **io))
        elif tool == "make":
            cmd, reset = gen_make(d, tasks)
            jobs.append(Job(tool, cmd, d, reset, **io))
        elif tool == "ninja":
            cmd, reset = gen_ninja(d, tasks)
            jobs.append(Job(tool, cmd, d, reset, **io))
        elif tool == "xargs":
            cmd, reset, lines = gen_xargs(d, n)
            jobs.append(Job(tool, cmd, d, reset, stdin_path=lines))
        elif tool in wf_bins:
            quiet = os.environ.get("BENCH_WF_OUTPUT", "quiet") == "quiet"
            cmd, reset = gen_wf(d, tasks, wf_bins[tool],
                                output="quiet" if quiet and not flood else None)
            jobs.append(Job(tool, cmd, d, reset, **io))
    return len(tasks), jobs


def run_workload(workload, jobs, runs):
    total = runs + 1
    for r in range(total):
        counted = r > 0
        line = []
        for job in jobs:
            t = job.run(record=counted)
            line.append(f"{job.tool}={'FAIL' if t is None else f'{t:.3f}s'}")
        label = "warm-up" if not counted else f"round {r}/{runs}"
        print(f"  {workload:6} {label:11} " + " ".join(line), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else None


def paired_ratio(job, floor):
    rs = [t / f for t, f in zip(job.times, floor.times)]
    return med(rs)


def fmt_s(x):
    return "—" if x is None else f"{x:.3f}"


def report(results, runs):
    print()
    print(f"Dispatch overhead, {JOBS} job slots, median of {runs} interleaved rounds "
          f"(after 1 warm-up). Cells: median seconds (paired ratio × floor).")
    print()
    present = {j.tool for _, _, jobs in results for j in jobs}
    compared = [t for t in COMPARED if t not in ("wf-before", "floor-log") or t in present]
    before = "wf-before" in present
    logged = "floor-log" in present
    cols = (["workload", "tasks", "floor s", "floor µs/task"] + compared
            + ["wf / min(make, ninja)"] + (["wf / floor-log (paired)"] if logged else [])
            + (["wf / wf-before (paired)"] if before else []))
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|")
    for workload, ntasks, jobs in results:
        by = {j.tool: j for j in jobs}
        floor = by.get("floor")
        fm = med(floor.times) if floor else None
        row = [workload, f"{ntasks:,}", fmt_s(fm),
               "—" if fm is None or workload == "sched" else f"{fm / ntasks * 1e6:.0f}"]
        for tool in compared:
            j = by.get(tool)
            if j is None:
                na = (tool == "xargs" and workload != "indep") or tool == "floor-log"
                row.append("n/a" if na else "skipped")
            elif j.error or not j.times:
                row.append("FAILED")
            else:
                m = med(j.times)
                ratio = paired_ratio(j, floor) if floor and floor.times else None
                row.append(f"{m:.3f} ({ratio:.2f}×)" if ratio else f"{m:.3f}")
        base = [(med(by[t].times), t) for t in ("make", "ninja")
                if t in by and by[t].times and not by[t].error]
        wf = by.get("wf")
        if base and wf and wf.times and not wf.error:
            best, who = min(base)
            row.append(f"{med(wf.times) / best:.2f} (vs {who})")
        else:
            row.append("—")
        if logged:
            fl = by.get("floor-log")
            ok = wf and wf.times and fl and fl.times and not wf.error and not fl.error
            row.append(f"{paired_ratio(wf, fl):.2f}" if ok else "—")
        if before:
            old = by.get("wf-before")
            ok = wf and wf.times and old and old.times and not wf.error and not old.error
            row.append(f"{paired_ratio(wf, old):.3f}" if ok else "—")
        print("| " + " | ".join(row) + " |")
    if any(w in FLOOD_STDOUT for w, _, _ in results):
        print(f"\nflood: {FLOOD_TASKS} tasks each writing the same number of bytes to stdout; "
              "stdout of every tool: a fresh file (flood), a pipe to `cat > /dev/null` "
              "(flood-pipe), /dev/null (flood-null). floor-log keeps a log per task and copies "
              "it to stdout when the task ends, as wf does by default.")
    for workload, ntasks, jobs in results:
        for j in jobs:
            if j.times and max(j.times) > 1.25 * min(j.times):
                print(f"\nnote: {workload}/{j.tool} varied {min(j.times):.3f}–{max(j.times):.3f} s "
                      "across rounds; the machine was probably busy (medians and paired ratios damp this).")
                break

    # Per-task overhead over the floor: median over rounds of (tool - floor) / tasks.
    print()
    print("Overhead per task over the floor, µs (median over rounds of (tool − floor) / tasks;"
          " sched is left out, its excess is scheduling, see below):")
    print()
    print("| workload | " + " | ".join(compared) + " |")
    print("|---|" + "|".join(["---:"] * len(compared)) + "|")
    for workload, ntasks, jobs in results:
        if workload == "sched":
            continue
        by = {j.tool: j for j in jobs}
        floor = by.get("floor")
        row = [workload]
        for tool in compared:
            j = by.get(tool)
            if j is None or j.error or not j.times or not floor or not floor.times:
                row.append("—")
            else:
                d = med([(t - f) / ntasks * 1e6 for t, f in zip(j.times, floor.times)])
                row.append(f"{d:+.0f}")
        print("| " + " | ".join(row) + " |")

    for workload, ntasks, jobs in results:
        if workload != "sched":
            continue
        print()
        print(f"sched: {SCHED_CHAIN}-task chain + {SCHED_INDEP} independent tasks of "
              f"`sleep {SCHED_SLEEP}` (independent declared first), {JOBS} slots.")
        print(f"Lower bound = max(critical path {SCHED_CHAIN * 0.1:.1f} s, "
              f"work {(SCHED_CHAIN + SCHED_INDEP) * 0.1:.1f} s / {JOBS}) = {SCHED_BOUND:.2f} s.")
        print()
        print("| tool | median s | min s | max s | over bound |")
        print("|---|---:|---:|---:|---:|")
        for j in jobs:
            if j.error or not j.times:
                print(f"| {j.tool} | FAILED | | | |")
                continue
            m = med(j.times)
            print(f"| {j.tool} | {m:.3f} | {min(j.times):.3f} | {max(j.times):.3f} | "
                  f"{m - SCHED_BOUND:+.3f} s |")

    for workload, ntasks, jobs in results:
        for j in jobs:
            if j.tool == "wf" and j.rss_kb and workload == "indep":
                print()
                print(f"wf peak RSS on indep ({ntasks:,} tasks): median {med(j.rss_kb) / 1024:.1f} MB, "
                      f"max {max(j.rss_kb) / 1024:.1f} MB")


# --------------------------------------------------------------------------
# --memory mode.
# --------------------------------------------------------------------------

def memory_check(tmp, wf_bin, n):
    if not wf_bin:
        print("memory check skipped: wf binary not found")
        return 0
    d = os.path.join(tmp, "memory")
    os.makedirs(d)
    cmd, reset = gen_wf(d, graph_indep(n), wf_bin)
    reset()
    use_time = os.access("/usr/bin/time", os.X_OK)
    rss_file = os.path.join(d, "rss")
    full = (["/usr/bin/time", "-f", "%M", "-o", rss_file] if use_time else []) + cmd
    print(f"memory check: wf on {n:,} independent `true` tasks, {JOBS} slots ...", flush=True)
    t0 = time.perf_counter()
    p = subprocess.Popen(full, cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        print(f"memory check: wf exited {rc}")
        return 1
    if use_time:
        with open(rss_file) as f:
            kb = int(f.read().strip().splitlines()[-1])
        how = "/usr/bin/time %M"
    else:
        kb = ru.ru_maxrss
        how = "wait4 ru_maxrss"
    mb = kb / 1024
    verdict = "OK" if mb < 300 else "OVER TARGET"
    print(f"wf peak RSS: {mb:.1f} MB ({how}); target < 300 MB: {verdict}; wall {wall:.2f} s")
    return 0 if mb < 300 else 1


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--memory", action="store_true",
                    help="only run wf once on BENCH_MEM_N (100,000) tasks and report its peak RSS")
    ap.add_argument("--no-install", action="store_true",
                    help="do not try to apt-get install ninja-build when ninja is missing")
    ap.add_argument("--keep", action="store_true", help="keep the generated files (prints the dir)")
    args = ap.parse_args()

    n = int(os.environ.get("BENCH_N", "10000"))
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    flood_bytes = int(os.environ.get("BENCH_FLOOD_BYTES", "200000000"))
    workloads = WORKLOADS
    if args.only:
        workloads = [w.strip() for w in args.only.split(",") if w.strip()]
        bad = [w for w in workloads if w not in WORKLOADS]
        if bad:
            ap.error(f"unknown workload(s) {bad}; choose from {WORKLOADS}")
    if runs < 1 or n < 1:
        ap.error("BENCH_RUNS and BENCH_N must be >= 1")

    wf_bin = find_wf()
    before_bin = find_wf("WF_BEFORE", "")
    wf_bins = {name: path for name, path in (("wf", wf_bin), ("wf-before", before_bin)) if path}
    tmp = tempfile.mkdtemp(prefix="wf-bench-")
    try:
        if args.memory:
            return memory_check(tmp, wf_bin, int(os.environ.get("BENCH_MEM_N", "100000")))

        have = {"floor": True, "make": bool(shutil.which("make")),
                "ninja": ensure_ninja(not args.no_install),
                "xargs": bool(shutil.which("xargs")), "wf": bool(wf_bin), "floor-log": True,
                "wf-before": bool(before_bin)}
        if not have["make"]:
            note("make not found; skipping make")
        floor_bin = build_floor(tmp)

        print(f"machine: {os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}")
        print(f"make: {version(['make', '--version']) if have['make'] else 'missing'}; "
              f"ninja: {version(['ninja', '--version']) if have['ninja'] else 'missing'}; "
              f"xargs: {version(['xargs', '--version']) if have['xargs'] else 'missing'}; "
              f"wf: {wf_bin or 'missing'}"
              + (f"; wf-before: {before_bin}" if before_bin else ""))
        print(f"indep N={n:,}, rounds={runs} (+1 warm-up), slots={JOBS}", flush=True)
        warn_if_busy()

        results = []
        for w in workloads:
            ntasks, jobs = setup_workload(w, tmp, floor_bin, n, have, wf_bins, flood_bytes)
            run_workload(w, jobs, runs)
            results.append((w, ntasks, jobs))
        report(results, runs)
        return 1 if any(j.error for _, _, js in results for j in js) else 0
    finally:
        if args.keep:
            note(f"generated files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
