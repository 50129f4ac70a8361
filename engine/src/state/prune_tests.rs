use std::time::{Duration, SystemTime};

use super::*;
use crate::report::model::{RunStatus, TaskStatus};
use crate::state::fingerprint::FingerprintParts;
use crate::state::records::{OutcomeRecord, RunEnd, StateEvent, SuccessRecord};
use crate::state::test_support::run_start;
use crate::state::{FileCache, file_cache::CachedDigest};

const MANIFEST: &str = "/project/wf.toml";
const OTHER: &str = "/project/other.toml";

struct Fixture {
    dir: tempfile::TempDir,
    store: StateStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
        Self { dir, store }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn folder(&self, run_id: &str) -> PathBuf {
        runs_dir(self.root()).join(run_id)
    }

    /// A finished run of `manifest` started at `at`, with a folder holding a 100-byte log, in
    /// which `task` succeeded (`ran`) or was up to date.
    fn run(&mut self, manifest: &str, run_id: &str, at: i64, task: &str, ran: bool) {
        self.store
            .begin_run(&run_start(run_id, manifest, at, 1))
            .expect("begin");
        let status = if ran {
            TaskStatus::Succeeded
        } else {
            TaskStatus::UpToDate
        };
        let mut events = vec![StateEvent::TaskSettled(OutcomeRecord {
            run_id: run_id.to_owned(),
            task: task.to_owned(),
            status,
            fingerprint: Some("fp".to_owned()),
            duration_s: ran.then_some(2.5),
            success: ran.then(|| SuccessRecord {
                parts: FingerprintParts {
                    command: "c".into(),
                    env: "e".into(),
                    cwd: "/project".into(),
                    inputs: vec![],
                    deps: vec![],
                },
                outputs: vec!["out".to_owned()],
                finished_at_ms: at + 10,
            }),
        })];
        if ran {
            events.insert(
                0,
                StateEvent::AttemptFinished(crate::state::records::AttemptRecord {
                    run_id: run_id.to_owned(),
                    task: task.to_owned(),
                    attempt: 1,
                    status,
                    started_at_ms: at,
                    ended_at_ms: at + 10,
                    duration_s: 2.5,
                    exit_code: Some(0),
                    signal: None,
                    worker: Some(1),
                    log: None,
                    peak_rss_bytes: None,
                    user_s: None,
                    sys_s: None,
                }),
            );
        }
        self.store.record(&events).expect("record");
        self.store
            .finish_run(&RunEnd {
                run_id: run_id.to_owned(),
                status: RunStatus::Succeeded,
                finished_at_ms: at + 20,
                duration_s: 0.02,
                counts: vec![(status, 1)],
            })
            .expect("finish");
        let logs = self.folder(run_id).join("logs");
        std::fs::create_dir_all(&logs).expect("folder");
        std::fs::write(logs.join("a.log"), [b'x'; 100]).expect("log");
    }

    fn ids(&self, manifest: &str) -> Vec<String> {
        self.store
            .history(Some(manifest), 100)
            .expect("history")
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    }

    fn prune(&mut self, keep: usize, dry_run: bool, sweep: bool) -> PruneReport {
        let root = self.dir.path().to_path_buf();
        let options = PruneOptions {
            keep,
            dry_run,
            sweep,
            protect: None,
        };
        prune(&mut self.store, &root, MANIFEST, &options).expect("prune")
    }
}

fn id(n: i64) -> String {
    format!("r{n:02}")
}

/// Makes a folder look `age` old.
fn age(path: &Path, age: Duration) {
    std::fs::File::open(path)
        .expect("open folder")
        .set_modified(SystemTime::now() - age)
        .expect("mtime");
}

#[test]
fn keeps_the_newest_runs_of_the_manifest_only() {
    let mut f = Fixture::new();
    for n in 0..8 {
        f.run(MANIFEST, &id(n), n * 1_000, "build", n == 0);
    }
    f.run(OTHER, "o1", 0, "build", true);
    let report = f.prune(3, false, false);
    let removed: Vec<&str> = report.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(removed, ["r04", "r03", "r02", "r01", "r00"]);
    assert!(report.runs.iter().all(|r| r.bytes == 100));
    assert_eq!(report.bytes_freed(), 500);
    assert_eq!(f.ids(MANIFEST), ["r07", "r06", "r05"]);
    assert_eq!(f.ids(OTHER), ["o1"]);
    assert!(!f.folder("r04").exists());
    assert!(f.folder("r05").exists());
    assert!(
        f.folder("o1").exists(),
        "another manifest's run is left alone"
    );
    let orphans: i64 = f
        .store
        .conn
        .query_row(
            "SELECT (SELECT count(*) FROM attempts WHERE run_id = 'r00') + \
             (SELECT count(*) FROM outcomes WHERE run_id = 'r00')",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(orphans, 0, "attempts and outcomes go with their run");
}

#[test]
fn last_successes_and_durations_survive_the_pruning_of_their_run() {
    let mut f = Fixture::new();
    for n in 0..6 {
        // `build` ran only in the first run, then was up to date.
        f.run(MANIFEST, &id(n), n * 1_000, "build", n == 0);
    }
    f.prune(2, false, false);
    let successes = f.store.last_successes(MANIFEST).expect("successes");
    assert_eq!(successes["build"].run_id, "r00");
    assert_eq!(successes["build"].fingerprint, "fp");
    let durations = f.store.learnt_durations(MANIFEST, 5).expect("durations");
    assert_eq!(durations.get("build"), Some(&2.5));
    let previous = f.store.previous_run(MANIFEST, "").expect("previous");
    assert_eq!(
        previous.map(|p| p.summary.run_id),
        Some("r05".to_owned()),
        "--resume still finds the latest run"
    );
}

#[test]
fn runs_marked_running_are_never_removed() {
    let mut f = Fixture::new();
    for n in 0..4 {
        f.run(MANIFEST, &id(n), n * 1_000, "build", true);
    }
    // r00: its folder says a run is in progress; r01: the store says it is still running.
    std::fs::write(
        f.folder("r00").join(RUNNING_MARKER),
        "1\n/project/wf.toml\n",
    )
    .expect("mark");
    f.store
        .conn
        .execute(
            "UPDATE runs SET status = 'running' WHERE run_id = 'r01'",
            [],
        )
        .expect("mark running");
    let report = f.prune(1, false, true);
    assert_eq!(report.kept_running, ["r01", "r00"]);
    assert_eq!(f.ids(MANIFEST), ["r03", "r01", "r00"]);
    assert!(f.folder("r00").exists() && f.folder("r01").exists());
}

#[test]
fn the_protected_run_stays_whatever_its_rank() {
    let mut f = Fixture::new();
    for n in 0..3 {
        f.run(MANIFEST, &id(n), n * 1_000, "build", true);
    }
    let root = f.root().to_path_buf();
    let options = PruneOptions {
        keep: 1,
        dry_run: false,
        sweep: false,
        protect: Some("r00".to_owned()),
    };
    prune(&mut f.store, &root, MANIFEST, &options).expect("prune");
    assert_eq!(f.ids(MANIFEST), ["r02", "r00"]);
}

#[test]
fn a_dry_run_removes_nothing_but_says_what_it_would() {
    let mut f = Fixture::new();
    for n in 0..4 {
        f.run(MANIFEST, &id(n), n * 1_000, "build", true);
    }
    let orphan = f.folder("lost");
    std::fs::create_dir_all(&orphan).expect("orphan");
    age(&orphan, Duration::from_secs(3_600));
    let report = f.prune(1, true, true);
    assert_eq!(report.runs.len(), 3);
    assert_eq!(report.orphan_folders.len(), 1);
    assert_eq!(report.store_bytes, 0);
    assert_eq!(f.ids(MANIFEST).len(), 4);
    assert!(f.folder("r00").exists() && orphan.exists());
}

#[test]
fn a_sweep_removes_orphans_rows_without_folder_and_vanished_files() {
    let mut f = Fixture::new();
    for n in 0..4 {
        f.run(MANIFEST, &id(n), n * 1_000, "build", true);
    }
    f.run(OTHER, "o1", 0, "build", true);
    // A folder without a row, old enough; one just created; a row whose folder is gone, and
    // the latest run's folder gone too (its row must stay, for --resume).
    let old = f.folder("lost-old");
    std::fs::create_dir_all(&old).expect("orphan");
    std::fs::write(old.join("report.json"), "{}").expect("report");
    age(&old, Duration::from_secs(3_600));
    std::fs::create_dir_all(f.folder("lost-young")).expect("young orphan");
    std::fs::remove_dir_all(f.folder("r02")).expect("remove folder");
    std::fs::remove_dir_all(f.folder("r03")).expect("remove latest folder");
    let kept_file = f.root().join("kept.csv");
    std::fs::write(&kept_file, "x").expect("file");
    let mut cache = FileCache::new();
    for path in [kept_file.clone(), f.root().join("gone.csv")] {
        let entry = CachedDigest {
            size: 1,
            mtime_ns: 1,
            digest: "d".to_owned(),
        };
        cache.insert(path, entry);
    }
    f.store.save_file_cache(&mut cache).expect("save");

    let report = f.prune(3, false, true);
    let orphans: Vec<&str> = report
        .orphan_folders
        .iter()
        .map(|r| r.run_id.as_str())
        .collect();
    assert_eq!(orphans, ["lost-old"]);
    assert_eq!(report.orphan_folders[0].bytes, 2);
    assert_eq!(report.rows_without_folder, ["r02"]);
    assert_eq!(
        report.runs.iter().map(|r| &r.run_id).collect::<Vec<_>>(),
        ["r00"]
    );
    assert_eq!(report.file_hashes, 1);
    assert!(!old.exists() && f.folder("lost-young").exists() && f.folder("o1").exists());
    assert_eq!(f.ids(MANIFEST), ["r03", "r01"]);
    let left = f.store.load_file_cache().expect("cache");
    assert!(left.get(&kept_file, 1, 1).is_some());
    assert_eq!(left.len(), 1);
}

#[test]
fn run_ids_that_are_not_plain_names_never_reach_the_file_system() {
    assert!(folder_name("20261129T170656Z-1552"));
    for bad in ["", "..", "a/b", "/etc", "."] {
        assert!(!folder_name(bad), "{bad}");
    }
}
