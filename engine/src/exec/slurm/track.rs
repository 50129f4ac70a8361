//! Watching the jobs in flight: one batched poll at a time, start and end noticed, the wait
//! before the next poll adapted to what changed.

use std::time::{Duration, Instant};

use indexmap::IndexMap;

use super::error::SlurmError;
use super::poll::{JobInfo, PollInterval};
use super::state::{JobEnd, JobState};
use super::{JobId, SlurmClient};

/// A job that reached a final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// What Slurm said last.
    pub info: JobInfo,
    /// How it ended.
    pub end: JobEnd,
    /// When it started: when a poll first saw it running, else its end minus Slurm's run time;
    /// `None` if it never ran.
    pub started_at: Option<Instant>,
    /// When a poll saw it final.
    pub ended_at: Instant,
}

#[derive(Debug, Clone)]
struct Tracked {
    state: Option<JobState>,
    started_at: Option<Instant>,
}

/// The jobs in flight and the poll interval.
#[derive(Debug, Clone, Default)]
pub struct JobTracker {
    jobs: IndexMap<JobId, Tracked>,
    interval: PollInterval,
}

impl JobTracker {
    /// No jobs yet; polls every `interval`.
    pub fn new(interval: PollInterval) -> Self {
        Self {
            jobs: IndexMap::new(),
            interval,
        }
    }

    /// Starts watching a submitted job (and shortens the next wait).
    pub fn watch(&mut self, id: JobId) {
        self.jobs.insert(
            id,
            Tracked {
                state: None,
                started_at: None,
            },
        );
        self.interval.reset();
    }

    /// Stops watching a job; false if it was not watched.
    pub fn forget(&mut self, id: JobId) -> bool {
        self.jobs.shift_remove(&id).is_some()
    }

    /// The jobs watched, in the order they were added.
    pub fn in_flight(&self) -> Vec<JobId> {
        self.jobs.keys().copied().collect()
    }

    /// When a poll first saw a watched job running; `None` while it has not been seen running
    /// (or is not watched).
    pub fn started_at(&self, id: JobId) -> Option<Instant> {
        self.jobs.get(&id).and_then(|tracked| tracked.started_at)
    }

    /// How many jobs are watched.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when no job is watched.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// How long to wait before the next [`JobTracker::poll`].
    pub fn next_wait(&self) -> Duration {
        self.interval.current()
    }

    /// Polls every job watched with one batched query, returns those that ended (and stops
    /// watching them). On an error nothing changes, so the caller may simply poll again later.
    pub fn poll(&mut self, client: &SlurmClient) -> Result<Vec<Finished>, SlurmError> {
        if self.jobs.is_empty() {
            return Ok(Vec::new());
        }
        let infos = client.poll(&self.in_flight())?;
        let now = Instant::now();
        let mut changed = false;
        let mut finished = Vec::new();
        for info in infos {
            let Some(tracked) = self.jobs.get_mut(&info.id) else {
                continue;
            };
            if tracked.state.as_ref() != Some(&info.state) {
                changed = true;
                tracked.state = Some(info.state.clone());
            }
            if tracked.started_at.is_none() && info.state.is_running() {
                tracked.started_at = Some(now);
            }
            if let Some(end) = info.job_end() {
                let started_at = tracked.started_at.or_else(|| {
                    info.nodes.as_ref()?;
                    now.checked_sub(info.run_time().unwrap_or_default())
                });
                self.jobs.shift_remove(&info.id);
                finished.push(Finished {
                    info,
                    end,
                    started_at,
                    ended_at: now,
                });
            }
        }
        self.interval.after_poll(changed);
        Ok(finished)
    }
}
