//! Executors: where and how task attempts run. The scheduler decides *when*; an [`Executor`]
//! decides *where and how*. The run gives each worker thread (one per slot) an executor slot
//! and the attempts to run on it; the executor knows nothing of the graph or of locks.
//!
//! [`local::LocalExecutor`] runs attempts as process groups on this machine;
//! [`slurm::executor::SlurmExecutor`] submits each attempt as a Slurm batch job and blocks the
//! slot's worker until the job has ended (see docs/executors.md).

pub mod local;
pub mod logs;
pub mod slurm;
pub mod usage;

pub use usage::ResourceUsage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::layout::marker::CrashedRun;
use crate::report::signals::signal_name;
use crate::workflow::{ExecutorKind, TaskId, Workflow};

/// Where a task's stdout and stderr go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TaskOutput {
    /// Straight into its log file: no pipe, nothing can block, nothing is copied.
    #[default]
    Log,
    /// Into its log and, live and prefixed with its name, to wf's stdout/stderr.
    Stream(StreamPrefix),
}

/// How `--output stream` prefixes each line with its task's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamPrefix {
    /// Names are padded to this many characters, so that lines of different tasks align
    /// (longer names are not cut).
    pub width: usize,
    /// Each task's name in a colour of its own (ANSI), for a terminal.
    pub color: bool,
}

impl StreamPrefix {
    /// The prefix of the lines of task number `task` named `name`: `name | `, padded, coloured.
    pub fn render(&self, task: usize, name: &str) -> String {
        // Six colours that read on dark and light terminals: red, green, yellow, blue,
        // magenta, cyan, in turn by task.
        const COLORS: [u8; 6] = [31, 32, 33, 34, 35, 36];
        // A matrix value in a name may hold control characters: shown escaped, never raw.
        let name: String = name
            .chars()
            .flat_map(|c| {
                let escaped: Vec<char> = if c.is_control() {
                    c.escape_default().collect()
                } else {
                    vec![c]
                };
                escaped
            })
            .collect();
        let padded = format!("{name:<width$}", width = self.width);
        if self.color {
            format!("\x1b[{}m{padded}\x1b[0m | ", COLORS[task % COLORS.len()])
        } else {
            format!("{padded} | ")
        }
    }
}

/// Which of wf's own streams a line of `--output stream` belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// wf's stdout (the task's stdout).
    Stdout,
    /// wf's stderr (the task's stderr).
    Stderr,
}

/// Where `--output stream` lines go when the caller wants them (a terminal with a status
/// line to keep out of the way); otherwise they are written to wf's stdout and stderr.
/// Called from the executor's drain threads, one whole line (prefix and newline included) at
/// a time.
pub trait LineSink: Send + Sync + std::fmt::Debug {
    /// Shows one line.
    fn line(&self, stream: Stream, text: &[u8]);
}

/// What an executor is given when a run starts.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The workflow being run.
    pub workflow: Arc<Workflow>,
    /// The run's id (tasks see it as `WF_RUN_ID`).
    pub run_id: String,
    /// `.wf/runs/RUN_ID`: logs go to its `logs/` folder.
    pub run_dir: PathBuf,
    /// SIGTERM → SIGKILL grace for timeouts and cancellation.
    pub grace: Duration,
    /// Where task output goes.
    pub output: TaskOutput,
    /// Where `--output stream` lines go (`None`: wf's stdout and stderr).
    pub lines: Option<Arc<dyn LineSink>>,
    /// The caller lets the run act on the whole process: handle SIGINT, SIGTERM and SIGHUP,
    /// adopt the processes its tasks orphan (subreaper) and end them. A library caller that
    /// leaves it off keeps its own signal handling and children untouched.
    pub own_process: bool,
}

/// Where and how attempts run. One value serves a whole run and is shared by its worker
/// threads; each worker owns one [`Executor::Slot`].
///
/// Contract:
/// - [`Executor::run`] blocks until the attempt has ended, however it ends, and enforces the
///   task's `timeout` (ending the attempt with [`AttemptEnd::TimedOut`]).
/// - After [`Executor::cancel_all`], running attempts end as [`AttemptEnd::Cancelled`] and
///   attempts asked for later end at once, never started.
/// - An attempt leaves nothing running when `run` returns; what escaped is ended by
///   [`Executor::finish`].
/// - An executor never decides what runs next, never touches locks, and never checks a task's
///   declared outputs (the run does, when the attempt completes).
pub trait Executor: Sync + Sized {
    /// What one worker thread owns to run attempts without sharing (buffers, caches).
    type Slot: Send;

    /// The kind, as the report names it.
    const KIND: ExecutorKind;

    /// Sets the executor up for a run.
    fn start(context: RunContext) -> std::io::Result<Self>;

    /// Ends what `crashed` runs (runs of this manifest that did not end normally: wf was
    /// killed) left running on this kind of executor, waiting `grace` for it to stop. Called
    /// with the run lock held, before the new run starts, for every kind of executor whichever
    /// one the new run uses. One entry per crashed run it found something of.
    fn recover_crashed(crashed: &[CrashedRun], grace: Duration) -> Vec<Recovered>;

    /// The slot of worker `worker` (from 0). Called on that worker's thread.
    fn slot(&self, worker: usize) -> Self::Slot;

    /// Runs one attempt to its end.
    fn run(&self, request: AttemptRequest, slot: &mut Self::Slot) -> AttemptResult;

    /// Ends every running attempt: gracefully (SIGTERM, the grace period, SIGKILL), or at once
    /// with `force`. Later attempts do not start.
    fn cancel_all(&self, force: bool);

    /// After a graceful [`Executor::cancel_all`], once no attempt runs any more: later
    /// attempts start again (the `when = "always"` cleanup tasks of a cancelled run). Never
    /// called after a forced cancellation.
    fn reopen(&self);

    /// After the last attempt (every worker has returned): ends whatever the run's attempts
    /// left running and returns how many there were. `cut_short` is asked while waiting a
    /// grace period; once it says true, what is left is killed at once.
    fn finish(&self, cut_short: &mut dyn FnMut() -> bool) -> u32;
}

/// What was found of a run that did not end normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The crashed run's id.
    pub run_id: String,
    /// Processes of its tasks that were still alive on this machine and were ended.
    pub processes: usize,
    /// Jobs of its tasks still queued or running (on a cluster) that were cancelled.
    pub jobs: usize,
}

/// Where an attempt ran, as far as the executor knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// It never started.
    #[default]
    Nowhere,
    /// A process group on this machine.
    Process {
        /// The main process's id, which is also its group's id.
        pid: u32,
    },
    /// A Slurm batch job.
    Slurm {
        /// The job's id.
        job_id: u64,
        /// The node(s) it ran on, as Slurm names them; `None` if it never ran.
        node: Option<String>,
        /// From submission to the moment it was seen running (zero if it never ran).
        queue_wait: Duration,
    },
}

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
    /// The kernel killed its process tree for using more memory than its `mem_limit`.
    OutOfMemory {
        /// The limit, in bytes.
        limit: u64,
    },
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
            AttemptEnd::OutOfMemory { .. } => (None, Some(signal_name(libc::SIGKILL))),
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
    /// Where it ran.
    pub placement: Placement,
    /// What it used (peak memory, CPU time), when the executor measured it.
    pub usage: Option<ResourceUsage>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_prefixes_are_padded_coloured_and_escaped() {
        let plain = StreamPrefix {
            width: 4,
            color: false,
        };
        assert_eq!(plain.render(0, "a"), "a    | ");
        assert_eq!(plain.render(0, "t[v=\x1b[2J]"), "t[v=\\u{1b}[2J] | ");
        let colored = StreamPrefix {
            width: 1,
            color: true,
        };
        assert_eq!(colored.render(1, "b"), "\x1b[32mb\x1b[0m | ");
    }
}
