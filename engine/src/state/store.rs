//! The state store: a SQLite database in `.wf/state.db` beside the manifest.
//!
//! Opened in WAL mode, so `wf history` can read while a run writes, with `synchronous=NORMAL`:
//! a power cut may lose the last transactions but never corrupts the file, and losing a few
//! history rows only costs re-running tasks. One [`StateStore`] is one connection; it is `Send`
//! but not `Sync`, so a run gives it to one writer thread, and a plan reads on more
//! connections ([`StateStore::reader`]) from more threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::error::StateError;
use super::file_cache::{CachedDigest, FileCache};
use super::fingerprint::FingerprintParts;
use super::records::{
    PreviousRun, RecordedProgress, RunEnd, RunStart, RunState, RunSummary, StateEvent, Success,
};
use super::schema::{CURRENT_VERSION, MIGRATIONS, TABLES};
use super::summary::{median_durations, with_last_success_durations};
use crate::names::{NameMap, name_map};
use crate::report::model::TaskStatus;

/// How long to wait for another process's write transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Stores up to this size are checked whole when opened (about 0.1 s at this size); larger
/// ones only in part (see [`StateStore::open`]).
pub const FULL_CHECK_BYTES: u64 = 64 << 20;

/// An open state store.
#[derive(Debug)]
pub struct StateStore {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

/// Turns a SQLite error met while doing `action` into a [`StateError`].
pub(super) fn fail<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl Fn(rusqlite::Error) -> StateError + 'a {
    move |error| StateError::sqlite(path, action, error)
}

const SUMMARY_COLUMNS: &str = "run_id, manifest, workflow, pid, started_at_ms, finished_at_ms, \
                               duration_s, status, jobs, counts";

const INSERT_ATTEMPT: &str = "INSERT INTO attempts (run_id, task, attempt, status, \
     started_at_ms, ended_at_ms, duration_s, exit_code, signal, worker, log, \
     peak_rss_bytes, user_s, sys_s) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
     ON CONFLICT (run_id, task, attempt) DO UPDATE SET status = excluded.status, \
     started_at_ms = excluded.started_at_ms, ended_at_ms = excluded.ended_at_ms, \
     duration_s = excluded.duration_s, exit_code = excluded.exit_code, \
     signal = excluded.signal, worker = excluded.worker, log = excluded.log, \
     peak_rss_bytes = excluded.peak_rss_bytes, user_s = excluded.user_s, \
     sys_s = excluded.sys_s";

const INSERT_OUTCOME: &str = "INSERT INTO outcomes (run_id, task, status, fingerprint, \
     duration_s) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (run_id, task) DO UPDATE SET status = excluded.status, \
     fingerprint = excluded.fingerprint, duration_s = excluded.duration_s";

// The WHERE clause is required by SQLite's grammar for an upsert from a SELECT.
const UPSERT_SUCCESS: &str = "INSERT INTO successes (manifest, task, run_id, fingerprint, \
     parts, outputs, finished_at_ms, duration_s) \
     SELECT manifest, ?2, ?1, ?3, ?4, ?5, ?6, ?7 FROM runs WHERE run_id = ?1 \
     ON CONFLICT (manifest, task) DO UPDATE SET run_id = excluded.run_id, \
     fingerprint = excluded.fingerprint, parts = excluded.parts, outputs = excluded.outputs, \
     finished_at_ms = excluded.finished_at_ms, duration_s = excluded.duration_s";

/// How [`StateStore::each_last_success`] takes a row: the key it is handed on with, and
/// whether its fingerprint's parts are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take<K> {
    /// What the row is handed on with (a task id, say).
    pub key: K,
    /// Read the fingerprint's parts (`Success::parts`); `None` is handed on otherwise.
    pub parts: bool,
}

impl StateStore {
    /// Opens the store at `path`, creating its folder and file if needed, and brings its
    /// schema up to date. A damaged file, or one from a newer wf, is an error, never a panic:
    /// a file of at most [`FULL_CHECK_BYTES`] is checked whole first; in a larger one, damage
    /// outside the table of runs is reported by the query that meets it.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::Io {
                path: path.to_path_buf(),
                action: "create the folder of",
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(fail(path, "open"))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        store.check()?;
        Ok(store)
    }

    /// Another connection to the same file, for reading on another thread while this one is
    /// used. It never creates the file (one removed meanwhile is an error, not a new empty
    /// store), is not checked or migrated again (this store was), and refuses to write
    /// (`query_only`).
    pub fn reader(&self) -> Result<Self, StateError> {
        let failed = fail(&self.path, "open");
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(&failed)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&failed)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(&failed)?;
        Ok(Self {
            conn,
            path: self.path.clone(),
        })
    }

    /// Changes how long to wait for another process's write transaction ([`BUSY_TIMEOUT`] by
    /// default).
    #[cfg(test)]
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StateError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(fail(&self.path, "configure"))
    }

    fn configure(&self) -> Result<(), StateError> {
        let failed = fail(&self.path, "configure");
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(&failed)?;
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(&failed)?;
        // Reading the journal mode is the first access to the file, where a file that is not
        // a database shows. A file system without shared memory keeps its old mode, which
        // still works, only with readers and the writer blocking each other.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(&failed)?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(&failed)?;
        Ok(())
    }

    fn user_version(conn: &Connection, path: &Path) -> Result<i64, StateError> {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail(path, "read the schema version of"))
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let path = &self.path;
        let too_new = |found| StateError::TooNew {
            path: path.clone(),
            found,
            supported: CURRENT_VERSION,
        };
        let version = Self::user_version(&self.conn, path)?;
        if version > CURRENT_VERSION {
            return Err(too_new(version));
        }
        if version == CURRENT_VERSION {
            return Ok(());
        }
        let failed = fail(path, "migrate");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&failed)?;
        // Read again under the write lock: another wf may have migrated in the meantime.
        let version = Self::user_version(&tx, path)?;
        if version > CURRENT_VERSION {
            return Err(too_new(version));
        }
        if version == 0 {
            let tables: i64 = tx
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                    [],
                    |row| row.get(0),
                )
                .map_err(&failed)?;
            if tables > 0 {
                return Err(StateError::corrupt(
                    path,
                    "it has tables but no wf schema version: not a wf state store",
                ));
            }
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
            tx.execute_batch(migration.sql).map_err(&failed)?;
            if let Some(fill) = migration.fill {
                fill(&tx).map_err(&failed)?;
            }
        }
        tx.pragma_update(None, "user_version", CURRENT_VERSION)
            .map_err(&failed)?;
        tx.commit().map_err(&failed)
    }

    /// Checks the file's structure before anything relies on it: all of it when it is at most
    /// [`FULL_CHECK_BYTES`], else the table of runs only (a check reads every page: 2 s for a
    /// store of 0.8 GB, at every command). Damage elsewhere is still an error, never a panic:
    /// SQLite reports it as corrupt when a query meets it.
    fn check(&self) -> Result<(), StateError> {
        let failed = fail(&self.path, "check");
        let bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let check = if bytes <= FULL_CHECK_BYTES {
            "PRAGMA quick_check(1)"
        } else {
            "PRAGMA quick_check(runs)"
        };
        let verdict: String = self
            .conn
            .query_row(check, [], |row| row.get(0))
            .map_err(&failed)?;
        if verdict != "ok" {
            return Err(StateError::corrupt(&self.path, verdict));
        }
        let mut statement = self
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .map_err(&failed)?;
        let present: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(&failed)?;
        match TABLES.iter().find(|t| !present.iter().any(|p| p == *t)) {
            Some(missing) => Err(StateError::corrupt(
                &self.path,
                format!("table `{missing}` is missing"),
            )),
            None => Ok(()),
        }
    }

    /// Records a run as started (status `running`).
    pub fn begin_run(&mut self, run: &RunStart) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO runs (run_id, manifest, workflow, pid, started_at_ms, status, jobs, \
                 seq) VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, \
                 (SELECT coalesce(max(seq), 0) + 1 FROM runs))",
                params![
                    run.run_id,
                    run.manifest,
                    run.workflow,
                    run.pid,
                    run.started_at_ms,
                    run.jobs
                ],
            )
            .map_err(fail(&self.path, "record the start of a run in"))?;
        Ok(())
    }

    /// Writes a batch of events in one transaction: all of them or none.
    ///
    /// A success is upserted into the last successes of the run's manifest; a task settled
    /// twice, or an attempt recorded twice, keeps the last record. Each attempt also updates
    /// its task's summary (see [`super::summary`]), in the same transaction.
    pub fn record(&mut self, events: &[StateEvent]) -> Result<(), StateError> {
        if events.is_empty() {
            return Ok(());
        }
        let failed = fail(&self.path, "record events in");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&failed)?;
        {
            let mut attempts = tx.prepare_cached(INSERT_ATTEMPT).map_err(&failed)?;
            let mut outcomes = tx.prepare_cached(INSERT_OUTCOME).map_err(&failed)?;
            let mut successes = tx.prepare_cached(UPSERT_SUCCESS).map_err(&failed)?;
            for event in events {
                match event {
                    StateEvent::AttemptFinished(a) => {
                        attempts
                            .execute(params![
                                a.run_id,
                                a.task,
                                a.attempt,
                                a.status.as_str(),
                                a.started_at_ms,
                                a.ended_at_ms,
                                a.duration_s,
                                a.exit_code,
                                a.signal,
                                a.worker.and_then(|w| i64::try_from(w).ok()),
                                a.log,
                                a.peak_rss_bytes.and_then(|b| i64::try_from(b).ok()),
                                a.user_s,
                                a.sys_s
                            ])
                            .map_err(&failed)?;
                    }
                    StateEvent::TaskSettled(o) => {
                        outcomes
                            .execute(params![
                                o.run_id,
                                o.task,
                                o.status.as_str(),
                                o.fingerprint,
                                o.duration_s
                            ])
                            .map_err(&failed)?;
                        if let (Some(success), Some(fingerprint)) = (&o.success, &o.fingerprint) {
                            let parts = to_json(&self.path, &success.parts)?;
                            let outputs = to_json(&self.path, &success.outputs)?;
                            successes
                                .execute(params![
                                    o.run_id,
                                    o.task,
                                    fingerprint,
                                    parts,
                                    outputs,
                                    success.finished_at_ms,
                                    o.duration_s
                                ])
                                .map_err(&failed)?;
                        }
                    }
                }
            }
            super::summary::record_attempts(&tx, events).map_err(&failed)?;
        }
        tx.commit().map_err(&failed)
    }

    /// Records how a run ended, with its resource use (so that `wf history` need not read its
    /// attempts).
    pub fn finish_run(&mut self, run: &RunEnd) -> Result<(), StateError> {
        let counts: serde_json::Map<String, serde_json::Value> = run
            .counts
            .iter()
            .map(|(status, n)| (status.as_str().to_owned(), (*n).into()))
            .collect();
        let counts = to_json(&self.path, &counts)?;
        let failed = fail(&self.path, "record the end of a run in");
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2, finished_at_ms = ?3, duration_s = ?4, counts = ?5, \
                 peak_rss_bytes = (SELECT max(peak_rss_bytes) FROM attempts WHERE run_id = ?1), \
                 cpu_s = (SELECT sum(user_s) + sum(sys_s) FROM attempts WHERE run_id = ?1) \
                 WHERE run_id = ?1",
                params![
                    run.run_id,
                    RunState::from(run.status).as_str(),
                    run.finished_at_ms,
                    run.duration_s,
                    counts
                ],
            )
            .map_err(&failed)?;
        if changed == 0 {
            return Err(failed(rusqlite::Error::QueryReturnedNoRows));
        }
        Ok(())
    }

    /// Marks a run found `running` whose wf died as cancelled, ending when its last attempt
    /// ended, with the counts of the tasks that settled. Returns false if the run is unknown or
    /// not marked running.
    pub fn mark_abandoned(&mut self, run_id: &str) -> Result<bool, StateError> {
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = 'cancelled', \
                 finished_at_ms = coalesce( \
                     (SELECT max(ended_at_ms) FROM attempts WHERE run_id = ?1), started_at_ms), \
                 duration_s = (coalesce( \
                     (SELECT max(ended_at_ms) FROM attempts WHERE run_id = ?1), started_at_ms) \
                     - started_at_ms) / 1000.0, \
                 counts = (SELECT json_group_object(status, n) FROM \
                     (SELECT status, count(*) AS n FROM outcomes WHERE run_id = ?1 \
                      GROUP BY status)), \
                 peak_rss_bytes = (SELECT max(peak_rss_bytes) FROM attempts WHERE run_id = ?1), \
                 cpu_s = (SELECT sum(user_s) + sum(sys_s) FROM attempts WHERE run_id = ?1) \
                 WHERE run_id = ?1 AND status = 'running'",
                params![run_id],
            )
            .map_err(fail(&self.path, "mark a run abandoned in"))?;
        Ok(changed > 0)
    }

    /// The last success of every task of `manifest` (its absolute path), by task name.
    pub fn last_successes(&self, manifest: &str) -> Result<NameMap<String, Success>, StateError> {
        let mut successes = name_map(self.count_of("successes", manifest)?);
        self.each_last_success(
            manifest,
            |_, _| {
                Some(Take {
                    key: (),
                    parts: true,
                })
            },
            |(), success| {
                successes.insert(success.task.clone(), success);
            },
        )?;
        Ok(successes)
    }

    /// Reads the last success of every task of `manifest` and hands each to `each`, with the
    /// key `take(task, fingerprint)` gave it; a row `take` returns `None` for is skipped
    /// unread. The fingerprint's parts are read only when `take` asks for them (they only
    /// explain a fingerprint that changed, and reading them is most of the cost).
    pub fn each_last_success<K>(
        &self,
        manifest: &str,
        mut take: impl FnMut(&str, &str) -> Option<Take<K>>,
        mut each: impl FnMut(K, Success),
    ) -> Result<(), StateError> {
        let failed = fail(&self.path, "read the last successes from");
        const COLUMNS: &str =
            "task, fingerprint, run_id, parts, outputs, finished_at_ms, duration_s";
        let statement = if self.only_manifest("successes", manifest)? {
            // Every row is of `manifest` (the common case: one manifest per folder): `+manifest`
            // reads the table in file order instead of a lookup per row through the key. The
            // rows are still compared: a run of another manifest may add some meanwhile.
            format!("SELECT {COLUMNS} FROM successes WHERE +manifest = ?1")
        } else {
            format!("SELECT {COLUMNS} FROM successes WHERE manifest = ?1")
        };
        let mut statement = self.conn.prepare_cached(&statement).map_err(&failed)?;
        statement.raw_bind_parameter(1, manifest).map_err(&failed)?;
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next().map_err(&failed)? {
            let text = |column| row.get_ref(column).and_then(|v| Ok(v.as_str()?));
            let task = text(0).map_err(&failed)?;
            let fingerprint = text(1).map_err(&failed)?;
            let Some(taken) = take(task, fingerprint) else {
                continue;
            };
            // Unreadable parts only cost the explanation, not the up-to-date check.
            let parts = if taken.parts {
                row.get_ref(3)
                    .and_then(|parts| Ok(serde_json::from_slice(parts.as_bytes()?).ok()))
                    .map_err(&failed)?
            } else {
                None
            };
            let success = Success {
                task: task.to_owned(),
                run_id: row.get(2).map_err(&failed)?,
                fingerprint: fingerprint.to_owned(),
                parts,
                outputs: serde_json::from_str(text(4).map_err(&failed)?).unwrap_or_default(),
                finished_at_ms: row.get(5).map_err(&failed)?,
                duration_s: row.get(6).map_err(&failed)?,
            };
            each(taken.key, success);
        }
        Ok(())
    }

    /// The fingerprint and its parts of the last success of `task` of `manifest`, if it has
    /// one (`None` parts when they cannot be read): one lookup through the table's key, for
    /// the few tasks whose parts are wanted after [`StateStore::each_last_success`] left them
    /// out.
    pub fn success_parts(
        &self,
        manifest: &str,
        task: &str,
    ) -> Result<Option<(String, Option<FingerprintParts>)>, StateError> {
        self.conn
            .prepare_cached(
                "SELECT fingerprint, parts FROM successes WHERE manifest = ?1 AND task = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![manifest, task], |row| {
                    let parts = serde_json::from_slice(row.get_ref(1)?.as_bytes()?).ok();
                    Ok((row.get(0)?, parts))
                })
                .optional()
            })
            .map_err(fail(&self.path, "read a task's last success from"))
    }

    /// How many rows of `table` (keyed by manifest first) are of `manifest`.
    fn count_of(&self, table: &str, manifest: &str) -> Result<usize, StateError> {
        let count: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM {table} WHERE manifest = ?1"))
            .and_then(|mut s| s.query_row(params![manifest], |row| row.get(0)))
            .map_err(fail(&self.path, "count the rows of"))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// True if every row of `table` (keyed by manifest first) is of `manifest`: then reading
    /// the whole table in file order is quicker than going through its key, whose order is
    /// not the file's. Two lookups at the ends of the key.
    pub(super) fn only_manifest(&self, table: &str, manifest: &str) -> Result<bool, StateError> {
        let end = |order: &str| -> Result<Option<String>, StateError> {
            self.conn
                .prepare_cached(&format!(
                    "SELECT manifest FROM {table} ORDER BY manifest {order} LIMIT 1"
                ))
                .and_then(|mut s| s.query_row([], |row| row.get(0)).optional())
                .map_err(fail(&self.path, "read the manifests of"))
        };
        Ok([end("ASC")?, end("DESC")?]
            .iter()
            .all(|found| found.as_deref().is_none_or(|found| found == manifest)))
    }

    /// The latest run of `manifest` other than `except_run`, finished or still marked running
    /// (a run whose wf was killed), with the tasks that succeeded or were up to date in it.
    pub fn previous_run(
        &self,
        manifest: &str,
        except_run: &str,
    ) -> Result<Option<PreviousRun>, StateError> {
        let failed = fail(&self.path, "read the previous run from");
        let summary = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs WHERE manifest = ?1 AND run_id <> ?2 \
                 ORDER BY started_at_ms DESC, run_id DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(params![manifest, except_run], raw_summary)
                    .optional()
            })
            .map_err(&failed)?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let summary = summary.parse(&self.path)?;
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT task, fingerprint FROM outcomes \
                 WHERE run_id = ?1 AND status IN ('succeeded', 'up_to_date')",
            )
            .map_err(&failed)?;
        let succeeded = statement
            .query_map(params![summary.run_id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .and_then(Iterator::collect)
            .map_err(&failed)?;
        Ok(Some(PreviousRun { summary, succeeded }))
    }

    /// The tasks with a failed or timed-out attempt in the latest run of `manifest` (also a
    /// run whose wf was killed: its attempts are recorded as they end).
    pub fn failed_in_latest_run(
        &self,
        manifest: &str,
    ) -> Result<std::collections::HashSet<String>, StateError> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT task FROM attempts WHERE status IN ('failed', 'timed_out') \
                 AND run_id = (SELECT run_id FROM runs WHERE manifest = ?1 \
                               ORDER BY started_at_ms DESC, run_id DESC LIMIT 1)",
            )
            .and_then(|mut s| s.query_map(params![manifest], |row| row.get(0))?.collect())
            .map_err(fail(&self.path, "read the latest run's failures from"))
    }

    /// What the store recorded of a run so far, for a run without a report (still running,
    /// or its wf killed): each task's final status (from `outcomes`) counted, and the tasks
    /// with an attempt recorded but no outcome yet (running, or waiting for a retry).
    pub fn recorded_progress(&self, run_id: &str) -> Result<RecordedProgress, StateError> {
        let failed = fail(&self.path, "read a run's progress from");
        let outcomes: Vec<(String, String)> = self
            .conn
            .prepare_cached("SELECT task, status FROM outcomes WHERE run_id = ?1 ORDER BY task")
            .and_then(|mut s| {
                s.query_map(params![run_id], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(&failed)?;
        let mut counts: Vec<(TaskStatus, u64)> = Vec::new();
        let mut settled = Vec::with_capacity(outcomes.len());
        for (task, status) in outcomes {
            settled.push(task);
            let Some(status) = parse_task_status(&status) else {
                continue;
            };
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => counts.push((status, 1)),
            }
        }
        counts.sort_by_key(|(status, _)| TaskStatus::ALL.iter().position(|s| s == status));
        let unsettled: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT task FROM attempts a WHERE run_id = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM outcomes o WHERE o.run_id = a.run_id AND o.task = a.task) \
                 ORDER BY task",
            )
            .and_then(|mut s| s.query_map(params![run_id], |row| row.get(0))?.collect())
            .map_err(&failed)?;
        Ok(RecordedProgress {
            counts,
            settled,
            unsettled,
        })
    }

    /// For each task of `manifest`, the median duration of its last `recent` successful
    /// attempts (`recent` is at most [`SUMMARY_DEPTH`](super::SUMMARY_DEPTH): a larger one
    /// counts as that); for a task whose attempts were all pruned, the duration of its last
    /// success. Read from the task summaries, not from the attempts.
    pub fn learnt_durations(
        &self,
        manifest: &str,
        recent: usize,
    ) -> Result<HashMap<String, f64>, StateError> {
        let failed = fail(&self.path, "read task durations from");
        let mut learnt = median_durations(&self.task_summaries(manifest)?, recent);
        // A task up to date in every run still kept has no attempt left once the run it last
        // ran in is pruned: its last success still says how long it took.
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT task, duration_s FROM successes \
                 WHERE manifest = ?1 AND duration_s IS NOT NULL",
            )
            .map_err(&failed)?;
        let rows: Vec<(String, f64)> = statement
            .query_map(params![manifest], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(&failed)?;
        with_last_success_durations(&mut learnt, rows);
        Ok(learnt)
    }

    /// The latest `limit` runs, of `manifest` or of every manifest, newest first.
    pub fn history(
        &self,
        manifest: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, StateError> {
        let failed = fail(&self.path, "read the run history from");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let order = "ORDER BY started_at_ms DESC, run_id DESC";
        let raw: Vec<RawSummary> = match manifest {
            Some(manifest) => self
                .conn
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM runs WHERE manifest = ?1 {order} LIMIT ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![manifest, limit], raw_summary)?
                        .collect()
                }),
            None => self
                .conn
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM runs {order} LIMIT ?1"
                ))
                .and_then(|mut s| s.query_map(params![limit], raw_summary)?.collect()),
        }
        .map_err(&failed)?;
        raw.into_iter().map(|r| r.parse(&self.path)).collect()
    }

    /// The runs of `manifest` still recorded as running, oldest first.
    pub fn running_runs(&self, manifest: &str) -> Result<Vec<String>, StateError> {
        self.conn
            .prepare_cached(
                "SELECT run_id FROM runs WHERE manifest = ?1 AND status = 'running' \
                 ORDER BY started_at_ms, run_id",
            )
            .and_then(|mut s| s.query_map(params![manifest], |row| row.get(0))?.collect())
            .map_err(fail(&self.path, "read the runs in progress from"))
    }

    /// One run, if it is known.
    pub fn run_summary(&self, run_id: &str) -> Result<Option<RunSummary>, StateError> {
        let raw = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs WHERE run_id = ?1"
            ))
            .and_then(|mut s| s.query_row(params![run_id], raw_summary).optional())
            .map_err(fail(&self.path, "read a run from"))?;
        raw.map(|r| r.parse(&self.path)).transpose()
    }

    /// Adds to `cache` what the store knows of `paths` (and only of those): a store shared
    /// with other workflows may know many more files, and reading them all would make every
    /// run start slower. Looked up by key, [`LOOKUP_BATCH`] paths per query. Returns how many
    /// entries were found. Paths that are not UTF-8 are never stored, so never found.
    pub fn load_file_digests(
        &self,
        paths: &[&Path],
        cache: &mut FileCache,
    ) -> Result<usize, StateError> {
        let failed = fail(&self.path, "read the file hashes from");
        let texts: Vec<&str> = paths.iter().filter_map(|p| p.to_str()).collect();
        let mut found = 0;
        for batch in texts.chunks(LOOKUP_BATCH) {
            let placeholders = vec!["?"; batch.len()].join(", ");
            // At most two texts per call (full batches and the last one), so the statement
            // cache keeps both prepared.
            let mut statement = self
                .conn
                .prepare_cached(&format!(
                    "SELECT path, size, mtime_ns, digest FROM file_hashes \
                     WHERE path IN ({placeholders})"
                ))
                .map_err(&failed)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(batch), cached_digest)
                .map_err(&failed)?;
            for row in rows {
                let (path, entry) = row.map_err(&failed)?;
                cache.insert_saved(path, entry);
                found += 1;
            }
        }
        Ok(found)
    }

    /// Every file digest the store knows, whatever workflow it was recorded for.
    pub fn load_file_cache(&self) -> Result<FileCache, StateError> {
        let failed = fail(&self.path, "read the file hashes from");
        let mut statement = self
            .conn
            .prepare_cached("SELECT path, size, mtime_ns, digest FROM file_hashes")
            .map_err(&failed)?;
        let rows = statement.query_map([], cached_digest).map_err(&failed)?;
        let mut cache = FileCache::new();
        for row in rows {
            let (path, entry) = row.map_err(&failed)?;
            cache.insert_saved(path, entry);
        }
        Ok(cache)
    }

    /// Writes the entries of `cache` that changed since it was loaded, in one transaction,
    /// then marks them saved. Paths that are not UTF-8 are not stored (they are hashed again
    /// next time).
    pub fn save_file_cache(&mut self, cache: &mut FileCache) -> Result<(), StateError> {
        if cache.changed_count() == 0 {
            return Ok(());
        }
        let failed = fail(&self.path, "save the file hashes in");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&failed)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, digest) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(&failed)?;
            for (path, entry) in cache.changed() {
                let Some(path) = path.to_str() else {
                    continue;
                };
                upsert
                    .execute(params![
                        path,
                        i64::try_from(entry.size).unwrap_or(i64::MAX),
                        entry.mtime_ns,
                        entry.digest
                    ])
                    .map_err(&failed)?;
            }
        }
        tx.commit().map_err(&failed)?;
        cache.mark_saved();
        Ok(())
    }
}

/// How many paths [`StateStore::load_file_digests`] looks up per query (well under SQLite's
/// limit on parameters).
pub const LOOKUP_BATCH: usize = 500;

/// A `file_hashes` row.
fn cached_digest(row: &Row<'_>) -> rusqlite::Result<(PathBuf, CachedDigest)> {
    Ok((
        PathBuf::from(row.get::<_, String>(0)?),
        CachedDigest {
            // A size that does not fit only makes the entry miss.
            size: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(u64::MAX),
            mtime_ns: row.get(2)?,
            digest: row.get(3)?,
        },
    ))
}

fn to_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<String, StateError> {
    serde_json::to_string(value).map_err(|error| {
        StateError::corrupt(path, format!("cannot encode a value as JSON: {error}"))
    })
}

/// A `runs` row before its words are checked.
struct RawSummary {
    run_id: String,
    manifest: String,
    workflow: String,
    pid: Option<u32>,
    started_at_ms: i64,
    finished_at_ms: Option<i64>,
    duration_s: Option<f64>,
    status: String,
    jobs: u32,
    counts: Option<String>,
}

fn raw_summary(row: &Row<'_>) -> rusqlite::Result<RawSummary> {
    Ok(RawSummary {
        run_id: row.get(0)?,
        manifest: row.get(1)?,
        workflow: row.get(2)?,
        pid: row.get(3)?,
        started_at_ms: row.get(4)?,
        finished_at_ms: row.get(5)?,
        duration_s: row.get(6)?,
        status: row.get(7)?,
        jobs: row.get(8)?,
        counts: row.get(9)?,
    })
}

impl RawSummary {
    fn parse(self, path: &Path) -> Result<RunSummary, StateError> {
        let status = RunState::parse(&self.status).ok_or_else(|| {
            StateError::corrupt(
                path,
                format!(
                    "run {} has an unknown status `{}`",
                    self.run_id, self.status
                ),
            )
        })?;
        let counts = self.counts.as_deref().map(parse_counts);
        Ok(RunSummary {
            run_id: self.run_id,
            manifest: self.manifest,
            workflow: self.workflow,
            pid: self.pid,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            duration_s: self.duration_s,
            status,
            jobs: self.jobs,
            counts,
        })
    }
}

/// Stored counts in report order; statuses this wf does not know are left out.
fn parse_counts(json: &str) -> Vec<(TaskStatus, u64)> {
    let map: HashMap<String, u64> = serde_json::from_str(json).unwrap_or_default();
    let mut counts: Vec<(TaskStatus, u64)> = map
        .iter()
        .filter_map(|(word, n)| parse_task_status(word).map(|status| (status, *n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by_key(|(status, _)| TaskStatus::ALL.iter().position(|s| s == status));
    counts
}

/// The task status stored as `word`.
fn parse_task_status(word: &str) -> Option<TaskStatus> {
    TaskStatus::ALL
        .into_iter()
        .find(|status| status.as_str() == word)
}

#[path = "usage_queries.rs"]
pub mod usage_queries;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
