//! Which selected tasks run, and why: up-to-date checks, `--resume` and `--force`.
//!
//! Decided before the run, in dependency order, so that "a dependency will run" is known:
//! - `--force`: every task runs;
//! - `--resume`: a task that succeeded with the same fingerprint in the previous run of this
//!   manifest is skipped, whatever its outputs;
//! - a task whose dependency runs, runs too (its inputs may change under it);
//! - a task with `outputs` is skipped when they all exist and its fingerprint equals the one
//!   of its last success;
//! - a task without `outputs` runs every time (there is nothing to be up to date).

use super::fingerprint::Fingerprints;
use super::records::{PreviousRun, Success};
use super::why::{Reason, explain};
use crate::paths::{normalize, shown};
use crate::workflow::{TaskId, Workflow};

/// What the run knows from earlier runs.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Each task's last success.
    pub last_successes: LastSuccesses,
    /// The previous run of this manifest, for `--resume`.
    pub previous_run: Option<PreviousRun>,
    /// The tasks that failed (or timed out) in the latest run of this manifest: a task that
    /// never succeeded is said to have failed there rather than never to have run.
    pub failed_last_run: std::collections::HashSet<String>,
}

/// The last success of each task of a workflow, by [`TaskId`]: four bytes per task and the
/// successes themselves, instead of a map by name.
#[derive(Debug, Clone, Default)]
pub struct LastSuccesses {
    /// For each task, where its success is in `successes` ([`NONE`] for none); shorter than
    /// the workflow when the last tasks have none.
    place: Vec<u32>,
    /// The successes, in the order they were added.
    successes: Vec<Success>,
}

/// [`LastSuccesses::place`] of a task without a success.
const NONE: u32 = u32::MAX;

impl LastSuccesses {
    /// The last success of `task`, if it has one.
    pub fn get(&self, task: TaskId) -> Option<&Success> {
        let place = *self.place.get(task)?;
        self.successes.get(usize::try_from(place).ok()?)
    }

    /// The last success of `task`, to change, if it has one.
    pub fn get_mut(&mut self, task: TaskId) -> Option<&mut Success> {
        let place = *self.place.get(task)?;
        self.successes.get_mut(usize::try_from(place).ok()?)
    }

    /// Records `success` as the last success of `task`, replacing the one it had.
    pub fn insert(&mut self, task: TaskId, success: Success) {
        if let Some(old) = self.place.get(task).copied().filter(|&p| p != NONE) {
            if let Some(slot) = usize::try_from(old)
                .ok()
                .and_then(|p| self.successes.get_mut(p))
            {
                *slot = success;
                return;
            }
        }
        let place = u32::try_from(self.successes.len()).unwrap_or(NONE);
        if self.place.len() <= task {
            self.place.resize(task + 1, NONE);
        }
        self.place[task] = place;
        self.successes.push(success);
    }

    /// Every task with a success, and the success.
    pub fn iter(&self) -> impl Iterator<Item = (TaskId, &Success)> {
        self.place
            .iter()
            .enumerate()
            .filter_map(|(task, _)| Some((task, self.get(task)?)))
    }

    /// How many tasks have one.
    pub fn len(&self) -> usize {
        self.successes.len()
    }

    /// True if no task has one.
    pub fn is_empty(&self) -> bool {
        self.successes.is_empty()
    }
}

/// How the user asked to treat earlier results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `--force`: run everything.
    pub force: bool,
    /// `--resume`: skip what succeeded with the same fingerprint in the previous run.
    pub resume: bool,
}

/// Declared outputs of a task that do not exist, relative to the manifest's folder.
pub fn missing_outputs(workflow: &Workflow, task: usize) -> Vec<String> {
    let spec = &workflow.tasks[task];
    spec.outputs
        .iter()
        .map(|output| normalize(&spec.cwd.join(output)))
        .filter(|path| !path.exists())
        .map(|path| shown(&path, &workflow.root))
        .collect()
}

/// The reason each selected task runs or is skipped (`None` for tasks not selected).
pub fn decide(
    workflow: &Workflow,
    selected: &[bool],
    fingerprints: &Fingerprints,
    history: &History,
    freshness: Freshness,
) -> Vec<Option<Reason>> {
    let mut reasons: Vec<Option<Reason>> = vec![None; workflow.tasks.len()];
    for &task in workflow.dag.topological_order() {
        if !selected[task] {
            continue;
        }
        let spec = &workflow.tasks[task];
        let fingerprint = fingerprints.tasks.get(task).and_then(Option::as_ref);
        let resumed = history.previous_run.as_ref().filter(|previous| {
            freshness.resume
                && fingerprint.is_some_and(|fp| {
                    previous
                        .succeeded
                        .get(&spec.name)
                        .is_some_and(|old| old.as_deref() == Some(&*fp.digest.to_hex()))
                })
        });
        let running_dep = workflow
            .deps(task)
            .find(|&dep| selected[dep] && reasons[dep].as_ref().is_some_and(Reason::runs));
        let reason = if freshness.force {
            Reason::Forced
        } else if let Some(previous) = resumed {
            Reason::Resumed(previous.summary.run_id.clone())
        } else if let Some(dep) = running_dep {
            Reason::DependencyWillRun(dep)
        } else if let Some(fingerprint) = fingerprint {
            let last = history.last_successes.get(task);
            let parts = || fingerprint.parts(workflow, task, &|dep| fingerprints.digest(dep));
            match explain(
                &fingerprint.digest,
                parts,
                last,
                &missing_outputs(workflow, task),
            ) {
                Reason::UpToDate if spec.outputs.is_empty() => Reason::NoOutputs,
                Reason::NeverRan if history.failed_last_run.contains(&spec.name) => {
                    Reason::FailedLastRun
                }
                reason => reason,
            }
        } else {
            Reason::NeverRan
        };
        reasons[task] = Some(reason);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};
    use crate::state::file_cache::FileCache;
    use crate::state::fingerprint::fingerprint_tasks;

    fn setup(text: &str) -> (tempfile::TempDir, Workflow) {
        let dir = tempfile::tempdir().expect("temp dir");
        let loaded = parse(SourceFile::new("wf.toml", text), dir.path());
        (dir, loaded.workflow.expect("valid"))
    }

    fn success(workflow: &Workflow, fingerprints: &Fingerprints, task: usize) -> Success {
        let fp = fingerprints.tasks[task].as_ref().expect("fingerprinted");
        Success {
            task: workflow.tasks[task].name.clone(),
            run_id: "r1".into(),
            fingerprint: fp.digest.to_string(),
            parts: fingerprints.parts(workflow, task),
            outputs: workflow.tasks[task].outputs.clone(),
            finished_at_ms: 0,
            duration_s: Some(1.0),
        }
    }

    #[test]
    fn outputs_present_and_unchanged_are_up_to_date_and_a_rerun_propagates() {
        let (dir, workflow) = setup(
            "[tasks.a]\nrun='x'\noutputs=['a.out']\n[tasks.b]\nrun='x'\ndeps=['a']\noutputs=['b.out']\n",
        );
        let all = vec![true; 2];
        let fps =
            fingerprint_tasks(&workflow, &all, &mut FileCache::default()).expect("fingerprints");
        let mut history = History::default();
        for task in 0..2 {
            history
                .last_successes
                .insert(task, success(&workflow, &fps, task));
        }
        std::fs::write(dir.path().join("b.out"), "b").expect("write");
        let reasons = decide(&workflow, &all, &fps, &history, Freshness::default());
        assert_eq!(reasons[0], Some(Reason::OutputMissing("a.out".into())));
        assert_eq!(reasons[1], Some(Reason::DependencyWillRun(0)));
        std::fs::write(dir.path().join("a.out"), "a").expect("write");
        let reasons = decide(&workflow, &all, &fps, &history, Freshness::default());
        assert_eq!(
            reasons,
            vec![Some(Reason::UpToDate), Some(Reason::UpToDate)]
        );
        let forced = decide(
            &workflow,
            &all,
            &fps,
            &history,
            Freshness {
                force: true,
                resume: false,
            },
        );
        assert_eq!(forced[1], Some(Reason::Forced));
    }

    #[test]
    fn last_successes_are_kept_by_task_and_a_later_one_replaces_the_earlier() {
        let success = |task: &str, run: &str| Success {
            task: task.to_owned(),
            run_id: run.to_owned(),
            fingerprint: String::new(),
            parts: None,
            outputs: Vec::new(),
            finished_at_ms: 0,
            duration_s: None,
        };
        let mut last = LastSuccesses::default();
        assert!(last.is_empty() && last.get(0).is_none());
        last.insert(4, success("e", "r1"));
        last.insert(1, success("b", "r1"));
        last.insert(4, success("e", "r2"));
        assert_eq!(last.len(), 2);
        assert_eq!(last.get(4).map(|s| s.run_id.as_str()), Some("r2"));
        assert_eq!(last.get(1).map(|s| s.task.as_str()), Some("b"));
        assert!(last.get(0).is_none() && last.get(2).is_none() && last.get(9).is_none());
        let tasks: Vec<(TaskId, &str)> = last.iter().map(|(id, s)| (id, s.task.as_str())).collect();
        assert_eq!(tasks, [(1, "b"), (4, "e")]);
    }

    #[test]
    fn tasks_without_outputs_always_run() {
        let (_dir, workflow) = setup("[tasks.a]\nrun='x'\n");
        let all = vec![true];
        let fps =
            fingerprint_tasks(&workflow, &all, &mut FileCache::default()).expect("fingerprints");
        let mut history = History::default();
        history
            .last_successes
            .insert(0, success(&workflow, &fps, 0));
        let reasons = decide(&workflow, &all, &fps, &history, Freshness::default());
        assert_eq!(reasons[0], Some(Reason::NoOutputs));
    }
}
