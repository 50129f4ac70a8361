//! The per-task running summary: for each task of each manifest, its most recent successful
//! attempts (durations) and its most recent measured attempts (peak memory), one row per task.
//!
//! `wf plan` and the start of a run read it in one pass instead of windowing over every attempt
//! of every kept run. It always equals what that window would give, because it is kept in step
//! with the attempts it summarises:
//!
//! - [`StateStore::record`] adds each attempt to its task's summary in the same transaction as
//!   the attempt itself (a summary only ever holds the newest [`SUMMARY_DEPTH`] of each kind);
//! - pruning removes the samples of the deleted runs, and a summary that was full and lost a
//!   sample is rebuilt from the attempts still kept (the next older one may be among them);
//! - an attempt recorded a second time rebuilds its task's summary from the attempts.
//!
//! Samples name their run by `runs.seq` (a number stable across `VACUUM`, unlike the rowid).

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

use super::error::StateError;
use super::records::{AttemptRecord, StateEvent};
use super::store::fail;
use crate::report::model::TaskStatus;

/// How many samples of each kind a summary keeps: the most any learnt value looks at.
pub const SUMMARY_DEPTH: usize = 5;

/// What the store knows of one task's recent attempts, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSummary {
    /// Durations of its latest successful attempts, in seconds (at most [`SUMMARY_DEPTH`]).
    pub durations: Vec<f64>,
    /// Peak memory of its latest measured attempts, whatever their outcome, in bytes (at most
    /// [`SUMMARY_DEPTH`]).
    pub peaks: Vec<u64>,
}

impl TaskSummary {
    /// The median of its `recent` latest successful durations (`recent` at most
    /// [`SUMMARY_DEPTH`]); `None` without any.
    pub fn median_duration(&self, recent: usize) -> Option<f64> {
        if self.durations.is_empty() || recent == 0 {
            return None;
        }
        let mut latest: Vec<f64> = self.durations.iter().take(recent).copied().collect();
        Some(median(&mut latest))
    }

    /// The highest peak of its `recent` latest measured attempts (`recent` at most
    /// [`SUMMARY_DEPTH`]); `None` without any.
    pub fn highest_peak(&self, recent: usize) -> Option<u64> {
        self.peaks.iter().take(recent).copied().max()
    }
}

/// For each task, the median of its `recent` latest successful durations (`recent` at most
/// [`SUMMARY_DEPTH`]); tasks without any are left out.
pub fn median_durations(
    summaries: &HashMap<String, TaskSummary>,
    recent: usize,
) -> HashMap<String, f64> {
    summaries
        .iter()
        .filter_map(|(task, s)| Some((task.clone(), s.median_duration(recent)?)))
        .collect()
}

/// Adds to `learnt` the duration of the last success of each task it has no value for (a task
/// whose attempts were all pruned).
pub fn with_last_success_durations(
    learnt: &mut HashMap<String, f64>,
    successes: impl IntoIterator<Item = (String, f64)>,
) {
    for (task, duration) in successes {
        learnt.entry(task).or_insert(duration);
    }
}

/// For each task, the highest peak of its `recent` latest measured attempts (`recent` at most
/// [`SUMMARY_DEPTH`]); tasks without any are left out.
pub fn highest_peaks(
    summaries: &HashMap<String, TaskSummary>,
    recent: usize,
) -> HashMap<String, u64> {
    summaries
        .iter()
        .filter_map(|(task, s)| Some((task.clone(), s.highest_peak(recent)?)))
        .collect()
}

/// The median; sorts `values` in place (0 when empty).
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.is_empty() {
        0.0
    } else if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One attempt in a summary: its run (`runs.seq`), number, end and value (a duration's bits,
/// or a peak in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    run: i64,
    attempt: u32,
    ended_at_ms: i64,
    value: u64,
}

/// Bytes of one encoded sample: run, attempt, end, value (little-endian).
const SAMPLE_BYTES: usize = 8 + 4 + 8 + 8;

impl Sample {
    /// The order of the window this replaces: latest end first (then the later run, the later
    /// attempt, so that ties are decided the same way every time).
    fn key(&self) -> (i64, i64, u32) {
        (self.ended_at_ms, self.run, self.attempt)
    }
}

/// The samples of one kind, newest first, at most [`SUMMARY_DEPTH`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Samples(Vec<Sample>);

impl Samples {
    /// Reads an encoded list; `None` if it is damaged.
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() % SAMPLE_BYTES != 0 {
            return None;
        }
        let samples = bytes
            .chunks_exact(SAMPLE_BYTES)
            .map(|b| {
                let word = |range: std::ops::Range<usize>| -> [u8; 8] {
                    b[range].try_into().unwrap_or_default()
                };
                Sample {
                    run: i64::from_le_bytes(word(0..8)),
                    attempt: u32::from_le_bytes(b[8..12].try_into().unwrap_or_default()),
                    ended_at_ms: i64::from_le_bytes(word(12..20)),
                    value: u64::from_le_bytes(word(20..28)),
                }
            })
            .collect();
        Some(Self(samples))
    }

    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.0.len() * SAMPLE_BYTES);
        for s in &self.0 {
            bytes.extend_from_slice(&s.run.to_le_bytes());
            bytes.extend_from_slice(&s.attempt.to_le_bytes());
            bytes.extend_from_slice(&s.ended_at_ms.to_le_bytes());
            bytes.extend_from_slice(&s.value.to_le_bytes());
        }
        bytes
    }

    fn is_full(&self) -> bool {
        self.0.len() >= SUMMARY_DEPTH
    }

    fn contains(&self, run: i64, attempt: u32) -> bool {
        self.0.iter().any(|s| s.run == run && s.attempt == attempt)
    }

    /// Adds a sample in order, dropping the oldest beyond [`SUMMARY_DEPTH`].
    fn insert(&mut self, sample: Sample) {
        let at = self
            .0
            .iter()
            .position(|s| s.key() < sample.key())
            .unwrap_or(self.0.len());
        self.0.insert(at, sample);
        self.0.truncate(SUMMARY_DEPTH);
    }

    /// Removes the samples of `runs`; true if there were any.
    fn remove_runs(&mut self, runs: &HashSet<i64>) -> bool {
        let before = self.0.len();
        self.0.retain(|s| !runs.contains(&s.run));
        self.0.len() != before
    }

    fn oldest_run(&self) -> Option<i64> {
        self.0.iter().map(|s| s.run).min()
    }
}

/// The values of an encoded list, newest first, without the rest of each sample; a damaged
/// list reads as empty.
fn values(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let whole = if bytes.len() % SAMPLE_BYTES == 0 {
        bytes
    } else {
        &[]
    };
    whole
        .chunks_exact(SAMPLE_BYTES)
        .map(|b| u64::from_le_bytes(b[20..28].try_into().unwrap_or_default()))
}

/// A task's two lists as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stored {
    durations: Samples,
    peaks: Samples,
}

impl Stored {
    /// Adds what an attempt says: its duration if it succeeded, its peak if measured.
    fn add(&mut self, attempt: &Attempt) {
        if attempt.succeeded {
            self.durations.insert(Sample {
                value: attempt.duration_s.to_bits(),
                ..attempt.sample
            });
        }
        if let Some(peak) = attempt.peak {
            self.peaks.insert(Sample {
                value: peak,
                ..attempt.sample
            });
        }
    }

    fn contains(&self, run: i64, attempt: u32) -> bool {
        self.durations.contains(run, attempt) || self.peaks.contains(run, attempt)
    }

    fn oldest_run(&self) -> Option<i64> {
        match (self.durations.oldest_run(), self.peaks.oldest_run()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// An attempt as the summary sees it.
struct Attempt {
    sample: Sample,
    succeeded: bool,
    duration_s: f64,
    peak: Option<u64>,
}

impl Attempt {
    /// From an `attempts` row: seq of its run, attempt, end, status, duration, peak.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let status: String = row.get(3)?;
        Ok(Self {
            sample: Sample {
                run: row.get(0)?,
                attempt: row.get(1)?,
                ended_at_ms: row.get(2)?,
                value: 0,
            },
            succeeded: status == TaskStatus::Succeeded.as_str(),
            duration_s: row.get(4)?,
            // As the old window did: a stored peak is never negative; if it were, 0.
            peak: row
                .get::<_, Option<i64>>(5)?
                .map(|b| u64::try_from(b).unwrap_or(0)),
        })
    }

    /// From an attempt being recorded in the run of `seq`, as it is stored.
    fn from_record(seq: i64, a: &AttemptRecord) -> Self {
        Self {
            sample: Sample {
                run: seq,
                attempt: a.attempt,
                ended_at_ms: a.ended_at_ms,
                value: 0,
            },
            succeeded: a.status == TaskStatus::Succeeded,
            duration_s: a.duration_s,
            // A peak too large for SQLite is stored as unknown.
            peak: a.peak_rss_bytes.filter(|&b| i64::try_from(b).is_ok()),
        }
    }
}

const ATTEMPT_COLUMNS: &str =
    "r.seq, a.attempt, a.ended_at_ms, a.status, a.duration_s, a.peak_rss_bytes";

fn read_stored(conn: &Connection, manifest: &str, task: &str) -> rusqlite::Result<Option<Stored>> {
    conn.prepare_cached(
        "SELECT durations, peaks FROM task_summaries WHERE manifest = ?1 AND task = ?2",
    )?
    .query_row(params![manifest, task], |row| {
        Ok(decode_pair(
            row.get_ref(0)?.as_blob()?,
            row.get_ref(1)?.as_blob()?,
        ))
    })
    .optional()
}

/// A stored pair of lists; a damaged one reads as empty (it only costs a learnt estimate,
/// and is rebuilt as attempts come).
fn decode_pair(durations: &[u8], peaks: &[u8]) -> Stored {
    Stored {
        durations: Samples::decode(durations).unwrap_or_default(),
        peaks: Samples::decode(peaks).unwrap_or_default(),
    }
}

/// Writes a task's summary, or removes it when it has no samples left.
fn write_stored(
    conn: &Connection,
    manifest: &str,
    task: &str,
    stored: &Stored,
) -> rusqlite::Result<()> {
    match stored.oldest_run() {
        Some(oldest) => conn
            .prepare_cached(
                "INSERT INTO task_summaries (manifest, task, durations, peaks, oldest_run) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (manifest, task) DO UPDATE SET \
                 durations = excluded.durations, peaks = excluded.peaks, \
                 oldest_run = excluded.oldest_run",
            )?
            .execute(params![
                manifest,
                task,
                stored.durations.encode(),
                stored.peaks.encode(),
                oldest
            ])
            .map(drop),
        None => conn
            .prepare_cached("DELETE FROM task_summaries WHERE manifest = ?1 AND task = ?2")?
            .execute(params![manifest, task])
            .map(drop),
    }
}

/// A task's summary computed from every attempt still recorded (the runs of `manifest`).
fn rebuild_one(conn: &Connection, manifest: &str, task: &str) -> rusqlite::Result<Stored> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM runs r JOIN attempts a ON a.run_id = r.run_id \
         WHERE r.manifest = ?1 AND a.task = ?2"
    ))?;
    let mut stored = Stored::default();
    for attempt in statement.query_map(params![manifest, task], Attempt::from_row)? {
        stored.add(&attempt?);
    }
    Ok(stored)
}

/// Adds the attempts among `events` to their tasks' summaries; called by
/// [`StateStore::record`] inside its transaction, after the attempts are written.
pub(super) fn record_attempts(conn: &Connection, events: &[StateEvent]) -> rusqlite::Result<()> {
    // The run of each attempt: its manifest and number (a batch is usually of one run).
    let mut runs: HashMap<&str, Option<(String, i64)>> = HashMap::new();
    // Per task, in the order they came.
    let mut by_task: HashMap<(String, &str), Vec<Attempt>> = HashMap::new();
    let mut order: Vec<(String, &str)> = Vec::new();
    for event in events {
        let StateEvent::AttemptFinished(a) = event else {
            continue;
        };
        let run = match runs.get(a.run_id.as_str()) {
            Some(run) => run.clone(),
            None => {
                let run: Option<(String, i64)> = conn
                    .prepare_cached("SELECT manifest, seq FROM runs WHERE run_id = ?1")?
                    .query_row(params![a.run_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                runs.insert(&a.run_id, run.clone());
                run
            }
        };
        let Some((manifest, seq)) = run else {
            continue;
        };
        let key = (manifest, a.task.as_str());
        let list = by_task.entry(key.clone()).or_default();
        if list.is_empty() {
            order.push(key);
        }
        list.push(Attempt::from_record(seq, a));
    }
    for key in order {
        let (manifest, task) = (&key.0, key.1);
        let attempts = &by_task[&key];
        let mut stored = read_stored(conn, manifest, task)?.unwrap_or_default();
        let repeated = attempts.iter().enumerate().any(|(i, a)| {
            stored.contains(a.sample.run, a.sample.attempt)
                || attempts[..i]
                    .iter()
                    .any(|b| b.sample.run == a.sample.run && b.sample.attempt == a.sample.attempt)
        });
        if repeated {
            // The attempt recorded again replaces the earlier record: start from the attempts.
            stored = rebuild_one(conn, manifest, task)?;
        } else {
            for attempt in attempts {
                stored.add(attempt);
            }
        }
        write_stored(conn, manifest, task, &stored)?;
    }
    Ok(())
}

/// The manifest and number of each of `run_ids` that exists.
pub(super) fn runs_to_forget(
    conn: &Connection,
    run_ids: &[String],
) -> rusqlite::Result<HashMap<String, HashSet<i64>>> {
    let mut by_manifest: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut statement = conn.prepare_cached("SELECT manifest, seq FROM runs WHERE run_id = ?1")?;
    for run_id in run_ids {
        let run: Option<(String, Option<i64>)> = statement
            .query_row(params![run_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((manifest, Some(seq))) = run {
            by_manifest.entry(manifest).or_default().insert(seq);
        }
    }
    Ok(by_manifest)
}

/// Takes the samples of deleted runs out of the summaries, once their runs and attempts are
/// deleted: a summary that was full and lost a sample is rebuilt from the attempts left.
pub(super) fn forget_runs(
    conn: &Connection,
    deleted: &HashMap<String, HashSet<i64>>,
) -> rusqlite::Result<()> {
    for (manifest, runs) in deleted {
        let Some(&newest) = runs.iter().max() else {
            continue;
        };
        let touched: Vec<(String, Stored)> = conn
            .prepare_cached(
                "SELECT task, durations, peaks FROM task_summaries \
                 WHERE manifest = ?1 AND oldest_run <= ?2",
            )?
            .query_map(params![manifest, newest], |row| {
                Ok((
                    row.get(0)?,
                    decode_pair(row.get_ref(1)?.as_blob()?, row.get_ref(2)?.as_blob()?),
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (task, mut stored) in touched {
            let full = stored.durations.is_full() || stored.peaks.is_full();
            let durations = stored.durations.remove_runs(runs);
            let peaks = stored.peaks.remove_runs(runs);
            if !durations && !peaks {
                continue;
            }
            if full {
                stored = rebuild_one(conn, manifest, &task)?;
            }
            write_stored(conn, manifest, &task, &stored)?;
        }
    }
    Ok(())
}

/// Builds every summary from the attempts (the migration that introduces them).
pub(super) fn rebuild_all(conn: &Connection) -> rusqlite::Result<()> {
    let mut summaries: HashMap<(String, String), Stored> = HashMap::new();
    {
        let mut statement = conn.prepare(&format!(
            "SELECT {ATTEMPT_COLUMNS}, r.manifest, a.task FROM runs r \
             JOIN attempts a ON a.run_id = r.run_id"
        ))?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let attempt = Attempt::from_row(row)?;
            summaries
                .entry((row.get(6)?, row.get(7)?))
                .or_default()
                .add(&attempt);
        }
    }
    conn.execute("DELETE FROM task_summaries", [])?;
    for ((manifest, task), stored) in &summaries {
        write_stored(conn, manifest, task, stored)?;
    }
    Ok(())
}

impl super::StateStore {
    /// The summary of every task of `manifest` that has one, by task name.
    pub fn task_summaries(
        &self,
        manifest: &str,
    ) -> Result<HashMap<String, TaskSummary>, StateError> {
        let mut summaries = HashMap::new();
        self.each_task_summary(manifest, |task, summary| {
            summaries.insert(task.to_owned(), summary.clone());
        })?;
        Ok(summaries)
    }

    /// Calls `each(task, summary)` for the summary of every task of `manifest` that has one,
    /// without collecting them: what a caller that keeps a value or two per task reads.
    pub fn each_task_summary(
        &self,
        manifest: &str,
        mut each: impl FnMut(&str, &TaskSummary),
    ) -> Result<(), StateError> {
        let failed = fail(&self.path, "read the task summaries from");
        let mut statement = if self.only_manifest("task_summaries", manifest)? {
            // Every row is of `manifest`: read the table in file order (each row's manifest is
            // still compared: a run of another manifest may add some meanwhile).
            self.conn.prepare_cached(
                "SELECT task, durations, peaks FROM task_summaries WHERE +manifest = ?1",
            )
        } else {
            self.conn.prepare_cached(
                "SELECT task, durations, peaks FROM task_summaries WHERE manifest = ?1",
            )
        }
        .map_err(&failed)?;
        statement.raw_bind_parameter(1, manifest).map_err(&failed)?;
        let mut rows = statement.raw_query();
        let mut summary = TaskSummary::default();
        while let Some(row) = rows.next().map_err(&failed)? {
            let read = |column| row.get_ref(column).and_then(|v| Ok(v.as_blob()?));
            summary.durations.clear();
            summary
                .durations
                .extend(values(read(1).map_err(&failed)?).map(f64::from_bits));
            summary.peaks.clear();
            summary.peaks.extend(values(read(2).map_err(&failed)?));
            let task = row.get_ref(0).and_then(|v| Ok(v.as_str()?));
            each(task.map_err(&failed)?, &summary);
        }
        Ok(())
    }

    /// Builds every task summary again from the attempts (they never need it: for tests and
    /// repairs).
    pub fn rebuild_task_summaries(&mut self) -> Result<(), StateError> {
        let failed = fail(&self.path, "rebuild the task summaries in");
        let tx = self.conn.transaction().map_err(&failed)?;
        rebuild_all(&tx).map_err(&failed)?;
        tx.commit().map_err(&failed)
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
