#!/usr/bin/env python3
"""Fills a workflow's state store as if it had run many times, quickly.

One real `wf run` of a generated DAG of no-op tasks (`bench/scale.py`'s shape) gives the
template: its attempts, outcomes and last successes, with the real fingerprints. The store is
then rewritten with `--runs` copies of that run, one after the other in time, each with its
durations and peaks varied (x0.8-1.2 and x0.9-1.1), and the oldest removed beyond `--keep`
as wf's pruning does (`keep_runs`, default 20): what a store holds after that many runs,
without spending a minute or two per run.

The store is written in schema version 2 (the tables as of that version, from
engine/src/state/schema.rs), the oldest a current wf migrates from: opening it with a newer
wf upgrades it first (`--migrate` does that once and times it), so the same filled store can
be measured with wf builds before and after a schema change.

Usage:
  python3 bench/fill_store.py DIR --tasks 100000 --runs 50     # DIR/wf.toml made if missing
  WF=/path/to/wf python3 bench/fill_store.py DIR --time        # then time history/plan/run -n

Timing (`--time`) runs `wf history`, `wf plan` and `wf run -n` on DIR, each `--rounds` times,
and prints the median wall and CPU time (user + system) of each and the store's size
(`state.db` and its WAL). `--empty` times them without the store (moved aside and back): what
the manifest alone costs.
"""

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from scale import gen_dag  # noqa: E402


def wf_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.environ.get("WF", os.path.join(target, "release", "wf"))


def schema_v2():
    """The statements of schema versions 1 and 2, as wf's source has them."""
    text = open(os.path.join(REPO, "engine/src/state/schema.rs")).read()
    parts = []
    for name in ("V1", "V2"):
        found = re.search(r"const %s: &str = r#\"(.*?)\"#;" % name, text, re.S)
        if not found:
            sys.exit(f"schema.rs has no {name}")
        parts.append(found.group(1))
    return "\n".join(parts)


def store_size(folder):
    db = os.path.join(folder, ".wf", "state.db")
    return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))


def fill(folder, tasks, runs, keep):
    manifest = os.path.join(folder, "wf.toml")
    if not os.path.exists(manifest):
        os.makedirs(folder, exist_ok=True)
        gen_dag(manifest, tasks)
    store = os.path.join(folder, ".wf", "state.db")
    template = os.path.join(folder, "template.db")
    if not os.path.exists(template):
        shutil.rmtree(os.path.join(folder, ".wf"), ignore_errors=True)
        started = time.monotonic()
        subprocess.run([wf_binary(), "run", manifest, "--output", "quiet"], cwd=folder,
                       check=True)
        print(f"template: one real run of {tasks} tasks in {time.monotonic() - started:.1f} s",
              flush=True)
        src = sqlite3.connect(store)
        src.execute("VACUUM INTO ?", (template,))
        src.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.remove(store + suffix)
    shutil.rmtree(os.path.join(folder, ".wf", "runs"), ignore_errors=True)

    started = time.monotonic()
    db = sqlite3.connect(store, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(schema_v2())
    db.execute("PRAGMA user_version = 2")
    db.execute("ATTACH ? AS t", (template,))
    (run0, key, workflow, start0, jobs) = db.execute(
        "SELECT run_id, manifest, workflow, started_at_ms, jobs FROM t.runs "
        "ORDER BY started_at_ms DESC LIMIT 1").fetchone()
    (span,) = db.execute("SELECT max(ended_at_ms) - min(started_at_ms) FROM t.attempts "
                         "WHERE run_id = ?", (run0,)).fetchone()
    step = (span or 1000) + 60_000
    # Time ends where the real run started, so that files look older than every run.
    base = start0 - runs * step
    ids = []
    for i in range(runs):
        # Ids like wf's (`20261201T040414Z-c103`): their length is part of every row.
        at = (base + i * step) / 1000
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at)) + f"-{i:04x}"
        shift = base + i * step - start0
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO runs (run_id, manifest, workflow, pid, started_at_ms, finished_at_ms, "
            "duration_s, status, jobs, counts) SELECT ?1, manifest, workflow, pid, "
            "started_at_ms + ?2, finished_at_ms + ?2, duration_s, status, jobs, counts "
            "FROM t.runs WHERE run_id = ?3", (run_id, shift, run0))
        db.execute(
            "INSERT INTO attempts (run_id, task, attempt, status, started_at_ms, ended_at_ms, "
            "duration_s, exit_code, signal, worker, log, peak_rss_bytes, user_s, sys_s) "
            "SELECT ?1, task, attempt, status, started_at_ms + ?2, ended_at_ms + ?2, "
            "duration_s * (800 + abs(random()) % 400) / 1000.0, exit_code, signal, worker, "
            "replace(log, ?3, ?1), peak_rss_bytes * (900 + abs(random()) % 200) / 1000, "
            "user_s, sys_s FROM t.attempts WHERE run_id = ?3", (run_id, shift, run0))
        db.execute(
            "INSERT INTO outcomes (run_id, task, status, fingerprint, duration_s) "
            "SELECT ?1, task, status, fingerprint, duration_s FROM t.outcomes "
            "WHERE run_id = ?2", (run_id, run0))
        ids.append(run_id)
        if len(ids) > keep:
            db.execute("DELETE FROM runs WHERE run_id = ?", (ids.pop(0),))
        db.execute("COMMIT")
    db.execute(
        "INSERT INTO successes SELECT manifest, task, ?1, fingerprint, parts, outputs, "
        "finished_at_ms, duration_s FROM t.successes", (ids[-1],))
    db.execute("INSERT INTO file_hashes SELECT * FROM t.file_hashes")
    db.execute("DETACH t")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for run_id in ids:
        os.makedirs(os.path.join(folder, ".wf", "runs", run_id), exist_ok=True)
    print(f"filled: {runs} runs of {tasks} tasks ({len(ids)} kept, workflow {workflow}, "
          f"{jobs} slots) in {time.monotonic() - started:.1f} s; "
          f"state.db {store_size(folder) / 1e6:.1f} MB", flush=True)


def timed(argv, folder):
    """Wall time and CPU time (user + system) of one command."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=folder, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(argv)} failed ({status})")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=0, help="fill with this many runs")
    parser.add_argument("--keep", type=int, default=20, help="runs kept (keep_runs)")
    parser.add_argument("--migrate", action="store_true",
                        help="open the store once with $WF (a schema upgrade) and time it")
    parser.add_argument("--time", action="store_true", help="time history, plan and run -n")
    parser.add_argument("--empty", action="store_true",
                        help="time them without the store (what the manifest alone costs)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = os.path.abspath(args.folder)
    manifest = os.path.join(folder, "wf.toml")
    if args.runs:
        fill(folder, args.tasks, args.runs, args.keep)
    wf = wf_binary()
    if args.migrate:
        took, cpu = timed([wf, "history", manifest, "--limit", "1"], folder)
        print(f"first open (schema upgrade): {took:.2f} s (CPU {cpu:.2f} s); "
              f"state.db {store_size(folder) / 1e6:.1f} MB", flush=True)
    if args.time:
        db = os.path.join(folder, ".wf", "state.db")
        aside = os.path.join(folder, "state.db.aside")
        if args.empty:
            subprocess.run([wf, "history", manifest, "--limit", "1"], cwd=folder, check=True,
                           stdout=subprocess.DEVNULL)  # folds the WAL back in
            os.rename(db, aside)
        for name, argv in (("history", [wf, "history", manifest]),
                           ("plan", [wf, "plan", manifest]),
                           ("run -n", [wf, "run", "-n", manifest])):
            rounds = [timed(argv, folder) for _ in range(args.rounds)]
            wall = statistics.median(t for t, _ in rounds)
            cpu = statistics.median(c for _, c in rounds)
            print(f"{name:<8} wall {wall:7.3f} s  CPU {cpu:7.3f} s  "
                  f"(wall of each round: {', '.join(f'{t:.3f}' for t, _ in rounds)})",
                  flush=True)
        if args.empty:
            os.rename(aside, db)
        print(f"state.db {store_size(folder) / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
