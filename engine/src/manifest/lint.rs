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

    let mut shared: Vec<(&PathBuf, &Writers<'_>)> =
        writers.iter().filter(|(_, w)| w.len() > 1).collect();
    shared.sort_by_key(|(_, w)| w[0].0);
    for (path, list) in shared {
        'pairs: for (i, &(a, a_span)) in list.iter().enumerate() {
            for &(b, b_span) in &list[i + 1..] {
                if a != b && !reach.ordered(a, b) {
                    findings.push(ManifestError::OutputRace {
                        path: shown(path),
                        first: tasks[a].name.clone(),
                        second: tasks[b].name.clone(),
                        first_span: a_span.span.clone().into(),
                        second_span: b_span.span.clone().into(),
                    });
                    break 'pairs;
                }
            }
        }
    }

    for (reader, task_paths) in paths.iter().enumerate() {
        for input in task_paths.inputs {
            let path = normalize(&task_paths.cwd.join(&input.value));
            let matches: Vec<(&PathBuf, &Writers<'_>)> = if is_glob(&input.value) {
                let Ok(pattern) = glob::Pattern::new(&path.to_string_lossy()) else {
                    continue;
                };
                writers
                    .iter()
                    .filter(|(out, _)| pattern.matches_path(out))
                    .collect()
            } else {
                writers.get_key_value(&path).into_iter().collect()
            };
            for (out, list) in matches {
                for &(writer, output) in list {
                    if writer == reader || reach.has_path(writer, reader) {
                        continue;
                    }
                    let key = (
                        tasks[reader].base.clone(),
                        tasks[writer].base.clone(),
                        out.clone(),
                    );
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
