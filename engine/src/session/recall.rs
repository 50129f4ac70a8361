//! What the state store remembers of a workflow's tasks before a run: each task's last
//! success, its learnt duration and memory peak, the previous run (for `--resume`) and the
//! failures of the latest run.
//!
//! On a large store reading all that takes longer than fingerprinting the tasks, and neither
//! needs the other, so [`recall_while`] reads on other connections while the fingerprints are
//! made. Only then is it known whose fingerprint changed: [`read_changed_parts`] reads the
//! stored parts of those tasks (they explain what changed) afterwards.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::memory::RECENT_PEAKS;
use crate::names::{NameMap, name_map};
use crate::state::{
    Fingerprints, History, LastSuccesses, PreviousRun, StateError, StateStore, Take,
};
use crate::workflow::{TaskId, Workflow};

/// How many recent successes a task's expected duration is the median of.
const RECENT_DURATIONS: usize = 5;

/// How many rows a pass over the table of last successes reads in the time of one lookup by
/// task: above one changed fingerprint in this many last successes, the changed ones' parts
/// are read in one pass rather than one lookup each. (The pass also reads the rows of tasks
/// the manifest no longer has, which the count of last successes leaves out: where there are
/// many, the pass is chosen a little early.)
const SCAN_ROWS_PER_LOOKUP: usize = 8;

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
/// `meanwhile`. Where a connection or a thread cannot be had, that part is read on this
/// thread and `store`'s connection once `meanwhile` is done. The last successes come without
/// their parts (see [`read_changed_parts`]).
pub(super) fn recall_while<'w, T>(
    store: &StateStore,
    workflow: &'w Workflow,
    manifest: &str,
    resume: bool,
    meanwhile: impl FnOnce() -> T,
) -> (T, Result<Recalled<'w>, StateError>) {
    let ids = TaskIds::new(workflow);
    let (done, successes, rest) = std::thread::scope(|scope| {
        let ids = &ids;
        let successes = |store: &StateStore| read_last_successes(store, ids, manifest);
        let rest = |store: &StateStore| read_the_rest(store, ids, manifest, resume);
        let reading_successes = read_aside(scope, store, successes);
        let reading_rest = read_aside(scope, store, rest);
        let done = meanwhile();
        (
            done,
            reading_successes.map_or_else(|| successes(store), joined),
            reading_rest.map_or_else(|| rest(store), joined),
        )
    });
    let recalled = successes.and_then(|successes| Ok(Recalled::combine(successes, rest?, ids)));
    (done, recalled)
}

/// What one reader returns: the last successes of the workflow's tasks, and the durations of
/// the last successes of tasks the manifest no longer has.
type ReadSuccesses = (LastSuccesses, HashMap<String, f64>);

/// What the other returns: durations and peaks, the previous run, the latest run's failures.
type ReadRest = (Learnt, Option<PreviousRun>, HashSet<String>);

impl<'w> Recalled<'w> {
    /// What the two readers read, put together.
    fn combine(
        (last_successes, others): ReadSuccesses,
        (mut learnt, previous_run, failed_last_run): ReadRest,
        ids: TaskIds<'w>,
    ) -> Self {
        // A removed task's summary (the median of its recent durations) says more than its
        // last success: the success's duration counts only where there is no summary.
        for (task, duration) in others {
            learnt.others.entry(task).or_insert(duration);
        }
        // A task up to date in every run still kept has no attempt left once the run it last
        // ran in is pruned: its last success still says how long it took.
        for (id, success) in last_successes.iter() {
            if let Some(duration) = success.duration_s {
                learnt.durations[id].get_or_insert(duration);
            }
        }
        Recalled {
            history: History {
                last_successes,
                previous_run,
                failed_last_run,
            },
            learnt,
            ids,
        }
    }
}

/// Starts `read` on a thread of `scope`, with a connection of its own to `store`; `None`
/// where either cannot be had.
fn read_aside<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    store: &StateStore,
    read: impl FnOnce(&StateStore) -> T + Send + 'scope,
) -> Option<std::thread::ScopedJoinHandle<'scope, T>> {
    let reader = store.reader().ok()?;
    std::thread::Builder::new()
        .name("wf-recall".to_owned())
        .spawn_scoped(scope, move || read(&reader))
        .ok()
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
) -> Result<ReadSuccesses, StateError> {
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

/// The learnt durations and peaks, the previous run when `resume`, and the latest run's
/// failures.
fn read_the_rest(
    store: &StateStore,
    ids: &TaskIds<'_>,
    manifest: &str,
    resume: bool,
) -> Result<ReadRest, StateError> {
    let previous_run = match resume {
        true => store.previous_run(manifest, "")?,
        false => None,
    };
    let learnt = read_summaries(store, ids, manifest)?;
    let failed_last_run = store.failed_in_latest_run(manifest)?;
    Ok((learnt, previous_run, failed_last_run))
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
        Ok(())
    } else if changed.len() * SCAN_ROWS_PER_LOOKUP <= successes.len() {
        look_up_parts(store, manifest, recalled, &changed)
    } else {
        scan_for_parts(store, manifest, recalled, &changed)
    }
}

/// [`read_changed_parts`] by one lookup per task of `changed`.
fn look_up_parts(
    store: &StateStore,
    manifest: &str,
    recalled: &mut Recalled<'_>,
    changed: &[TaskId],
) -> Result<(), StateError> {
    for &id in changed {
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
    Ok(())
}

/// [`read_changed_parts`] by one pass over the table, taking the rows of `changed`.
fn scan_for_parts(
    store: &StateStore,
    manifest: &str,
    recalled: &mut Recalled<'_>,
    changed: &[TaskId],
) -> Result<(), StateError> {
    let mut wanted = vec![false; recalled.ids.workflow.tasks.len()];
    for &id in changed {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};
    use crate::report::model::TaskStatus;
    use crate::state::fingerprint::fingerprint_tasks;
    use crate::state::records::{OutcomeRecord, RunStart, StateEvent, SuccessRecord};
    use crate::state::{FileCache, Success};

    /// A workflow of `count` independent tasks `t0`, `t1`, … in `dir`.
    fn workflow(dir: &std::path::Path, count: usize) -> Workflow {
        let text: String = (0..count)
            .map(|i| format!("[tasks.t{i}]\nrun = 'x{i}'\n"))
            .collect();
        let loaded = parse(SourceFile::new(dir.join("wf.toml"), text.as_str()), dir);
        loaded.workflow.expect("valid")
    }

    /// Records run `run` of `workflow`, in which each task of `successes` succeeded with the
    /// fingerprint given (the parts are those of `fingerprints`).
    fn record(
        store: &mut StateStore,
        workflow: &Workflow,
        fingerprints: &Fingerprints,
        run: (&str, i64),
        successes: &[(TaskId, &str)],
    ) {
        store
            .begin_run(&RunStart {
                run_id: run.0.to_owned(),
                manifest: workflow.manifest_path().display().to_string(),
                workflow: "demo".to_owned(),
                pid: None,
                started_at_ms: run.1,
                jobs: 2,
            })
            .expect("begin");
        let events: Vec<StateEvent> = successes
            .iter()
            .map(|&(id, fingerprint)| {
                StateEvent::TaskSettled(OutcomeRecord {
                    run_id: run.0.to_owned(),
                    task: workflow.tasks[id].name.clone(),
                    status: TaskStatus::Succeeded,
                    fingerprint: Some(fingerprint.to_owned()),
                    duration_s: Some(1.0),
                    success: Some(SuccessRecord {
                        parts: fingerprints.parts(workflow, id).expect("fingerprinted"),
                        outputs: Vec::new(),
                        finished_at_ms: run.1 + 10,
                    }),
                })
            })
            .collect();
        store.record(&events).expect("record");
    }

    /// Whether each task's last success has its parts after [`read_changed_parts`], when
    /// `stale` tasks' recorded fingerprints are not their fingerprints now and, between the
    /// recall and the reading of the parts, another run records `t0` again.
    fn parts_read(count: usize, stale: usize, rewritten: bool) -> Vec<bool> {
        let dir = tempfile::tempdir().expect("temp dir");
        let workflow = workflow(dir.path(), count);
        let mut store = StateStore::open(&dir.path().join(".wf/state.db")).expect("open");
        let all = vec![true; count];
        let fingerprints =
            fingerprint_tasks(&workflow, &all, &mut FileCache::new()).expect("fingerprints");
        let recorded: Vec<String> = (0..count)
            .map(|id| match id < stale {
                true => format!("stale{id}"),
                false => fingerprints.digest(id).expect("digest").to_string(),
            })
            .collect();
        let successes: Vec<(TaskId, &str)> =
            recorded.iter().map(String::as_str).enumerate().collect();
        record(
            &mut store,
            &workflow,
            &fingerprints,
            ("r1", 1_000),
            &successes,
        );
        let manifest = workflow.manifest_path().display().to_string();
        let (_, recalled) = recall_while(&store, &workflow, &manifest, false, || ());
        let mut recalled = recalled.expect("recalled");
        if rewritten {
            record(
                &mut store,
                &workflow,
                &fingerprints,
                ("r2", 5_000),
                &[(0, "newer")],
            );
        }
        read_changed_parts(&store, &manifest, &mut recalled, &fingerprints).expect("parts");
        (0..count)
            .map(|id| {
                let success = recalled.history.last_successes.get(id).expect("a success");
                success.parts.is_some()
            })
            .collect()
    }

    #[test]
    fn the_parts_of_changed_fingerprints_are_read_one_by_one_or_in_one_pass() {
        // One changed in nine: a lookup. Only the changed one's parts are read.
        let mut only_first = vec![false; 9];
        only_first[0] = true;
        assert_eq!(parts_read(9, 1, false), only_first);
        // All nine changed: one pass.
        assert_eq!(parts_read(9, 9, false), vec![true; 9]);
    }

    #[test]
    fn a_success_recorded_again_meanwhile_keeps_no_parts() {
        // The parts read now would be of a success other than the one compared.
        assert_eq!(parts_read(9, 1, true), vec![false; 9]);
        let mut all_but_first = vec![true; 9];
        all_but_first[0] = false;
        assert_eq!(parts_read(9, 9, true), all_but_first);
    }

    #[test]
    fn a_removed_task_s_summary_counts_before_its_last_success() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workflow = workflow(dir.path(), 2);
        let success = |task: &str, duration_s| Success {
            task: task.to_owned(),
            run_id: "r1".to_owned(),
            fingerprint: "f".to_owned(),
            parts: None,
            outputs: Vec::new(),
            finished_at_ms: 0,
            duration_s: Some(duration_s),
        };
        let mut last_successes = LastSuccesses::default();
        last_successes.insert(0, success("t0", 7.0));
        last_successes.insert(1, success("t1", 8.0));
        let others = HashMap::from([("gone".to_owned(), 3.0), ("renamed".to_owned(), 5.0)]);
        let mut learnt = Learnt::unknown(2);
        learnt.durations[1] = Some(2.0);
        learnt.others.insert("gone".to_owned(), 4.0);
        let recalled = Recalled::combine(
            (last_successes, others),
            (learnt, None, HashSet::new()),
            TaskIds::new(&workflow),
        );
        let others = &recalled.learnt.others;
        assert_eq!(others.get("gone"), Some(&4.0), "the summary's median");
        assert_eq!(
            others.get("renamed"),
            Some(&5.0),
            "no summary: the last success's"
        );
        // The same for the workflow's own tasks.
        assert_eq!(recalled.learnt.durations, [Some(7.0), Some(2.0)]);
    }
}
