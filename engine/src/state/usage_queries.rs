//! What the store knows of the resources tasks used: learnt memory needs, per-run totals.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{StateStore, fail};
use crate::state::StateError;
use crate::state::summary::highest_peaks;

/// Resource use of one run, over all its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunUsage {
    /// The highest peak memory of any attempt, in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// CPU seconds (user and system) of all attempts.
    pub cpu_s: Option<f64>,
}

impl StateStore {
    /// For each task of `manifest`, the highest peak memory of its last `recent` measured
    /// attempts, whatever their outcome (an attempt killed for memory says most about the
    /// need). `recent` is at most [`SUMMARY_DEPTH`](crate::state::SUMMARY_DEPTH) (a larger one
    /// counts as that). Read from the task summaries, not from the attempts.
    pub fn learnt_peaks(
        &self,
        manifest: &str,
        recent: usize,
    ) -> Result<HashMap<String, u64>, StateError> {
        Ok(highest_peaks(&self.task_summaries(manifest)?, recent))
    }

    /// The resource use of a run: its largest peak and its total CPU time. Stored when the run
    /// ended; summed from its attempts while it is marked running.
    pub fn run_usage(&self, run_id: &str) -> Result<RunUsage, StateError> {
        let failed = fail(&self.path, "read a run's resource use from");
        let stored = self
            .conn
            .prepare_cached(
                "SELECT status = 'running', peak_rss_bytes, cpu_s FROM runs WHERE run_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![run_id], |row| {
                    Ok((row.get::<_, bool>(0)?, usage(row.get(1)?, row.get(2)?)))
                })
                .optional()
            })
            .map_err(&failed)?;
        match stored {
            Some((false, usage)) => Ok(usage),
            _ => self.summed_usage(run_id),
        }
    }

    /// A run's resource use from its attempts.
    pub(in crate::state) fn summed_usage(&self, run_id: &str) -> Result<RunUsage, StateError> {
        self.conn
            .prepare_cached(
                "SELECT max(peak_rss_bytes), sum(user_s) + sum(sys_s) FROM attempts \
                 WHERE run_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![run_id], |row| Ok(usage(row.get(0)?, row.get(1)?)))
            })
            .map_err(fail(&self.path, "read a run's resource use from"))
    }
}

/// A run's usage from its stored (or summed) peak and CPU time.
fn usage(peak_rss_bytes: Option<i64>, cpu_s: Option<f64>) -> RunUsage {
    RunUsage {
        peak_rss_bytes: peak_rss_bytes.and_then(|b| u64::try_from(b).ok()),
        cpu_s,
    }
}
