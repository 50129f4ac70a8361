//! The run's one poller: a thread that asks Slurm about every job in flight with one batched
//! query at a time and tells the workers waiting on those jobs when each starts and ends.
//!
//! Workers and the poller meet on a [`Board`]: a worker posts the job it submitted and waits on
//! [`Board::news`]; the poller waits on [`Board::work`] between polls, for at most the adaptive
//! interval of its [`JobTracker`], and wakes early for a new job only to watch it (a job just
//! submitted has not started yet, so polling at once would only cost a `squeue`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::error::SlurmError;
use super::poll::PollInterval;
use super::track::{Finished, JobTracker};
use super::{JobId, SlurmClient};

/// What the executor's workers, its cancellation and the poller share.
#[derive(Debug, Default)]
pub(crate) struct BoardState {
    /// Jobs submitted since the poller last looked.
    pub added: Vec<JobId>,
    /// Jobs a worker stopped waiting for (it gave up on them).
    pub dropped: Vec<JobId>,
    /// Jobs of the run not yet seen in a final state by the worker that submitted them.
    pub in_flight: HashSet<JobId>,
    /// When a poll first saw each job running.
    pub started: HashMap<JobId, Instant>,
    /// Jobs that reached a final state, until their worker takes them.
    pub ended: HashMap<JobId, Finished>,
    /// Since when every poll has failed, and the last error.
    pub failing: Option<(Instant, SlurmError)>,
    /// When the run was cancelled.
    pub cancelled_at: Option<Instant>,
    /// The cancellation is immediate (a second Ctrl-C).
    pub force: bool,
    /// The poller must end.
    pub stop: bool,
}

/// The shared state and its two condition variables.
#[derive(Debug, Default)]
pub(crate) struct Board {
    state: Mutex<BoardState>,
    /// Signalled after every poll and on cancellation: workers wait on it.
    pub news: Condvar,
    /// Signalled when a job is added or the poller must stop: the poller waits on it.
    pub work: Condvar,
}

impl Board {
    /// Locks the state (a panicked thread does not make it unusable).
    pub fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on [`Board::news`] for at most `timeout`.
    pub fn wait_news<'a>(
        &self,
        guard: MutexGuard<'a, BoardState>,
        timeout: Duration,
    ) -> MutexGuard<'a, BoardState> {
        self.news
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// The poll loop, run on its own thread until [`BoardState::stop`].
pub(crate) fn poll_loop(board: &Arc<Board>, client: &SlurmClient, interval: PollInterval) {
    let mut tracker = JobTracker::new(interval);
    let mut last_poll = Instant::now();
    let mut guard = board.lock();
    loop {
        if guard.stop {
            return;
        }
        for id in guard.added.drain(..) {
            tracker.watch(id);
        }
        for id in guard.dropped.drain(..) {
            tracker.forget(id);
        }
        if tracker.is_empty() {
            guard = board
                .work
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let due = last_poll + tracker.next_wait();
        let now = Instant::now();
        if now < due {
            guard = board
                .work
                .wait_timeout(guard, due - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        drop(guard);
        let polled = tracker.poll(client);
        last_poll = Instant::now();
        guard = board.lock();
        match polled {
            Ok(finished) => {
                guard.failing = None;
                for id in tracker.in_flight() {
                    if let Some(at) = tracker.started_at(id) {
                        guard.started.entry(id).or_insert(at);
                    }
                }
                for job in finished {
                    guard.ended.insert(job.info.id, job);
                }
            }
            Err(error) => {
                let since = guard
                    .failing
                    .as_ref()
                    .map_or(last_poll, |(since, _)| *since);
                guard.failing = Some((since, error));
            }
        }
        board.news.notify_all();
    }
}
