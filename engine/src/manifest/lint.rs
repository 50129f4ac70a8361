//! The race lint: files that tasks write while other tasks may write or read them.
//!
//! Two tasks with no dependency path between them may run at the same time. If both write the
//! same file, the result depends on timing: an error. If one reads (`inputs`) what the other
//! writes (`outputs`), it may read a stale or half-written file: a warning.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::diagnostic::{Findings, ManifestError};
use super::spanned::Sp;
use crate::graph::Dag;
use crate::paths::{is_glob, normalize, shown};
use crate::workflow::{Task, TaskId};

/// The declared files of one task, as written (after matrix substitution), with their spans.
pub struct TaskPaths<'a> {
    /// The task's absolute working directory, which the paths are relative to.
    pub cwd: &'a Path,
    /// `inputs`: files or globs.
    pub inputs: &'a [Sp<String>],
    /// `outputs`: files.
    pub outputs: &'a [Sp<String>],
}

/// The tasks that write one path, each with the `outputs` entry that says so.
type Writers<'a> = Vec<(TaskId, &'a Sp<String>)>;

/// Reports output races (errors) and undeclared input dependencies (warnings).
pub fn lint_races(
    tasks: &[Task],
    paths: &[TaskPaths<'_>],
    dag: &Dag,
    root: &Path,
    findings: &mut Findings,
) {
    let shown = |path: &Path| shown(path, root);
    let mut writers: HashMap<PathBuf, Writers<'_>> = HashMap::new();
    for (id, task_paths) in paths.iter().enumerate() {
        for output in task_paths.outputs {
            let path = normalize(&task_paths.cwd.join(&output.value));
            writers.entry(path).or_default().push((id, output));
        }
    }
    if writers.is_empty() {
        return;
    }
    let mut reach = dag.reachability();
    let mut reported = HashSet::new();

    // Writers of one file race unless they form a chain of dependencies. Sorted in topological
    // order, they form a chain if and only if each one reaches the next: one path query per
    // writer instead of one per pair.
    let mut position = vec![usize::MAX; tasks.len()];
    for (at, &task) in dag.topological_order().iter().enumerate() {
        position[task] = at;
    }
    let mut shared: Vec<(&PathBuf, &Writers<'_>)> =
        writers.iter().filter(|(_, w)| w.len() > 1).collect();
    shared.sort_by_key(|(_, w)| w[0].0);
    for (path, list) in shared {
        let mut sorted: Vec<&(TaskId, &Sp<String>)> = list.iter().collect();
        sorted.sort_by_key(|&&(task, _)| (position[task], task));
        sorted.dedup_by_key(|writer| writer.0);
        let race = sorted
            .windows(2)
            .find(|pair| !reach.ordered(pair[0].0, pair[1].0));
        if let Some(pair) = race {
            let (first, second) = if pair[0].0 < pair[1].0 {
                (pair[0], pair[1])
            } else {
                (pair[1], pair[0])
            };
            findings.push(ManifestError::OutputRace {
                path: shown(path),
                first: tasks[first.0].name.clone(),
                second: tasks[second.0].name.clone(),
                first_span: first.1.span.clone().into(),
                second_span: second.1.span.clone().into(),
            });
        }
    }

    let mut ancestors = Ancestors::new(dag);
    for (reader, task_paths) in paths.iter().enumerate() {
        for input in task_paths.inputs {
            let path = normalize(&task_paths.cwd.join(&input.value));
            let matches: Vec<(&PathBuf, &Writers<'_>)> = if is_glob(&input.value) {
                let Ok(pattern) = glob::Pattern::new(&path.to_string_lossy()) else {
                    continue;
                };
                let mut matches: Vec<_> = writers
                    .iter()
                    .filter(|(out, _)| pattern.matches_path(out))
                    .collect();
                // In the order the writers were declared, not the hash map's (which changes
                // from one run to the next).
                matches.sort_by_key(|&(out, list)| (list.first().map(|w| w.0), out));
                matches
            } else {
                writers.get_key_value(&path).into_iter().collect()
            };
            for (out, list) in matches {
                for &(writer, output) in list {
                    if writer == reader || ancestors.of(reader)[writer] {
                        continue;
                    }
                    let key = (tasks[reader].base(), tasks[writer].base(), out);
                    if reported.insert(key) {
                        findings.push(ManifestError::UndeclaredInputDependency {
                            path: shown(out),
                            reader: tasks[reader].name.clone(),
                            writer: tasks[writer].name.clone(),
                            input_span: input.span.clone().into(),
                            output_span: output.span.clone().into(),
                        });
                    }
                }
            }
        }
    }
}

/// Everything one task depends on, directly or not: computed with one walk per reading task
/// (not one per reader and writer), and kept for the next query about the same task.
struct Ancestors<'a> {
    dag: &'a Dag,
    task: Option<TaskId>,
    marks: Vec<bool>,
    stack: Vec<TaskId>,
}

impl<'a> Ancestors<'a> {
    fn new(dag: &'a Dag) -> Self {
        Self {
            dag,
            task: None,
            marks: vec![false; dag.len()],
            stack: Vec::new(),
        }
    }

    /// `marks[t]` is true if and only if `task` depends on `t`, directly or not.
    fn of(&mut self, task: TaskId) -> &[bool] {
        if self.task != Some(task) {
            self.marks.iter_mut().for_each(|m| *m = false);
            self.stack.clear();
            self.stack.push(task);
            while let Some(current) = self.stack.pop() {
                for dep in self.dag.dependencies(current) {
                    if !self.marks[dep] {
                        self.marks[dep] = true;
                        self.stack.push(dep);
                    }
                }
            }
            self.task = Some(task);
        }
        &self.marks
    }
}
