//! A Slurm client: what an executor needs to run attempts as Slurm batch jobs, through the
//! Slurm command-line tools (the interface that is the same across Slurm versions).
//!
//! - [`script`]: the batch script of one attempt (environment, working directory, command).
//! - [`submit`]: `sbatch --parsable` for one attempt.
//! - [`poll`]: the state of many jobs with one `squeue` call; `scontrol`/`sacct` for jobs
//!   squeue no longer lists; the adaptive wait between polls.
//! - [`track`]: the jobs in flight, polled together, their start and end noticed.
//! - [`cancel`]: `scancel` for many jobs, SIGKILL, and a bounded wait for the end.
//! - [`state`]: job states and how a finished job's state and exit code map to an attempt's end.
//!
//! Every tool runs with a timeout ([`Tools::timeout`]), and its stderr is kept in the error.
//! An executor maps onto it as: submit → [`SlurmClient::submit`] +
//! [`JobTracker::watch`](track::JobTracker::watch); poll all in flight →
//! [`JobTracker::poll`](track::JobTracker::poll); cancel → [`SlurmClient::cancel`]; cancel all →
//! `cancel` of every id, [`SlurmClient::wait_final`], then [`SlurmClient::kill`] for any left;
//! recover the jobs of a crashed run → [`SlurmClient::poll`] of their ids (final ones are done,
//! the others are watched again).

pub mod cancel;
pub mod command;
pub mod error;
pub mod executor;
pub mod poll;
mod poller;
pub mod recover;
pub mod script;
pub mod state;
pub mod submit;
pub mod track;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

pub use command::Tools;
pub use error::SlurmError;
pub use executor::SlurmExecutor;
pub use poll::{JobInfo, PollInterval};
pub use script::{BatchScript, ScriptError};
pub use state::{ExitCode, JobEnd, JobState};
pub use submit::{Export, JobOptions, Submission, SubmitRequest};
pub use track::{Finished, JobTracker};

/// A Slurm job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many times each Slurm tool was called by one client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `sbatch` calls.
    pub sbatch: u64,
    /// `squeue` calls.
    pub squeue: u64,
    /// `scontrol` calls.
    pub scontrol: u64,
    /// `sacct` calls.
    pub sacct: u64,
    /// `scancel` calls.
    pub scancel: u64,
    /// `sinfo` calls.
    pub sinfo: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sbatch: AtomicU64,
    squeue: AtomicU64,
    scontrol: AtomicU64,
    sacct: AtomicU64,
    scancel: AtomicU64,
    sinfo: AtomicU64,
}

/// Talks to one Slurm cluster through its command-line tools. Shareable between threads.
#[derive(Debug, Default)]
pub struct SlurmClient {
    tools: Tools,
    counters: Counters,
}

impl SlurmClient {
    /// A client using `tools`.
    pub fn new(tools: Tools) -> Self {
        Self {
            tools,
            counters: Counters::default(),
        }
    }

    /// Where the tools are and their timeout.
    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    /// How many times each tool was called so far.
    pub fn calls(&self) -> CallCounts {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        CallCounts {
            sbatch: get(&c.sbatch),
            squeue: get(&c.squeue),
            scontrol: get(&c.scontrol),
            sacct: get(&c.sacct),
            scancel: get(&c.scancel),
            sinfo: get(&c.sinfo),
        }
    }

    fn count(&self, which: impl Fn(&Counters) -> &AtomicU64) {
        which(&self.counters).fetch_add(1, Ordering::Relaxed);
    }

    /// The cluster's partitions (`sinfo`), the default one marked with a trailing `*`; the
    /// cheapest check that the controller answers.
    pub fn partitions(&self) -> Result<Vec<String>, SlurmError> {
        self.count(|c| &c.sinfo);
        let args = ["-h".to_owned(), "-o".to_owned(), "%P".to_owned()];
        let stdout = self
            .tools
            .run("sinfo", &args, None)?
            .into_success("sinfo")?;
        Ok(stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}
