//! Benchmarks of the state module, ignored by default. Run them in release mode:
//!
//! ```sh
//! cargo test -p wf-engine --release --test state_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `record_batches`: microseconds per event written by `StateStore::record`, in batches of 1
//!   and of 100.
//! - `record_runs_of_100k_tasks`: microseconds per event written by `StateStore::record` in
//!   batches of 64, over 5 runs of the same 100,000 tasks (an attempt and a settled success per
//!   task): the first run inserts every per-task row, the later ones update them, as the runs of
//!   a workflow do.
//! - `fingerprint_10k_files_1gb`: `fingerprint_tasks` over 10,000 input files of 100 KB (1 GB)
//!   in 100 tasks: cold from disk, cold from the page cache, and warm (file-hash cache filled).
//!   Needs 1 GB free in the temp folder; the files are removed at the end.
//! - `small_workflow_beside_100k_cached_files`: the start of a run of a 10-file workflow whose
//!   store also caches 100,000 files of another workflow: reading the digests it needs by path
//!   (what `wf run` does) against reading the whole cache, and against an empty store.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use wf_engine::report::model::TaskStatus;
use wf_engine::state::file_cache::CachedDigest;
use wf_engine::state::records::{AttemptRecord, OutcomeRecord, SuccessRecord};
use wf_engine::state::{
    FileCache, FingerprintParts, RunStart, StateEvent, StateStore, fingerprint_tasks,
    fingerprint_tasks_with,
};
use wf_engine::{SourceFile, Workflow, parse};

fn task_events(run_id: &str, i: usize) -> [StateEvent; 2] {
    let task = format!("train[lr=0.{},seed={i}]", i % 10);
    let parts = FingerprintParts {
        command: "c".repeat(64).into(),
        env: "e".repeat(64).into(),
        cwd: "/home/user/project".into(),
        inputs: (0..3)
            .map(|n| (format!("data/part-{n}.csv"), "d".repeat(64)))
            .collect(),
        deps: vec![("prepare".into(), "f".repeat(64).into())],
    };
    [
        StateEvent::AttemptFinished(AttemptRecord {
            run_id: run_id.to_owned(),
            task: task.clone(),
            attempt: 1,
            status: TaskStatus::Succeeded,
            started_at_ms: 1_000,
            ended_at_ms: 2_000,
            duration_s: 1.0,
            exit_code: Some(0),
            signal: None,
            worker: Some(1),
            log: Some(format!(".wf/runs/{run_id}/logs/{task}.log")),
            peak_rss_bytes: Some(50_000_000),
            user_s: Some(0.5),
            sys_s: Some(0.1),
        }),
        StateEvent::TaskSettled(OutcomeRecord {
            run_id: run_id.to_owned(),
            task,
            status: TaskStatus::Succeeded,
            fingerprint: Some("a".repeat(64)),
            duration_s: Some(1.0),
            success: Some(SuccessRecord {
                parts,
                outputs: vec!["models/model.bin".to_owned()],
                finished_at_ms: 2_000,
            }),
        }),
    ]
}

/// Starts run `run_id` of the benchmark's manifest at `started_at_ms`.
fn begin_bench_run(store: &mut StateStore, run_id: &str, started_at_ms: i64) {
    store
        .begin_run(&RunStart {
            run_id: run_id.to_owned(),
            manifest: "/home/user/project/wf.toml".to_owned(),
            workflow: "bench".to_owned(),
            pid: None,
            started_at_ms,
            jobs: 2,
        })
        .expect("begin");
}

#[test]
#[ignore = "benchmark"]
fn record_batches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(".wf/state.db");
    let mut store = StateStore::open(&path).expect("open");
    for (batch, tasks) in [(1usize, 5_000usize), (100, 50_000)] {
        let run_id = format!("run-batch-{batch}");
        begin_bench_run(&mut store, &run_id, 0);
        let events: Vec<StateEvent> = (0..tasks).flat_map(|i| task_events(&run_id, i)).collect();
        let started = Instant::now();
        for chunk in events.chunks(batch) {
            store.record(chunk).expect("record");
        }
        let elapsed = started.elapsed();
        println!(
            "record: batch of {batch:>3}: {:>7.2} µs/event ({} events, attempt and settled-with-success \
             alternating, {:.2} s)",
            elapsed.as_secs_f64() * 1e6 / events.len() as f64,
            events.len(),
            elapsed.as_secs_f64()
        );
    }
    drop(store);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    let store = StateStore::open(&path).expect("reopen");
    let opened = started.elapsed();
    let started = Instant::now();
    let successes = store
        .last_successes("/home/user/project/wf.toml")
        .expect("successes");
    let read = started.elapsed();
    let started = Instant::now();
    let durations = store
        .learnt_durations("/home/user/project/wf.toml", 5)
        .expect("durations");
    println!(
        "open (with quick_check) of a {:.0} MB store: {:.3} s; last_successes ({}): {:.3} s; \
         learnt_durations ({}): {:.3} s",
        size as f64 / 1e6,
        opened.as_secs_f64(),
        successes.len(),
        read.as_secs_f64(),
        durations.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "benchmark"]
fn record_runs_of_100k_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(".wf/state.db");
    let mut store = StateStore::open(&path).expect("open");
    for run in 0..5 {
        let run_id = format!("20261201T0400{run:02}Z-beef");
        begin_bench_run(&mut store, &run_id, run * 1_000_000);
        let events: Vec<StateEvent> = (0..100_000).flat_map(|i| task_events(&run_id, i)).collect();
        let started = Instant::now();
        for chunk in events.chunks(64) {
            store.record(chunk).expect("record");
        }
        let elapsed = started.elapsed();
        println!(
            "record: run {run}: {:>6.2} µs/event ({} events in batches of 64, {:.2} s)",
            elapsed.as_secs_f64() * 1e6 / events.len() as f64,
            events.len(),
            elapsed.as_secs_f64()
        );
    }
}

const FILES: usize = 10_000;
const FILE_SIZE: usize = 100_000;
const TASKS: usize = 100;

/// Writes FILES files of FILE_SIZE pseudo-random bytes under `root/files/dNNN/`, with
/// modification times a minute in the past (settled files, which the cache may keep).
fn generate(root: &Path) {
    let old = SystemTime::now() - Duration::from_secs(60);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut buffer = vec![0u8; FILE_SIZE];
    for t in 0..TASKS {
        let dir = root.join(format!("files/d{t:03}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..FILES / TASKS {
            for chunk in buffer.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            let mut file = File::create(dir.join(format!("f{f:03}.bin"))).expect("create");
            file.write_all(&buffer).expect("write");
            file.set_modified(old).expect("mtime");
        }
    }
}

/// Drops the benchmark's files (only those) from the page cache.
fn evict(root: &Path) {
    for t in 0..TASKS {
        for f in 0..FILES / TASKS {
            let file = File::open(root.join(format!("files/d{t:03}/f{f:03}.bin"))).expect("open");
            file.sync_all().expect("sync");
            posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).expect("fadvise");
        }
    }
}

fn workflow(root: &Path) -> Workflow {
    let mut text = String::new();
    for t in 0..TASKS {
        text.push_str(&format!(
            "[tasks.t{t:03}]\nrun = \"process d{t:03}\"\ninputs = [\"files/d{t:03}/*.bin\"]\n\n"
        ));
    }
    let loaded = parse(SourceFile::new(root.join("wf.toml"), text), root);
    loaded.workflow.expect("valid manifest")
}

fn timed(label: &str, workflow: &Workflow, cache: &mut FileCache) {
    let selected = vec![true; workflow.tasks.len()];
    let started = Instant::now();
    let fingerprints = fingerprint_tasks(workflow, &selected, cache).expect("fingerprints");
    let seconds = started.elapsed().as_secs_f64();
    let total_mb = (FILES * FILE_SIZE) as f64 / 1e6;
    assert_eq!(fingerprints.stats.files, FILES);
    println!(
        "fingerprint {label:<28} {seconds:>7.3} s  {:>8.0} MB/s  ({} files, {} read from disk or page cache, {} cache hits)",
        total_mb / seconds,
        fingerprints.stats.files,
        fingerprints.stats.files - fingerprints.stats.cache_hits,
        fingerprints.stats.cache_hits
    );
}

#[test]
#[ignore = "benchmark: writes 1 GB"]
fn fingerprint_10k_files_1gb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let started = Instant::now();
    generate(root);
    println!(
        "generated {FILES} files, {} MB in {:.1} s; threads: {}",
        FILES * FILE_SIZE / 1_000_000,
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let workflow = workflow(root);

    evict(root);
    timed("cold (disk, empty cache)", &workflow, &mut FileCache::new());
    timed("cold (page cache, empty)", &workflow, &mut FileCache::new());
    let mut cache = FileCache::new();
    timed("cold (page cache, filling)", &workflow, &mut cache);
    timed("warm (cache filled)", &workflow, &mut cache);

    let mut store = StateStore::open(&root.join(".wf/state.db")).expect("open");
    let started = Instant::now();
    store.save_file_cache(&mut cache).expect("save");
    let saved = started.elapsed();
    let started = Instant::now();
    let mut loaded = store.load_file_cache().expect("load");
    let load = started.elapsed();
    println!(
        "file cache: save {FILES} entries {:.3} s, load {:.3} s",
        saved.as_secs_f64(),
        load.as_secs_f64()
    );
    timed("warm (cache from the store)", &workflow, &mut loaded);
    dir.close().expect("remove the files");
}

/// Fingerprints `workflow` the way `wf run` does, reading digests by path; returns the time
/// taken and the cache hits.
fn start_of_run(store: &StateStore, workflow: &Workflow) -> (Duration, usize) {
    let selected = vec![true; workflow.tasks.len()];
    let started = Instant::now();
    let mut cache = FileCache::new();
    let fingerprints = fingerprint_tasks_with(workflow, &selected, &mut cache, &mut |paths, c| {
        store.load_file_digests(paths, c).expect("lookup");
    })
    .expect("fingerprints");
    (started.elapsed(), fingerprints.stats.cache_hits)
}

#[test]
#[ignore = "benchmark"]
fn small_workflow_beside_100k_cached_files() {
    const OTHERS: u64 = 100_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let mut text = String::new();
    for t in 0..10 {
        std::fs::write(root.join(format!("in{t}.csv")), format!("data {t}")).expect("input");
        text.push_str(&format!(
            "[tasks.t{t}]\nrun = \"true\"\ninputs = [\"in{t}.csv\"]\n"
        ));
    }
    let old = SystemTime::now() - Duration::from_secs(60);
    for t in 0..10 {
        let file = File::options()
            .write(true)
            .open(root.join(format!("in{t}.csv")))
            .expect("open");
        file.set_modified(old).expect("mtime");
    }
    let loaded = parse(SourceFile::new(root.join("wf.toml"), text), root);
    let workflow = loaded.workflow.expect("valid manifest");

    let mut store = StateStore::open(&root.join(".wf/state.db")).expect("open");
    let mut cache = FileCache::new();
    fingerprint_tasks(&workflow, &[true; 10], &mut cache).expect("fingerprints");
    store.save_file_cache(&mut cache).expect("save");
    let (empty, hits) = start_of_run(&store, &workflow);
    assert_eq!(hits, 10);

    let mut others = FileCache::new();
    for n in 0..OTHERS {
        let entry = CachedDigest {
            size: n,
            mtime_ns: 1,
            digest: "d".repeat(64),
        };
        others.insert(
            format!("/elsewhere/project/data/part-{n:06}.bin").into(),
            entry,
        );
    }
    store.save_file_cache(&mut others).expect("save");
    drop(store);
    let store = StateStore::open(&root.join(".wf/state.db")).expect("reopen");

    let runs = 20;
    let mut by_path = Duration::ZERO;
    for _ in 0..runs {
        let (took, hits) = start_of_run(&store, &workflow);
        assert_eq!(hits, 10);
        by_path += took;
    }
    let started = Instant::now();
    for _ in 0..runs {
        let whole = store.load_file_cache().expect("load");
        assert_eq!(whole.len() as u64, OTHERS + 10);
    }
    let whole = started.elapsed();
    println!(
        "10-file workflow, store caching {OTHERS} other files: fingerprints by path {:.3} ms \
         (empty store: {:.3} ms); reading the whole cache alone {:.1} ms",
        by_path.as_secs_f64() * 1e3 / f64::from(runs),
        empty.as_secs_f64() * 1e3,
        whole.as_secs_f64() * 1e3 / f64::from(runs),
    );
}
