//! The scheduler's state machine: which task may start now, and what follows when one ends.
//!
//! It owns all run state (task states, ready queue, free slots, lock table) and does no I/O and
//! no waiting, with time passed in as seconds. The real run loop drives it with processes and
//! the completion queue; `wf plan` and `wf run -n` drive it with simulated durations.

use super::locks::LockTable;
use super::memory::{MemoryPlan, MemoryPool};
use super::ready::{ReadyEntry, ReadyQueue};
use crate::report::TaskStatus;
use crate::workflow::{LockId, TaskId, When, Workflow};

/// Why a task that never started did not: the run was cancelled first.
pub const NOT_STARTED_CANCELLED: &str = "not started: the run was cancelled";

/// How a task ended, as far as the scheduler is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its last attempt exited 0.
    Succeeded,
    /// Skipped because its outputs were up to date (or resumed from an earlier run).
    UpToDate,
    /// Its last attempt failed or timed out.
    Failed {
        /// `allow_failure`: reported, but does not fail the run or block dependents.
        allowed: bool,
    },
    /// Ended (or never started) because the run was cancelled.
    Cancelled,
    /// Its `when` condition was not met.
    Skipped {
        /// Why, in words.
        reason: String,
        /// True if it was skipped because something upstream failed.
        after_failure: bool,
    },
    /// Never started because the run stopped first.
    NotRun {
        /// Why, in words.
        reason: String,
    },
}

impl Outcome {
    /// The task status this outcome is reported as, with its reason in words. (A failure's
    /// reason comes from its last attempt, which the scheduler does not know.)
    pub fn status(&self) -> (TaskStatus, Option<String>) {
        match self {
            Outcome::Succeeded => (TaskStatus::Succeeded, None),
            Outcome::UpToDate => (TaskStatus::UpToDate, None),
            Outcome::Failed { .. } => (TaskStatus::Failed, None),
            Outcome::Cancelled => (
                TaskStatus::Cancelled,
                Some("the run was cancelled".to_owned()),
            ),
            Outcome::Skipped { reason, .. } => (TaskStatus::Skipped, Some(reason.clone())),
            Outcome::NotRun { reason } => (TaskStatus::NotRun, Some(reason.clone())),
        }
    }

    /// True if dependents with `when = "success"` may run after it.
    fn lets_success_through(&self) -> bool {
        matches!(
            self,
            Outcome::Succeeded | Outcome::UpToDate | Outcome::Failed { allowed: true }
        )
    }

    /// True if it counts as a failure for `when = "failure"` dependents.
    fn is_upstream_failure(&self) -> bool {
        match self {
            Outcome::Failed { allowed } => !allowed,
            Outcome::Cancelled | Outcome::NotRun { .. } => true,
            Outcome::Skipped { after_failure, .. } => *after_failure,
            Outcome::Succeeded | Outcome::UpToDate => false,
        }
    }
}

/// Why dispatch has stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A task failed without `keep_going`: only `when = "always"/"failure"` tasks still start.
    FailFast {
        /// The task whose failure stopped the run.
        after: TaskId,
    },
    /// The run was cancelled: nothing but `when = "always"` tasks starts any more, and those
    /// only once every running task has ended (see [`Cleanup`]).
    Cancelled,
}

/// Where a cancelled run is with its `when = "always"` tasks (cleanup after Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Not cancelled.
    NotCancelled,
    /// Cancelled: running tasks are being ended; `always` tasks wait.
    Draining,
    /// Nothing runs any more and `always` tasks wait: the caller was told
    /// ([`Core::take_cleanup_due`]) and opens the cleanup with [`Core::open_cleanup`].
    Due,
    /// `always` tasks whose dependencies have all ended start (nothing else does).
    Open,
    /// Cancelled a second time: nothing starts any more.
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Not part of this run (not selected).
    Excluded,
    /// Waiting for dependencies.
    Waiting,
    Ready,
    Running,
    /// Its attempt failed; waiting for the retry delay, holding nothing.
    RetryPending,
    Done(Outcome),
}

/// What settling and dispatching a task read of it (its brief).
#[derive(Debug, Clone, Copy)]
struct Brief {
    priority: i64,
    cpus: u32,
    when: When,
}

/// The scheduling state of one run.
pub struct Core<'w> {
    workflow: &'w Workflow,
    state: Vec<State>,
    waiting_deps: Vec<u32>,
    rank: Vec<f64>,
    ready: ReadyQueue,
    free_slots: u32,
    locks: LockTable,
    keep_going: bool,
    stop: Option<Stop>,
    cleanup: Cleanup,
    unfinished: usize,
    running: usize,
    retry_pending: usize,
    /// When each task started waiting for a lock, while it waits.
    lock_blocked_since: Vec<Option<f64>>,
    lock_wait: Vec<f64>,
    /// Tasks finished without running (skipped, not run) since the last `take_resolved`.
    resolved: Vec<TaskId>,
    /// Scratch buffer: lock units kept for higher-priority tasks during one dispatch pass.
    reserved_locks: Vec<u32>,
    /// What each task holds while it runs: its locks (one unit) and resources (amounts).
    claims: Vec<Vec<(LockId, u32)>>,
    /// Each task's brief, side by side: a lookup in the task list itself is a
    /// cache miss per task at a million tasks.
    briefs: Vec<Brief>,
    /// The memory budget, when the run has one.
    memory: Option<MemoryPool>,
    /// True once any task ended in a way that does not let `when = "success"` dependents
    /// through (failed, cancelled, skipped, not run): until then every settled task's fate is
    /// known without reading its dependencies' states.
    any_blocking: bool,
}

impl<'w> Core<'w> {
    /// A run of the `selected` tasks on `slots` job slots; `weights` are expected durations.
    /// Tasks marked in `up_to_date` count as done from the start (none of their dependencies
    /// may be a task that will run).
    pub fn new(
        workflow: &'w Workflow,
        selected: &[bool],
        up_to_date: &[bool],
        slots: u32,
        weights: &[f64],
        keep_going: bool,
    ) -> Self {
        let count = workflow.tasks.len();
        let settled = |id: TaskId| up_to_date.get(id).copied().unwrap_or(false);
        let state: Vec<State> = (0..count)
            .map(|id| match (selected[id], settled(id)) {
                (false, _) => State::Excluded,
                (true, true) => State::Done(Outcome::UpToDate),
                (true, false) => State::Waiting,
            })
            .collect();
        let waiting_deps: Vec<u32> = (0..count)
            .map(|id| {
                let pending = workflow.deps(id).filter(|&d| selected[d] && !settled(d));
                if selected[id] {
                    u32::try_from(pending.count()).unwrap_or(u32::MAX)
                } else {
                    0
                }
            })
            .collect();
        let mut core = Self {
            workflow,
            unfinished: state.iter().filter(|s| **s == State::Waiting).count(),
            resolved: (0..count)
                .filter(|&id| selected[id] && settled(id))
                .collect(),
            state,
            waiting_deps,
            rank: workflow.dag.remaining_path_weights(weights),
            ready: ReadyQueue::default(),
            free_slots: slots,
            locks: LockTable::new(&workflow.locks),
            keep_going,
            stop: None,
            cleanup: Cleanup::NotCancelled,
            running: 0,
            retry_pending: 0,
            lock_blocked_since: vec![None; count],
            lock_wait: vec![0.0; count],
            reserved_locks: vec![0; workflow.locks.len()],
            claims: workflow.tasks.iter().map(|t| t.claims()).collect(),
            briefs: workflow
                .tasks
                .iter()
                .map(|t| Brief {
                    priority: t.priority,
                    cpus: t.cpus,
                    when: t.when,
                })
                .collect(),
            memory: None,
            any_blocking: false,
        };
        for id in 0..count {
            if core.state[id] == State::Waiting && core.waiting_deps[id] == 0 {
                match core.decide(id) {
                    None => core.make_ready(id),
                    Some(outcome) => core.resolve(id, outcome),
                }
            }
        }
        core
    }

    /// Gives the run a memory budget: from now on a task starts only when its need fits in
    /// what tasks already running leave of it.
    pub fn with_memory(mut self, plan: Option<MemoryPlan>) -> Self {
        self.memory = plan.map(MemoryPool::new);
        self
    }

    /// Takes every task that can start now, in priority order, with its slots, locks,
    /// resources and memory.
    ///
    /// A task that cannot start keeps a reservation for the rest of this pass, so a task
    /// needing many slots, several locks, large amounts or much memory is not starved by
    /// smaller ones behind it: blocked on locks or resources it reserves those (tasks that need
    /// none of them go ahead), blocked on slots or memory it reserves the slots and its memory
    /// (nothing behind it that needs them starts until it has).
    pub fn start_ready(&mut self, now: f64) -> Vec<TaskId> {
        let mut started = Vec::new();
        let mut deferred = Vec::new();
        let mut reserved_slots = 0u32;
        let mut reserved_memory = 0u64;
        self.reserved_locks.fill(0);
        while self.free_slots > reserved_slots {
            let Some(entry) = self.ready.pop() else { break };
            let id = entry.task;
            let task = self.briefs[id];
            if let Some(stop) = &self.stop {
                let still_runs = match stop {
                    Stop::FailFast { .. } => task.when != When::Success,
                    Stop::Cancelled => {
                        task.when == When::Always && self.cleanup != Cleanup::Refused
                    }
                };
                if still_runs
                    && self.cleanup != Cleanup::NotCancelled
                    && self.cleanup != Cleanup::Open
                {
                    // A cleanup task waits until every running task has ended.
                    deferred.push(entry);
                    continue;
                }
                if !still_runs {
                    let reason = self.stop_reason();
                    self.resolve(id, Outcome::NotRun { reason });
                    continue;
                }
            }
            let slots_free = self.free_slots >= reserved_slots + task.cpus;
            let locks_free = self
                .locks
                .can_take_all(&self.claims[id], &self.reserved_locks);
            let memory_free = self
                .memory
                .as_ref()
                .is_none_or(|m| m.fits(id, reserved_memory));
            if slots_free && locks_free && memory_free {
                self.free_slots -= task.cpus;
                self.locks.take_all(&self.claims[id]);
                if let Some(memory) = &mut self.memory {
                    memory.take(id);
                }
                if let Some(since) = self.lock_blocked_since[id].take() {
                    self.lock_wait[id] += now - since;
                }
                self.state[id] = State::Running;
                self.running += 1;
                started.push(id);
                continue;
            }
            if locks_free {
                reserved_slots += task.cpus;
                if let Some(memory) = &self.memory {
                    reserved_memory = reserved_memory.saturating_add(memory.need(id));
                }
            } else {
                for &(lock, amount) in &self.claims[id] {
                    self.reserved_locks[lock] += amount;
                }
                self.lock_blocked_since[id].get_or_insert(now);
            }
            deferred.push(entry);
        }
        self.ready.restore(deferred);
        started
    }

    fn stop_reason(&self) -> String {
        match &self.stop {
            Some(Stop::FailFast { after }) => format!(
                "not started: the run stopped after `{}` failed (use -k to keep going)",
                self.workflow.tasks[*after].name
            ),
            Some(Stop::Cancelled) => NOT_STARTED_CANCELLED.to_owned(),
            None => "not started".to_owned(),
        }
    }

    /// Records how a running task ended, gives back its slots and locks, and makes its
    /// dependents ready (or skips them, per their `when`).
    pub fn finish(&mut self, task: TaskId, outcome: Outcome) {
        self.release(task);
        if matches!(outcome, Outcome::Failed { allowed: false })
            && !self.keep_going
            && self.stop.is_none()
        {
            self.stop = Some(Stop::FailFast { after: task });
        }
        self.complete(task, outcome);
    }

    /// Gives back a running task's slots and locks while it waits to be retried.
    pub fn defer_retry(&mut self, task: TaskId) {
        self.release(task);
        self.state[task] = State::RetryPending;
        self.retry_pending += 1;
    }

    /// A retry delay is over: the task is ready again, or, if the run has stopped meanwhile,
    /// it ends with the outcome of its last attempt (`last`).
    pub fn retry_due(&mut self, task: TaskId, last: Outcome) {
        if self.state[task] != State::RetryPending {
            return;
        }
        self.retry_pending -= 1;
        if self.stop.is_some() {
            self.complete(task, last);
        } else {
            self.make_ready(task);
        }
    }

    fn release(&mut self, task: TaskId) {
        self.free_slots += self.briefs[task].cpus;
        self.locks.release_all(&self.claims[task]);
        if let Some(memory) = &mut self.memory {
            memory.release(task);
        }
        self.running -= 1;
    }

    /// Stops dispatch (the first Ctrl-C): retry-pending tasks end as cancelled, ready tasks
    /// as not run, except `when = "always"` tasks, which wait until nothing runs any more
    /// (see [`Core::take_cleanup_due`]) and then run. Running tasks are for the executor to
    /// end. A second call (a second Ctrl-C) also refuses the cleanup: nothing starts any more.
    pub fn cancel(&mut self) {
        self.stop = Some(Stop::Cancelled);
        self.cleanup = match self.cleanup {
            Cleanup::NotCancelled => Cleanup::Draining,
            _ => Cleanup::Refused,
        };
        let pending: Vec<TaskId> = (0..self.state.len())
            .filter(|&t| self.state[t] == State::RetryPending)
            .collect();
        for task in pending {
            self.retry_pending -= 1;
            self.complete(task, Outcome::Cancelled);
        }
        let mut kept = Vec::new();
        while let Some(entry) = self.ready.pop() {
            if self.cleanup != Cleanup::Refused
                && self.workflow.tasks[entry.task].when == When::Always
            {
                kept.push(entry);
                continue;
            }
            let reason = self.stop_reason();
            self.resolve(entry.task, Outcome::NotRun { reason });
        }
        self.ready.restore(kept);
    }

    /// True once, when a cancelled run has nothing running and `when = "always"` tasks are
    /// left: the caller lets its executor start attempts again, then calls
    /// [`Core::open_cleanup`].
    pub fn take_cleanup_due(&mut self) -> bool {
        let due = self.cleanup == Cleanup::Draining
            && self.running == 0
            && self.retry_pending == 0
            && !self.is_finished();
        if due {
            self.cleanup = Cleanup::Due;
        }
        due
    }

    /// Lets the waiting `when = "always"` tasks of a cancelled run start (unless the run was
    /// cancelled again meanwhile).
    pub fn open_cleanup(&mut self) {
        if self.cleanup == Cleanup::Due {
            self.cleanup = Cleanup::Open;
        }
    }

    /// Where a cancelled run is with its cleanup tasks.
    pub fn cleanup(&self) -> Cleanup {
        self.cleanup
    }

    fn make_ready(&mut self, task: TaskId) {
        self.state[task] = State::Ready;
        self.ready.push(ReadyEntry {
            priority: self.briefs[task].priority,
            rank: self.rank[task],
            task,
        });
    }

    /// Ends a task that never ran.
    fn resolve(&mut self, task: TaskId, outcome: Outcome) {
        self.resolved.push(task);
        self.complete(task, outcome);
    }

    /// Records a final outcome and settles every dependent whose last dependency this was.
    fn complete(&mut self, task: TaskId, outcome: Outcome) {
        // The workflow outlives `self`: walking its graph needs no copy of the dependents.
        let workflow = self.workflow;
        let mut finished = vec![(task, outcome)];
        while let Some((task, outcome)) = finished.pop() {
            self.any_blocking |= !outcome.lets_success_through();
            self.state[task] = State::Done(outcome);
            self.unfinished -= 1;
            for next in workflow.dag.dependents(task) {
                if self.state[next] != State::Waiting {
                    continue;
                }
                self.waiting_deps[next] -= 1;
                if self.waiting_deps[next] > 0 {
                    continue;
                }
                match self.decide(next) {
                    None => self.make_ready(next),
                    Some(outcome) => {
                        self.resolved.push(next);
                        finished.push((next, outcome));
                    }
                }
            }
        }
    }

    /// With all dependencies done: `None` if the task should run, else how it ends unrun.
    fn decide(&self, task: TaskId) -> Option<Outcome> {
        if !self.any_blocking && self.briefs[task].when != When::Failure {
            // Everything so far succeeded (or was up to date): it runs.
            return None;
        }
        let spec = &self.workflow.tasks[task];
        let deps = self
            .workflow
            .deps(task)
            .filter_map(|d| match &self.state[d] {
                State::Done(outcome) => Some((d, outcome)),
                _ => None,
            });
        match spec.when {
            When::Success => {
                let (blocker, outcome) = deps.clone().find(|(_, o)| !o.lets_success_through())?;
                let name = &self.workflow.tasks[blocker].name;
                let reason = match outcome {
                    Outcome::Failed { .. } => format!("dependency `{name}` failed"),
                    Outcome::Cancelled => format!("dependency `{name}` was cancelled"),
                    Outcome::NotRun { .. } => format!("dependency `{name}` did not run"),
                    _ => format!("dependency `{name}` was skipped"),
                };
                Some(Outcome::Skipped {
                    reason,
                    after_failure: outcome.is_upstream_failure(),
                })
            }
            When::Always => None,
            When::Failure => {
                if deps.clone().any(|(_, o)| o.is_upstream_failure()) {
                    None
                } else {
                    Some(Outcome::Skipped {
                        reason: "`when = \"failure\"` and no dependency failed".to_owned(),
                        after_failure: false,
                    })
                }
            }
        }
    }

    /// Tasks that ended without running since the last call (for events and the report).
    pub fn take_resolved(&mut self) -> Vec<TaskId> {
        std::mem::take(&mut self.resolved)
    }

    /// True once every selected task has its final outcome.
    pub fn is_finished(&self) -> bool {
        self.unfinished == 0
    }

    /// True if nothing is running, ready or waiting to retry, yet tasks are unfinished: a bug
    /// guard, since every waiting task is settled when its last dependency is. (Cleanup tasks
    /// waiting for [`Core::open_cleanup`] are ready, so a run waiting for them is not stuck.)
    pub fn is_stuck(&self) -> bool {
        self.unfinished > 0 && self.running == 0 && self.retry_pending == 0 && self.ready.is_empty()
    }

    /// Ends every unfinished task as not run (used only if [`Core::is_stuck`]).
    pub fn abandon_unfinished(&mut self, reason: &str) {
        for task in 0..self.state.len() {
            if matches!(self.state[task], State::Waiting | State::Ready) {
                self.any_blocking = true;
                self.state[task] = State::Done(Outcome::NotRun {
                    reason: reason.to_owned(),
                });
                self.unfinished -= 1;
                self.resolved.push(task);
            }
        }
    }

    /// The final outcome of a task, once it has one.
    pub fn outcome(&self, task: TaskId) -> Option<&Outcome> {
        match &self.state[task] {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Seconds the task spent ready but waiting for a lock.
    pub fn lock_wait(&self, task: TaskId) -> f64 {
        self.lock_wait[task]
    }

    /// Why dispatch stopped, if it did.
    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};

    fn workflow(text: &str) -> Workflow {
        let loaded = parse(SourceFile::new("wf.toml", text), std::path::Path::new("/p"));
        loaded
            .workflow
            .unwrap_or_else(|| panic!("invalid: {:?}", loaded.findings))
    }

    fn id(w: &Workflow, name: &str) -> TaskId {
        w.task_named(name).expect("task exists")
    }

    fn core<'w>(w: &'w Workflow, slots: u32, keep_going: bool) -> Core<'w> {
        let all = vec![true; w.tasks.len()];
        let weights = vec![1.0; w.tasks.len()];
        Core::new(w, &all, &[], slots, &weights, keep_going)
    }

    #[test]
    fn starts_dependencies_first_and_within_slots() {
        let w = workflow(
            "[tasks.a]\nrun='x'\n[tasks.b]\nrun='x'\n[tasks.c]\nrun='x'\ndeps=['a','b']\n",
        );
        let mut c = core(&w, 1, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "a")]);
        assert!(c.start_ready(0.0).is_empty(), "one slot");
        c.finish(id(&w, "a"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "b")]);
        c.finish(id(&w, "b"), Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0), vec![id(&w, "c")]);
        c.finish(id(&w, "c"), Outcome::Succeeded);
        assert!(c.is_finished());
    }

    #[test]
    fn a_mutex_admits_one_holder_and_unlocked_tasks_pass_waiters() {
        let w = workflow(
            "[tasks.a]\nrun='x'\nlocks=['db']\npriority=3\n[tasks.b]\nrun='x'\nlocks=['db']\npriority=2\n[tasks.free]\nrun='x'\n",
        );
        let mut c = core(&w, 3, false);
        let first = c.start_ready(0.0);
        assert_eq!(
            first,
            vec![id(&w, "a"), id(&w, "free")],
            "b waits for db, free does not"
        );
        c.finish(id(&w, "a"), Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0), vec![id(&w, "b")]);
        assert!((c.lock_wait(id(&w, "b")) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_blocked_wide_task_keeps_the_free_slot_so_it_is_not_starved() {
        let w = workflow(
            "[workflow]\njobs=2\n[tasks.first]\nrun='x'\npriority=9\n[tasks.wide]\nrun='x'\ncpus=2\npriority=5\n[tasks.small]\nrun='x'\nmatrix={n=[1,2,3]}\n",
        );
        let mut c = core(&w, 2, false);
        // `first` takes a slot; `wide` needs both, so the free slot is kept for it.
        assert_eq!(c.start_ready(0.0), vec![id(&w, "first")]);
        c.finish(id(&w, "first"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "wide")]);
    }

    #[test]
    fn a_task_needing_several_locks_is_not_starved_by_tasks_needing_one() {
        // `both` waits for x; meanwhile y is free, but `onlyy` (lower priority) must not take
        // it, or `both` could wait forever behind alternating holders of x and y.
        let w = workflow(
            "[locks]\nx=1\ny=1\n[tasks.hold]\nrun='x'\nlocks=['x']\npriority=9\n\
             [tasks.both]\nrun='x'\nlocks=['x','y']\npriority=5\n\
             [tasks.onlyy]\nrun='x'\nlocks=['y']\npriority=1\n[tasks.free]\nrun='x'\n",
        );
        let mut c = core(&w, 4, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "hold"), id(&w, "free")]);
        c.finish(id(&w, "hold"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "both")]);
        c.finish(id(&w, "both"), Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0), vec![id(&w, "onlyy")]);
    }

    fn memory(w: &Workflow, budget: u64, needs: &[(&str, u64)]) -> Option<MemoryPlan> {
        let mut all = vec![0; w.tasks.len()];
        for &(name, need) in needs {
            all[id(w, name)] = need;
        }
        Some(MemoryPlan { budget, needs: all })
    }

    #[test]
    fn memory_admits_only_what_fits_and_unknown_needs_pass() {
        let w = workflow(
            "[tasks.a]\nrun='x'\n[tasks.b]\nrun='x'\n[tasks.c]\nrun='x'\n[tasks.free]\nrun='x'\n",
        );
        let plan = memory(&w, 500, &[("a", 200), ("b", 200), ("c", 200)]);
        let mut c = core(&w, 8, false).with_memory(plan);
        let first = c.start_ready(0.0);
        assert_eq!(first, vec![id(&w, "a"), id(&w, "b"), id(&w, "free")]);
        c.finish(id(&w, "a"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "c")]);
    }

    #[test]
    fn a_big_memory_task_is_not_starved_by_small_ones() {
        // `big` needs the whole budget; small tasks keep finishing and starting, but once
        // `big` is first in line, the memory freed is kept for it.
        let w = workflow(
            "[tasks.s1]\nrun='x'\npriority=9\n[tasks.big]\nrun='x'\npriority=5\n\
             [tasks.s2]\nrun='x'\npriority=1\n[tasks.s3]\nrun='x'\npriority=1\n",
        );
        let plan = memory(
            &w,
            1000,
            &[("s1", 300), ("big", 1000), ("s2", 300), ("s3", 300)],
        );
        let mut c = core(&w, 8, false).with_memory(plan);
        assert_eq!(
            c.start_ready(0.0),
            vec![id(&w, "s1")],
            "big reserves the rest"
        );
        c.finish(id(&w, "s1"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "big")]);
        c.finish(id(&w, "big"), Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0), vec![id(&w, "s2"), id(&w, "s3")]);
    }

    #[test]
    fn counted_resources_are_taken_in_amounts_never_over_capacity() {
        let w = workflow(
            "[resources]\ngpu=2\n[tasks.two]\nrun='x'\nresources={gpu=2}\npriority=9\n\
             [tasks.one]\nrun='x'\nresources={gpu=1}\nmatrix={n=[1,2,3]}\n[tasks.cpu]\nrun='x'\n",
        );
        let mut c = core(&w, 8, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "two"), id(&w, "cpu")]);
        c.finish(id(&w, "two"), Outcome::Succeeded);
        let ones = c.start_ready(1.0);
        assert_eq!(ones.len(), 2, "two units: two tasks needing one each");
        c.finish(ones[0], Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0).len(), 1);
    }

    #[test]
    fn a_task_needing_all_units_is_not_starved_by_tasks_needing_one() {
        let w = workflow(
            "[resources]\ngpu=2\n[tasks.hold]\nrun='x'\nresources={gpu=1}\npriority=9\n\
             [tasks.both]\nrun='x'\nresources={gpu=2}\npriority=5\n\
             [tasks.small]\nrun='x'\nresources={gpu=1}\npriority=1\n",
        );
        let mut c = core(&w, 8, false);
        // One unit is free, but `both` reserves it: `small` must wait.
        assert_eq!(c.start_ready(0.0), vec![id(&w, "hold")]);
        c.finish(id(&w, "hold"), Outcome::Succeeded);
        assert_eq!(c.start_ready(1.0), vec![id(&w, "both")]);
    }

    #[test]
    fn fail_fast_runs_cleanup_and_notification_but_nothing_else() {
        let w = workflow(
            "[tasks.lint]\nrun='x'\n[tasks.test]\nrun='x'\n[tasks.build]\nrun='x'\ndeps=['lint','test']\n\
             [tasks.notify]\nrun='x'\ndeps=['build']\nwhen='failure'\n[tasks.cleanup]\nrun='x'\ndeps=['build']\nwhen='always'\n",
        );
        let mut c = core(&w, 1, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "lint")]);
        c.finish(id(&w, "lint"), Outcome::Failed { allowed: false });
        let next = c.start_ready(1.0);
        assert!(matches!(
            c.outcome(id(&w, "test")),
            Some(Outcome::NotRun { .. })
        ));
        assert!(matches!(
            c.outcome(id(&w, "build")),
            Some(Outcome::Skipped {
                after_failure: true,
                ..
            })
        ));
        assert_eq!(
            next,
            vec![id(&w, "notify")],
            "notify and cleanup still run, one slot"
        );
        c.finish(id(&w, "notify"), Outcome::Succeeded);
        assert_eq!(c.start_ready(2.0), vec![id(&w, "cleanup")]);
        c.finish(id(&w, "cleanup"), Outcome::Succeeded);
        assert!(c.is_finished());
    }

    #[test]
    fn keep_going_runs_independent_tasks_and_skips_dependents() {
        let w =
            workflow("[tasks.a]\nrun='x'\n[tasks.b]\nrun='x'\n[tasks.c]\nrun='x'\ndeps=['a']\n");
        let mut c = core(&w, 1, true);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "a")]);
        c.finish(id(&w, "a"), Outcome::Failed { allowed: false });
        assert_eq!(c.start_ready(1.0), vec![id(&w, "b")]);
        assert_eq!(
            c.outcome(id(&w, "c")),
            Some(&Outcome::Skipped {
                reason: "dependency `a` failed".into(),
                after_failure: true
            })
        );
    }

    #[test]
    fn allowed_failures_let_dependents_run() {
        let w =
            workflow("[tasks.a]\nrun='x'\nallow_failure=true\n[tasks.b]\nrun='x'\ndeps=['a']\n");
        let mut c = core(&w, 1, false);
        c.start_ready(0.0);
        c.finish(id(&w, "a"), Outcome::Failed { allowed: true });
        assert_eq!(c.start_ready(1.0), vec![id(&w, "b")]);
        assert!(c.stop().is_none());
    }

    #[test]
    fn failure_tasks_are_skipped_when_nothing_failed() {
        let w = workflow("[tasks.a]\nrun='x'\n[tasks.n]\nrun='x'\ndeps=['a']\nwhen='failure'\n");
        let mut c = core(&w, 1, false);
        c.start_ready(0.0);
        c.finish(id(&w, "a"), Outcome::Succeeded);
        assert!(c.start_ready(1.0).is_empty());
        assert!(matches!(
            c.outcome(id(&w, "n")),
            Some(Outcome::Skipped {
                after_failure: false,
                ..
            })
        ));
        assert!(c.is_finished());
    }

    #[test]
    fn a_failure_task_without_dependencies_never_runs_and_always_tasks_do() {
        let w = workflow("[tasks.f]\nrun='x'\nwhen='failure'\n[tasks.a]\nrun='x'\nwhen='always'\n");
        let mut c = core(&w, 2, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "a")]);
        assert!(matches!(
            c.outcome(id(&w, "f")),
            Some(Outcome::Skipped {
                after_failure: false,
                ..
            })
        ));
    }

    #[test]
    fn up_to_date_tasks_count_as_done_from_the_start() {
        let w = workflow("[tasks.a]\nrun='x'\n[tasks.b]\nrun='x'\ndeps=['a']\n");
        let all = vec![true; 2];
        let mut c = Core::new(&w, &all, &[true, false], 1, &[1.0, 1.0], false);
        assert_eq!(c.outcome(id(&w, "a")), Some(&Outcome::UpToDate));
        assert_eq!(c.take_resolved(), vec![id(&w, "a")]);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "b")]);
    }

    #[test]
    fn critical_path_goes_first() {
        // `short` is declared first but `chain1` heads a longer chain.
        let w = workflow(
            "[tasks.short]\nrun='x'\n[tasks.chain1]\nrun='x'\n[tasks.chain2]\nrun='x'\ndeps=['chain1']\n",
        );
        let mut c = core(&w, 1, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "chain1")]);
    }

    #[test]
    fn cancel_ends_ready_and_retrying_tasks() {
        let w = workflow(
            "[tasks.a]\nrun='x'\nretries=1\npriority=1\n[tasks.b]\nrun='x'\n[tasks.c]\nrun='x'\ndeps=['b']\n",
        );
        let mut c = core(&w, 1, false);
        let a = c.start_ready(0.0)[0];
        c.defer_retry(a);
        c.cancel();
        assert_eq!(c.outcome(a), Some(&Outcome::Cancelled));
        assert!(matches!(
            c.outcome(id(&w, "b")),
            Some(Outcome::NotRun { .. })
        ));
        assert!(matches!(
            c.outcome(id(&w, "c")),
            Some(Outcome::Skipped { .. })
        ));
        assert!(c.is_finished());
    }

    #[test]
    fn after_a_cancel_always_tasks_run_once_nothing_else_runs() {
        let w = workflow(
            "[workflow]\njobs=2\n[tasks.a]\nrun='x'\n[tasks.b]\nrun='x'\n\
             [tasks.next]\nrun='x'\ndeps=['a']\n[tasks.fail]\nrun='x'\ndeps=['a']\nwhen='failure'\n\
             [tasks.clean]\nrun='x'\ndeps=['a']\nwhen='always'\n\
             [tasks.free]\nrun='x'\nwhen='always'\npriority=-1\n",
        );
        let mut c = core(&w, 2, false);
        assert_eq!(c.start_ready(0.0), vec![id(&w, "a"), id(&w, "b")]);
        c.cancel();
        assert_eq!(c.cleanup(), Cleanup::Draining);
        // `free` is ready but waits: `a` and `b` are still being ended.
        assert!(!c.take_cleanup_due());
        c.finish(id(&w, "a"), Outcome::Cancelled);
        assert!(
            c.start_ready(1.0).is_empty(),
            "nothing starts while `b` runs"
        );
        assert!(!c.take_cleanup_due());
        c.finish(id(&w, "b"), Outcome::Cancelled);
        assert!(c.start_ready(2.0).is_empty(), "the cleanup is not open yet");
        assert!(c.take_cleanup_due());
        assert!(!c.take_cleanup_due(), "said once");
        c.open_cleanup();
        let mut started = c.start_ready(3.0);
        started.sort_unstable();
        let mut expected = vec![id(&w, "clean"), id(&w, "free")];
        expected.sort_unstable();
        assert_eq!(started, expected);
        assert!(matches!(
            c.outcome(id(&w, "next")),
            Some(Outcome::Skipped { .. })
        ));
        assert!(matches!(
            c.outcome(id(&w, "fail")),
            Some(Outcome::NotRun { .. })
        ));
        c.finish(id(&w, "clean"), Outcome::Succeeded);
        c.finish(id(&w, "free"), Outcome::Succeeded);
        assert!(c.is_finished());
    }

    #[test]
    fn a_second_cancel_refuses_the_cleanup() {
        let w = workflow(
            "[tasks.a]\nrun='x'\n[tasks.clean]\nrun='x'\ndeps=['a']\nwhen='always'\n\
             [tasks.clean2]\nrun='x'\ndeps=['clean']\nwhen='always'\n",
        );
        let mut c = core(&w, 1, false);
        c.start_ready(0.0);
        c.cancel();
        c.finish(id(&w, "a"), Outcome::Cancelled);
        assert!(c.take_cleanup_due());
        c.open_cleanup();
        assert_eq!(c.start_ready(1.0), vec![id(&w, "clean")]);
        c.cancel();
        assert_eq!(c.cleanup(), Cleanup::Refused);
        c.finish(id(&w, "clean"), Outcome::Cancelled);
        assert!(c.start_ready(2.0).is_empty());
        assert!(matches!(
            c.outcome(id(&w, "clean2")),
            Some(Outcome::NotRun { .. })
        ));
        assert!(c.is_finished());
    }

    #[test]
    fn a_cancel_with_nothing_running_opens_the_cleanup_at_once() {
        let w = workflow(
            "[tasks.a]\nrun='x'\nretries=1\n[tasks.clean]\nrun='x'\ndeps=['a']\nwhen='always'\n",
        );
        let mut c = core(&w, 1, false);
        let a = c.start_ready(0.0)[0];
        c.defer_retry(a);
        c.cancel();
        assert!(c.take_cleanup_due());
        c.open_cleanup();
        assert_eq!(c.start_ready(1.0), vec![id(&w, "clean")]);
    }
}
