//! What a run, a dry run and a plan learn from the state store before anything runs: each
//! task's fingerprint, whether it must run and why, and its expected duration.

use super::SessionError;
use super::memory::{MemoryNeed, plan_memory, resolve_budget};
use super::recall::{Learnt, read_changed_parts, recall_while};
use crate::scheduler::memory::MemoryPlan;
use crate::state::{
    FileCache, Fingerprints, Freshness, History, Reason, StateStore, decide,
    fingerprint_tasks_with, read_task_inputs,
};
use crate::workflow::Workflow;

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
    /// For each task of `workflow` (the one planned): the reason it will not run, in words,
    /// if it will not.
    pub fn up_to_date(&self, workflow: &Workflow) -> Vec<Option<String>> {
        self.reasons
            .iter()
            .map(|r| {
                r.as_ref()
                    .filter(|r| !r.runs())
                    .map(|r| r.in_words(workflow).to_string())
            })
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
    // Only the digests of the files this run fingerprints are read from the store.
    let mut cache = FileCache::new();
    let (fingerprints, history, learnt) = match &mut store {
        Some(store) => consult(workflow, &selected, freshness, store, &mut cache)?,
        // No store (a preview in a folder that never ran): nothing was ever recorded to
        // compare a fingerprint with, so every task is new and none is computed. The inputs
        // are still read, so that an unreadable one is reported as a run would report it.
        None => (
            read_task_inputs(workflow, &selected, &mut cache)?,
            History::default(),
            Learnt::unknown(workflow.tasks.len()),
        ),
    };
    let reasons = decide(workflow, &selected, &fingerprints, &history, freshness);
    let (expected, timed) = expected_durations(&learnt.durations, learnt.others.values());
    let memory_budget = resolve_budget(workflow.memory);
    let (memory, memory_plan) = plan_memory(workflow, memory_budget, &learnt.peaks);
    Ok(Plan {
        selected,
        reasons,
        expected,
        learnt: timed,
        memory_budget,
        memory,
        memory_plan,
        fingerprints,
        cache,
        store,
    })
}

/// The fingerprints of the `selected` tasks, and what `store` remembers of the workflow's
/// tasks, read meanwhile; the file-hash cache (`cache`) is read from the store and saved to
/// it.
fn consult(
    workflow: &Workflow,
    selected: &[bool],
    freshness: Freshness,
    store: &mut StateStore,
    cache: &mut FileCache,
) -> Result<(Fingerprints, History, Learnt), SessionError> {
    let manifest = workflow.manifest_path().display().to_string();
    let mut lookup_error = None;
    let reading: &StateStore = store;
    let (fingerprints, recalled) =
        recall_while(reading, workflow, &manifest, freshness.resume, || {
            fingerprint_tasks_with(workflow, selected, cache, &mut |paths, cache| {
                if let Err(error) = reading.load_file_digests(paths, cache) {
                    lookup_error.get_or_insert(error);
                }
            })
        });
    let fingerprints = fingerprints?;
    if let Some(error) = lookup_error {
        return Err(error.into());
    }
    // A cache that cannot be saved only costs re-reading files next time.
    let _ = store.save_file_cache(cache);
    let mut recalled = recalled?;
    read_changed_parts(store, &manifest, &mut recalled, &fingerprints)?;
    Ok((fingerprints, recalled.history, recalled.learnt))
}

/// Each task's learnt duration, or for a task never timed the median of the known ones (`learnt`
/// and `others`; 1 s when nothing is known), so that unknown tasks neither dominate nor vanish.
fn expected_durations<'a>(
    learnt: &'a [Option<f64>],
    others: impl Iterator<Item = &'a f64>,
) -> (Vec<f64>, Vec<bool>) {
    let mut known: Vec<f64> = learnt
        .iter()
        .flatten()
        .chain(others)
        .copied()
        .filter(|d| d.is_finite())
        .collect();
    known.sort_by(f64::total_cmp);
    let fallback = known
        .get(known.len() / 2)
        .copied()
        .unwrap_or(1.0)
        .max(0.001);
    learnt
        .iter()
        .map(|duration| match *duration {
            Some(d) if d.is_finite() => (d.max(0.001), true),
            _ => (fallback, false),
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_never_timed_expects_the_median_of_the_known_ones() {
        let durations = [
            Some(4.0),
            None,
            Some(1.0),
            Some(f64::NAN),
            Some(0.0),
            Some(9.0),
        ];
        let (expected, learnt) = expected_durations(&durations, [].iter());
        // Known: 0, 1, 4, 9 (the NaN is not a duration): the upper median is 4.
        assert_eq!(expected, [4.0, 4.0, 1.0, 4.0, 0.001, 9.0]);
        assert_eq!(learnt, [true, false, true, false, true, true]);
        // Tasks the manifest no longer has count for the estimate: 0, 1, 4, 9, 20, 30 → 9.
        let (expected, _) = expected_durations(&durations, [20.0, 30.0].iter());
        assert_eq!(expected, [4.0, 9.0, 1.0, 9.0, 0.001, 9.0]);
        let (expected, learnt) = expected_durations(&[None, None], [].iter());
        assert_eq!((expected, learnt), (vec![1.0, 1.0], vec![false, false]));
    }
}
