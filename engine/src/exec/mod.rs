//! Executors: where and how task attempts run. The scheduler decides *when*; a worker thread
//! runs what it is given with the run's [`local::LocalRunner`] and reports the completion.

pub(crate) mod group;
pub(crate) mod launch;
pub mod local;
pub mod logs;
pub mod recover;
pub(crate) mod spawn;
pub(crate) mod stream;
pub(crate) mod supervise;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::report::signals::signal_name;
use crate::workflow::TaskId;

/// A request to run one attempt of a task on a worker slot.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRequest {
    /// The task.
    pub task: TaskId,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The worker (slot) that runs it, from 0.
    pub worker: usize,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by this signal (not by wf).
    Signalled(i32),
    /// wf ended it for running past its timeout; the last signal sent.
    TimedOut {
        /// The signal that ended it (SIGTERM or SIGKILL).
        signal: i32,
    },
    /// wf ended it because the run was cancelled; `None` if it never started.
    Cancelled {
        /// The signal that ended it.
        signal: Option<i32>,
    },
    /// It could not be started: command not found, not executable, bad cwd, …
    NotStarted(String),
    /// It exited 0 but did not create these declared outputs (relative to the manifest's
    /// folder).
    OutputsMissing(Vec<String>),
}

impl AttemptEnd {
    /// True if and only if the attempt succeeded (exit code 0).
    pub fn succeeded(&self) -> bool {
        matches!(self, AttemptEnd::Exited(0))
    }

    /// The exit code and the name of the ending signal, as the report and the store show them.
    pub fn exit_code_and_signal(&self) -> (Option<i32>, Option<String>) {
        match self {
            AttemptEnd::Exited(code) => (Some(*code), None),
            AttemptEnd::OutputsMissing(_) => (Some(0), None),
            AttemptEnd::Signalled(signal) | AttemptEnd::TimedOut { signal } => {
                (None, Some(signal_name(*signal)))
            }
            AttemptEnd::Cancelled { signal } => (None, signal.map(signal_name)),
            AttemptEnd::NotStarted(_) => (None, None),
        }
    }
}

/// The outcome of one attempt, as reported on the completion queue.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// When the process started, if it did.
    pub started_at: Option<Instant>,
    /// When it ended (or failed to start).
    pub ended_at: Instant,
    /// How it ended.
    pub end: AttemptEnd,
    /// Size of the task's log after the attempt.
    pub log_bytes: u64,
    /// The task's log file, if it has one (a task that printed nothing has none).
    pub log: Option<PathBuf>,
    /// Processes of the task's group still alive after its main process exited, which wf ended.
    pub leftovers: u32,
}

impl AttemptResult {
    /// How long the process ran (zero if it never started).
    pub fn duration(&self) -> Duration {
        self.started_at.map_or(Duration::ZERO, |start| {
            self.ended_at.saturating_duration_since(start)
        })
    }
}

/// What a worker reports when an attempt is over.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The attempt.
    pub request: AttemptRequest,
    /// Its outcome.
    pub result: AttemptResult,
}
