//! Writing the run into the state store as it happens.
//!
//! The coordinator thread owns the store. Workers tell it about every finished attempt; it
//! writes whatever has arrived in one transaction (a burst of tiny tasks becomes one commit), so
//! a `kill -9` of wf loses at most the attempts that were still in flight. A store error never
//! stops the run: it is reported once and recording stops.

use std::time::Instant;

use super::summary::RunTally;
use crate::exec::{AttemptRequest, AttemptResult};
use crate::paths::shown;
use crate::report::TaskStatus;
use crate::report::time::Timestamp;
use crate::state::records::{AttemptRecord as StoredAttempt, OutcomeRecord};
use crate::state::{
    FileCache, Fingerprints, PruneOptions, RunEnd, RunStart, StateError, StateEvent, StateStore,
    SuccessRecord, TaskFingerprint, fingerprint_one, prune,
};
use crate::workflow::Workflow;

/// The state store and what the run records in it.
pub struct Recorder<'a> {
    /// The store (`.wf/state.db`).
    pub store: &'a mut StateStore,
    /// The fingerprints taken before the run (those of tasks that do not run stand); the
    /// journal takes them over.
    pub fingerprints: Fingerprints,
    /// The file-hash cache, for fingerprinting tasks again when they succeed.
    pub cache: FileCache,
}

/// A finished attempt, as the coordinator records it.
#[derive(Debug, Clone)]
pub struct AttemptNote {
    /// The attempt.
    pub request: AttemptRequest,
    /// How it went.
    pub result: AttemptResult,
    /// The attempt's status, or the task's final status if `last`.
    pub status: TaskStatus,
    /// True if this was the task's last attempt: its outcome is settled too.
    pub last: bool,
}

/// The coordinator's writer.
pub struct Journal<'a> {
    recorder: Recorder<'a>,
    run_id: String,
    started: Timestamp,
    epoch: Instant,
    pending: Vec<StateEvent>,
    settled: Vec<bool>,
    error: Option<StateError>,
    /// Fingerprints as they stand: a task that succeeded is fingerprinted again, because its
    /// inputs may be files its deps wrote during this run.
    current: Vec<Option<TaskFingerprint>>,
    /// Tasks whose fingerprint changed during the run.
    changed: Vec<bool>,
}

impl<'a> Journal<'a> {
    /// Records the start of a run.
    pub fn begin(
        mut recorder: Recorder<'a>,
        workflow: &Workflow,
        run_id: &str,
        started: Timestamp,
        epoch: Instant,
        jobs: u32,
    ) -> Self {
        let start = RunStart {
            run_id: run_id.to_owned(),
            manifest: workflow.manifest_path().display().to_string(),
            workflow: workflow.name.clone(),
            pid: Some(std::process::id()),
            started_at_ms: started.millis(),
            jobs,
        };
        let error = recorder.store.begin_run(&start).err();
        let current = std::mem::take(&mut recorder.fingerprints.tasks);
        Self {
            changed: vec![false; current.len()],
            current,
            recorder,
            run_id: run_id.to_owned(),
            started,
            epoch,
            pending: Vec::new(),
            settled: vec![false; workflow.tasks.len()],
            error,
        }
    }

    /// Marks every earlier run of this manifest still recorded as running as abandoned: the
    /// caller holds the manifest's run lock, so none of them can be alive (crashed, or their
    /// wf lost the store before it could record the end).
    pub fn close_abandoned_runs(&mut self, workflow: &Workflow) {
        let manifest = workflow.manifest_path().display().to_string();
        let stale: Vec<String> = match self.recorder.store.running_runs(&manifest) {
            Ok(runs) => runs.into_iter().filter(|run| *run != self.run_id).collect(),
            Err(error) => {
                self.error.get_or_insert(error);
                return;
            }
        };
        for run_id in stale {
            if let Err(error) = self.recorder.store.mark_abandoned(&run_id) {
                self.error.get_or_insert(error);
            }
        }
    }

    /// Removes the runs of this manifest beyond the newest `[workflow].keep_runs` (this one
    /// included), folders and rows, after crash recovery and [`Self::close_abandoned_runs`].
    /// Housekeeping only: a failure leaves the old runs for the next run or `wf gc`, and never
    /// stops this one.
    pub fn prune_old_runs(&mut self, workflow: &Workflow) {
        let options = PruneOptions {
            keep: workflow.keep_runs as usize,
            dry_run: false,
            sweep: false,
            protect: Some(self.run_id.clone()),
        };
        let manifest = workflow.manifest_path().display().to_string();
        let _ = prune(self.recorder.store, &workflow.root, &manifest, &options);
    }

    /// Records the tasks that will not run because they are up to date, at once: a run killed
    /// later still counts them as done for `--resume`.
    pub fn settle_up_to_date(&mut self, workflow: &Workflow, up_to_date: &[Option<String>]) {
        let at = self.started.millis();
        for (task, reason) in up_to_date.iter().enumerate() {
            if reason.is_some() {
                self.settle(workflow, task, TaskStatus::UpToDate, None, at);
            }
        }
        self.flush();
    }

    fn millis(&self, at: Instant) -> i64 {
        let offset = at.saturating_duration_since(self.epoch).as_millis();
        self.started.millis() + i64::try_from(offset).unwrap_or(i64::MAX)
    }

    /// Queues a finished attempt (and, if it was the last, the task's outcome).
    pub fn attempt(&mut self, workflow: &Workflow, note: AttemptNote) {
        let task = &workflow.tasks[note.request.task];
        let ended_at_ms = self.millis(note.result.ended_at);
        let started_at_ms = note
            .result
            .started_at
            .map_or(ended_at_ms, |s| self.millis(s));
        let duration_s = note.result.duration().as_secs_f64();
        let (exit_code, signal) = note.result.end.exit_code_and_signal();
        self.pending
            .push(StateEvent::AttemptFinished(StoredAttempt {
                run_id: self.run_id.clone(),
                task: task.name.clone(),
                attempt: note.request.attempt,
                status: note.status,
                started_at_ms,
                ended_at_ms,
                duration_s,
                exit_code,
                signal,
                worker: Some(note.request.worker as u64 + 1),
                log: note
                    .result
                    .log
                    .as_deref()
                    .map(|log| shown(log, &workflow.root)),
                peak_rss_bytes: note.result.usage.map(|u| u.peak_rss_bytes),
                user_s: note.result.usage.map(|u| u.user.as_secs_f64()),
                sys_s: note.result.usage.map(|u| u.sys.as_secs_f64()),
            }));
        if note.last {
            let task = note.request.task;
            self.settle(workflow, task, note.status, Some(duration_s), ended_at_ms);
        }
    }

    fn settle(
        &mut self,
        workflow: &Workflow,
        task: usize,
        status: TaskStatus,
        duration_s: Option<f64>,
        at_ms: i64,
    ) {
        if std::mem::replace(&mut self.settled[task], true) {
            return;
        }
        let spec = &workflow.tasks[task];
        // Without inputs, and with deps whose fingerprints did not change during the run, the
        // fingerprint taken before the run still holds: no need to compute it again.
        let stale = !spec.inputs.is_empty() || workflow.deps(task).any(|dep| self.changed[dep]);
        if status == TaskStatus::Succeeded && stale {
            let current = &self.current;
            let dep_digest = |dep: usize| current[dep].as_ref().map(|fp| fp.digest);
            // An input that cannot be read now leaves the task without a recorded success: it
            // simply runs again next time.
            let now = fingerprint_one(workflow, task, &dep_digest, &mut self.recorder.cache).ok();
            self.changed[task] = now.as_ref().map(|fp| &fp.digest)
                != self.current[task].as_ref().map(|fp| &fp.digest);
            self.current[task] = now;
        }
        let current = &self.current;
        let fingerprint = current.get(task).and_then(Option::as_ref);
        let dep_digest = |dep: usize| current[dep].as_ref().map(|fp| fp.digest);
        let success = (status == TaskStatus::Succeeded)
            .then(|| {
                fingerprint.map(|fp| SuccessRecord {
                    parts: fp.parts(workflow, task, &dep_digest),
                    outputs: spec.outputs.clone(),
                    finished_at_ms: at_ms,
                })
            })
            .flatten();
        self.pending.push(StateEvent::TaskSettled(OutcomeRecord {
            run_id: self.run_id.clone(),
            task: spec.name.clone(),
            status,
            fingerprint: fingerprint.map(|fp| fp.digest.to_string()),
            duration_s,
            success,
        }));
    }

    /// Writes everything queued in one transaction.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.error.is_none() {
            if let Err(error) = self.recorder.store.record(&self.pending) {
                self.error = Some(error);
            }
        }
        self.pending.clear();
    }

    /// Records the outcome of every task not recorded yet and the end of the run; returns the
    /// first store error met during the run, if any.
    pub fn finish(mut self, workflow: &Workflow, tally: &RunTally) -> Option<StateError> {
        let end_ms = self.started.millis() + (tally.duration_s * 1000.0) as i64;
        for &(task, status, duration_s) in &tally.tasks {
            self.settle(workflow, task, status, duration_s, end_ms);
        }
        // Even after a failure during the run (a full disk that has room again, a busy
        // moment), try to record the rest and the end: a run left `running` would later look
        // killed. The first error is still the one reported.
        let earlier = self.error.take();
        self.flush();
        // A cache that cannot be saved only costs re-reading files next time.
        let _ = self
            .recorder
            .store
            .save_file_cache(&mut self.recorder.cache);
        let end = RunEnd {
            run_id: self.run_id.clone(),
            status: tally.status,
            finished_at_ms: end_ms,
            duration_s: tally.duration_s,
            counts: tally.counts(),
        };
        if let Err(error) = self.recorder.store.finish_run(&end) {
            self.error.get_or_insert(error);
        }
        earlier.or(self.error)
    }
}
