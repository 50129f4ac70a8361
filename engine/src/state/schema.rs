//! The state store's tables and how a database is brought up to date.
//!
//! The schema version is SQLite's `PRAGMA user_version`: 0 for a new file, then the number of
//! migrations applied. Migrations are only ever appended; a released one is never edited,
//! because databases in the field were built by it.

/// One schema change, applied in a transaction together with the new `user_version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The `user_version` once it is applied.
    pub version: i64,
    /// What it changes, in words.
    pub description: &'static str,
    /// The statements.
    pub sql: &'static str,
    /// What statements cannot do, run after them in the same transaction (filling a new
    /// table from the rows already there).
    pub fill: Option<fn(&rusqlite::Connection) -> rusqlite::Result<()>>,
}

/// Every migration, in order; `MIGRATIONS[i].version == i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: V1,
        fill: None,
    },
    Migration {
        version: 2,
        description: "what each attempt used: peak memory and CPU time",
        sql: V2,
        fill: None,
    },
    Migration {
        version: 3,
        description: "a running summary of each task's recent attempts; each run's resource \
                      use and a stable number",
        sql: V3,
        fill: Some(super::summary::rebuild_all),
    },
];

/// The schema version this wf creates and understands.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables a database of [`CURRENT_VERSION`] must have.
pub const TABLES: &[&str] = &[
    "runs",
    "attempts",
    "outcomes",
    "successes",
    "file_hashes",
    "task_summaries",
];

/// Version 1.
///
/// `STRICT` tables make SQLite reject a value of the wrong type instead of storing it. Only
/// `file_hashes` is `WITHOUT ROWID`: its rows are small and looked up by their key; the other
/// tables are keyed by text that arrives in no particular order, and appending rows to a rowid
/// table with a separate key index dirties fewer pages per insert (successes are also large
/// rows, which SQLite advises against storing `WITHOUT ROWID`).
const V1: &str = r#"
-- One row per `wf run`. `manifest` is the manifest's absolute path: "the runs of this
-- manifest" is every row with the same text.
CREATE TABLE runs (
    run_id         TEXT    PRIMARY KEY NOT NULL,
    manifest       TEXT    NOT NULL,
    workflow       TEXT    NOT NULL,
    pid            INTEGER,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    duration_s     REAL,
    status         TEXT    NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    jobs           INTEGER NOT NULL,
    counts         TEXT
) STRICT;
CREATE INDEX runs_by_manifest ON runs (manifest, started_at_ms);
CREATE INDEX runs_by_start ON runs (started_at_ms);

-- Every attempt of every task: what ran, how it ended, where its log is.
CREATE TABLE attempts (
    run_id        TEXT    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task          TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER NOT NULL,
    duration_s    REAL    NOT NULL,
    exit_code     INTEGER,
    signal        TEXT,
    worker        INTEGER,
    log           TEXT,
    PRIMARY KEY (run_id, task, attempt)
) STRICT;

-- How each task of a run ended, including tasks that never started.
CREATE TABLE outcomes (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task        TEXT NOT NULL,
    status      TEXT NOT NULL,
    fingerprint TEXT,
    duration_s  REAL,
    PRIMARY KEY (run_id, task)
) STRICT;

-- The last success of each task of each manifest: what up-to-date checks compare against.
-- No foreign key to runs: a success outlives the pruning of the run that produced it.
CREATE TABLE successes (
    manifest       TEXT    NOT NULL,
    task           TEXT    NOT NULL,
    run_id         TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    parts          TEXT    NOT NULL,
    outputs        TEXT    NOT NULL,
    finished_at_ms INTEGER NOT NULL,
    duration_s     REAL,
    PRIMARY KEY (manifest, task)
) STRICT;

-- Content digests of input files, valid while size and mtime are unchanged.
CREATE TABLE file_hashes (
    path     TEXT    PRIMARY KEY NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest   TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
"#;

/// Version 2: each attempt's peak resident memory and CPU time (null when not measured:
/// attempts recorded before, attempts that never started).
const V2: &str = r#"
ALTER TABLE attempts ADD COLUMN peak_rss_bytes INTEGER;
ALTER TABLE attempts ADD COLUMN user_s REAL;
ALTER TABLE attempts ADD COLUMN sys_s REAL;
"#;

/// Version 3: what `wf plan`, the start of a run and `wf history` read without going through
/// every attempt.
///
/// - `runs.seq`: a number for each run, which task summaries name their samples' runs by (the
///   rowid of `runs` may change when the file is compacted).
/// - `runs.peak_rss_bytes`, `runs.cpu_s`: a run's highest peak and CPU time, written when it
///   ends (filled here for the runs that have ended).
/// - `task_summaries`: one row per task of a manifest with its latest successful durations and
///   measured peaks (see `summary.rs` for the encoding); `oldest_run` is the lowest `seq` among
///   them, so that pruning finds the summaries a deleted run is part of. Filled from the
///   attempts by the migration's `fill`. `WITHOUT ROWID`: a row is only ever read and
///   rewritten by its key (once per attempt, during the run) or read in key order by
///   manifest, so one B-tree serves both, without a separate key index to go through.
const V3: &str = r#"
ALTER TABLE runs ADD COLUMN seq INTEGER;
UPDATE runs SET seq = rowid;
CREATE UNIQUE INDEX runs_by_seq ON runs (seq);
ALTER TABLE runs ADD COLUMN peak_rss_bytes INTEGER;
ALTER TABLE runs ADD COLUMN cpu_s REAL;
UPDATE runs SET
    peak_rss_bytes = (SELECT max(a.peak_rss_bytes) FROM attempts a WHERE a.run_id = runs.run_id),
    cpu_s = (SELECT sum(a.user_s) + sum(a.sys_s) FROM attempts a WHERE a.run_id = runs.run_id)
WHERE status <> 'running';

CREATE TABLE task_summaries (
    manifest   TEXT    NOT NULL,
    task       TEXT    NOT NULL,
    durations  BLOB    NOT NULL,
    peaks      BLOB    NOT NULL,
    oldest_run INTEGER NOT NULL,
    PRIMARY KEY (manifest, task)
) STRICT, WITHOUT ROWID;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i as i64 + 1, "{}", migration.description);
        }
    }
}
