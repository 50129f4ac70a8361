//! What a run tells its observer as it goes. The engine never prints; the CLI renders these.

use std::path::PathBuf;
use std::time::Duration;

use crate::report::TaskStatus;
use crate::workflow::TaskId;

/// Something that happened during a run.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run has its folder and is about to dispatch.
    Started {
        /// The run's id.
        run_id: String,
        /// `.wf/runs/RUN_ID`.
        run_dir: PathBuf,
        /// Job slots.
        jobs: u32,
        /// Tasks selected.
        tasks: usize,
    },
    /// An attempt was given to a worker slot and is starting.
    TaskStarted {
        /// The task.
        task: TaskId,
        /// Attempt number, from 1.
        attempt: u32,
        /// The slot, from 1.
        worker: usize,
    },
    /// An attempt ended.
    TaskFinished {
        /// The task.
        task: TaskId,
        /// Attempt number.
        attempt: u32,
        /// How the attempt ended, as a task status.
        status: TaskStatus,
        /// `Some(delay)` if the task will be tried again after `delay`.
        retry_in: Option<Duration>,
        /// Seconds the attempt ran.
        duration_s: f64,
        /// The task's log file, if it has one (a task that printed nothing has none).
        log: Option<PathBuf>,
        /// Why it failed, in words.
        reason: Option<String>,
    },
    /// A task ended without running (skipped, not run, up to date).
    TaskSettled {
        /// The task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
        /// Why.
        reason: Option<String>,
    },
    /// Before starting, what an earlier run that did not end normally left was found and
    /// ended: processes on this machine, jobs on a cluster.
    Recovered(crate::exec::Recovered),
    /// The run is over: its report is built, written and recorded. Always the last event.
    Finished {
        /// The report (also what the run returns).
        report: std::sync::Arc<crate::report::RunReport>,
    },
    /// Writing to the state store failed; the run went on without recording the rest.
    StoreFailed {
        /// What went wrong.
        message: String,
    },
    /// A report file could not be written (after the run ended; the run's record in the state
    /// store is complete). Sent once per file, before `run` returns.
    ReportFailed {
        /// The file.
        path: std::path::PathBuf,
        /// The OS's reason, with the file: `failed to write PATH: No space left on device …`.
        message: String,
    },
    /// wf received a signal and is ending running tasks.
    Interrupted {
        /// The signal.
        signal: i32,
        /// True on the second signal: tasks are killed at once.
        force: bool,
    },
    /// A cancelled run's running tasks have all ended; its `when = "always"` tasks (whose
    /// dependencies have all ended) start now. A further signal cancels them.
    CleanupStarted,
    /// wf received a signal after the last task ended, while ending the processes tasks left
    /// running: they get SIGKILL at once, and the run counts as interrupted.
    InterruptedCleanup {
        /// The signal.
        signal: i32,
    },
}
