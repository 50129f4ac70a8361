//! The Slurm executor: every attempt is one batch job.
//!
//! A worker submits its attempt with `sbatch`, records the job id in the run's `jobs` file,
//! posts it on the [`Board`] and waits there until the run's single poller thread reports the
//! job's end. The worker enforces the task's `timeout` itself, counted from when the job was
//! seen running: `scancel`, the grace period, then SIGKILL to the batch step. Cancelling the run
//! cancels every job in flight with one `scancel`; [`Executor::finish`] makes sure nothing of the
//! run is left in the queue.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::poller::{Board, poll_loop};
use super::submit::job_name;
use super::{
    BatchScript, Export, Finished, JobEnd, JobId, JobOptions, PollInterval, SlurmClient,
    SlurmError, SubmitRequest, Tools,
};
use crate::exec::logs::{log_path, open_log, write_attempt_header};
use crate::exec::{
    AttemptEnd, AttemptRequest, AttemptResult, Executor, Placement, Recovered, RunContext,
};
use crate::layout::JOBS_FILE;
use crate::layout::marker::CrashedRun;
use crate::report::time::Timestamp;
use crate::workflow::{ExecutorKind, SlurmOptions, Task, Workflow};

/// How long polls may fail in a row before the attempts waiting on them fail: the controller
/// is considered lost.
pub const LOST_AFTER: Duration = Duration::from_secs(120);

/// How long a job may take to leave the queue after SIGKILL before its worker stops waiting
/// (the run's end tries again).
pub const KILL_WAIT: Duration = Duration::from_secs(30);

/// Checks, before a run starts, that the Slurm tools are installed and that the controller
/// answers: `sbatch --version`, then `sinfo`.
pub fn preflight(tools: &Tools) -> Result<(), SlurmError> {
    tools
        .run("sbatch", &["--version".to_owned()], None)?
        .into_success("sbatch")?;
    SlurmClient::new(tools.clone()).partitions().map(drop)
}

/// Runs attempts as Slurm batch jobs (see the module documentation).
pub struct SlurmExecutor {
    workflow: Arc<Workflow>,
    run_id: String,
    run_dir: PathBuf,
    grace: Duration,
    client: Arc<SlurmClient>,
    /// `jobs`: every job id submitted, one line each, for the recovery after a crash.
    jobs_file: File,
    board: Arc<Board>,
    poller: Mutex<Option<JoinHandle<()>>>,
}

/// Who ended a job before it ended on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ender {
    /// The task's timeout.
    Timeout,
    /// The run's cancellation.
    Cancel,
}

/// Where a worker is in ending its job.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the job to end by itself.
    Waiting,
    /// `scancel` sent at this moment: SIGKILL after the grace period.
    Terminating(Ender, Instant),
    /// SIGKILL sent at this moment.
    Killed(Ender, Instant),
}

/// What a worker sends its job.
#[derive(Debug, Clone, Copy)]
enum Signal {
    /// `scancel`: SIGTERM, and the job leaves the queue.
    Cancel,
    /// SIGKILL to the batch step.
    Kill,
}

/// How waiting for a job ended.
enum Waited {
    /// It reached a final state.
    Ended(Finished, Option<Ender>, bool),
    /// The worker stopped waiting: why, and when the job was seen starting.
    GaveUp(String, Option<Instant>, Option<Ender>),
}

impl Executor for SlurmExecutor {
    type Slot = ();

    const KIND: ExecutorKind = ExecutorKind::Slurm;

    fn start(context: RunContext) -> std::io::Result<Self> {
        std::fs::create_dir_all(context.run_dir.join("logs"))?;
        let jobs_file = open_log(&context.run_dir.join(JOBS_FILE))?;
        let client = Arc::new(SlurmClient::new(Tools::default()));
        let board = Arc::new(Board::default());
        let poller = {
            let (board, client) = (Arc::clone(&board), Arc::clone(&client));
            std::thread::Builder::new()
                .name("wf-slurm-poll".into())
                .spawn(move || poll_loop(&board, &client, PollInterval::default()))?
        };
        Ok(Self {
            workflow: context.workflow,
            run_id: context.run_id,
            run_dir: context.run_dir,
            grace: context.grace,
            client,
            jobs_file,
            board,
            poller: Mutex::new(Some(poller)),
        })
    }

    fn recover_crashed(crashed: &[CrashedRun], grace: Duration) -> Vec<Recovered> {
        super::recover::recover_crashed_jobs(crashed, grace)
    }

    fn slot(&self, _worker: usize) {}

    fn run(&self, request: AttemptRequest, _slot: &mut ()) -> AttemptResult {
        if self.board.lock().cancelled_at.is_some() {
            return ended_before_start(AttemptEnd::Cancelled { signal: None });
        }
        let task = &self.workflow.tasks[request.task];
        let log = log_path(&self.run_dir, &task.name);
        if task.retries > 0 {
            let header = open_log(&log).and_then(|mut file| {
                write_attempt_header(&mut file, request.attempt, &Timestamp::now().to_rfc3339())
            });
            if let Err(error) = header {
                return self.not_started(&log, format!("cannot open log: {error}"));
            }
        }
        let script =
            match BatchScript::for_attempt(&self.workflow, task, &self.run_id, request.attempt) {
                Ok(script) => script,
                Err(error) => return self.not_started(&log, error.to_string()),
            };
        let options = JobOptions::from(task.slurm.as_deref().unwrap_or(&SlurmOptions::default()));
        let submit = SubmitRequest {
            job_name: job_name(&self.workflow.name, &task.name),
            cwd: &task.cwd,
            log: &log,
            cpus: task.cpus,
            export: Export::All,
            options: &options,
            script: &script,
        };
        let submitted_at = Instant::now();
        let id = match self.client.submit(&submit) {
            Ok(submission) => submission.id,
            Err(error) => return self.not_started(&log, one_line(&error.to_string())),
        };
        // One small O_APPEND write per job: lines from different workers never interleave.
        let _ = (&self.jobs_file).write_all(format!("{id}\n").as_bytes());
        let (cancelled, force) = {
            let mut board = self.board.lock();
            board.added.push(id);
            board.in_flight.insert(id);
            (board.cancelled_at.is_some(), board.force)
        };
        self.board.work.notify_one();
        if cancelled {
            // The cancellation did not see this job: it was being submitted.
            self.end_jobs(&[id], force);
        }
        let waited = self.wait(id, task);
        Self::result(id, &log, submitted_at, waited)
    }

    fn cancel_all(&self, force: bool) {
        let ids: Vec<JobId> = {
            let mut board = self.board.lock();
            board.cancelled_at.get_or_insert_with(Instant::now);
            board.force |= force;
            board.in_flight.iter().copied().collect()
        };
        self.board.news.notify_all();
        self.end_jobs(&ids, force);
    }

    fn reopen(&self) {
        let mut board = self.board.lock();
        if !board.force {
            board.cancelled_at = None;
        }
    }

    fn finish(&self, cut_short: &mut dyn FnMut() -> bool) -> u32 {
        self.stop_poller();
        let left: Vec<JobId> = self.board.lock().in_flight.iter().copied().collect();
        if left.is_empty() {
            return 0;
        }
        let active: Vec<JobId> = match self.client.poll(&left) {
            Ok(infos) => infos
                .into_iter()
                .filter(|info| !info.state.is_final())
                .map(|info| info.id)
                .collect(),
            Err(_) => left,
        };
        if active.is_empty() {
            return 0;
        }
        // A signal during the clean-up: no grace, kill what is left at once.
        let grace = if cut_short() {
            Duration::ZERO
        } else {
            self.grace
        };
        end_and_wait(&self.client, &active, grace);
        u32::try_from(active.len()).unwrap_or(u32::MAX)
    }
}

/// Cancels `ids`, waits `grace` for them to end, then kills what is left and waits
/// [`KILL_WAIT`] more. Best effort: a cluster that does not answer is not waited for longer.
pub(crate) fn end_and_wait(client: &SlurmClient, ids: &[JobId], grace: Duration) {
    if client.cancel(ids).is_err() {
        return;
    }
    if let Err(SlurmError::NotFinished { ids: left, .. }) = client.wait_final(ids, grace) {
        if client.kill(&left).is_ok() {
            let _ = client.wait_final(&left, KILL_WAIT);
        }
    }
}

impl Drop for SlurmExecutor {
    fn drop(&mut self) {
        self.stop_poller();
    }
}

impl SlurmExecutor {
    /// Ends the poll thread (idempotent).
    fn stop_poller(&self) {
        self.board.lock().stop = true;
        self.board.work.notify_all();
        let handle = self
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Cancels `ids` (queued ones leave the queue), and with `force` kills the running ones at
    /// once. Failures are left to the waiting workers' bounded waits and to `finish`.
    fn end_jobs(&self, ids: &[JobId], force: bool) {
        if ids.is_empty() {
            return;
        }
        let _ = self.client.cancel(ids);
        if force {
            let _ = self.client.kill(ids);
        }
    }

    /// Waits until job `id` ends, ending it at the task's timeout or when the run is cancelled.
    fn wait(&self, id: JobId, task: &Task) -> Waited {
        let mut phase = Phase::Waiting;
        let mut guard = self.board.lock();
        loop {
            let started = guard.started.get(&id).copied();
            let ender = match phase {
                Phase::Waiting => None,
                Phase::Terminating(ender, _) | Phase::Killed(ender, _) => Some(ender),
            };
            if let Some(finished) = guard.ended.remove(&id) {
                guard.in_flight.remove(&id);
                guard.started.remove(&id);
                return Waited::Ended(finished, ender, matches!(phase, Phase::Killed(..)));
            }
            if let Some((since, error)) = &guard.failing {
                if since.elapsed() >= LOST_AFTER {
                    let reason = format!(
                        "lost contact with Slurm for {}s while job {id} was in flight: {}",
                        LOST_AFTER.as_secs(),
                        one_line(&error.to_string())
                    );
                    guard.dropped.push(id);
                    return Waited::GaveUp(reason, started, ender);
                }
            }
            let now = Instant::now();
            let mut act: Option<(Signal, Phase)> = None;
            let next = match phase {
                Phase::Waiting => {
                    if let Some(at) = guard.cancelled_at {
                        // cancel_all has sent `scancel` (and SIGKILL when forced).
                        phase = if guard.force {
                            Phase::Killed(Ender::Cancel, now)
                        } else {
                            Phase::Terminating(Ender::Cancel, at)
                        };
                        continue;
                    }
                    match (task.timeout, started) {
                        (Some(limit), Some(start)) if now >= start + limit => {
                            act = Some((Signal::Cancel, Phase::Terminating(Ender::Timeout, now)));
                            None
                        }
                        (Some(limit), Some(start)) => Some(start + limit),
                        _ => None,
                    }
                }
                Phase::Terminating(ender, since) => {
                    if guard.force {
                        phase = Phase::Killed(ender, now);
                        continue;
                    }
                    if now >= since + self.grace {
                        act = Some((Signal::Kill, Phase::Killed(ender, now)));
                        None
                    } else {
                        Some(since + self.grace)
                    }
                }
                Phase::Killed(ender, since) => {
                    if now >= since + KILL_WAIT {
                        guard.dropped.push(id);
                        let reason = format!(
                            "job {id} was still in the queue {}s after SIGKILL",
                            KILL_WAIT.as_secs()
                        );
                        return Waited::GaveUp(reason, started, Some(ender));
                    }
                    Some(since + KILL_WAIT)
                }
            };
            if let Some((how, then)) = act {
                drop(guard);
                let _ = match how {
                    Signal::Cancel => self.client.cancel(&[id]),
                    Signal::Kill => self.client.kill(&[id]),
                };
                phase = then;
                guard = self.board.lock();
                continue;
            }
            // Woken by every poll anyway; the bound only makes a lost wake-up harmless.
            let wait = next.map_or(Duration::from_secs(5), |at| {
                at.saturating_duration_since(now)
                    .min(Duration::from_secs(5))
            });
            guard = self.board.wait_news(guard, wait);
        }
    }

    /// The attempt's result from how the wait for job `id` ended.
    fn result(id: JobId, log: &Path, submitted_at: Instant, waited: Waited) -> AttemptResult {
        let (started_at, ended_at, end, node) = match waited {
            Waited::Ended(finished, ender, killed) => {
                let signal = if killed { libc::SIGKILL } else { libc::SIGTERM };
                let own = finished.end.attempt_end();
                let end = match (ender, &finished.end) {
                    (Some(Ender::Timeout), _) => AttemptEnd::TimedOut { signal },
                    (Some(Ender::Cancel), JobEnd::Cancelled(None)) => {
                        AttemptEnd::Cancelled { signal: None }
                    }
                    (Some(Ender::Cancel), JobEnd::Cancelled(Some(_))) => AttemptEnd::Cancelled {
                        signal: Some(signal),
                    },
                    _ => own,
                };
                if let AttemptEnd::NotStarted(reason) = &end {
                    append_line(log, &format!("wf: job {id}: {reason}"));
                }
                (
                    finished.started_at,
                    finished.ended_at,
                    end,
                    finished.info.nodes.clone(),
                )
            }
            Waited::GaveUp(reason, started_at, ender) => {
                append_line(log, &format!("wf: {reason}"));
                let end = match ender {
                    Some(Ender::Timeout) => AttemptEnd::TimedOut {
                        signal: libc::SIGKILL,
                    },
                    Some(Ender::Cancel) => AttemptEnd::Cancelled {
                        signal: Some(libc::SIGKILL),
                    },
                    None => AttemptEnd::NotStarted(reason),
                };
                (started_at, Instant::now(), end, None)
            }
        };
        let log_bytes = std::fs::metadata(log).map_or(0, |m| m.len());
        AttemptResult {
            started_at,
            ended_at,
            end,
            log_bytes,
            log: (log_bytes > 0).then(|| log.to_path_buf()),
            leftovers: 0,
            // Slurm accounts a job's memory and CPU itself (sacct); wf does not measure it.
            usage: None,
            placement: Placement::Slurm {
                job_id: id.0,
                node,
                queue_wait: started_at.map_or(Duration::ZERO, |s| {
                    s.saturating_duration_since(submitted_at)
                }),
            },
        }
    }

    /// An attempt that could not be submitted: the reason goes into its log and the report.
    fn not_started(&self, log: &Path, reason: String) -> AttemptResult {
        append_line(log, &format!("wf: {reason}"));
        let log_bytes = std::fs::metadata(log).map_or(0, |m| m.len());
        AttemptResult {
            log_bytes,
            log: (log_bytes > 0).then(|| log.to_path_buf()),
            ..ended_before_start(AttemptEnd::NotStarted(reason))
        }
    }
}

/// An attempt that ended before any job existed.
fn ended_before_start(end: AttemptEnd) -> AttemptResult {
    AttemptResult {
        started_at: None,
        ended_at: Instant::now(),
        end,
        log_bytes: 0,
        log: None,
        leftovers: 0,
        usage: None,
        placement: Placement::Nowhere,
    }
}

/// Appends one line to a task's log (best effort: the report carries the same words).
fn append_line(log: &Path, line: &str) {
    if let Ok(mut file) = open_log(log) {
        let _ = writeln!(file, "{line}");
    }
}

/// A tool's multi-line message on one line, for a report's `reason`.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_messages_become_one_line() {
        assert_eq!(
            one_line("Slurm rejected the partition: sbatch: error: a\nsbatch: error: b\n"),
            "Slurm rejected the partition: sbatch: error: a | sbatch: error: b"
        );
    }

    #[test]
    fn a_missing_sbatch_fails_the_preflight() {
        let tools = Tools {
            bin_dir: Some(PathBuf::from("/nonexistent-wf-slurm-bin")),
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(
            preflight(&tools),
            Err(SlurmError::NotInstalled { program }) if program == "sbatch"
        ));
    }
}
