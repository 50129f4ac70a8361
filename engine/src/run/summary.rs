//! What the run loop remembers of each task's attempts, and the report whose entries are made
//! from it.

use std::ops::{Index, IndexMut};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dispatch::retry_delay;
use crate::exec::{AttemptEnd, AttemptResult, Placement};
use crate::paths::shown;
use crate::report::model::{count_statuses, seconds};
use crate::report::signals::signal_name;
use crate::report::time::Timestamp;
use crate::report::{
    AttemptReport, RunReport, RunStatus, TaskReport, TaskReportSource, TaskReports, TaskStatus,
};
use crate::scheduler::core::{Core, NOT_STARTED_CANCELLED, Outcome};
use crate::workflow::{ExecutorKind, Task, TaskId, Workflow};

/// The attempts of one task so far. A run holds one per task until its report is written, so
/// it is kept small: what can be worked out from the attempts (first start, time busy, last
/// worker) is not stored, and what few tasks have (earlier attempts, Slurm details) is out of
/// line.
#[derive(Debug, Clone, Default)]
pub struct AttemptRecord {
    /// Attempts dispatched.
    pub attempts: u32,
    leftovers: u32,
    /// The last finished attempt.
    last: Option<AttemptSpan>,
    /// The log of the last attempt that wrote one.
    log: Option<Box<Path>>,
    /// Earlier attempts and Slurm details, for the tasks that have any.
    rare: Option<Box<RareDetails>>,
    /// Peak memory (the highest of its attempts) and CPU time (summed over them).
    usage: Option<UsageTotal>,
    /// Lock wait of the task already given to earlier attempts.
    lock_wait_counted: f64,
    /// Lock wait before the attempt now running.
    lock_wait_pending: f64,
}

/// What only some tasks' records hold.
#[derive(Debug, Clone, Default)]
struct RareDetails {
    /// The finished attempts before the last, in order.
    earlier: Vec<AttemptSpan>,
    /// Where its attempts ran on Slurm; `None` for local attempts.
    slurm: Option<SlurmTrail>,
}

/// Peak memory and CPU time of a task's attempts, in whole bytes and nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
struct UsageTotal {
    peak_rss_bytes: u64,
    user_ns: u64,
    sys_ns: u64,
}

/// Nanoseconds of `time`, saturating (585 years).
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

/// The attempt records of a run, by task id. After the run they are what the report's
/// entries are made from (see [`build_report`]).
#[derive(Debug, Default)]
pub struct TaskRecords {
    records: Vec<AttemptRecord>,
}

impl TaskRecords {
    /// An empty record for each of `tasks` tasks.
    pub fn new(tasks: usize) -> Self {
        Self {
            records: vec![AttemptRecord::default(); tasks],
        }
    }
}

impl Index<TaskId> for TaskRecords {
    type Output = AttemptRecord;

    fn index(&self, id: TaskId) -> &AttemptRecord {
        &self.records[id]
    }
}

impl IndexMut<TaskId> for TaskRecords {
    fn index_mut(&mut self, id: TaskId) -> &mut AttemptRecord {
        &mut self.records[id]
    }
}

/// The Slurm side of a task's attempts.
#[derive(Debug, Clone)]
struct SlurmTrail {
    /// The job of the last attempt that was submitted.
    job_id: u64,
    /// The node(s) it ran on.
    node: Option<String>,
    /// Time spent queued, summed over the attempts.
    queue_wait: Duration,
}

/// One finished attempt, as the report's per-attempt detail is made from it.
#[derive(Debug, Clone)]
struct AttemptSpan {
    start: Option<Instant>,
    end: Instant,
    how: AttemptEnd,
    lock_wait: f64,
    worker: u32,
}

impl AttemptSpan {
    /// How long its process ran (zero if it never started).
    fn ran(&self) -> Duration {
        self.start
            .map_or(Duration::ZERO, |s| self.end.saturating_duration_since(s))
    }
}

impl AttemptRecord {
    /// An attempt was dispatched; `lock_wait_total` is the task's lock wait so far (the part
    /// not yet given to an earlier attempt is this attempt's).
    pub fn dispatched(&mut self, lock_wait_total: f64) {
        self.lock_wait_pending = (lock_wait_total - self.lock_wait_counted).max(0.0);
        self.lock_wait_counted = lock_wait_total;
    }

    /// An attempt on `worker` ended.
    pub fn finished(&mut self, result: &AttemptResult, worker: usize) {
        let span = AttemptSpan {
            start: result.started_at,
            end: result.ended_at,
            how: result.end.clone(),
            lock_wait: std::mem::take(&mut self.lock_wait_pending),
            worker: u32::try_from(worker).unwrap_or(u32::MAX),
        };
        if let Some(before) = self.last.replace(span) {
            self.rare.get_or_insert_default().earlier.push(before);
        }
        self.leftovers += result.leftovers;
        if let Placement::Slurm {
            job_id,
            node,
            queue_wait,
        } = &result.placement
        {
            let rare = self.rare.get_or_insert_default();
            let queued = rare.slurm.as_ref().map_or(Duration::ZERO, |s| s.queue_wait);
            rare.slurm = Some(SlurmTrail {
                job_id: *job_id,
                node: node.clone(),
                queue_wait: queued + *queue_wait,
            });
        }
        if let Some(used) = result.usage {
            let total = self.usage.get_or_insert_default();
            total.peak_rss_bytes = total.peak_rss_bytes.max(used.peak_rss_bytes);
            total.user_ns = total.user_ns.saturating_add(nanos(used.user));
            total.sys_ns = total.sys_ns.saturating_add(nanos(used.sys));
        }
        if let Some(log) = &result.log {
            self.log = Some(log.as_path().into());
        }
    }

    /// Every finished attempt, in order.
    fn spans(&self) -> impl Iterator<Item = &AttemptSpan> {
        let earlier = self.rare.as_ref().map_or(&[][..], |rare| &rare.earlier);
        earlier.iter().chain(&self.last)
    }

    /// When its first attempt that started did.
    fn first_start(&self) -> Option<Instant> {
        self.spans().find_map(|span| span.start)
    }

    /// How long its attempts ran, in all.
    fn busy(&self) -> Duration {
        self.spans().map(AttemptSpan::ran).sum()
    }

    /// The worker of the last attempt that started.
    fn worker(&self) -> Option<u32> {
        self.spans()
            .filter(|span| span.start.is_some())
            .last()
            .map(|span| span.worker)
    }

    /// Where its attempts ran on Slurm, if they did.
    fn slurm(&self) -> Option<&SlurmTrail> {
        self.rare.as_ref().and_then(|rare| rare.slurm.as_ref())
    }

    /// How the last finished attempt ended.
    fn last_end(&self) -> Option<&AttemptEnd> {
        self.last.as_ref().map(|span| &span.how)
    }

    /// The scheduler's view of the last attempt.
    pub fn last_outcome(&self, task: &Task) -> Outcome {
        match self.last_end() {
            Some(AttemptEnd::Exited(0)) => Outcome::Succeeded,
            Some(AttemptEnd::Cancelled { signal: None }) => Outcome::NotRun {
                reason: NOT_STARTED_CANCELLED.to_owned(),
            },
            Some(AttemptEnd::Cancelled { .. }) => Outcome::Cancelled,
            _ => Outcome::Failed {
                allowed: task.allow_failure,
            },
        }
    }

    /// How the task is reported once `outcome` is final: a failure by its last attempt (exit
    /// code, signal, timeout, …), anything else by the outcome itself.
    pub fn final_status(&self, outcome: &Outcome) -> (TaskStatus, Option<String>) {
        match outcome {
            Outcome::Failed { .. } => self.attempt_status(),
            other => other.status(),
        }
    }

    /// The status and reason of the last attempt, as a task status.
    pub fn attempt_status(&self) -> (TaskStatus, Option<String>) {
        end_status(self.last_end())
    }

    /// Every finished attempt for the report, times as seconds since `epoch`; retry delays
    /// from the task's `retry_delay`, doubled per retry as they were scheduled.
    fn attempts_detail(&self, epoch: Instant, base_delay: Duration) -> Vec<AttemptReport> {
        let since = |at: Instant| seconds(at.saturating_duration_since(epoch).as_secs_f64());
        self.spans()
            .enumerate()
            .map(|(index, span)| {
                let number = index as u32 + 1;
                let (status, reason) = end_status(Some(&span.how));
                let (exit_code, signal) = span.how.exit_code_and_signal();
                let ran = span.ran();
                AttemptReport {
                    number,
                    start_s: span.start.map(since),
                    end_s: since(span.end),
                    duration_s: seconds(ran.as_secs_f64()),
                    worker: u64::from(span.worker) + 1,
                    exit_code,
                    signal,
                    status,
                    reason,
                    lock_wait_s: seconds(span.lock_wait),
                    retry_delay_s: if number > 1 {
                        seconds(retry_delay(base_delay, number - 1).as_secs_f64())
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }
}

/// The status and reason of an attempt that ended as `end` (not run when there is none).
fn end_status(end: Option<&AttemptEnd>) -> (TaskStatus, Option<String>) {
    match end {
        None => (TaskStatus::NotRun, None),
        Some(AttemptEnd::Exited(0)) => (TaskStatus::Succeeded, None),
        Some(AttemptEnd::Exited(code)) => {
            (TaskStatus::Failed, Some(format!("exited with code {code}")))
        }
        Some(AttemptEnd::Signalled(signal)) => (
            TaskStatus::Failed,
            Some(format!("killed by {}", signal_name(*signal))),
        ),
        Some(AttemptEnd::TimedOut { signal }) => (
            TaskStatus::TimedOut,
            Some(format!("timed out; ended with {}", signal_name(*signal))),
        ),
        Some(AttemptEnd::Cancelled { .. }) => {
            (TaskStatus::Cancelled, Some("the run was cancelled".into()))
        }
        Some(AttemptEnd::NotStarted(reason)) => (TaskStatus::Failed, Some(reason.clone())),
        Some(AttemptEnd::OutOfMemory { limit }) => (
            TaskStatus::OutOfMemory,
            Some(format!(
                "used more than its mem_limit of {}; killed",
                crate::manifest::size::format_size(*limit)
            )),
        ),
        Some(AttemptEnd::OutputsMissing(paths)) => (
            TaskStatus::Failed,
            Some(format!("exited 0 but did not create {}", paths.join(", "))),
        ),
    }
}

/// Everything the report is made from.
pub struct RunFacts<'a> {
    /// The workflow.
    pub workflow: &'a Workflow,
    /// Final scheduler state.
    pub core: &'a Core<'a>,
    /// Which tasks were part of the run.
    pub selected: &'a [bool],
    /// Run id.
    pub run_id: &'a str,
    /// Job slots.
    pub jobs: u32,
    /// Where the tasks ran.
    pub executor: ExecutorKind,
    /// Wall-clock start.
    pub started_at: Timestamp,
    /// Wall-clock end.
    pub finished_at: Timestamp,
    /// Monotonic wall time.
    pub wall: Duration,
    /// Monotonic start, for per-task offsets.
    pub epoch: Instant,
    /// True if a signal interrupted the run.
    pub cancelled: bool,
    /// Processes ended at the end because they escaped their task's group.
    pub strays: u32,
    /// Why each up-to-date task did not run.
    pub up_to_date: &'a [Option<String>],
}

/// How a run ended, task by task: what the state store records at the run's end. It is made
/// before the report, which is much larger, so that what only the store needed (fingerprints,
/// the file-hash cache) is let go before the report is built.
#[derive(Debug, Clone)]
pub struct RunTally {
    /// How the run ended.
    pub status: RunStatus,
    /// Its wall time, in seconds (rounded as in the report).
    pub duration_s: f64,
    /// The selected tasks in declaration order: status and seconds its attempts ran (none if
    /// it never started).
    pub tasks: Vec<(TaskId, TaskStatus, Option<f64>)>,
}

impl RunTally {
    /// How many tasks ended with each status (statuses that occur, in the report's order).
    pub fn counts(&self) -> Vec<(TaskStatus, usize)> {
        count_statuses(self.tasks.iter().map(|&(_, status, _)| status))
    }
}

/// The final status of task `id`, whose attempts are `record`, and why, as the report gives it.
fn task_status(
    facts: &RunFacts<'_>,
    id: TaskId,
    record: &AttemptRecord,
) -> (TaskStatus, Option<String>) {
    match facts.core.outcome(id) {
        Some(Outcome::UpToDate) => (
            TaskStatus::UpToDate,
            facts.up_to_date.get(id).cloned().flatten(),
        ),
        Some(outcome) => record.final_status(outcome),
        None => (TaskStatus::NotRun, Some("not started".to_owned())),
    }
}

/// Tallies a finished run from its attempt records (one per task): each selected task's
/// status and time, and the run's status.
pub fn tally(facts: &RunFacts<'_>, records: &TaskRecords) -> RunTally {
    let workflow = facts.workflow;
    let mut failed = false;
    let tasks = (0..workflow.tasks.len())
        .filter(|&id| facts.selected[id])
        .map(|id| {
            let record = &records[id];
            let (status, _) = task_status(facts, id, record);
            failed |= matches!(
                status,
                TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory
            ) && !workflow.tasks[id].allow_failure;
            let duration = record
                .first_start()
                .map(|_| seconds(record.busy().as_secs_f64()));
            (id, status, duration)
        })
        .collect();
    let status = if facts.cancelled {
        RunStatus::Cancelled
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    RunTally {
        status,
        duration_s: seconds(facts.wall.as_secs_f64()),
        tasks,
    }
}

/// Builds the report of a finished run whose [`tally`] is `tally`. Its task entries are not
/// made here: they are made on demand from the attempt records, which the report keeps (see
/// [`TaskReports`]), so that the report's entries are never all in memory beside what the run
/// held; the caller can let go of the scheduler's state once this returns.
pub fn build_report(
    facts: &RunFacts<'_>,
    workflow: Arc<Workflow>,
    tally: RunTally,
    records: TaskRecords,
) -> RunReport {
    let durations: Vec<f64> = (0..workflow.tasks.len())
        .map(|id| records[id].busy().as_secs_f64())
        .collect();
    // The heaviest chain of actual durations, without the tasks that took no time at its ends
    // (a skipped task in the middle stays: it is a link of the chain).
    let mut chain: Vec<TaskId> = workflow
        .dag
        .critical_path(&durations)
        .into_iter()
        .filter(|&t| facts.selected[t])
        .collect();
    drop(durations);
    while chain.last().is_some_and(|&t| records[t].busy().is_zero()) {
        chain.pop();
    }
    let first_timed = chain
        .iter()
        .position(|&t| !records[t].busy().is_zero())
        .unwrap_or(chain.len());
    let critical_path = chain[first_timed..]
        .iter()
        .map(|&t| workflow.tasks[t].name.clone())
        .collect();
    let settled = tally
        .tasks
        .iter()
        .map(|&(id, status, duration_s)| SettledTask {
            id,
            status,
            duration_s,
            lock_wait_s: seconds(facts.core.lock_wait(id)),
            reason: task_status(facts, id, &records[id]).1,
        })
        .collect();
    RunReport {
        run_id: facts.run_id.to_owned(),
        manifest: workflow.manifest.display().to_string(),
        workflow: workflow.name.clone(),
        status: tally.status,
        jobs: facts.jobs,
        executor: facts.executor,
        started_at: facts.started_at.to_rfc3339(),
        finished_at: facts.finished_at.to_rfc3339(),
        duration_s: tally.duration_s,
        tasks: TaskReports::made_from(Arc::new(RunEntries {
            workflow,
            epoch: facts.epoch,
            records,
            settled,
        })),
        critical_path,
        stray_processes: facts.strays,
    }
}

/// What the report says of a selected task beyond its attempt records, settled when the run
/// ended.
#[derive(Debug)]
struct SettledTask {
    id: TaskId,
    status: TaskStatus,
    duration_s: Option<f64>,
    lock_wait_s: f64,
    reason: Option<String>,
}

/// The task entries of a finished run's report, made when read from what the run kept.
struct RunEntries {
    workflow: Arc<Workflow>,
    epoch: Instant,
    records: TaskRecords,
    /// The selected tasks, in declaration order.
    settled: Vec<SettledTask>,
}

impl TaskReportSource for RunEntries {
    fn len(&self) -> usize {
        self.settled.len()
    }

    fn status(&self, index: usize) -> TaskStatus {
        self.settled[index].status
    }

    fn entry(&self, index: usize) -> TaskReport {
        let settled = &self.settled[index];
        let id = settled.id;
        let (workflow, record) = (&self.workflow, &self.records[id]);
        let task = &workflow.tasks[id];
        let offset = |at: Option<Instant>| {
            at.map(|t| seconds(t.saturating_duration_since(self.epoch).as_secs_f64()))
        };
        let (exit_code, signal) = record
            .last_end()
            .map(AttemptEnd::exit_code_and_signal)
            .unwrap_or_default();
        TaskReport {
            name: task.name.clone(),
            status: settled.status,
            attempts: record.attempts,
            exit_code,
            signal,
            start_s: offset(record.first_start()),
            end_s: offset(
                record
                    .last
                    .as_ref()
                    .map(|span| span.end)
                    .filter(|_| record.first_start().is_some()),
            ),
            duration_s: settled.duration_s,
            lock_wait_s: settled.lock_wait_s,
            worker: record.worker().map(|w| u64::from(w) + 1),
            queue_wait_s: record
                .slurm()
                .map(|slurm| seconds(slurm.queue_wait.as_secs_f64())),
            job_id: record.slurm().map(|slurm| slurm.job_id),
            node: record.slurm().and_then(|slurm| slurm.node.clone()),
            log: record.log.as_ref().map(|log| shown(log, &workflow.root)),
            reason: settled.reason.clone(),
            leftover_processes: record.leftovers,
            allow_failure: task.allow_failure,
            command: Some(task.command.display()),
            description: task.description().map(str::to_owned),
            attempts_detail: record.attempts_detail(self.epoch, task.retry_delay),
            peak_rss_bytes: record.usage.map(|u| u.peak_rss_bytes),
            user_s: record
                .usage
                .map(|u| seconds(Duration::from_nanos(u.user_ns).as_secs_f64())),
            sys_s: record
                .usage
                .map(|u| seconds(Duration::from_nanos(u.sys_ns).as_secs_f64())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stays_small() {
        // One per task, held for the whole run: 248 bytes before the rare parts went out of
        // line and the derivable ones were dropped.
        assert!(std::mem::size_of::<AttemptRecord>() <= 160);
    }

    #[test]
    fn task_records_are_indexed_by_task() {
        let mut records = TaskRecords::new(3);
        records[2].attempts = 2;
        assert_eq!(records[2].attempts, 2);
        assert_eq!(records[0].attempts, 0);
        assert_eq!(TaskRecords::new(0).records.len(), 0);
    }
}
