//! The shared dispatch state: the scheduler core plus what the run loop tracks around it,
//! behind one mutex.
//!
//! A worker that finishes an attempt records it and starts the next ready task itself, under
//! the lock, instead of waking a scheduler thread and waiting to be woken back: the finish of
//! one task and the start of the next cost no thread switch. The state is still owned in one
//! place and changed only through [`Dispatch`]'s methods.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::completion::check_outputs;
use super::events::RunEvent;
use super::journal::AttemptNote;
use super::summary::TaskRecords;
use crate::exec::{AttemptRequest, Completion, Executor};
use crate::scheduler::core::Core;
use crate::workflow::{TaskId, Workflow};

/// What the coordinating thread receives.
#[derive(Debug)]
pub enum Message {
    /// Events for the observer wait in [`Shared::event_inbox`] (sent when the first of a batch
    /// arrives: tasks that end in quick succession wake the coordinator once, not per task).
    EventsPending,
    /// Finished attempts wait in [`Shared::journal_inbox`] for the state store (sent when the
    /// first of a batch arrives).
    JournalPending,
    /// wf received a signal.
    Signal(i32),
    /// A retry was scheduled: the coordinator must recompute when to wake.
    RetryScheduled,
    /// A cancelled run has nothing running any more and `when = "always"` tasks waiting: the
    /// coordinator lets the executor start attempts again and opens the cleanup.
    CleanupDue,
    /// Every task has its outcome.
    Done,
    /// Messages made under one hold of the state lock, in order: one wake-up of the
    /// coordinator for a finish, the start that follows it and the journal's notice.
    Batch(Vec<Message>),
}

/// The run's mutable state.
pub struct Dispatch<'w> {
    /// The scheduler state machine.
    pub core: Core<'w>,
    /// Attempts of each task.
    pub records: TaskRecords,
    /// Retries waiting for their delay.
    pub retries: BinaryHeap<Reverse<(Instant, TaskId)>>,
    /// True once every task has its outcome; workers exit.
    pub done: bool,
    /// Messages for the coordinator, sent together when the state lock is let go.
    outbox: Vec<Message>,
    /// Events for the observer, moved to [`Shared::event_inbox`] with the messages.
    events: Vec<RunEvent>,
    /// Workers waiting on their condition variable (the others need no wake-up call).
    waiting: Vec<bool>,
    assigned: Vec<Option<AttemptRequest>>,
    idle: Vec<usize>,
    epoch: Instant,
}

/// What the worker threads and the coordinator share.
pub struct Shared<'w, E> {
    /// The workflow.
    pub workflow: &'w Workflow,
    /// The state.
    pub state: Mutex<Dispatch<'w>>,
    /// One condition variable per worker, signalled when it is given work or the run ends.
    pub wake: Vec<Condvar>,
    /// Runs attempts.
    pub executor: E,
    /// `.wf/runs/RUN_ID`.
    pub run_dir: std::path::PathBuf,
    /// To the coordinator.
    pub messages: Sender<Message>,
    /// Whether the observer wants per-task events.
    pub task_events: bool,
    /// Whether finished attempts go to the coordinator for the state store.
    pub record: bool,
    /// Finished attempts not yet handed to the state store. Locked after the state lock when
    /// both are held, never before it.
    pub journal_inbox: Mutex<Vec<AttemptNote>>,
    /// Events not yet handed to the observer, in the order they happened. Locked after the
    /// state lock when both are held, never before it.
    pub event_inbox: Mutex<Vec<RunEvent>>,
}

impl<'w, E> Shared<'w, E> {
    /// Locks the state (a panicked worker does not make the state unusable for the report).
    pub fn lock(&self) -> MutexGuard<'_, Dispatch<'w>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, message: Message) {
        let _ = self.messages.send(message);
    }
}

/// The delay before retry number `attempt` (1 = the first retry): `base`, doubled each time.
pub fn retry_delay(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
}

impl<'w> Dispatch<'w> {
    /// State for `workers` slots, every worker idle.
    pub fn new(core: Core<'w>, tasks: usize, workers: usize) -> Self {
        Self {
            core,
            records: TaskRecords::new(tasks),
            retries: BinaryHeap::new(),
            done: false,
            outbox: Vec::new(),
            events: Vec::new(),
            waiting: vec![false; workers],
            assigned: vec![None; workers],
            idle: (0..workers).rev().collect(),
            epoch: Instant::now(),
        }
    }

    /// The scheduler's final state and the attempt records, once the run is over.
    pub fn into_parts(self) -> (Core<'w>, TaskRecords) {
        (self.core, self.records)
    }

    /// The moment the run's clock started.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Queues a message for the coordinator (sent by [`Self::flush_outbox`]).
    fn post(&mut self, message: Message) {
        self.outbox.push(message);
    }

    /// Queues a per-task event, if the observer wants them.
    fn event<E>(&mut self, shared: &Shared<'w, E>, event: impl FnOnce() -> RunEvent) {
        if shared.task_events {
            self.events.push(event());
        }
    }

    /// Moves the queued events to the coordinator's inbox (telling it only if the inbox was
    /// empty) and sends the queued messages, as one message when there are several.
    fn flush_outbox<E>(&mut self, shared: &Shared<'w, E>) {
        if !self.events.is_empty() {
            let mut inbox = shared
                .event_inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if inbox.is_empty() {
                // First: a task's line is not held back by the state store's write.
                self.outbox.insert(0, Message::EventsPending);
            }
            inbox.append(&mut self.events);
        }
        match self.outbox.len() {
            0 => {}
            1 => {
                if let Some(message) = self.outbox.pop() {
                    shared.send(message);
                }
            }
            _ => shared.send(Message::Batch(std::mem::take(&mut self.outbox))),
        }
    }

    /// Takes the work assigned to `worker`, if any.
    pub fn take_assignment(&mut self, worker: usize) -> Option<AttemptRequest> {
        self.assigned[worker].take()
    }

    /// Records a finished attempt and dispatches what can start now. `worker` is idle again.
    pub fn complete<E>(&mut self, done: Completion, shared: &Shared<'w, E>) {
        let Completion { request, result } = done;
        let task = request.task;
        let spec = &shared.workflow.tasks[task];
        self.idle.push(request.worker);
        let record = &mut self.records[task];
        record.finished(&result, request.worker);
        // A cancelled attempt ends only after `Core::cancel`, so a stopped run covers it.
        let retry_in = (!result.end.succeeded()
            && self.core.stop().is_none()
            && record.attempts <= spec.retries)
            .then(|| retry_delay(spec.retry_delay, record.attempts));
        let outcome = record.last_outcome(spec);
        let (status, reason) = match retry_in {
            Some(_) => record.attempt_status(),
            None => record.final_status(&outcome),
        };
        self.event(shared, || RunEvent::TaskFinished {
            task,
            attempt: request.attempt,
            status,
            retry_in,
            duration_s: result.duration().as_secs_f64(),
            log: result.log.clone(),
            reason,
        });
        if shared.record {
            let note = AttemptNote {
                request,
                result,
                status,
                last: retry_in.is_none(),
            };
            // Only the first of a batch wakes the coordinator; the inbox has its own lock, so
            // the coordinator empties it without waiting for the state lock.
            let mut inbox = shared
                .journal_inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if inbox.is_empty() {
                self.post(Message::JournalPending);
            }
            inbox.push(note);
        }
        match retry_in {
            Some(delay) => {
                self.core.defer_retry(task);
                self.retries.push(Reverse((Instant::now() + delay, task)));
                self.post(Message::RetryScheduled);
            }
            None => self.core.finish(task, outcome),
        }
        self.dispatch(shared);
    }

    /// Makes the retries that are due ready again and dispatches.
    pub fn retry_due<E>(&mut self, shared: &Shared<'w, E>) {
        let now = Instant::now();
        while let Some(&Reverse((due, task))) = self.retries.peek() {
            if due > now {
                break;
            }
            self.retries.pop();
            let last = self.records[task].last_outcome(&shared.workflow.tasks[task]);
            self.core.retry_due(task, last);
        }
        self.dispatch(shared);
    }

    /// Stops dispatch for a cancellation: on the first signal only `when = "always"` tasks
    /// start later (once nothing runs), on the second nothing does.
    pub fn cancel<E>(&mut self, shared: &Shared<'w, E>) {
        self.core.cancel();
        self.retries.clear();
        self.dispatch(shared);
    }

    /// Starts the cleanup of a cancelled run (its executor accepts attempts again): the
    /// waiting `when = "always"` tasks start.
    pub fn open_cleanup<E>(&mut self, shared: &Shared<'w, E>) {
        self.core.open_cleanup();
        self.dispatch(shared);
    }

    /// Starts every task that can start now on idle workers (the most recently idle first, so
    /// a worker that just finished usually picks its next task up without sleeping), reports
    /// tasks settled without running, and ends the run when everything has an outcome.
    pub fn dispatch<E>(&mut self, shared: &Shared<'w, E>) {
        loop {
            let now = self.epoch.elapsed().as_secs_f64();
            for task in self.core.start_ready(now) {
                let Some(worker) = self.idle.pop() else {
                    unreachable!("the core never starts more tasks than there are slots");
                };
                let record = &mut self.records[task];
                record.attempts += 1;
                record.dispatched(self.core.lock_wait(task));
                let request = AttemptRequest {
                    task,
                    attempt: record.attempts,
                    worker,
                };
                self.assigned[worker] = Some(request);
                if self.waiting[worker] {
                    shared.wake[worker].notify_one();
                }
                self.event(shared, || RunEvent::TaskStarted {
                    task,
                    attempt: request.attempt,
                    worker: worker + 1,
                });
            }
            for task in self.core.take_resolved() {
                if let Some(outcome) = self.core.outcome(task) {
                    let (status, reason) = outcome.status();
                    self.event(shared, || RunEvent::TaskSettled {
                        task,
                        status,
                        reason,
                    });
                }
            }
            if self.core.take_cleanup_due() {
                self.post(Message::CleanupDue);
            }
            if self.core.is_stuck() {
                self.core
                    .abandon_unfinished("not started: nothing left that could run it");
                continue;
            }
            break;
        }
        if self.core.is_finished() {
            self.end(shared);
        }
        self.flush_outbox(shared);
    }

    /// Marks the run done (once): every worker wakes up and exits, the coordinator is told.
    pub fn end<E>(&mut self, shared: &Shared<'w, E>) {
        if !self.done {
            self.done = true;
            for wake in &shared.wake {
                wake.notify_one();
            }
            self.post(Message::Done);
        }
        self.flush_outbox(shared);
    }
}

/// A worker thread: run what it is given, record it, take the next, until the run is done.
pub fn worker<E: Executor>(me: usize, shared: &Shared<'_, E>) {
    let mut slot = shared.executor.slot(me);
    let mut finished: Option<Completion> = None;
    loop {
        let request = {
            let mut state = shared.lock();
            if let Some(done) = finished.take() {
                state.complete(done, shared);
            }
            loop {
                if let Some(request) = state.take_assignment(me) {
                    break Some(request);
                }
                if state.done {
                    break None;
                }
                state.waiting[me] = true;
                state = shared.wake[me]
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting[me] = false;
            }
        };
        let Some(request) = request else { return };
        let result = shared.executor.run(request, &mut slot);
        // Outside the lock: checking outputs touches the file system.
        let result = check_outputs(shared.workflow, &shared.run_dir, request.task, result);
        finished = Some(Completion { request, result });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double() {
        let base = Duration::from_millis(100);
        assert_eq!(retry_delay(base, 1), Duration::from_millis(100));
        assert_eq!(retry_delay(base, 2), Duration::from_millis(200));
        assert_eq!(retry_delay(base, 3), Duration::from_millis(400));
    }
}
