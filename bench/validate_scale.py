#!/usr/bin/env python3
"""Time `wf validate` on a generated manifest of 100,000 tasks and 300,000 dependencies.

Usage: python3 bench/validate_scale.py [--tasks N] [--deps-per-task K] [--runs R]
The wf binary is $WF, default target/release/wf (build it with `cargo build --release`).
Prints the median wall time and the peak resident memory of `wf validate` over R runs.
Target on a 2-core machine: under 1 s and under 500 MB.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(path, tasks, deps_per_task, seed=7):
    rng = random.Random(seed)
    edges = 0
    with open(path, "w") as out:
        out.write('[workflow]\nname = "scale"\njobs = 2\n\n')
        for i in range(tasks):
            out.write(f'[tasks.t{i}]\nrun = "true"\n')
            if i > 0:
                k = min(deps_per_task, i)
                deps = sorted(rng.sample(range(i), k)) if i > 2 * k else sorted(set(rng.randrange(i) for _ in range(k)))
                edges += len(deps)
                out.write("deps = [" + ", ".join(f'"t{d}"' for d in deps) + "]\n")
            out.write("\n")
    return edges


def run_once(wf, manifest):
    start = time.perf_counter()
    proc = subprocess.Popen([wf, "validate", manifest], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"wf validate failed:\n{stderr}")
    return wall, usage.ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--deps-per-task", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wf = os.environ.get("WF", os.path.join(REPO, "target", "release", "wf"))
    if not os.access(wf, os.X_OK):
        sys.exit(f"no wf binary at {wf}: run `cargo build --release` first or set WF")
    with tempfile.TemporaryDirectory(prefix="wf-validate-") as tmp:
        manifest = os.path.join(tmp, "wf.toml")
        edges = generate(manifest, args.tasks, args.deps_per_task)
        size_mb = os.path.getsize(manifest) / 1e6
        print(f"manifest: {args.tasks:,} tasks, {edges:,} dependencies, {size_mb:.1f} MB")
        run_once(wf, manifest)  # warm-up: page cache, binary
        results = [run_once(wf, manifest) for _ in range(args.runs)]
    walls = [w for w, _ in results]
    peaks = [m for _, m in results]
    print(f"wf validate: median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}), "
          f"peak memory {max(peaks):.0f} MB over {args.runs} runs")
    print("target: < 1 s and < 500 MB")


if __name__ == "__main__":
    main()
