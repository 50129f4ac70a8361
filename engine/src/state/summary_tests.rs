use super::*;
use crate::report::model::RunStatus;
use crate::state::StateStore;
use crate::state::prune::{PruneOptions, prune};
use crate::state::records::RunEnd;
use crate::state::schema::MIGRATIONS;
use crate::state::test_support::{run_start, schema_version};

const MANIFEST: &str = "/work/wf.toml";
const OTHER: &str = "/elsewhere/wf.toml";

/// The learnt durations as wf computed them before summaries: a window over every successful
/// attempt of every run of the manifest still recorded, then the last successes.
fn durations_by_window(conn: &Connection, manifest: &str, recent: usize) -> HashMap<String, f64> {
    let mut statement = conn
        .prepare(
            "SELECT task, duration_s FROM ( \
                 SELECT a.task, a.duration_s, row_number() OVER ( \
                     PARTITION BY a.task ORDER BY a.ended_at_ms DESC) AS n \
                 FROM attempts a JOIN runs r ON r.run_id = a.run_id \
                 WHERE r.manifest = ?1 AND a.status = 'succeeded') \
             WHERE n <= ?2",
        )
        .expect("prepare");
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    let rows = statement
        .query_map(params![manifest, recent as i64], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, f64>(1)?))
        })
        .expect("query");
    for row in rows {
        let (task, duration) = row.expect("row");
        samples.entry(task).or_default().push(duration);
    }
    let mut learnt: HashMap<String, f64> = samples
        .into_iter()
        .map(|(task, mut durations)| (task, median(&mut durations)))
        .collect();
    let rows: Vec<(String, f64)> = conn
        .prepare(
            "SELECT task, duration_s FROM successes WHERE manifest = ?1 AND duration_s IS NOT NULL",
        )
        .expect("prepare")
        .query_map(params![manifest], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    for (task, duration) in rows {
        learnt.entry(task).or_insert(duration);
    }
    learnt
}

/// The learnt peaks as wf computed them before summaries.
fn peaks_by_window(conn: &Connection, manifest: &str, recent: usize) -> HashMap<String, u64> {
    conn.prepare(
        "SELECT task, max(peak_rss_bytes) FROM ( \
             SELECT a.task, a.peak_rss_bytes, row_number() OVER ( \
                 PARTITION BY a.task ORDER BY a.ended_at_ms DESC) AS n \
             FROM attempts a JOIN runs r ON r.run_id = a.run_id \
             WHERE r.manifest = ?1 AND a.peak_rss_bytes IS NOT NULL) \
         WHERE n <= ?2 GROUP BY task",
    )
    .expect("prepare")
    .query_map(params![manifest, recent as i64], |row| {
        Ok((
            row.get::<_, String>(0)?,
            u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
        ))
    })
    .expect("query")
    .collect::<rusqlite::Result<_>>()
    .expect("rows")
}

/// The summaries give exactly what the windows give, for every depth and both manifests.
fn assert_same(store: &StateStore, when: &str) {
    for manifest in [MANIFEST, OTHER] {
        for recent in 0..=SUMMARY_DEPTH {
            assert_eq!(
                store.learnt_durations(manifest, recent).expect("durations"),
                durations_by_window(&store.conn, manifest, recent),
                "durations, {manifest}, recent {recent}, {when}"
            );
            assert_eq!(
                store.learnt_peaks(manifest, recent).expect("peaks"),
                peaks_by_window(&store.conn, manifest, recent),
                "peaks, {manifest}, recent {recent}, {when}"
            );
        }
    }
}

/// A small deterministic generator (xorshift), so that a failure is reproducible.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn attempt(
    run_id: &str,
    task: &str,
    n: u32,
    status: TaskStatus,
    end: i64,
    random: &mut Random,
) -> StateEvent {
    let measured = random.below(4) != 0;
    StateEvent::AttemptFinished(AttemptRecord {
        run_id: run_id.to_owned(),
        task: task.to_owned(),
        attempt: n,
        status,
        started_at_ms: end - 5,
        ended_at_ms: end,
        duration_s: (random.below(10_000) as f64) / 100.0,
        exit_code: Some(i32::from(status != TaskStatus::Succeeded)),
        signal: None,
        worker: Some(1),
        log: None,
        peak_rss_bytes: measured.then(|| random.below(1 << 30)),
        user_s: measured.then_some(0.25),
        sys_s: measured.then_some(0.125),
    })
}

fn begin(store: &mut StateStore, run_id: &str, manifest: &str, at: i64) {
    store
        .begin_run(&run_start(run_id, manifest, at, 2))
        .expect("begin");
}

fn finish(store: &mut StateStore, run_id: &str, at: i64) {
    store
        .finish_run(&RunEnd {
            run_id: run_id.to_owned(),
            status: RunStatus::Succeeded,
            finished_at_ms: at,
            duration_s: 1.0,
            counts: vec![],
        })
        .expect("finish");
}

/// One run of `tasks` tasks of `manifest`, each run with a chance, retried up to twice,
/// recorded in batches of random sizes; the clock `now` moves on with every attempt.
fn one_run(
    store: &mut StateStore,
    run_id: &str,
    manifest: &str,
    tasks: usize,
    now: &mut i64,
    random: &mut Random,
) {
    begin(store, run_id, manifest, *now);
    let mut events = Vec::new();
    for t in 0..tasks {
        if random.below(3) == 0 {
            continue;
        }
        let task = format!("t{t}");
        let attempts = 1 + random.below(3) as u32;
        for n in 1..=attempts {
            *now += 1 + random.below(3) as i64;
            let status = match (n == attempts, random.below(4)) {
                (false, _) => TaskStatus::Failed,
                (true, 0) => TaskStatus::TimedOut,
                (true, 1) => TaskStatus::Failed,
                (true, _) => TaskStatus::Succeeded,
            };
            events.push(attempt(run_id, &task, n, status, *now, random));
        }
    }
    while !events.is_empty() {
        let size = (1 + random.below(40) as usize).min(events.len());
        let batch: Vec<StateEvent> = events.drain(..size).collect();
        store.record(&batch).expect("record");
    }
    *now += 10;
    finish(store, run_id, *now);
}

#[test]
fn the_summary_equals_the_window_over_all_attempts_through_runs_and_pruning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut now = 1_000_000;
    for round in 0..24 {
        let run_id = format!("r{round:02}");
        one_run(&mut store, &run_id, MANIFEST, 12, &mut now, &mut random);
        one_run(
            &mut store,
            &format!("o{round:02}"),
            OTHER,
            5,
            &mut now,
            &mut random,
        );
        assert_same(&store, &format!("after run {run_id}"));
        if round % 3 == 2 {
            // What a run does before it starts: keep the newest runs.
            let options = PruneOptions {
                keep: 6,
                dry_run: false,
                sweep: false,
                protect: None,
            };
            prune(&mut store, dir.path(), MANIFEST, &options).expect("prune");
            assert_same(&store, &format!("after pruning at {run_id}"));
        }
        if round % 7 == 5 {
            // A run in the middle (a sweep removes a row whose folder is gone).
            store
                .delete_runs(&[format!("r{:02}", round - 2)])
                .expect("delete");
            assert_same(&store, &format!("after removing a middle run at {run_id}"));
        }
    }
    // An attempt recorded again replaces the first record, in the summary too.
    let again = attempt("r23", "t0", 1, TaskStatus::Succeeded, now + 5, &mut random);
    store.record(&[again]).expect("record");
    assert_same(&store, "after an attempt recorded twice");
    let summaries = store.task_summaries(MANIFEST).expect("summaries");
    assert!(!summaries.is_empty());
    assert!(
        summaries
            .values()
            .all(|s| s.durations.len() <= SUMMARY_DEPTH && s.peaks.len() <= SUMMARY_DEPTH)
    );
    // Rebuilt from scratch, the summaries are what was kept up as runs went.
    let kept: HashMap<String, TaskSummary> = summaries;
    store.rebuild_task_summaries().expect("rebuild");
    assert_eq!(store.task_summaries(MANIFEST).expect("summaries"), kept);
}

#[test]
fn removing_every_run_removes_every_summary_of_the_manifest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
    let mut random = Random(7);
    let mut now = 0;
    for round in 0..3 {
        one_run(
            &mut store,
            &format!("r{round}"),
            MANIFEST,
            8,
            &mut now,
            &mut random,
        );
    }
    one_run(&mut store, "o", OTHER, 8, &mut now, &mut random);
    store
        .delete_runs(&["r0".to_owned(), "r1".to_owned(), "r2".to_owned()])
        .expect("delete");
    assert!(
        store
            .task_summaries(MANIFEST)
            .expect("summaries")
            .is_empty()
    );
    assert!(!store.task_summaries(OTHER).expect("summaries").is_empty());
    assert_same(&store, "after removing every run of one manifest");
}

#[test]
fn samples_stay_newest_first_and_bounded() {
    let mut samples = Samples::default();
    for (end, run) in [(5, 1), (9, 2), (1, 3), (7, 4), (3, 5), (8, 6), (2, 7)] {
        samples.insert(Sample {
            run,
            attempt: 1,
            ended_at_ms: end,
            value: end as u64,
        });
    }
    let ends: Vec<i64> = samples.0.iter().map(|s| s.ended_at_ms).collect();
    assert_eq!(ends, vec![9, 8, 7, 5, 3]);
    assert_eq!(Samples::decode(&samples.encode()), Some(samples.clone()));
    assert_eq!(Samples::decode(&[1, 2, 3]), None);
    assert!(samples.remove_runs(&HashSet::from([2, 6])));
    assert_eq!(samples.oldest_run(), Some(1));
    assert!(!samples.remove_runs(&HashSet::from([2])));
}

/// A store as wf wrote it before summaries (schema version 2), with three runs.
fn version_2_store(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let conn = Connection::open(path).expect("open");
    for migration in &MIGRATIONS[..2] {
        conn.execute_batch(migration.sql).expect("old schema");
    }
    conn.pragma_update(None, "user_version", 2)
        .expect("version");
    let mut random = Random(99);
    let mut now = 10_000_i64;
    for (r, status) in ["succeeded", "failed", "running"].into_iter().enumerate() {
        let run_id = format!("old{r}");
        conn.execute(
            "INSERT INTO runs (run_id, manifest, workflow, started_at_ms, status, jobs) \
             VALUES (?1, ?2, 'demo', ?3, ?4, 2)",
            params![run_id, MANIFEST, now, status],
        )
        .expect("run");
        for t in 0..6 {
            for n in 1..=2u32 {
                now += 3;
                let succeeded = n == 2 && t % 3 != 0;
                let peak = (random.below(3) != 0).then(|| random.below(1 << 20) as i64);
                conn.execute(
                    "INSERT INTO attempts (run_id, task, attempt, status, started_at_ms, \
                     ended_at_ms, duration_s, peak_rss_bytes, user_s, sys_s) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?8)",
                    params![
                        run_id,
                        format!("t{t}"),
                        n,
                        if succeeded { "succeeded" } else { "failed" },
                        now,
                        random.below(1000) as f64 / 10.0,
                        peak,
                        peak.map(|_| 0.5)
                    ],
                )
                .expect("attempt");
            }
        }
        if status != "running" {
            conn.execute(
                "UPDATE runs SET finished_at_ms = ?2, duration_s = 1.0, counts = '{}' \
                 WHERE run_id = ?1",
                params![run_id, now],
            )
            .expect("finish");
        }
        now += 100;
    }
    conn.execute(
        "INSERT INTO successes (manifest, task, run_id, fingerprint, parts, outputs, \
         finished_at_ms, duration_s) VALUES (?1, 'gone', 'pruned', 'f', '{}', '[]', 1, 4.5)",
        params![MANIFEST],
    )
    .expect("success");
}

#[test]
fn a_version_2_store_with_data_is_brought_up_to_date() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(".wf/state.db");
    version_2_store(&path);
    // What wf computed from version 2, before migrating.
    let conn = Connection::open(&path).expect("open");
    let durations: Vec<_> = (0..=SUMMARY_DEPTH)
        .map(|n| durations_by_window(&conn, MANIFEST, n))
        .collect();
    let peaks: Vec<_> = (0..=SUMMARY_DEPTH)
        .map(|n| peaks_by_window(&conn, MANIFEST, n))
        .collect();
    let usage: Vec<(Option<i64>, Option<f64>)> = ["old0", "old1", "old2"]
        .iter()
        .map(|run| {
            conn.query_row(
                "SELECT max(peak_rss_bytes), sum(user_s) + sum(sys_s) FROM attempts WHERE run_id = ?1",
                params![run],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("usage")
        })
        .collect();
    drop(conn);

    let mut store = StateStore::open(&path).expect("migrate");
    assert_eq!(
        schema_version(&store),
        crate::state::schema::CURRENT_VERSION
    );
    for n in 0..=SUMMARY_DEPTH {
        assert_eq!(
            store.learnt_durations(MANIFEST, n).expect("durations"),
            durations[n]
        );
        assert_eq!(store.learnt_peaks(MANIFEST, n).expect("peaks"), peaks[n]);
    }
    assert_eq!(durations[5]["gone"], 4.5, "the last success still counts");
    for (run, (peak, cpu)) in ["old0", "old1", "old2"].iter().zip(usage) {
        let stored = store.run_usage(run).expect("usage");
        assert_eq!(stored.peak_rss_bytes, peak.map(|p| p as u64), "{run}");
        assert_eq!(stored.cpu_s, cpu, "{run}");
    }
    // Ended runs have their usage stored, the run still marked running does not.
    let stored: Vec<Option<f64>> = store
        .conn
        .prepare("SELECT cpu_s FROM runs ORDER BY run_id")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert!(stored[0].is_some() && stored[2].is_none());
    // New runs go on from there, and the summaries keep up.
    let mut random = Random(5);
    let mut now = 1_000_000;
    one_run(&mut store, "new", MANIFEST, 6, &mut now, &mut random);
    let seqs: Vec<i64> = store
        .conn
        .prepare("SELECT seq FROM runs ORDER BY started_at_ms")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(seqs.len(), 4);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_same(&store, "after a run on a migrated store");
    store.delete_runs(&["old0".to_owned()]).expect("delete");
    assert_same(&store, "after pruning a migrated run");
}

#[test]
fn a_run_ended_stores_its_usage_and_history_reads_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
    let mut random = Random(11);
    let mut now = 0;
    one_run(&mut store, "r1", MANIFEST, 10, &mut now, &mut random);
    let summed = store.summed_usage("r1").expect("summed");
    assert!(summed.cpu_s.is_some());
    assert_eq!(store.run_usage("r1").expect("usage"), summed);
    let stored: Option<f64> = store
        .conn
        .query_row("SELECT cpu_s FROM runs WHERE run_id = 'r1'", [], |row| {
            row.get(0)
        })
        .expect("stored");
    assert_eq!(stored, summed.cpu_s);
}
