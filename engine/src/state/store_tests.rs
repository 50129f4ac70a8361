use super::*;
use crate::report::model::RunStatus;
use crate::state::fingerprint::FingerprintParts;
use crate::state::records::{AttemptRecord, OutcomeRecord, SuccessRecord};
use crate::state::summary::median;
use crate::state::test_support::{run_start, schema_version};

const MANIFEST: &str = "/work/wf.toml";

fn code(error: &StateError) -> String {
    miette::Diagnostic::code(error)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn temp_store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
    (dir, store)
}

fn start(run_id: &str, started_at_ms: i64) -> RunStart {
    RunStart {
        pid: Some(42),
        ..run_start(run_id, MANIFEST, started_at_ms, 2)
    }
}

fn attempt(run_id: &str, task: &str, n: u32, status: TaskStatus, end: i64, dur: f64) -> StateEvent {
    StateEvent::AttemptFinished(AttemptRecord {
        run_id: run_id.to_owned(),
        task: task.to_owned(),
        attempt: n,
        status,
        started_at_ms: end - 10,
        ended_at_ms: end,
        duration_s: dur,
        exit_code: Some(if status == TaskStatus::Succeeded {
            0
        } else {
            1
        }),
        signal: None,
        worker: Some(1),
        log: Some(format!(".wf/runs/{run_id}/logs/{task}.log")),
        peak_rss_bytes: None,
        user_s: None,
        sys_s: None,
    })
}

fn parts(input_digest: &str) -> FingerprintParts {
    FingerprintParts {
        command: "c".into(),
        env: "e".into(),
        cwd: "/work".into(),
        inputs: vec![("data/raw.csv".to_owned(), input_digest.to_owned())],
        deps: vec![],
    }
}

fn settled(run_id: &str, task: &str, status: TaskStatus, fingerprint: Option<&str>) -> StateEvent {
    let success = (status == TaskStatus::Succeeded).then(|| SuccessRecord {
        parts: parts("d1"),
        outputs: vec!["data/clean.csv".to_owned()],
        finished_at_ms: 5_000,
    });
    StateEvent::TaskSettled(OutcomeRecord {
        run_id: run_id.to_owned(),
        task: task.to_owned(),
        status,
        fingerprint: fingerprint.map(str::to_owned),
        duration_s: Some(1.5),
        success,
    })
}

fn end(run_id: &str, status: RunStatus, at: i64) -> RunEnd {
    RunEnd {
        run_id: run_id.to_owned(),
        status,
        finished_at_ms: at,
        duration_s: 3.0,
        counts: vec![(TaskStatus::Succeeded, 1), (TaskStatus::Failed, 1)],
    }
}

#[test]
fn a_new_store_is_migrated_to_the_current_version() {
    let (_dir, store) = temp_store();
    assert_eq!(schema_version(&store), CURRENT_VERSION);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let foreign_keys: bool = store
        .conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .expect("fk");
    assert!(foreign_keys);
}

#[test]
fn reopening_keeps_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(".wf/state.db");
    {
        let mut store = StateStore::open(&path).expect("open");
        store.begin_run(&start("r1", 1_000)).expect("begin");
    }
    let store = StateStore::open(&path).expect("reopen");
    let run = store.run_summary("r1").expect("read").expect("present");
    assert_eq!(run.status, RunState::Running);
    assert_eq!(run.pid, Some(42));
}

#[test]
fn garbage_is_reported_as_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        (
            "noise.db",
            (0..8192u32)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
        ("text.db", b"this is not a database\n".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let error = StateStore::open(&path).expect_err("garbage must not open");
        assert_eq!(code(&error), "wf::state_corrupt", "{name}: {error}");
        assert!(error.to_string().contains(name), "{error}");
        let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
        assert!(help.is_some_and(|h| h.contains("mv .wf/state.db .wf/state.db.broken")));
    }
}

#[test]
fn damaged_pages_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    {
        let mut store = StateStore::open(&path).expect("open");
        store.begin_run(&start("r1", 1_000)).expect("begin");
        let events: Vec<StateEvent> = (0..2_000)
            .map(|i| {
                attempt(
                    "r1",
                    &format!("task-{i}"),
                    1,
                    TaskStatus::Succeeded,
                    2_000,
                    1.0,
                )
            })
            .collect();
        store.record(&events).expect("record");
    }
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 64 * 1024, "several pages");
    // Keep the header page, scribble over a stretch of b-tree pages.
    for (i, byte) in bytes[8192..40960].iter_mut().enumerate() {
        *byte = (i * 31 % 253) as u8;
    }
    std::fs::write(&path, bytes).expect("write");
    let error = StateStore::open(&path).expect_err("damaged");
    assert_eq!(code(&error), "wf::state_corrupt", "{error}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let conn = Connection::open(&path).expect("create");
    conn.pragma_update(None, "user_version", 999)
        .expect("set version");
    drop(conn);
    let error = StateStore::open(&path).expect_err("too new");
    assert_eq!(code(&error), "wf::state_too_new");
    assert!(error.to_string().contains("999"), "{error}");
}

#[test]
fn a_missing_table_or_a_foreign_database_is_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    drop(StateStore::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("open raw");
    conn.execute_batch("DROP TABLE outcomes").expect("drop");
    drop(conn);
    let error = StateStore::open(&path).expect_err("missing table");
    assert_eq!(code(&error), "wf::state_corrupt");
    assert!(error.to_string().contains("outcomes"), "{error}");

    let other = dir.path().join("other.db");
    let conn = Connection::open(&other).expect("create");
    conn.execute_batch("CREATE TABLE notes (text TEXT)")
        .expect("table");
    drop(conn);
    let error = StateStore::open(&other).expect_err("foreign database");
    assert_eq!(code(&error), "wf::state_corrupt");
}

#[test]
fn a_held_write_lock_is_reported_as_locked() {
    let (dir, mut store) = temp_store();
    store.begin_run(&start("r1", 1_000)).expect("begin");
    let other = Connection::open(dir.path().join(".wf/state.db")).expect("second connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    store
        .set_busy_timeout(Duration::from_millis(50))
        .expect("timeout");
    let error = store
        .record(&[settled("r1", "a", TaskStatus::Failed, None)])
        .expect_err("locked");
    assert_eq!(code(&error), "wf::state_locked");
    other.execute_batch("ROLLBACK").expect("release");
}

#[test]
fn runs_attempts_and_successes_round_trip() {
    let (_dir, mut store) = temp_store();
    store.begin_run(&start("r1", 1_000)).expect("begin");
    store
        .record(&[
            attempt("r1", "clean", 1, TaskStatus::Failed, 2_000, 1.0),
            attempt("r1", "clean", 2, TaskStatus::Succeeded, 3_000, 2.0),
            settled("r1", "clean", TaskStatus::Succeeded, Some("fp-clean")),
            attempt("r1", "stats", 1, TaskStatus::Failed, 3_500, 0.5),
            settled("r1", "stats", TaskStatus::Failed, Some("fp-stats")),
            settled("r1", "report", TaskStatus::NotRun, None),
        ])
        .expect("record");
    store
        .finish_run(&end("r1", RunStatus::Failed, 4_000))
        .expect("finish");

    let successes = store.last_successes(MANIFEST).expect("successes");
    assert_eq!(successes.len(), 1);
    let clean = &successes["clean"];
    assert_eq!(clean.fingerprint, "fp-clean");
    assert_eq!(clean.run_id, "r1");
    assert_eq!(clean.parts, Some(parts("d1")));
    assert_eq!(clean.outputs, vec!["data/clean.csv".to_owned()]);
    assert_eq!(clean.duration_s, Some(1.5));
    assert!(
        store
            .last_successes("/elsewhere.toml")
            .expect("none")
            .is_empty()
    );

    let run = store.run_summary("r1").expect("read").expect("present");
    assert_eq!(run.status, RunState::Failed);
    assert_eq!(run.finished_at_ms, Some(4_000));
    assert_eq!(
        run.counts,
        Some(vec![(TaskStatus::Succeeded, 1), (TaskStatus::Failed, 1)])
    );

    // A later success replaces the earlier one.
    store.begin_run(&start("r2", 10_000)).expect("begin");
    store
        .record(&[
            attempt("r2", "clean", 1, TaskStatus::Succeeded, 11_000, 4.0),
            settled("r2", "clean", TaskStatus::Succeeded, Some("fp-clean-2")),
        ])
        .expect("record");
    let successes = store.last_successes(MANIFEST).expect("successes");
    assert_eq!(successes["clean"].fingerprint, "fp-clean-2");
    assert_eq!(successes["clean"].run_id, "r2");

    let previous = store
        .previous_run(MANIFEST, "r2")
        .expect("previous")
        .expect("r1");
    assert_eq!(previous.summary.run_id, "r1");
    assert_eq!(
        previous.succeeded,
        HashMap::from([("clean".to_owned(), Some("fp-clean".to_owned()))])
    );

    let history = store.history(Some(MANIFEST), 10).expect("history");
    let ids: Vec<&str> = history.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"]);
    assert_eq!(store.history(None, 1).expect("history").len(), 1);
    assert!(
        store
            .history(Some("/x.toml"), 10)
            .expect("history")
            .is_empty()
    );
    assert_eq!(store.run_summary("nope").expect("read"), None);
}

/// The last successes read one by one: rows `take` refuses are skipped, parts are read only
/// when asked for, and a store shared by two manifests gives each only its own (the table is
/// read whole only while it holds one manifest).
#[test]
fn last_successes_are_handed_on_with_their_keys_and_parts_only_when_asked() {
    let (_dir, mut store) = temp_store();
    let read = |store: &StateStore, manifest: &str| {
        let mut seen = Vec::new();
        store
            .each_last_success(
                manifest,
                |task, fingerprint| {
                    (task != "skipped").then(|| Take {
                        key: format!("{task}:{fingerprint}"),
                        parts: task == "clean",
                    })
                },
                |key, success| seen.push((key, success.parts.is_some(), success.run_id)),
            )
            .expect("read");
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        seen
    };
    store.begin_run(&start("r1", 1_000)).expect("begin");
    store
        .record(&[
            attempt("r1", "clean", 1, TaskStatus::Succeeded, 2_000, 1.0),
            settled("r1", "clean", TaskStatus::Succeeded, Some("fp-clean")),
            attempt("r1", "stats", 1, TaskStatus::Succeeded, 2_000, 2.0),
            settled("r1", "stats", TaskStatus::Succeeded, Some("fp-stats")),
            attempt("r1", "skipped", 1, TaskStatus::Succeeded, 2_000, 3.0),
            settled("r1", "skipped", TaskStatus::Succeeded, Some("fp-skipped")),
        ])
        .expect("record");
    let mine = [
        ("clean:fp-clean".to_owned(), true, "r1".to_owned()),
        ("stats:fp-stats".to_owned(), false, "r1".to_owned()),
    ];
    assert_eq!(read(&store, MANIFEST), mine);
    assert!(read(&store, "/elsewhere.toml").is_empty());

    store
        .begin_run(&RunStart {
            pid: Some(42),
            ..run_start("r2", "/other/wf.toml", 5_000, 2)
        })
        .expect("begin");
    store
        .record(&[
            attempt("r2", "stats", 1, TaskStatus::Succeeded, 6_000, 4.0),
            settled("r2", "stats", TaskStatus::Succeeded, Some("fp-other")),
        ])
        .expect("record");
    assert_eq!(read(&store, MANIFEST), mine);
    assert_eq!(
        read(&store, "/other/wf.toml"),
        [("stats:fp-other".to_owned(), false, "r2".to_owned())]
    );
    assert_eq!(store.last_successes(MANIFEST).expect("all").len(), 3);
}

#[test]
fn a_run_left_running_is_the_previous_run_and_can_be_marked_abandoned() {
    let (_dir, mut store) = temp_store();
    store.begin_run(&start("r1", 1_000)).expect("begin");
    store
        .record(&[
            attempt("r1", "fetch", 1, TaskStatus::Succeeded, 2_500, 1.5),
            settled("r1", "fetch", TaskStatus::Succeeded, Some("fp-fetch")),
        ])
        .expect("record");
    // wf dies here: no finish_run.
    store.begin_run(&start("r2", 9_000)).expect("begin");
    let previous = store
        .previous_run(MANIFEST, "r2")
        .expect("previous")
        .expect("r1");
    assert_eq!(previous.summary.status, RunState::Running);
    assert_eq!(previous.summary.finished_at_ms, None);
    assert_eq!(previous.succeeded["fetch"].as_deref(), Some("fp-fetch"));

    assert!(store.mark_abandoned("r1").expect("mark"));
    assert!(!store.mark_abandoned("r1").expect("only once"));
    let run = store.run_summary("r1").expect("read").expect("present");
    assert_eq!(run.status, RunState::Cancelled);
    assert_eq!(run.finished_at_ms, Some(2_500));
    assert_eq!(run.duration_s, Some(1.5));
    assert_eq!(run.counts, Some(vec![(TaskStatus::Succeeded, 1)]));
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (_dir, mut store) = temp_store();
    store.begin_run(&start("r1", 1_000)).expect("begin");
    let error = store
        .record(&[
            settled("r1", "a", TaskStatus::Succeeded, Some("fp")),
            settled("unknown-run", "b", TaskStatus::Failed, None),
        ])
        .expect_err("foreign key");
    assert_eq!(code(&error), "wf::state_io");
    let previous = store.previous_run(MANIFEST, "none").expect("read");
    assert!(previous.expect("r1").succeeded.is_empty());
    assert!(store.last_successes(MANIFEST).expect("read").is_empty());
}

#[test]
fn finishing_an_unknown_run_is_an_error() {
    let (_dir, mut store) = temp_store();
    let error = store
        .finish_run(&end("nope", RunStatus::Succeeded, 1))
        .expect_err("unknown");
    assert_eq!(code(&error), "wf::state_io");
}

#[test]
fn learnt_durations_are_medians_of_recent_successes() {
    let (_dir, mut store) = temp_store();
    let durations = [9.0, 1.0, 2.0, 3.0, 100.0];
    for (i, duration) in durations.iter().enumerate() {
        let run_id = format!("r{i}");
        let at = 1_000 * (i as i64 + 1);
        store.begin_run(&start(&run_id, at)).expect("begin");
        store
            .record(&[
                attempt(
                    &run_id,
                    "train",
                    1,
                    TaskStatus::Succeeded,
                    at + 500,
                    *duration,
                ),
                attempt(&run_id, "flaky", 1, TaskStatus::Failed, at + 100, 50.0),
                attempt(&run_id, "flaky", 2, TaskStatus::Succeeded, at + 200, 2.0),
            ])
            .expect("record");
    }
    let learnt = store.learnt_durations(MANIFEST, 4).expect("durations");
    // The last four of train: 1, 2, 3, 100 → median 2.5; failed attempts do not count.
    assert_eq!(learnt["train"], 2.5);
    assert_eq!(learnt["flaky"], 2.0);
    assert_eq!(
        store.learnt_durations(MANIFEST, 1).expect("d")["train"],
        100.0
    );
    assert!(store.learnt_durations(MANIFEST, 0).expect("d").is_empty());
    assert!(store.learnt_durations("/x.toml", 5).expect("d").is_empty());
}

#[test]
fn the_file_cache_saves_only_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let mut store = StateStore::open(&path).expect("open");
    let mut cache = store.load_file_cache().expect("load");
    assert!(cache.is_empty());
    let entry = |digest: &str| CachedDigest {
        size: 10,
        mtime_ns: 1_700_000_000_123_456_789,
        digest: digest.to_owned(),
    };
    cache.insert(PathBuf::from("/data/a"), entry("aa"));
    cache.insert(PathBuf::from("/data/b"), entry("bb"));
    store.save_file_cache(&mut cache).expect("save");
    assert_eq!(cache.changed_count(), 0);
    drop(store);

    let mut store = StateStore::open(&path).expect("reopen");
    let mut cache = store.load_file_cache().expect("load");
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.entry(Path::new("/data/a")), Some(&entry("aa")));
    assert_eq!(cache.changed_count(), 0);
    cache.insert(PathBuf::from("/data/a"), entry("a2"));
    assert_eq!(cache.changed_count(), 1);
    store.save_file_cache(&mut cache).expect("save");
    let reloaded = store.load_file_cache().expect("load");
    assert_eq!(reloaded.entry(Path::new("/data/a")), Some(&entry("a2")));
    assert_eq!(reloaded.entry(Path::new("/data/b")), Some(&entry("bb")));
}

#[test]
fn medians() {
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&mut [4.0, 1.0]), 2.5);
    assert_eq!(median(&mut []), 0.0);
}

#[test]
fn file_digests_are_read_only_for_the_paths_asked() {
    let (_dir, mut store) = temp_store();
    let mut cache = FileCache::new();
    for n in 0..1_200 {
        let entry = CachedDigest {
            size: n,
            mtime_ns: 7,
            digest: format!("d{n}"),
        };
        cache.insert(PathBuf::from(format!("/other/f{n}")), entry);
    }
    store.save_file_cache(&mut cache).expect("save");
    // More than one batch, with paths the store does not know mixed in.
    let wanted: Vec<PathBuf> = (0..1_100)
        .step_by(2)
        .map(|n| PathBuf::from(format!("/other/f{n}")))
        .chain([PathBuf::from("/mine/new.csv")])
        .collect();
    let paths: Vec<&Path> = wanted.iter().map(PathBuf::as_path).collect();
    let mut loaded = FileCache::new();
    let found = store
        .load_file_digests(&paths, &mut loaded)
        .expect("lookup");
    assert_eq!(found, 550);
    assert_eq!(loaded.len(), 550);
    assert_eq!(
        loaded.get(Path::new("/other/f1098"), 1_098, 7),
        Some("d1098")
    );
    assert_eq!(
        loaded.get(Path::new("/other/f1"), 1, 7),
        None,
        "not asked for"
    );
    assert_eq!(loaded.changed_count(), 0, "loaded entries are not changes");
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_attempts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch(crate::state::schema::MIGRATIONS[0].sql)
            .expect("version 1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO runs (run_id, manifest, workflow, started_at_ms, status, jobs) \
             VALUES ('old', '/work/wf.toml', 'demo', 1000, 'succeeded', 2); \
             INSERT INTO attempts (run_id, task, attempt, status, started_at_ms, ended_at_ms, \
             duration_s) VALUES ('old', 'train', 1, 'succeeded', 1000, 2000, 1.0);",
        )
        .expect("version 1 rows");
    }
    let mut store = StateStore::open(&path).expect("migrates");
    assert_eq!(
        schema_version(&store),
        crate::state::schema::CURRENT_VERSION
    );
    assert_eq!(
        store.learnt_durations(MANIFEST, 5).expect("d")["train"],
        1.0
    );
    assert!(store.learnt_peaks(MANIFEST, 5).expect("peaks").is_empty());
    store.begin_run(&start("new", 5_000)).expect("begin");
    let mut measured = attempt("new", "train", 1, TaskStatus::Succeeded, 6_000, 1.0);
    if let StateEvent::AttemptFinished(a) = &mut measured {
        a.peak_rss_bytes = Some(300_000_000);
        a.user_s = Some(0.75);
        a.sys_s = Some(0.25);
    }
    store.record(&[measured]).expect("record");
    assert_eq!(
        store.learnt_peaks(MANIFEST, 5).expect("p")["train"],
        300_000_000
    );
    let usage = store.run_usage("new").expect("usage");
    assert_eq!(usage.peak_rss_bytes, Some(300_000_000));
    assert_eq!(usage.cpu_s, Some(1.0));
}

#[test]
fn learnt_peaks_are_the_highest_of_recent_attempts_whatever_their_outcome() {
    let (_dir, mut store) = temp_store();
    for (i, (peak, status)) in [
        (900, TaskStatus::Succeeded),
        (100, TaskStatus::Succeeded),
        (400, TaskStatus::OutOfMemory),
        (200, TaskStatus::Succeeded),
    ]
    .into_iter()
    .enumerate()
    {
        let run_id = format!("r{i}");
        let at = 1_000 * (i as i64 + 1);
        store.begin_run(&start(&run_id, at)).expect("begin");
        let mut event = attempt(&run_id, "t", 1, status, at + 500, 1.0);
        if let StateEvent::AttemptFinished(a) = &mut event {
            a.peak_rss_bytes = Some(peak);
        }
        store.record(&[event]).expect("record");
    }
    // The last three: 100, 400 (killed for memory), 200; the old 900 is forgotten.
    assert_eq!(store.learnt_peaks(MANIFEST, 3).expect("p")["t"], 400);
    assert_eq!(store.learnt_peaks(MANIFEST, 4).expect("p")["t"], 900);
}

#[test]
fn a_success_s_parts_are_read_by_task_and_a_reader_reads_what_the_store_wrote() {
    let (dir, mut store) = temp_store();
    store.begin_run(&start("r1", 1_000)).expect("begin");
    store
        .record(&[
            attempt("r1", "clean", 1, TaskStatus::Succeeded, 2_000, 1.0),
            settled("r1", "clean", TaskStatus::Succeeded, Some("fp-clean")),
        ])
        .expect("record");
    let (fingerprint, parts) = store
        .success_parts(MANIFEST, "clean")
        .expect("read")
        .expect("a success");
    assert_eq!(fingerprint, "fp-clean");
    assert_eq!(parts, Some(self::parts("d1")));
    assert_eq!(store.success_parts(MANIFEST, "stats").expect("read"), None);
    assert_eq!(
        store
            .success_parts("/elsewhere.toml", "clean")
            .expect("read"),
        None
    );
    // Parts that cannot be read still give the fingerprint.
    store
        .conn
        .execute("UPDATE successes SET parts = 'not json'", [])
        .expect("damage");
    let unreadable = store.success_parts(MANIFEST, "clean").expect("read");
    assert_eq!(unreadable, Some(("fp-clean".to_owned(), None)));

    let reader = store.reader().expect("a reader");
    assert_eq!(
        reader.success_parts(MANIFEST, "clean").expect("read"),
        unreadable
    );
    let refused = reader.conn.execute("DELETE FROM successes", []);
    assert!(refused.is_err(), "a reader does not write");
    // A store whose file is gone is not made again, empty, by a reader.
    let path = dir.path().join(".wf/state.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    assert!(store.reader().is_err(), "no file, no reader");
    assert!(!path.exists(), "the file is not created");
}
