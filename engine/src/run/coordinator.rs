//! A run from start to report.
//!
//! ```text
//!  coordinator (this thread)                 workers (one per job slot)
//!  ─────────────────────────                 ──────────────────────────
//!  set up .wf/runs/ID, signals, runner       wait for an assignment
//!  first dispatch ──────────────────────────▶ run it: spawn, wait in the kernel
//!  messages: events → observer               lock: record it, dispatch the next ready
//!            signals → cancel                      tasks (its own first), unlock
//!            retries due → dispatch          …until the state says done
//!            done → report
//! ```
//!
//! Nothing sleeps to poll: workers block in the kernel on their process or on their condition
//! variable, the coordinator on its channel (with a timeout only while a retry is pending).

use crate::scheduler::memory::MemoryPlan;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use thiserror::Error;

use super::dispatch::{Dispatch, Message, Shared, worker};
use super::events::RunEvent;
use super::journal::{Journal, Recorder};
use super::summary::{RunFacts, build_report, tally};
use crate::exec::local::LocalExecutor;
use crate::exec::slurm::{SlurmError, SlurmExecutor, Tools};
use crate::exec::{Executor, LineSink, RunContext, TaskOutput};
use crate::layout::runlock::{LockError, RunLock};
use crate::layout::{self, RunDir};
use crate::report::time::Timestamp;
use crate::report::{RunReport, write_json};
use crate::scheduler::core::{Cleanup, Core};
use crate::workflow::{ExecutorKind, Workflow};

/// How to run a workflow (the command line's choices, already resolved).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which tasks run (see [`crate::scheduler::select`]).
    pub selected: Vec<bool>,
    /// Job slots.
    pub jobs: u32,
    /// Where the tasks run.
    pub executor: ExecutorKind,
    /// The caller lets the run act on the whole process (see [`RunContext::own_process`]).
    pub own_process: bool,
    /// Keep starting independent tasks after a failure.
    pub keep_going: bool,
    /// SIGTERM → SIGKILL grace.
    pub grace: Duration,
    /// Tasks that will not run because they are up to date, each with the reason in words
    /// (indexed by task; may be empty: nothing is up to date).
    pub up_to_date: Vec<Option<String>>,
    /// Expected duration of each task, for critical-path priorities (1.0 each if `None`).
    pub weights: Option<Vec<f64>>,
    /// The memory budget and each task's need; `None`: memory holds no task back.
    pub memory: Option<MemoryPlan>,
    /// Also write the JSON report here.
    pub report_path: Option<PathBuf>,
    /// Where task output goes.
    pub output: TaskOutput,
    /// Where `--output stream` lines go (`None`: wf's stdout and stderr).
    pub lines: Option<Arc<dyn LineSink>>,
    /// Send per-task events (started, finished, settled) to the observer; off for quiet runs,
    /// where they would only cost wake-ups.
    pub task_events: bool,
}

/// The engine itself failed: the run could not be carried out (task failures are not errors).
#[derive(Debug, Error, Diagnostic)]
pub enum RunError {
    /// A selected task needs more slots than the run has.
    #[error("task `{task}` needs {cpus} slots but the run has {jobs}")]
    #[diagnostic(
        code(wf::cpus_exceed_jobs),
        help("give the run {cpus} or more slots, or lower the task's `cpus`")
    )]
    TooWide {
        /// The task.
        task: String,
        /// Its cpus.
        cpus: u32,
        /// The run's slots.
        jobs: u32,
    },
    /// `.wf/runs/…` could not be created.
    #[error("failed to create the run folder under {}", .path.display())]
    #[diagnostic(code(wf::run_folder))]
    RunFolder {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Slurm executor cannot be used: its tools are missing or the controller does not
    /// answer. Found before anything starts.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Slurm(#[from] SlurmError),
    /// Another run of the workflow holds the run lock.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Locked(#[from] LockError),
    /// Worker threads, signal handling or the report could not be set up or written.
    #[error("failed to {what}")]
    #[diagnostic(code(wf::engine))]
    Io {
        /// What failed, in words.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Fails if a selected task needs more slots than `jobs`: it could never start.
pub fn check_slots(workflow: &Workflow, selected: &[bool], jobs: u32) -> Result<(), RunError> {
    let too_wide = workflow
        .tasks
        .iter()
        .enumerate()
        .find(|(id, t)| selected[*id] && t.cpus > jobs);
    match too_wide {
        Some((_, task)) => Err(RunError::TooWide {
            task: task.name.clone(),
            cpus: task.cpus,
            jobs,
        }),
        None => Ok(()),
    }
}

/// Runs the selected tasks of `workflow` to completion (or cancellation) on the executor
/// `options.executor` and returns the report, also written to `.wf/runs/RUN_ID/report.json`
/// (and `options.report_path`).
///
/// With a `recorder`, the run is also written into the state store as it goes.
pub fn run(
    workflow: Arc<Workflow>,
    options: &RunOptions,
    recorder: Option<Recorder<'_>>,
    observer: &mut dyn FnMut(&Workflow, RunEvent),
) -> Result<RunReport, RunError> {
    match options.executor {
        ExecutorKind::Local => run_on::<LocalExecutor>(workflow, options, recorder, observer),
        ExecutorKind::Slurm => {
            crate::exec::slurm::executor::preflight(&Tools::default())?;
            run_on::<SlurmExecutor>(workflow, options, recorder, observer)
        }
    }
}

/// [`run`] on the executor `E`.
pub(crate) fn run_on<E: Executor>(
    workflow: Arc<Workflow>,
    options: &RunOptions,
    recorder: Option<Recorder<'_>>,
    observer: &mut dyn FnMut(&Workflow, RunEvent),
) -> Result<RunReport, RunError> {
    check_slots(&workflow, &options.selected, options.jobs)?;
    let manifest = workflow.manifest_path();
    let _lock = RunLock::acquire(&layout::state_dir(&workflow.root), &manifest)?;
    let runs = layout::runs_dir(&workflow.root);
    for recovered in super::recovery::recover_crashed::<E>(&runs, &manifest, options.grace) {
        observer(&workflow, RunEvent::Recovered(recovered));
    }
    let started_at = Timestamp::now();
    let run_dir = RunDir::create(&workflow.root, &manifest, started_at).map_err(|source| {
        RunError::RunFolder {
            path: workflow.root.join(".wf"),
            source,
        }
    })?;
    let (sender, messages) = channel();
    // Signal handlers first: the workers' spawners reset the handlers that exist when made.
    let signals = if options.own_process {
        let watched = watch_signals(&sender).map_err(|source| RunError::Io {
            what: "install signal handlers",
            source,
        })?;
        Some(watched)
    } else {
        None
    };
    let executor = E::start(RunContext {
        workflow: Arc::clone(&workflow),
        run_id: run_dir.run_id.clone(),
        run_dir: run_dir.path.clone(),
        grace: options.grace,
        output: options.output,
        lines: options.lines.clone(),
        own_process: options.own_process,
    })
    .map_err(|source| RunError::Io {
        what: "set up the executor",
        source,
    })?;
    let count = workflow.tasks.len();
    let even;
    let weights = match &options.weights {
        Some(weights) => weights.as_slice(),
        None => {
            even = vec![1.0; count];
            &even
        }
    };
    let up_to_date: Vec<bool> = options.up_to_date.iter().map(Option::is_some).collect();
    let core = Core::new(
        &workflow,
        &options.selected,
        &up_to_date,
        options.jobs,
        weights,
        options.keep_going,
    )
    .with_memory(options.memory.clone());
    let workers = options.jobs as usize;
    let shared = Shared {
        workflow: &workflow,
        state: Mutex::new(Dispatch::new(core, count, workers)),
        wake: (0..workers).map(|_| Condvar::new()).collect(),
        executor,
        run_dir: run_dir.path.clone(),
        messages: sender,
        task_events: options.task_events,
        record: recorder.is_some(),
        journal_inbox: Mutex::new(Vec::new()),
        event_inbox: Mutex::new(Vec::new()),
    };
    let epoch = shared.lock().epoch();
    let mut journal = recorder.map(|recorder| {
        let mut journal = Journal::begin(
            recorder,
            &workflow,
            &run_dir.run_id,
            started_at,
            epoch,
            options.jobs,
        );
        journal.close_abandoned_runs(&workflow);
        journal.prune_old_runs(&workflow);
        journal.settle_up_to_date(&workflow, &options.up_to_date);
        journal
    });
    observer(
        &workflow,
        RunEvent::Started {
            run_id: run_dir.run_id.clone(),
            run_dir: run_dir.path.clone(),
            jobs: options.jobs,
            tasks: options.selected.iter().filter(|&&s| s).count(),
        },
    );

    let mut interrupts = Interrupts::default();
    // Tasks' own lines go straight to the terminal with `--output stream`: a finish line held
    // back there would come after the first lines of the task started next.
    let event_linger = match options.output {
        TaskOutput::Stream(_) => Duration::ZERO,
        TaskOutput::Log => LINGER,
    };
    let spawned = std::thread::scope(|scope| -> std::io::Result<()> {
        for me in 0..workers {
            let shared = &shared;
            let started = std::thread::Builder::new()
                .name(format!("wf-worker-{}", me + 1))
                .spawn_scoped(scope, move || worker(me, shared));
            if let Err(error) = started {
                let mut state = shared.lock();
                state.core.cancel();
                state.end(shared);
                return Err(error);
            }
        }
        shared.lock().dispatch(&shared);
        coordinate(
            &shared,
            &messages,
            observer,
            journal.as_mut(),
            &mut interrupts,
            event_linger,
        );
        Ok(())
    });
    spawned.map_err(|source| RunError::Io {
        what: "start the worker threads",
        source,
    })?;
    let strays = end_of_run_cleanup(
        &shared,
        &messages,
        signals.as_ref(),
        observer,
        &mut interrupts,
    );
    if let Some(signals) = signals {
        signals.handle.close();
    }
    let finished_at = Timestamp::now();
    // Every thread of the run has ended: what they shared is taken apart, so that the
    // scheduler's state can be let go once the report has what it needs of it.
    let Shared {
        state, executor, ..
    } = shared;
    let (core, records) = state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_parts();
    let facts = RunFacts {
        workflow: &workflow,
        core: &core,
        selected: &options.selected,
        run_id: &run_dir.run_id,
        jobs: options.jobs,
        executor: E::KIND,
        started_at,
        finished_at,
        wall: epoch.elapsed(),
        epoch,
        cancelled: interrupts.counted > 0,
        strays,
        up_to_date: &options.up_to_date,
    };
    let tally = tally(&facts, &records);
    run_dir.release_reserve();
    // The store's end first: its fingerprints and file-hash cache are let go before the
    // report is made.
    let store_error = journal.map(|journal| journal.finish(&workflow, &tally));
    let report = build_report(&facts, Arc::clone(&workflow), tally, records);
    drop(core);
    drop(executor);
    if let Some(Some(error)) = store_error {
        observer(
            &workflow,
            RunEvent::StoreFailed {
                message: error.to_string(),
            },
        );
    }
    // A report that cannot be written loses nothing else: the run has ended and is recorded,
    // the other report is still written, and the caller hears of each failure.
    let written = [Some(run_dir.report_path()), options.report_path.clone()];
    let failures: Vec<_> = written
        .iter()
        .flatten()
        .filter_map(|path| write_json(&report, path).err())
        .collect();
    run_dir.mark_ended();
    for failure in failures {
        let message = failure.to_string();
        observer(
            &workflow,
            RunEvent::ReportFailed {
                path: failure.path,
                message,
            },
        );
    }
    let report = Arc::new(report);
    observer(
        &workflow,
        RunEvent::Finished {
            report: Arc::clone(&report),
        },
    );
    // Reporters do not keep the report; if one did, it gets its own copy (its task entries are
    // shared, not copied).
    Ok(Arc::try_unwrap(report).unwrap_or_else(|shared| (*shared).clone()))
}

/// How long finished attempts may wait to be written to the state store, and events to reach
/// the observer, while attempts finish in quick succession: one transaction then covers many
/// tiny tasks (group commit), and one wake-up of this thread their lines. When attempts finish
/// further apart, each is handled at once.
const LINGER: Duration = Duration::from_millis(10);

/// The coordinator's loop: observer events, the state store, signals and retry timers, until
/// the run is done. Events that come within `event_linger` of the last ones handed over wait
/// for it (see [`LINGER`]).
fn coordinate<E: Executor>(
    shared: &Shared<'_, E>,
    messages: &std::sync::mpsc::Receiver<Message>,
    observer: &mut dyn FnMut(&Workflow, RunEvent),
    mut journal: Option<&mut Journal<'_>>,
    interrupts: &mut Interrupts,
    event_linger: Duration,
) {
    let mut last_flush = Instant::now() - LINGER;
    let mut flush_at: Option<Instant> = None;
    // The same for events, apart: delivering events must not hold back the next write.
    let mut last_delivery = Instant::now() - LINGER;
    let mut deliver_at: Option<Instant> = None;
    // Finished attempts come through the journal inbox, which has its own lock: writing them
    // never waits for the state lock that the workers hold while they dispatch.
    let write_journal = |journal: &mut Option<&mut Journal<'_>>, last_flush: &mut Instant| {
        let notes = std::mem::take(
            &mut *shared
                .journal_inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if let Some(journal) = journal.as_deref_mut() {
            for note in notes {
                journal.attempt(shared.workflow, note);
            }
            journal.flush();
        }
        *last_flush = Instant::now();
    };
    // Events wait in their own inbox (see `Message::EventsPending`); they are handed over, in
    // order, before anything this thread tells the observer itself.
    let deliver_events = |observer: &mut dyn FnMut(&Workflow, RunEvent)| {
        let events = std::mem::take(
            &mut *shared
                .event_inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for event in events {
            observer(shared.workflow, event);
        }
    };
    // When the next retry is due. Only `RetryScheduled` adds retries, so the heap is read
    // again only then and after a change made here, not on every message.
    let next_due = || shared.lock().retries.peek().map(|r| r.0.0);
    let mut next_retry: Option<Instant> = None;
    // The rest of a batch (see `Message::Batch`), handled before the next message.
    let mut batched = std::collections::VecDeque::new();
    loop {
        let wake_at = [next_retry, flush_at, deliver_at]
            .into_iter()
            .flatten()
            .min();
        let message = if let Some(message) = batched.pop_front() {
            Some(message)
        } else {
            match wake_at {
                Some(at) => {
                    match messages.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(message) => Some(message),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            deliver_events(observer);
                            return;
                        }
                    }
                }
                None => match messages.recv() {
                    Ok(message) => Some(message),
                    Err(_) => {
                        deliver_events(observer);
                        return;
                    }
                },
            }
        };
        match message {
            Some(Message::Batch(messages)) => batched.extend(messages),
            None => {
                // Either being due, both go (the other early rather than in a wake-up of its
                // own).
                let now = Instant::now();
                if [deliver_at, flush_at]
                    .into_iter()
                    .flatten()
                    .any(|at| at <= now)
                {
                    if deliver_at.take().is_some() {
                        last_delivery = now;
                        deliver_events(observer);
                    }
                    if flush_at.take().is_some() {
                        write_journal(&mut journal, &mut last_flush);
                    }
                }
                if next_retry.is_some_and(|due| due <= Instant::now()) {
                    shared.lock().retry_due(shared);
                    next_retry = next_due();
                }
            }
            Some(Message::EventsPending) => {
                if last_delivery.elapsed() >= event_linger {
                    deliver_at = None;
                    // From the start of the hand-over: what came while a long one ran (a task's
                    // output printed) goes at once after it.
                    last_delivery = Instant::now();
                    deliver_events(observer);
                    if flush_at.take().is_some() {
                        write_journal(&mut journal, &mut last_flush);
                    }
                } else if deliver_at.is_none() {
                    deliver_at = Some(last_delivery + event_linger);
                }
            }
            Some(Message::JournalPending) => {
                if last_flush.elapsed() >= LINGER {
                    if deliver_at.take().is_some() {
                        last_delivery = Instant::now();
                        deliver_events(observer);
                    }
                    write_journal(&mut journal, &mut last_flush);
                } else if flush_at.is_none() {
                    flush_at = Some(last_flush + LINGER);
                }
            }
            Some(Message::RetryScheduled) => next_retry = next_due(),
            Some(Message::Signal(signal)) => {
                let Some(count) = interrupts.note(Instant::now()) else {
                    // The same interrupt, delivered twice (see SIGNAL_COALESCE).
                    continue;
                };
                deliver_events(observer);
                let force = count > 1;
                observer(shared.workflow, RunEvent::Interrupted { signal, force });
                // Stop dispatch before ending processes, so no worker that sees its task end
                // starts another one (the second signal also refuses the cleanup tasks).
                shared.lock().cancel(shared);
                next_retry = None;
                shared.executor.cancel_all(force);
            }
            Some(Message::CleanupDue) => {
                // Signals are handled on this thread only: no forced cancellation can come
                // between this check and the executor's reopening.
                if shared.lock().core.cleanup() == Cleanup::Due {
                    deliver_events(observer);
                    shared.executor.reopen();
                    observer(shared.workflow, RunEvent::CleanupStarted);
                    shared.lock().open_cleanup(shared);
                }
            }
            Some(Message::Done) => {
                // Everything sent before Done has been handled; nothing follows it.
                deliver_events(observer);
                write_journal(&mut journal, &mut last_flush);
                return;
            }
        }
    }
}

/// After the last task: ends whatever the run left running (see [`Executor::finish`]) while
/// still listening to signals. A signal now (including one
/// that arrived as the last task ended, after the coordinator stopped reading) is not lost: it
/// ends the grace period at once (SIGKILL to what is left) and the run counts as interrupted.
/// Returns how many processes were ended.
fn end_of_run_cleanup<E: Executor>(
    shared: &Shared<'_, E>,
    messages: &std::sync::mpsc::Receiver<Message>,
    signals: Option<&SignalWatch>,
    observer: &mut dyn FnMut(&Workflow, RunEvent),
    interrupts: &mut Interrupts,
) -> u32 {
    let mut interrupted = false;
    let mut take_signals = |interrupts: &mut Interrupts, interrupted: &mut bool| {
        while let Ok(message) = messages.try_recv() {
            // Only signals can follow `Done` (which ends its batch).
            if let Message::Signal(signal) = message {
                if interrupts.note(Instant::now()).is_some() {
                    *interrupted = true;
                    observer(shared.workflow, RunEvent::InterruptedCleanup { signal });
                }
            }
        }
    };
    let strays = shared.executor.finish(&mut || {
        take_signals(interrupts, &mut interrupted);
        interrupted
    });
    let Some(signals) = signals else {
        return strays;
    };
    // A signal that came during the last round, or that wf received (its handler ran) but
    // the signal thread has not forwarded yet: wait for it briefly, and count it regardless.
    let until = Instant::now() + SIGNAL_FORWARD_WAIT;
    loop {
        take_signals(interrupts, &mut interrupted);
        let arrived = u32::try_from(signals.arrived.load(Ordering::SeqCst)).unwrap_or(u32::MAX);
        if interrupts.received >= arrived {
            break;
        }
        if Instant::now() >= until {
            // Received but never forwarded: the run was interrupted all the same.
            interrupts.counted = interrupts.counted.max(1);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    strays
}

/// Signals that arrive within this window of the previous counted one count as one interrupt.
/// `timeout -s INT` (GNU coreutils) signals its child and then the child's process group, and
/// a CI runner may signal a job's whole process tree: wf receives the same interrupt twice, a
/// few microseconds apart, and must not take it for a second Ctrl-C (which skips the grace
/// period and the cleanup tasks). A person pressing Ctrl-C twice is far slower than this.
pub const SIGNAL_COALESCE: Duration = Duration::from_millis(250);

/// The signals a run received, and how many of them count as interrupts.
#[derive(Debug, Default)]
struct Interrupts {
    /// Signals forwarded to the coordinator.
    received: u32,
    /// Interrupts: signals not within [`SIGNAL_COALESCE`] of the previous interrupt.
    counted: u32,
    /// When the last interrupt was counted.
    last: Option<Instant>,
}

impl Interrupts {
    /// Notes a signal received at `now`: `Some(n)` if it is interrupt number `n` (from 1),
    /// `None` if it repeats the previous interrupt.
    fn note(&mut self, now: Instant) -> Option<u32> {
        self.received = self.received.saturating_add(1);
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < SIGNAL_COALESCE)
        {
            return None;
        }
        self.last = Some(now);
        self.counted = self.counted.saturating_add(1);
        Some(self.counted)
    }
}

/// How long the end of a run waits for the signal thread to forward a signal that has already
/// arrived (only when one has).
const SIGNAL_FORWARD_WAIT: Duration = Duration::from_millis(500);

/// The run's signal watch: the forwarding thread's handle, and how many signals arrived
/// (counted in the signal handler itself, so none is missed while the thread is not yet
/// scheduled).
struct SignalWatch {
    handle: signal_hook::iterator::Handle,
    arrived: Arc<AtomicUsize>,
}

/// Forwards SIGINT, SIGTERM and SIGHUP to the coordinator while the run lasts.
fn watch_signals(sender: &Sender<Message>) -> std::io::Result<SignalWatch> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let arrived = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let arrived = Arc::clone(&arrived);
        // SAFETY: the action only increments an atomic integer, which is async-signal-safe
        // (no allocation, no lock); the Arc keeps the integer alive for as long as the action
        // is registered (the rest of the process's life).
        unsafe {
            signal_hook::low_level::register(signal, move || {
                arrived.fetch_add(1, Ordering::SeqCst);
            })?;
        }
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let sender = sender.clone();
    std::thread::Builder::new()
        .name("wf-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if sender.send(Message::Signal(signal)).is_err() {
                    return;
                }
            }
        })?;
    Ok(SignalWatch { handle, arrived })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_within_the_window_are_one_interrupt() {
        let start = Instant::now();
        let mut interrupts = Interrupts::default();
        assert_eq!(interrupts.note(start), Some(1));
        assert_eq!(interrupts.note(start + Duration::from_micros(50)), None);
        assert_eq!(interrupts.note(start + Duration::from_millis(200)), None);
        assert_eq!(interrupts.note(start + Duration::from_millis(300)), Some(2));
        assert_eq!((interrupts.received, interrupts.counted), (4, 2));
    }
}
