//! The engine's front door: a session over one workflow.
//!
//! ```text
//! Session::new(workflow)
//!   .select(targets)                      → which tasks (targets and what they need)
//!   .prepare(selected, freshness, intent) → Plan: per-task decisions and reasons,
//!                                           expected durations (from the state store)
//!   .simulate(&plan, &settings)           → the order and wall time `wf plan` predicts
//!   .run(plan, &settings, reporter)       → RunReport, events to the reporter as it goes
//! ```
//!
//! Policy lives here: how the command line's choices combine with the manifest's, what the
//! state store is asked before a run, what a run records. The command line only parses,
//! calls these and renders.

pub mod memory;
mod prepare;
mod recall;
mod trim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use miette::Diagnostic;
use thiserror::Error;

pub use prepare::Plan;

use crate::exec::{Executor, LineSink, TaskOutput};
use crate::report::RunReport;
use crate::run::{Recorder, RunError, RunEvent, RunOptions, check_slots};
use crate::scheduler::plan::{Simulation, simulate};
use crate::scheduler::{UnknownTarget, select};
use crate::state::prune::{PruneOptions, PruneReport, prune};
use crate::state::{FingerprintError, Freshness, StateError, StateStore, store_path};
use crate::workflow::{ExecutorKind, Workflow};

/// The job slots of a Slurm run when neither the command line nor the manifest gives any: how
/// many jobs wf keeps in the queue at once (the machine wf runs on has nothing to do with it).
pub const SLURM_DEFAULT_JOBS: u32 = 100;

/// A workflow opened for planning and running.
#[derive(Debug, Clone)]
pub struct Session {
    workflow: Arc<Workflow>,
}

/// What a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// A real run: the state store is created if missing.
    Run,
    /// A preview (`wf plan`, a dry run): the state store is read if it exists, never created.
    Preview,
}

/// How to run, as asked for (the command line's choices); what is not given comes from the
/// manifest.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Job slots; default `[workflow].jobs`, else the CPU count (local) or
    /// [`SLURM_DEFAULT_JOBS`] (Slurm).
    pub jobs: Option<u32>,
    /// Keep starting independent tasks after a failure (also on when the manifest says so).
    pub keep_going: bool,
    /// SIGTERM → SIGKILL grace; default `[workflow].grace`.
    pub grace: Option<Duration>,
    /// Where tasks run; default `[executor].kind`.
    pub executor: Option<ExecutorKind>,
    /// Also write the JSON report here.
    pub report_path: Option<PathBuf>,
    /// Where task output goes.
    pub output: TaskOutput,
    /// Where `--output stream` lines go (`None`: wf's stdout and stderr); the `wf` command
    /// passes one that keeps its status line out of their way.
    pub lines: Option<Arc<dyn LineSink>>,
    /// Whether the reporter wants per-task events (off for quiet runs: they cost wake-ups).
    pub task_events: bool,
    /// Let the run act on the whole process: handle SIGINT/SIGTERM/SIGHUP (cancel the run),
    /// adopt and end the processes tasks orphan. The `wf` command asks for it; a library
    /// caller that has its own signal handling leaves it off.
    pub own_process: bool,
}

/// Receives what a run tells as it goes: the terminal renderer, report writers.
pub trait Reporter {
    /// Called for every event, in order, on the thread that called [`Session::run`].
    fn event(&mut self, workflow: &Workflow, event: RunEvent);
}

impl<F: FnMut(&Workflow, RunEvent)> Reporter for F {
    fn event(&mut self, workflow: &Workflow, event: RunEvent) {
        self(workflow, event);
    }
}

/// The session could not do what was asked (task failures are not errors: they are in the
/// report).
#[derive(Debug, Error, Diagnostic)]
pub enum SessionError {
    /// A target names no task.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownTarget(#[from] UnknownTarget),
    /// The state store could not be opened, read or written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// A task's fingerprint could not be computed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fingerprint(#[from] FingerprintError),
    /// The run could not be carried out.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Run(#[from] RunError),
}

impl Session {
    /// A session over a validated workflow (see [`crate::manifest::load`]).
    pub fn new(workflow: Workflow) -> Self {
        Self {
            workflow: Arc::new(workflow),
        }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// Marks the tasks a run includes: every task when `targets` is empty, else each target (a
    /// full name, or a matrix task's name for all its expansions) and all it needs.
    pub fn select(&self, targets: &[String]) -> Result<Vec<bool>, SessionError> {
        Ok(select(&self.workflow, targets)?)
    }

    /// Decides what of `selected` runs and why, and how long each task is expected to take,
    /// from the state store (opened, or for a preview only read when it exists).
    pub fn prepare(
        &self,
        selected: Vec<bool>,
        freshness: Freshness,
        intent: Intent,
    ) -> Result<Plan, SessionError> {
        // Memory matters for a run, which goes on for a while: what reading the manifest freed
        // is not needed again, nor what planning frees. A preview ends soon after.
        let trim = || {
            if intent == Intent::Run {
                trim::release_freed_memory();
            }
        };
        trim();
        let path = store_path(&self.workflow.root);
        let store = match intent {
            Intent::Preview if !path.exists() => None,
            _ => Some(StateStore::open(&path)?),
        };
        let plan = prepare::prepare(&self.workflow, selected, freshness, store);
        trim();
        plan
    }

    /// How many runs of the workflow `.wf/` keeps: `keep`, else `[workflow].keep_runs`.
    pub fn keep_runs(&self, keep: Option<usize>) -> usize {
        keep.unwrap_or(self.workflow.keep_runs as usize).max(1)
    }

    /// Removes the workflow's runs beyond the newest `keep`, run folders without a record,
    /// records whose folder is gone and cached digests of deleted files (with `dry_run`, only
    /// says what it would remove). `None` when the workflow has never run (nothing is created).
    pub fn gc(&self, keep: usize, dry_run: bool) -> Result<Option<PruneReport>, SessionError> {
        let path = store_path(&self.workflow.root);
        if !path.exists() && !crate::layout::runs_dir(&self.workflow.root).exists() {
            return Ok(None);
        }
        let mut store = StateStore::open(&path)?;
        let options = PruneOptions {
            keep,
            dry_run,
            sweep: true,
            protect: None,
        };
        let manifest = self.workflow.manifest_path().display().to_string();
        Ok(Some(prune(
            &mut store,
            &self.workflow.root,
            &manifest,
            &options,
        )?))
    }

    /// The job slots a run with `settings` uses: the command line's, else the manifest's, else
    /// the CPU count for the local executor and [`SLURM_DEFAULT_JOBS`] for Slurm (where a slot
    /// is a job in the queue).
    pub fn jobs(&self, settings: &RunSettings) -> u32 {
        match self.executor(settings) {
            ExecutorKind::Local => self.workflow.effective_jobs(settings.jobs),
            ExecutorKind::Slurm => settings
                .jobs
                .or(self.workflow.jobs)
                .unwrap_or(SLURM_DEFAULT_JOBS),
        }
    }

    /// Whether a run with `settings` keeps going after a failure.
    pub fn keep_going(&self, settings: &RunSettings) -> bool {
        settings.keep_going || self.workflow.keep_going
    }

    /// The executor a run with `settings` asks for: the command line's, else the manifest's.
    pub fn executor(&self, settings: &RunSettings) -> ExecutorKind {
        settings.executor.unwrap_or(self.workflow.executor)
    }

    /// Fails if a task of `selected` needs more slots than a run with `settings` has: it
    /// could never start.
    pub fn check_slots(&self, selected: &[bool], settings: &RunSettings) -> Result<(), RunError> {
        check_slots(&self.workflow, selected, self.jobs(settings))
    }

    /// What a run of `plan` with `settings` is expected to do: the dispatch order, the
    /// critical path and the wall time. Fails if a task could never start.
    pub fn simulate(&self, plan: &Plan, settings: &RunSettings) -> Result<Simulation, RunError> {
        let jobs = self.jobs(settings);
        self.check_slots(&plan.selected, settings)?;
        Ok(simulate(
            &self.workflow,
            &plan.selected,
            &plan.skipped(),
            jobs,
            &plan.expected,
            self.keep_going(settings),
            plan.memory_plan.clone(),
        ))
    }

    /// Runs `plan` with `settings`, telling `reporter` what happens, and returns the report
    /// (also written to `.wf/runs/RUN_ID/report.json`). The run is recorded in the state store
    /// when the plan was made with one. Tasks run on the executor the settings or the manifest
    /// ask for; a Slurm run fails before anything starts if the Slurm tools are missing or the
    /// controller does not answer.
    pub fn run(
        &self,
        plan: Plan,
        settings: &RunSettings,
        reporter: &mut dyn Reporter,
    ) -> Result<RunReport, SessionError> {
        let executor = self.executor(settings);
        self.start(plan, settings, executor, |workflow, options, recorder| {
            crate::run::run(workflow, options, recorder, &mut |w: &Workflow, event| {
                reporter.event(w, event);
            })
        })
    }

    /// [`Session::run`] on an executor of the caller's choice: how a new backend (or a test
    /// double) plugs in without touching the scheduler.
    pub fn run_with<E: Executor>(
        &self,
        plan: Plan,
        settings: &RunSettings,
        reporter: &mut dyn Reporter,
    ) -> Result<RunReport, SessionError> {
        self.start(plan, settings, E::KIND, |workflow, options, recorder| {
            crate::run::run_on::<E>(workflow, options, recorder, &mut |w: &Workflow, event| {
                reporter.event(w, event);
            })
        })
    }

    /// Resolves `settings` against the manifest into the run's options and hands them, with
    /// the state store's recorder when the plan has a store, to `go`.
    fn start(
        &self,
        plan: Plan,
        settings: &RunSettings,
        executor: ExecutorKind,
        go: impl FnOnce(Arc<Workflow>, &RunOptions, Option<Recorder<'_>>) -> Result<RunReport, RunError>,
    ) -> Result<RunReport, SessionError> {
        let up_to_date = plan.up_to_date(&self.workflow);
        // What only the plan needed (its reasons, the memory needs) is let go before the run,
        // which holds what it keeps until it ends.
        let Plan {
            selected,
            expected,
            memory_plan,
            fingerprints,
            cache,
            mut store,
            ..
        } = plan;
        let options = RunOptions {
            up_to_date,
            selected,
            jobs: self.jobs(settings),
            executor,
            own_process: settings.own_process,
            keep_going: self.keep_going(settings),
            grace: settings.grace.unwrap_or(self.workflow.grace),
            weights: Some(expected),
            memory: memory_plan,
            report_path: settings.report_path.clone(),
            output: settings.output,
            lines: settings.lines.clone(),
            task_events: settings.task_events,
        };
        let recorder = store.as_mut().map(|store| Recorder {
            store,
            fingerprints,
            cache,
        });
        Ok(go(Arc::clone(&self.workflow), &options, recorder)?)
    }
}
