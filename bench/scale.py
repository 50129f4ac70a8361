#!/usr/bin/env python3
"""How wf scales with the number of tasks: wall time and peak memory per size.

Generates manifests (stdlib only) and runs the wf binary on them:

  dag      random DAG, 3 dependencies per task (each on earlier tasks), `run = ["true"]`
  matrix   one task with a SIDE x SIDE matrix (a three-line manifest, SIDE^2 expansions)
  chain    a chain: each task depends on the one before

Commands timed on each manifest: `wf validate`, `wf plan`, `wf run -n`; and, on the DAG of
`--run-size` tasks, one real `wf run` of no-op tasks (`--output quiet`, fresh `.wf/`).
Wall time is a monotonic clock around spawn and wait; CPU time (user + system) and peak memory
(maxrss) are the child's, from os.wait4. On a busy machine CPU time is the steadier figure. Between two sizes of the same shape and command the growth exponent
log(t2/t1) / log(n2/n1) is printed (1.0 = linear; target <= 1.1).

Usage:
  python3 bench/scale.py                          # sizes 10k,100k,1M; chain 100k; run 100k
  python3 bench/scale.py --sizes 10000,100000 --run-size 0    # quick (no real run)
  python3 bench/scale.py --shapes dag --commands validate --runs 3
  python3 bench/scale.py --store-runs 10          # also: the store after N runs of --run-size
  python3 bench/scale.py --fill-store 50          # the same after 50 runs, the store filled from
                                                  # the real run (bench/fill_store.py): ~1 min

The wf binary is $WF, default target/release/wf ($CARGO_TARGET_DIR honoured).
"""
import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_tasks(path, name, prefix, tasks, deps_of):
    """Writes a manifest of `tasks` no-op tasks PREFIX0.., task i depending on deps_of(i)."""
    with open(path, "w") as out:
        out.write(f'[workflow]\nname = "{name}"\njobs = 2\n\n')
        lines = []
        for i in range(tasks):
            lines.append(f'[tasks.{prefix}{i}]\nrun = ["true"]\n')
            deps = deps_of(i)
            if deps:
                lines.append("deps = [" + ", ".join(f'"{prefix}{d}"' for d in deps) + "]\n")
            lines.append("\n")
            if len(lines) > 30000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def gen_dag(path, tasks, deps_per_task=3, seed=7):
    rng = random.Random(seed)

    def deps_of(i):
        if i == 0:
            return []
        k = min(deps_per_task, i)
        if i > 2 * k:
            return sorted(rng.sample(range(i), k))
        return sorted(set(rng.randrange(i) for _ in range(k)))

    write_tasks(path, "scale", "t", tasks, deps_of)


def gen_chain(path, tasks):
    write_tasks(path, "chain", "c", tasks, lambda i: [i - 1] if i > 0 else [])

def gen_matrix(path, tasks):
    side = max(1, round(math.sqrt(tasks)))
    with open(path, "w") as out:
        out.write('[workflow]\nname = "matrix"\njobs = 2\n\n')
        out.write('[tasks.m]\nrun = ["true", "{{ matrix.a }}", "{{ matrix.b }}"]\n')
        out.write(f"matrix = {{ a = [{', '.join(str(i) for i in range(side))}], "
                  f"b = [{', '.join(str(i) for i in range(side))}] }}\n")
    return side * side


def measure(argv, cwd):
    """Wall seconds and peak RSS (MB) of one run of argv; exits on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Drain output in the parent without keeping it all (a million-line output must not
    # be what is measured here, but it must not block the child either).
    out_bytes = 0
    tail = b""
    while True:
        chunk = proc.stdout.read(1 << 16)
        if not chunk:
            break
        out_bytes += len(chunk)
        tail = (tail + chunk)[-2000:]
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.stdout.close()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(argv)} failed ({code}):\n{err.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, out_bytes + len(err), usage.ru_utime + usage.ru_stime


def fmt_n(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def time_filled_store(wf, folder, manifest, tasks, runs, rounds):
    """Fills the store of the real run in `folder` as if it had run `runs` times (the real
    run is the template: see bench/fill_store.py) and prints the median wall time of
    `wf history`, `wf plan` and `wf run -n` on it."""
    import sqlite3

    from fill_store import fill, store_size

    store = os.path.join(folder, ".wf", "state.db")
    template = os.path.join(folder, "template.db")
    source = sqlite3.connect(store)
    source.execute("VACUUM INTO ?", (template,))
    source.close()
    fill(folder, tasks, runs, keep=20)
    # The filled store is of an older schema version: the first command upgrades it.
    subprocess.run([wf, "history", manifest, "--limit", "1"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    walls = {}
    for name, argv in (("history", [wf, "history", manifest]),
                       ("plan", [wf, "plan", manifest]),
                       ("run -n", [wf, "run", "-n", manifest])):
        walls[name] = statistics.median(measure(argv, folder)[0] for _ in range(rounds))
    print(f"after {runs} runs (store filled, 20 kept): state.db "
          f"{store_size(folder) / 1e6:.1f} MB; history {walls['history']:.3f} s, "
          f"plan {walls['plan']:.3f} s, run -n {walls['run -n']:.3f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="task counts for the dag and matrix shapes (comma-separated)")
    parser.add_argument("--chain", type=int, default=100_000, help="length of the chain (0: none)")
    parser.add_argument("--shapes", default="dag,matrix,chain")
    parser.add_argument("--commands", default="validate,plan,dry-run")
    parser.add_argument("--runs", type=int, default=1, help="rounds per measurement (median)")
    parser.add_argument("--run-size", type=int, default=100_000,
                        help="tasks of the real `wf run` of the dag shape (0: skip)")
    parser.add_argument("--store-runs", type=int, default=0,
                        help="after the real run, run it this many times more and time "
                             "`wf history`, `wf plan` and the start of a run")
    parser.add_argument("--fill-store", type=int, default=0,
                        help="after the real run, fill its store as if it had run this many "
                             "times (bench/fill_store.py, 20 runs kept) and time `wf history`, "
                             "`wf plan` and the start of a run (`--runs` rounds each)")
    parser.add_argument("--keep", action="store_true", help="keep the generated manifests")
    args = parser.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    wf = os.environ.get("WF", os.path.join(target, "release", "wf"))
    if not os.access(wf, os.X_OK):
        sys.exit(f"no wf binary at {wf}: run `cargo build --release` first or set WF")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    shapes = [s for s in args.shapes.split(",") if s]
    commands = [c for c in args.commands.split(",") if c]
    argv_of = {
        "validate": lambda m: [wf, "validate", m],
        "plan": lambda m: [wf, "plan", m],
        "dry-run": lambda m: [wf, "run", "-n", m],
    }
    tmp = tempfile.mkdtemp(prefix="wf-scale-")
    results = {}  # (shape, command) -> list of (n, wall, rss)
    print(f"wf: {wf}\nscratch: {tmp}\n")
    print(f"{'shape':<8} {'tasks':>8} {'MB':>6}  {'command':<9} {'wall s':>8} {'cpu s':>8} "
          f"{'peak MB':>8} {'out KB':>7}  {'exp(t)':>6} {'exp(c)':>6} {'exp(m)':>6}")
    try:
        cases = []
        for shape in shapes:
            if shape == "chain":
                if args.chain:
                    cases.append((shape, args.chain))
            else:
                cases.extend((shape, n) for n in sizes)
        for shape, n in cases:
            folder = os.path.join(tmp, f"{shape}-{n}")
            os.makedirs(folder, exist_ok=True)
            manifest = os.path.join(folder, "wf.toml")
            if shape == "dag":
                gen_dag(manifest, n)
            elif shape == "chain":
                gen_chain(manifest, n)
            elif shape == "matrix":
                n = gen_matrix(manifest, n)
            size_mb = os.path.getsize(manifest) / 1e6
            for command in commands:
                samples = [measure(argv_of[command](manifest), folder) for _ in range(args.runs)]
                wall = statistics.median(s[0] for s in samples)
                cpu = statistics.median(s[3] for s in samples)
                rss = max(s[1] for s in samples)
                out_kb = max(s[2] for s in samples) / 1024
                series = results.setdefault((shape, command), [])
                exp_t = exp_c = exp_m = ""
                if series:
                    n0, t0, c0, m0 = series[-1]
                    growth = math.log(n / n0)
                    exp_t = f"{math.log(wall / t0) / growth:.2f}"
                    exp_c = f"{math.log(max(cpu, 1e-3) / max(c0, 1e-3)) / growth:.2f}"
                    exp_m = f"{math.log(rss / m0) / growth:.2f}"
                series.append((n, wall, cpu, rss))
                print(f"{shape:<8} {fmt_n(n):>8} {size_mb:>6.1f}  {command:<9} {wall:>8.3f} "
                      f"{cpu:>8.3f} {rss:>8.0f} {out_kb:>7.0f}  {exp_t:>6} {exp_c:>6} {exp_m:>6}",
                      flush=True)
            if not args.keep and not (shape == "dag" and n == args.run_size):
                shutil.rmtree(folder, ignore_errors=True)

        if args.run_size:
            folder = os.path.join(tmp, f"dag-{args.run_size}")
            manifest = os.path.join(folder, "wf.toml")
            if not os.path.exists(manifest):
                os.makedirs(folder, exist_ok=True)
                gen_dag(manifest, args.run_size)
            shutil.rmtree(os.path.join(folder, ".wf"), ignore_errors=True)
            run = [wf, "run", manifest, "--output", "quiet"]
            wall, rss, out, _ = measure(run, folder)
            print(f"\nwf run, {fmt_n(args.run_size)} no-op tasks (dag, 2 slots): {wall:.1f} s "
                  f"({wall / args.run_size * 1e6:.0f} µs/task), peak {rss:.0f} MB, "
                  f"output {out / 1024:.1f} KB", flush=True)
            if args.store_runs:
                for _ in range(args.store_runs):
                    measure(run + ["--force"], folder)
                db = os.path.join(folder, ".wf", "state.db")
                db_mb = sum(os.path.getsize(p) for p in (db, db + "-wal")
                            if os.path.exists(p)) / 1e6
                hist = measure([wf, "history", manifest], folder)
                plan = measure([wf, "plan", manifest], folder)
                # The start of a run is what `run -n` does (open the store, fingerprint,
                # decide, order) without starting the tasks.
                dry = measure([wf, "run", "-n", manifest], folder)
                print(f"after {args.store_runs + 1} runs: state.db {db_mb:.1f} MB; "
                      f"history {hist[0]:.3f} s, plan {plan[0]:.3f} s, run -n {dry[0]:.3f} s",
                      flush=True)
            if args.fill_store:
                time_filled_store(wf, folder, manifest, args.run_size, args.fill_store,
                                  args.runs)
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
