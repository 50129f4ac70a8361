//! The values written to and read from the state store.
//!
//! Times are milliseconds since the Unix epoch (`Timestamp::millis`), durations are seconds.

use std::collections::HashMap;

use crate::report::model::{RunStatus, TaskStatus};
use crate::state::fingerprint::FingerprintParts;

/// A run as it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    /// The run's id (its folder name under `.wf/runs/`).
    pub run_id: String,
    /// The manifest's absolute path: runs with the same text are runs of the same manifest.
    pub manifest: String,
    /// The workflow's name.
    pub workflow: String,
    /// The wf process, so that a later wf can tell a run still going from one whose wf died.
    pub pid: Option<u32>,
    /// When it started.
    pub started_at_ms: i64,
    /// Job slots.
    pub jobs: u32,
}

/// A run as it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// The run's id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// When it ended.
    pub finished_at_ms: i64,
    /// Wall time.
    pub duration_s: f64,
    /// Number of tasks with each status (as from `RunReport::counts`).
    pub counts: Vec<(TaskStatus, usize)>,
}

/// What the run loop records as things happen; [`crate::state::StateStore::record`] writes a
/// batch of them at once.
#[derive(Debug, Clone, PartialEq)]
pub enum StateEvent {
    /// An attempt of a task ended (one per attempt, retries included).
    AttemptFinished(AttemptRecord),
    /// A task reached its final status in this run, whether it ran or not.
    TaskSettled(OutcomeRecord),
}

/// One attempt of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The run.
    pub run_id: String,
    /// The task's full name.
    pub task: String,
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// How it ended.
    pub status: TaskStatus,
    /// When it started.
    pub started_at_ms: i64,
    /// When it ended.
    pub ended_at_ms: i64,
    /// How long it ran.
    pub duration_s: f64,
    /// Its exit code; `None` when ended by a signal or never started.
    pub exit_code: Option<i32>,
    /// The signal that ended it, e.g. "SIGKILL".
    pub signal: Option<String>,
    /// The slot (local) or job id (Slurm) it ran on.
    pub worker: Option<u64>,
    /// Its log file, relative to the manifest's folder.
    pub log: Option<String>,
    /// Its peak resident memory in bytes, when measured.
    pub peak_rss_bytes: Option<u64>,
    /// CPU seconds in user mode, when measured.
    pub user_s: Option<f64>,
    /// CPU seconds in kernel mode, when measured.
    pub sys_s: Option<f64>,
}

/// How one task ended in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    /// The run.
    pub run_id: String,
    /// The task's full name.
    pub task: String,
    /// Its final status.
    pub status: TaskStatus,
    /// Its fingerprint in this run, if one was computed.
    pub fingerprint: Option<String>,
    /// Seconds its attempts ran, summed.
    pub duration_s: Option<f64>,
    /// Present when it succeeded: becomes the task's last success. Ignored without a
    /// `fingerprint`, which a success is only useful with.
    pub success: Option<SuccessRecord>,
}

/// What a success leaves for later up-to-date checks and explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessRecord {
    /// What went into the fingerprint.
    pub parts: FingerprintParts,
    /// The task's declared outputs, relative to the manifest's folder.
    pub outputs: Vec<String>,
    /// When it finished.
    pub finished_at_ms: i64,
}

/// The last success of a task of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    /// The task's full name.
    pub task: String,
    /// The run it succeeded in.
    pub run_id: String,
    /// Its fingerprint then.
    pub fingerprint: String,
    /// What went into the fingerprint; `None` if the stored parts could not be read.
    pub parts: Option<FingerprintParts>,
    /// Its declared outputs, relative to the manifest's folder.
    pub outputs: Vec<String>,
    /// When it finished.
    pub finished_at_ms: i64,
    /// Seconds its attempts ran.
    pub duration_s: Option<f64>,
}

/// Where a run is: still marked running, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Started and not finished: still going, or its wf died.
    Running,
    /// Finished, every task fine.
    Succeeded,
    /// Finished with a failure.
    Failed,
    /// Interrupted, or found abandoned.
    Cancelled,
}

impl RunState {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// The state stored as `word`.
    pub fn parse(word: &str) -> Option<Self> {
        [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == word)
    }
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded => RunState::Succeeded,
            RunStatus::Failed => RunState::Failed,
            RunStatus::Cancelled => RunState::Cancelled,
        }
    }
}

/// One run, as `wf history` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's id.
    pub run_id: String,
    /// The manifest's absolute path.
    pub manifest: String,
    /// The workflow's name.
    pub workflow: String,
    /// The wf process that ran it.
    pub pid: Option<u32>,
    /// When it started.
    pub started_at_ms: i64,
    /// When it ended; `None` while marked running.
    pub finished_at_ms: Option<i64>,
    /// Wall time; `None` while marked running.
    pub duration_s: Option<f64>,
    /// Where it is.
    pub status: RunState,
    /// Job slots.
    pub jobs: u32,
    /// Number of tasks with each status, in report order; `None` while running.
    pub counts: Option<Vec<(TaskStatus, u64)>>,
}

/// The run before this one, for `--resume`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousRun {
    /// The run.
    pub summary: RunSummary,
    /// The tasks that succeeded in it, each with its fingerprint then (if one was computed).
    pub succeeded: HashMap<String, Option<String>>,
}

/// What the store holds of a run that has no report (still running, or its wf was killed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedProgress {
    /// Tasks with a final status recorded, per status, in report order.
    pub counts: Vec<(TaskStatus, u64)>,
    /// Tasks with a final status recorded, by name.
    pub settled: Vec<String>,
    /// Tasks with an attempt recorded but no final status (running, or waiting for a retry),
    /// by name.
    pub unsettled: Vec<String>,
}
