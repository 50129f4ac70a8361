//! What a run, a dry run and a plan learn from the state store before anything runs: each
//! task's fingerprint, whether it must run and why, and its expected duration.

use std::cell::OnceCell;
use std::collections::HashMap;

use super::SessionError;
use super::memory::{MemoryNeed, RECENT_PEAKS, plan_memory, resolve_budget};
use crate::names::{NameMap, name_map};
use crate::scheduler::memory::MemoryPlan;
use crate::state::summary::{
    highest_peaks, median_durations, success_durations, with_last_success_durations,
};
use crate::state::{
    Digest, FileCache, Fingerprints, Freshness, History, Reason, StateStore, decide,
    fingerprint_tasks_with, read_task_inputs,
};
use crate::workflow::Workflow;

/// How many recent successes a task's expected duration is the median of.
const RECENT_DURATIONS: usize = 5;

/// What a session knows before a run: which tasks are in it, which of them run and why, and
/// how long each is expected to take.
pub struct Plan {
    /// Which tasks are part of the run (the targets and what they need).
    pub selected: Vec<bool>,
    /// Why each selected task runs or is skipped (`None` for tasks not selected).
    pub reasons: Vec<Option<Reason>>,
    /// Expected duration of each task in seconds: learnt, or estimated.
    pub expected: Vec<f64>,
    /// Which tasks have a learnt duration (the others got an estimate).
    pub learnt: Vec<bool>,
    /// The run's memory budget in bytes (`None`: no budget).
    pub memory_budget: Option<u64>,
    /// Each task's memory need: declared, learnt or unknown.
    pub memory: Vec<MemoryNeed>,
    /// What the scheduler is given of both, when there is a budget.
    pub memory_plan: Option<MemoryPlan>,
    /// Fingerprint of each selected task.
    pub(super) fingerprints: Fingerprints,
    /// The file-hash cache, for fingerprinting tasks again as they succeed.
    pub(super) cache: FileCache,
    /// The state store, when the plan was made with one.
    pub(super) store: Option<StateStore>,
}

impl Plan {
    /// For each task: the reason it will not run, if it will not.
    pub fn up_to_date(&self) -> Vec<Option<String>> {
        self.reasons
            .iter()
            .map(|r| r.as_ref().filter(|r| !r.runs()).map(ToString::to_string))
            .collect()
    }

    /// For each task: true if it will not run.
    pub fn skipped(&self) -> Vec<bool> {
        self.reasons
            .iter()
            .map(|r| r.as_ref().is_some_and(|r| !r.runs()))
            .collect()
    }
}

/// Fingerprints the selected tasks and decides what runs. With `store` the file-hash cache is
/// read and updated and earlier runs are consulted; without it everything is new.
pub(super) fn prepare(
    workflow: &Workflow,
    selected: Vec<bool>,
    freshness: Freshness,
    mut store: Option<StateStore>,
) -> Result<Plan, SessionError> {
    let manifest = workflow.manifest_path().display().to_string();
    // Only the digests of the files this run fingerprints are read from the store.
    let mut cache = FileCache::new();
    let mut lookup_error = None;
    let fingerprints = match &store {
        Some(store) => {
            fingerprint_tasks_with(workflow, &selected, &mut cache, &mut |paths, cache| {
                if let Err(error) = store.load_file_digests(paths, cache) {
                    lookup_error.get_or_insert(error);
                }
            })
        }
        // No store (a preview in a folder that never ran): nothing was ever recorded to
        // compare a fingerprint with, so every task is new and none is computed. The inputs
        // are still read, so that an unreadable one is reported as a run would report it.
        None => read_task_inputs(workflow, &selected, &mut cache),
    }?;
    if let Some(error) = lookup_error {
        return Err(error.into());
    }
    if let Some(store) = &mut store {
        // A cache that cannot be saved only costs re-reading files next time.
        let _ = store.save_file_cache(&mut cache);
    }
    let (history, durations, peaks) = match &store {
        Some(store) => {
            let previous_run = if freshness.resume {
                store.previous_run(&manifest, "")?
            } else {
                None
            };
            // A success's parts only explain a fingerprint that changed. The fingerprints by
            // name are indexed only if the store has a success to compare.
            let current: OnceCell<NameMap<&str, Digest>> = OnceCell::new();
            let last_successes = store.last_successes_with_parts(&manifest, |task, digest| {
                current
                    .get_or_init(|| {
                        let mut current = name_map(workflow.tasks.len());
                        current.extend(workflow.tasks.iter().zip(&fingerprints.tasks).filter_map(
                            |(task, fp)| Some((task.name.as_str(), fp.as_ref()?.digest)),
                        ));
                        current
                    })
                    .get(task)
                    .is_some_and(|now| *now.to_hex() != *digest)
            })?;
            let summaries = store.task_summaries(&manifest)?;
            let mut durations = median_durations(&summaries, RECENT_DURATIONS);
            with_last_success_durations(&mut durations, success_durations(&last_successes));
            let peaks = highest_peaks(&summaries, RECENT_PEAKS);
            let history = History {
                last_successes,
                previous_run,
                failed_last_run: store.failed_in_latest_run(&manifest)?,
            };
            (history, durations, peaks)
        }
        None => Default::default(),
    };
    let reasons = decide(workflow, &selected, &fingerprints, &history, freshness);
    let (expected, learnt) = expected_durations(workflow, &durations);
    let memory_budget = resolve_budget(workflow.memory);
    let (memory, memory_plan) = plan_memory(workflow, memory_budget, &peaks);
    Ok(Plan {
        selected,
        reasons,
        expected,
        learnt,
        memory_budget,
        memory,
        memory_plan,
        fingerprints,
        cache,
        store,
    })
}

/// Each task's learnt duration, or for a task never timed the median of the known ones
/// (1 s when nothing is known), so that unknown tasks neither dominate nor vanish.
fn expected_durations(
    workflow: &Workflow,
    durations: &HashMap<String, f64>,
) -> (Vec<f64>, Vec<bool>) {
    let mut known: Vec<f64> = durations
        .values()
        .copied()
        .filter(|d| d.is_finite())
        .collect();
    known.sort_by(f64::total_cmp);
    let fallback = known
        .get(known.len() / 2)
        .copied()
        .unwrap_or(1.0)
        .max(0.001);
    workflow
        .tasks
        .iter()
        .map(|task| match durations.get(&task.name) {
            Some(&d) if d.is_finite() => (d.max(0.001), true),
            _ => (fallback, false),
        })
        .unzip()
}
