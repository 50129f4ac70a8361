//! What the run loop remembers of each task's attempts, and the report built from it.

use std::ops::{Index, IndexMut};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::dispatch::retry_delay;
use crate::exec::{AttemptEnd, AttemptResult, Placement, ResourceUsage};
use crate::paths::shown;
use crate::report::model::{count_statuses, seconds};
use crate::report::signals::signal_name;
use crate::report::time::Timestamp;
use crate::report::{AttemptReport, RunReport, RunStatus, TaskReport, TaskStatus};
use crate::scheduler::core::{Core, NOT_STARTED_CANCELLED, Outcome};
use crate::workflow::{ExecutorKind, Task, TaskId, Workflow};

/// The attempts of one task so far.
#[derive(Debug, Clone, Default)]
pub struct AttemptRecord {
    /// Attempts dispatched.
    pub attempts: u32,
    leftovers: u32,
    first_start: Option<Instant>,
    busy: Duration,
    /// The worker of the last attempt that started.
    worker: Option<usize>,
    /// The last finished attempt.
    last: Option<AttemptSpan>,
    /// The finished attempts before it, in order: empty (no allocation) for the many tasks
    /// that run once.
    earlier: Vec<AttemptSpan>,
    log: Option<PathBuf>,
    /// Peak memory (the highest of its attempts) and CPU time (summed over them).
    usage: Option<ResourceUsage>,
    /// Lock wait of the task already given to earlier attempts.
    lock_wait_counted: f64,
    /// Lock wait before the attempt now running.
    lock_wait_pending: f64,
    /// Where its attempts ran on Slurm; `None` for local attempts (kept out of line: most
    /// runs have none).
    slurm: Option<Box<SlurmTrail>>,
}

/// The attempt records of a run, by task id, held in blocks of [`TaskRecords::BLOCK`] tasks so
/// that the report, built in task order, lets go of them a block at a time: the records and
/// the report are never both whole in memory.
#[derive(Debug, Default)]
pub struct TaskRecords {
    blocks: Vec<Vec<AttemptRecord>>,
}

impl TaskRecords {
    /// Tasks per block (about 1 MB of records).
    pub const BLOCK: usize = 4096;

    /// An empty record for each of `tasks` tasks.
    pub fn new(tasks: usize) -> Self {
        let blocks = (0..tasks.div_ceil(Self::BLOCK))
            .map(|block| {
                let len = (tasks - block * Self::BLOCK).min(Self::BLOCK);
                vec![AttemptRecord::default(); len]
            })
            .collect();
        Self { blocks }
    }

    /// Lets go of the records of the blocks wholly before task `id`; indexing them afterwards
    /// panics.
    fn release_before(&mut self, id: TaskId) {
        for block in self.blocks.iter_mut().take(id / Self::BLOCK) {
            if block.capacity() > 0 {
                *block = Vec::new();
            }
        }
    }
}

impl Index<TaskId> for TaskRecords {
    type Output = AttemptRecord;

    fn index(&self, id: TaskId) -> &AttemptRecord {
        &self.blocks[id / Self::BLOCK][id % Self::BLOCK]
    }
}

impl IndexMut<TaskId> for TaskRecords {
    fn index_mut(&mut self, id: TaskId) -> &mut AttemptRecord {
        &mut self.blocks[id / Self::BLOCK][id % Self::BLOCK]
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
    worker: usize,
    how: AttemptEnd,
    lock_wait: f64,
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
            worker,
            how: result.end.clone(),
            lock_wait: std::mem::take(&mut self.lock_wait_pending),
        };
        if let Some(before) = self.last.replace(span) {
            self.earlier.push(before);
        }
        if let Some(start) = result.started_at {
            self.first_start.get_or_insert(start);
            self.worker = Some(worker);
            self.busy += result.duration();
        }
        self.leftovers += result.leftovers;
        if let Placement::Slurm {
            job_id,
            node,
            queue_wait,
        } = &result.placement
        {
            let queued = self.slurm.as_ref().map_or(Duration::ZERO, |s| s.queue_wait);
            self.slurm = Some(Box::new(SlurmTrail {
                job_id: *job_id,
                node: node.clone(),
                queue_wait: queued + *queue_wait,
            }));
        }
        if let Some(used) = result.usage {
            let total = self.usage.get_or_insert_with(ResourceUsage::default);
            total.peak_rss_bytes = total.peak_rss_bytes.max(used.peak_rss_bytes);
            total.user += used.user;
            total.sys += used.sys;
        }
        if result.log.is_some() {
            self.log.clone_from(&result.log);
        }
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
        self.earlier
            .iter()
            .chain(&self.last)
            .enumerate()
            .map(|(index, span)| {
                let number = index as u32 + 1;
                let (status, reason) = end_status(Some(&span.how));
                let (exit_code, signal) = span.how.exit_code_and_signal();
                let ran = span
                    .start
                    .map_or(Duration::ZERO, |s| span.end.saturating_duration_since(s));
                AttemptReport {
                    number,
                    start_s: span.start.map(since),
                    end_s: since(span.end),
                    duration_s: seconds(ran.as_secs_f64()),
                    worker: span.worker as u64 + 1,
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
                .first_start
                .map(|_| seconds(record.busy.as_secs_f64()));
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

/// Builds the report of a finished run whose [`tally`] is `tally`, from its attempt records,
/// which it consumes: each task's log path and attempt history are let go as its entry is
/// made, and the records a block at a time, so the records and the report are not both whole
/// in memory.
pub fn build_report(facts: &RunFacts<'_>, tally: &RunTally, mut records: TaskRecords) -> RunReport {
    let workflow = facts.workflow;
    let offset = |at: Option<Instant>| {
        at.map(|t| seconds(t.saturating_duration_since(facts.epoch).as_secs_f64()))
    };
    let mut tasks = Vec::with_capacity(tally.tasks.len());
    let mut durations = vec![0.0; workflow.tasks.len()];
    for &(id, status, duration_s) in &tally.tasks {
        // The tally is in task order: the blocks before this task's are done with.
        records.release_before(id);
        let task = &workflow.tasks[id];
        let record = &mut records[id];
        let (_, reason) = task_status(facts, id, record);
        let (exit_code, signal) = record
            .last_end()
            .map(AttemptEnd::exit_code_and_signal)
            .unwrap_or_default();
        let busy = record.busy.as_secs_f64();
        durations[id] = busy;
        let log = record.log.take().map(|log| shown(&log, &workflow.root));
        let attempts_detail = record.attempts_detail(facts.epoch, task.retry_delay);
        record.earlier = Vec::new();
        tasks.push(TaskReport {
            name: task.name.clone(),
            status,
            attempts: record.attempts,
            exit_code,
            signal,
            start_s: offset(record.first_start),
            end_s: offset(
                record
                    .last
                    .as_ref()
                    .map(|span| span.end)
                    .filter(|_| record.first_start.is_some()),
            ),
            duration_s,
            lock_wait_s: seconds(facts.core.lock_wait(id)),
            worker: record.worker.map(|w| w as u64 + 1),
            queue_wait_s: record
                .slurm
                .as_ref()
                .map(|slurm| seconds(slurm.queue_wait.as_secs_f64())),
            job_id: record.slurm.as_ref().map(|slurm| slurm.job_id),
            node: record.slurm.as_mut().and_then(|slurm| slurm.node.take()),
            log,
            reason,
            leftover_processes: record.leftovers,
            allow_failure: task.allow_failure,
            command: Some(task.command.display()),
            description: task.description.clone(),
            attempts_detail,
            peak_rss_bytes: record.usage.map(|u| u.peak_rss_bytes),
            user_s: record.usage.map(|u| seconds(u.user.as_secs_f64())),
            sys_s: record.usage.map(|u| seconds(u.sys.as_secs_f64())),
        });
    }
    // The heaviest chain of actual durations, without the tasks that took no time at its ends
    // (a skipped task in the middle stays: it is a link of the chain).
    let mut chain: Vec<TaskId> = workflow
        .dag
        .critical_path(&durations)
        .into_iter()
        .filter(|&t| facts.selected[t])
        .collect();
    while chain.last().is_some_and(|&t| durations[t] <= 0.0) {
        chain.pop();
    }
    let first_timed = chain
        .iter()
        .position(|&t| durations[t] > 0.0)
        .unwrap_or(chain.len());
    let critical_path = chain[first_timed..]
        .iter()
        .map(|&t| workflow.tasks[t].name.clone())
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
        tasks,
        critical_path,
        stray_processes: facts.strays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_records_are_indexed_across_blocks_and_let_go_a_block_at_a_time() {
        let tasks = TaskRecords::BLOCK * 2 + 3;
        let mut records = TaskRecords::new(tasks);
        for id in [0, TaskRecords::BLOCK - 1, TaskRecords::BLOCK, tasks - 1] {
            records[id].attempts = u32::try_from(id).expect("small");
        }
        assert_eq!(records.blocks.len(), 3);
        assert_eq!(records.blocks[2].len(), 3);
        assert_eq!(records[TaskRecords::BLOCK].attempts, 4096);
        assert_eq!(records[tasks - 1].attempts, 8194);

        // Within the second block: only the first is let go.
        records.release_before(TaskRecords::BLOCK + 1);
        assert_eq!(records.blocks[0].capacity(), 0);
        assert_eq!(records[TaskRecords::BLOCK].attempts, 4096);
        records.release_before(tasks - 1);
        assert_eq!(records.blocks[1].capacity(), 0);
        assert_eq!(records[tasks - 1].attempts, 8194);
        assert_eq!(TaskRecords::new(0).blocks.len(), 0);
    }
}
