//! What the store knows of the resources tasks used: learnt memory needs, per-run totals.

use std::collections::HashMap;

use rusqlite::params;

use super::{StateStore, fail};
use crate::state::StateError;

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
    /// need).
    pub fn learnt_peaks(
        &self,
        manifest: &str,
        recent: usize,
    ) -> Result<HashMap<String, u64>, StateError> {
        let failed = fail(&self.path, "read task memory use from");
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT task, max(peak_rss_bytes) FROM ( \
                     SELECT a.task, a.peak_rss_bytes, row_number() OVER ( \
                         PARTITION BY a.task ORDER BY a.ended_at_ms DESC) AS n \
                     FROM attempts a JOIN runs r ON r.run_id = a.run_id \
                     WHERE r.manifest = ?1 AND a.peak_rss_bytes IS NOT NULL) \
                 WHERE n <= ?2 GROUP BY task",
            )
            .map_err(&failed)?;
        let recent = i64::try_from(recent).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![manifest, recent], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(&failed)?;
        let mut peaks = HashMap::new();
        for row in rows {
            let (task, peak) = row.map_err(&failed)?;
            peaks.insert(task, u64::try_from(peak).unwrap_or(0));
        }
        Ok(peaks)
    }

    /// The resource use of a run: its largest peak and its total CPU time.
    pub fn run_usage(&self, run_id: &str) -> Result<RunUsage, StateError> {
        self.conn
            .prepare_cached(
                "SELECT max(peak_rss_bytes), sum(user_s) + sum(sys_s) FROM attempts \
                 WHERE run_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![run_id], |row| {
                    Ok(RunUsage {
                        peak_rss_bytes: row
                            .get::<_, Option<i64>>(0)?
                            .and_then(|b| u64::try_from(b).ok()),
                        cpu_s: row.get(1)?,
                    })
                })
            })
            .map_err(fail(&self.path, "read a run's resource use from"))
    }
}
