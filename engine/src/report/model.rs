//! The report's data model: the contract of `report.json` (see docs/report.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tasks::TaskReports;
use crate::workflow::ExecutorKind;

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every task succeeded, was up to date, was skipped by its `when`, or was allowed to fail.
    Succeeded,
    /// A task failed or timed out.
    Failed,
    /// The run was interrupted (SIGINT, SIGTERM, SIGHUP).
    Cancelled,
}

/// How one task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Its last attempt exited 0.
    Succeeded,
    /// Its last attempt exited non-zero, was killed, or could not start.
    Failed,
    /// Its last attempt ran past its `timeout` and was ended.
    TimedOut,
    /// Its last attempt used more memory than its `mem_limit` and was killed.
    OutOfMemory,
    /// Its `when` condition was not met (a dependency failed, or none did for `failure`).
    Skipped,
    /// Its outputs were up to date, or it succeeded with the same fingerprint before (`--resume`).
    UpToDate,
    /// It was running when the run was cancelled, and was ended.
    Cancelled,
    /// It never started: the run stopped first (fail-fast after a failure, or cancellation).
    NotRun,
}

impl TaskStatus {
    /// Every status, in the order reports list their counts.
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Succeeded,
        TaskStatus::UpToDate,
        TaskStatus::Failed,
        TaskStatus::TimedOut,
        TaskStatus::OutOfMemory,
        TaskStatus::Cancelled,
        TaskStatus::Skipped,
        TaskStatus::NotRun,
    ];

    /// The word used in reports and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::OutOfMemory => "out_of_memory",
            TaskStatus::Skipped => "skipped",
            TaskStatus::UpToDate => "up_to_date",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::NotRun => "not_run",
        }
    }
}

/// One task in a run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskReport {
    /// Full task name (with matrix values).
    pub name: String,
    /// How it ended.
    pub status: TaskStatus,
    /// Attempts made (0 if it never started).
    pub attempts: u32,
    /// Exit code of the last attempt; null when ended by a signal or never started.
    pub exit_code: Option<i32>,
    /// Signal that ended the last attempt, e.g. "SIGKILL".
    pub signal: Option<String>,
    /// Seconds from the start of the run to the start of the first attempt.
    pub start_s: Option<f64>,
    /// Seconds from the start of the run to the end of the last attempt.
    pub end_s: Option<f64>,
    /// Seconds the attempts ran, summed (retry delays excluded).
    pub duration_s: Option<f64>,
    /// Seconds it was ready to run but waited for a lock.
    pub lock_wait_s: f64,
    /// The worker slot (from 1) that ran the last attempt, whatever the executor (with Slurm,
    /// a slot is a place in wf's own limit of jobs in the queue; see `job_id`).
    pub worker: Option<u64>,
    /// Slurm only: seconds its attempts waited in the queue (submission to start), summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_s: Option<f64>,
    /// Slurm only: the job id of the last attempt submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
    /// Slurm only: the node(s) the last attempt ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its log file, relative to the manifest's folder; null if it never wrote anything.
    pub log: Option<String>,
    /// Why it was skipped, failed, or not run, in words.
    pub reason: Option<String>,
    /// Processes it left running after its main process exited, which wf ended.
    #[serde(default)]
    pub leftover_processes: u32,
    /// `allow_failure`: its failure is reported but does not fail the run.
    #[serde(default)]
    pub allow_failure: bool,
    /// Peak resident memory of its attempts, in bytes: of the whole process tree where a
    /// cgroup measured it (tasks with `mem_limit`), else of its largest single process.
    /// Null if it never ran or the executor does not measure it.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// CPU seconds in user mode, its attempts summed (the task and the processes it waited for).
    #[serde(default)]
    pub user_s: Option<f64>,
    /// CPU seconds in kernel mode, its attempts summed.
    #[serde(default)]
    pub sys_s: Option<f64>,
    /// The command, as one line (an argv command shell-quoted); absent in reports of older
    /// versions of wf.
    #[serde(default)]
    pub command: Option<String>,
    /// The task's `description`, if it has one.
    #[serde(default)]
    pub description: Option<String>,
    /// Every attempt, in order (empty if it never started); `attempts` is its length.
    #[serde(default)]
    pub attempts_detail: Vec<AttemptReport>,
}

/// One attempt of a task: when and where it ran, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptReport {
    /// Attempt number, from 1.
    pub number: u32,
    /// Seconds from the start of the run to the start of its process; null if it could not
    /// start.
    pub start_s: Option<f64>,
    /// Seconds from the start of the run to its end.
    pub end_s: f64,
    /// Seconds its process ran (0 if it could not start).
    pub duration_s: f64,
    /// The slot it ran on (local, from 1).
    pub worker: u64,
    /// Its exit code; null when ended by a signal or never started.
    pub exit_code: Option<i32>,
    /// The signal that ended it, e.g. "SIGTERM".
    pub signal: Option<String>,
    /// How it ended: `succeeded`, `failed`, `timed_out`, `cancelled` or `not_run`.
    pub status: TaskStatus,
    /// Why it failed, in words.
    pub reason: Option<String>,
    /// Seconds the task was ready for this attempt but waited for a lock.
    pub lock_wait_s: f64,
    /// Seconds of retry delay before this attempt (0 for the first).
    pub retry_delay_s: f64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// The run's id, also its folder name under `.wf/runs/`.
    pub run_id: String,
    /// The manifest's path as given.
    pub manifest: String,
    /// The workflow's name.
    pub workflow: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Job slots.
    pub jobs: u32,
    /// Where the tasks ran.
    pub executor: ExecutorKind,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, RFC 3339 UTC.
    pub finished_at: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// Every task selected for the run, in declaration order.
    #[schemars(with = "Vec<TaskReport>")]
    pub tasks: TaskReports,
    /// The chain of tasks that determined the wall time (by actual durations).
    pub critical_path: Vec<String>,
    /// Processes that escaped their task's process group and were ended at the end of the run.
    #[serde(default)]
    pub stray_processes: u32,
}

#[cfg(test)]
impl TaskReport {
    /// An entry with a name and a status and nothing else, for tests to fill in.
    pub(crate) fn bare(name: &str, status: TaskStatus) -> Self {
        TaskReport {
            name: name.to_owned(),
            status,
            attempts: 0,
            exit_code: None,
            signal: None,
            start_s: None,
            end_s: None,
            duration_s: None,
            lock_wait_s: 0.0,
            worker: None,
            queue_wait_s: None,
            job_id: None,
            node: None,
            log: None,
            reason: None,
            leftover_processes: 0,
            allow_failure: false,
            peak_rss_bytes: None,
            user_s: None,
            sys_s: None,
            command: None,
            description: None,
            attempts_detail: Vec::new(),
        }
    }
}

impl RunReport {
    /// Number of tasks with each status, in a fixed order, leaving out zero counts.
    pub fn counts(&self) -> Vec<(TaskStatus, usize)> {
        count_statuses(self.tasks.statuses())
    }
}

/// Number of each status among `statuses`, in [`TaskStatus::ALL`]'s order, leaving out zero
/// counts.
pub fn count_statuses(statuses: impl Iterator<Item = TaskStatus>) -> Vec<(TaskStatus, usize)> {
    let mut counts = TaskStatus::ALL.map(|status| (status, 0));
    for status in statuses {
        if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == status) {
            *n += 1;
        }
    }
    counts.into_iter().filter(|(_, n)| *n > 0).collect()
}

/// Rounds seconds to milliseconds for the report.
pub fn seconds(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
