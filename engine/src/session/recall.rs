//! What the state store remembers of a workflow's tasks before a run: each task's last
//! success, its learnt duration and memory peak, the previous run (for `--resume`) and the
//! failures of the latest run.
//!
//! On a large store reading all that takes about as long as fingerprinting the tasks, and
//! neither needs the other, so [`recall_while`] reads on other connections while the
//! fingerprints are made. Only then is it known whose fingerprint changed: [`read_changed_parts`] reads the
//! stored parts of those tasks (they explain what changed) afterwards.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::memory::RECENT_PEAKS;
use crate::names::{NameMap, name_map};
use crate::state::{Fingerprints, History, LastSuccesses, StateError, StateStore, Take};
use crate::workflow::{TaskId, Workflow};

/// How many recent successes a task's expected duration is the median of.
const RECENT_DURATIONS: usize = 5;

/// Above this share of the last successes (one in so many) with a changed fingerprint, their
/// parts are read in one pass over the table rather than one lookup each: a lookup costs
/// about as much as reading eight rows in passing.
const LOOKUPS_PER_SCAN_ROW: usize = 8;

/// What the store has learnt of each task of the workflow, by [`TaskId`].
pub(super) struct Learnt {
    /// The median of its recent successful durations, or its last success's, in seconds.
    pub(super) durations: Vec<Option<f64>>,
    /// The highest of its recent peaks, in bytes.
    pub(super) peaks: Vec<Option<u64>>,
    /// The same duration of the tasks of the manifest that it no longer has (renamed or
    /// removed), by name: they still tell how long this workflow's tasks take.
    pub(super) others: HashMap<String, f64>,
}

impl Learnt {
    /// Nothing learnt about any of `count` tasks.
    pub(super) fn unknown(count: usize) -> Self {
        Learnt {
            durations: vec![None; count],
            peaks: vec![None; count],
            others: HashMap::new(),
        }
    }
}

/// What [`recall_while`] read: the history the decisions are made from (the last successes
/// still without their fingerprints' parts) and what was learnt of durations and peaks.
pub(super) struct Recalled<'w> {
    /// The last successes, the previous run and the latest run's failures.
    pub(super) history: History,
    /// Durations and peaks.
    pub(super) learnt: Learnt,
    /// The workflow's tasks by name.
    ids: TaskIds<'w>,
}

/// The tasks of a workflow by name, made when first needed (when the store has something
/// about them), by whichever reading thread needs them first.
struct TaskIds<'w> {
    workflow: &'w Workflow,
    ids: OnceLock<NameMap<&'w str, TaskId>>,
}

impl<'w> TaskIds<'w> {
    fn new(workflow: &'w Workflow) -> Self {
        TaskIds {
            workflow,
            ids: OnceLock::new(),
        }
    }

    /// The id of the workflow's task named `task`, if it has one.
    fn get(&self, task: &str) -> Option<TaskId> {
        let ids = self.ids.get_or_init(|| {
            let mut ids = name_map(self.workflow.tasks.len());
            ids.extend(
                self.workflow
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(id, t)| (&*t.name, id)),
            );
            ids
        });
        ids.get(task).copied()
    }
}

/// Reads what `store` remembers of the tasks of `workflow` (whose manifest is `manifest`;
/// the previous run only when `resume`) on two more connections, the last successes on one
/// and the durations, peaks and earlier runs on the other, while this thread does
/// `meanwhile`. The last successes come without their parts (see [`read_changed_parts`]).
pub(super) fn recall_while<'w, T>(
    store: &StateStore,
    workflow: &'w Workflow,
    manifest: &str,
    resume: bool,
    meanwhile: impl FnOnce() -> T,
) -> (T, Result<Recalled<'w>, StateError>) {
    let (for_successes, for_summaries) =
        match store.reader().and_then(|one| Ok((one, store.reader()?))) {
            Ok(readers) => readers,
            Err(error) => return (meanwhile(), Err(error)),
        };
    let ids = TaskIds::new(workflow);
    let (done, successes, rest) = std::thread::scope(|scope| {
        let ids = &ids;
        let successes = scope.spawn(move || read_last_successes(&for_successes, ids, manifest));
        // The last successes take the longest: the other reader also reads the runs.
        let rest = scope.spawn(move || {
            let previous_run = match resume {
                true => for_summaries.previous_run(manifest, "")?,
                false => None,
            };
            let learnt = read_summaries(&for_summaries, ids, manifest)?;
            let failed_last_run = for_summaries.failed_in_latest_run(manifest)?;
            Ok::<_, StateError>((learnt, previous_run, failed_last_run))
        });
        let done = meanwhile();
        (done, joined(successes), joined(rest))
    });
    let recalled = successes.and_then(|(last_successes, others)| {
        let (mut learnt, previous_run, failed_last_run) = rest?;
        learnt.others.extend(others);
        // A task up to date in every run still kept has no attempt left once the run it last
        // ran in is pruned: its last success still says how long it took.
        for (id, success) in last_successes.iter() {
            if let Some(duration) = success.duration_s {
                learnt.durations[id].get_or_insert(duration);
            }
        }
        Ok(Recalled {
            history: History {
                last_successes,
                previous_run,
                failed_last_run,
            },
            learnt,
            ids,
        })
    });
    (done, recalled)
}

/// What a reading thread returned; its panic goes on in the thread that waited for it.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The last success of each task of the workflow, and the durations of the tasks the
/// manifest no longer has (of those, only the duration is used).
fn read_last_successes(
    store: &StateStore,
    ids: &TaskIds<'_>,
    manifest: &str,
) -> Result<(LastSuccesses, HashMap<String, f64>), StateError> {
    let mut last_successes = LastSuccesses::default();
    let mut others = HashMap::new();
    store.each_last_success(
        manifest,
        |task, _| {
            Some(Take {
                key: ids.get(task),
                parts: false,
            })
        },
        |id, success| match id {
            Some(id) => last_successes.insert(id, success),
            None => {
                if let Some(duration) = success.duration_s {
                    others.insert(success.task, duration);
                }
            }
        },
    )?;
    Ok((last_successes, others))
}

/// The learnt durations and peaks of the tasks of the workflow, from the task summaries.
fn read_summaries(
    store: &StateStore,
    ids: &TaskIds<'_>,
    manifest: &str,
) -> Result<Learnt, StateError> {
    let mut learnt = Learnt::unknown(ids.workflow.tasks.len());
    store.each_task_summary(manifest, |task, summary| match ids.get(task) {
        Some(id) => {
            learnt.durations[id] = summary.median_duration(RECENT_DURATIONS);
            learnt.peaks[id] = summary.highest_peak(RECENT_PEAKS);
        }
        None => {
            if let Some(duration) = summary.median_duration(RECENT_DURATIONS) {
                learnt.others.insert(task.to_owned(), duration);
            }
        }
    })?;
    Ok(learnt)
}

/// Reads the stored parts of the last successes whose fingerprint differs from the one in
/// `fingerprints` (what [`crate::state::explain`] compares to say what changed): one lookup
/// each when they are few, else one pass over the table. A success written meanwhile by
/// another run (its fingerprint no longer the one read) keeps no parts: its task is then
/// said to have a changed fingerprint, without the detail.
pub(super) fn read_changed_parts(
    store: &StateStore,
    manifest: &str,
    recalled: &mut Recalled<'_>,
    fingerprints: &Fingerprints,
) -> Result<(), StateError> {
    let successes = &recalled.history.last_successes;
    let changed: Vec<TaskId> = successes
        .iter()
        .filter(|&(id, success)| {
            fingerprints
                .tasks
                .get(id)
                .and_then(Option::as_ref)
                .is_some_and(|now| *now.digest.to_hex() != *success.fingerprint)
        })
        .map(|(id, _)| id)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    if changed.len() * LOOKUPS_PER_SCAN_ROW <= successes.len() {
        for id in changed {
            let name = &recalled.ids.workflow.tasks[id].name;
            let Some((fingerprint, parts)) = store.success_parts(manifest, name)? else {
                continue;
            };
            if let Some(success) = recalled.history.last_successes.get_mut(id) {
                if success.fingerprint == fingerprint {
                    success.parts = parts;
                }
            }
        }
        return Ok(());
    }
    let mut wanted = vec![false; recalled.ids.workflow.tasks.len()];
    for id in changed {
        wanted[id] = true;
    }
    let mut found = Vec::new();
    store.each_last_success(
        manifest,
        |task, fingerprint| {
            let id = recalled.ids.get(task).filter(|&id| wanted[id])?;
            let unchanged = recalled
                .history
                .last_successes
                .get(id)
                .is_some_and(|success| *success.fingerprint == *fingerprint);
            unchanged.then_some(Take {
                key: id,
                parts: true,
            })
        },
        |id, success| found.push((id, success.parts)),
    )?;
    for (id, parts) in found {
        if let Some(success) = recalled.history.last_successes.get_mut(id) {
            success.parts = parts;
        }
    }
    Ok(())
}
