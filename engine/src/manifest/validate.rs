//! From the raw manifest to a [`Workflow`]: defaults merged, matrices expanded, names resolved,
//! every value checked. All findings are collected; none stops the others from being found.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use miette::LabeledSpan;
use rayon::prelude::*;

use super::diagnostic::{Findings, ManifestError, has_errors};
use super::expand::{
    Attempt, Expansion, Template, attempts, expansions, matrix_variable, placeholders,
    substitute_references,
};
use super::limits::{
    DEFAULT_MAX_EXPANSIONS, expansion_count, first_expansion, has_nul, matrix_span,
    too_large_message,
};
use super::lint::{TaskPaths, lint_races};
use super::raw::{
    AmountValue, DurationValue, RawCommand, RawDefaults, RawManifest, RawMatrix, RawTask,
    RawWorkflow,
};
use super::resources::{self, Budget, TaskNeeds};
use super::shell_context::{self, Quoting};
use super::spanned::Sp;
use crate::graph::Dag;
use crate::names::{NameMap, name_map};
use crate::suggest::did_you_mean;
use crate::workflow::{Command, Lock, SlurmOptions, Task, TaskDetails, TaskId, Workflow};

/// Where the manifest lives, for names and relative paths.
pub struct Origin<'a> {
    /// The manifest's path as given.
    pub path: &'a Path,
    /// Its folder.
    pub root: &'a Path,
    /// Its text, for locating placeholders inside strings.
    pub text: &'a str,
}

/// Raw tasks in the order written, in pieces, each with the findings of its conversion (which
/// [`build`] adds to its own before building the piece's tasks).
pub type RawTaskPiece = (Vec<(Sp<String>, RawTask)>, Findings);

/// Builds the workflow, or returns `None` if any error was found (all of them are in `findings`).
///
/// The tasks are `tasks`, not `raw.tasks`: pieces consumed one at a time, so a large manifest's
/// raw model never exists whole (see `chunks.rs`). No piece at all means no task. `count` is
/// how many raw tasks the pieces hold, for the capacity of what is built from them. Each piece,
/// once built, is handed to `spent` (which may drop it elsewhere: see `chunks.rs`).
pub fn build(
    raw: RawManifest,
    tasks: impl Iterator<Item = RawTaskPiece>,
    mut spent: impl FnMut(Vec<(Sp<String>, RawTask)>),
    count: usize,
    origin: &Origin<'_>,
    findings: &mut Findings,
) -> Option<Workflow> {
    let workflow = raw.workflow.unwrap_or_default();
    let settings = Settings::check(&workflow, origin, findings);
    let defaults = raw.defaults.unwrap_or_default();
    check_defaults(&defaults, settings.jobs.as_ref(), findings);

    let mut tasks = tasks.peekable();
    if tasks.peek().is_none() && !has_errors(findings) {
        findings.push(ManifestError::NoTasks {
            span: (0..0).into(),
        });
    }
    let mut builder = TaskBuilder {
        origin,
        shell: &settings.shell,
        defaults: &defaults,
        jobs: settings.jobs.as_ref(),
        max_expansions: settings.max_expansions,
        expanded: 0,
        findings,
        tasks: Vec::with_capacity(count),
        sources: Vec::with_capacity(count),
        needs: Vec::new(),
        last_cwd: None,
    };
    for (mut piece, piece_findings) in tasks {
        builder.findings.extend(piece_findings);
        for (name, task) in &mut piece {
            builder.add(name, task);
        }
        spent(piece);
    }
    let TaskBuilder {
        mut tasks,
        mut sources,
        needs,
        ..
    } = builder;

    let mut declared = raw.locks.map(|n| n.0).unwrap_or_default();
    let counted = resources::merge_declarations(
        &mut declared,
        raw.resources.map(|n| n.0).unwrap_or_default(),
        findings,
    );
    let locks = resolve_locks(declared, &mut tasks, &sources, findings);
    resources::assign(
        &mut tasks,
        &needs,
        &locks,
        &counted,
        &settings.memory,
        findings,
    );
    resources::warn_unenforced(&tasks, &needs, findings);
    drop(needs);
    let dag = {
        let resolved = resolve_deps(&tasks, &mut sources, findings);
        Dag::from_fn(tasks.len(), |task| {
            resolved.of_table(sources[task].first_of_table)
        })
    };
    report_cycles(&dag, &tasks, &sources, findings);
    // Found now and reported only if the manifest turns out valid, so that the dependencies as
    // written are freed before the race lint, the last large step.
    let mut dependency_warnings = Findings::new();
    warn_dependencies_without_outputs(&tasks, &sources, &dag, &mut dependency_warnings);
    for source in &mut sources {
        source.deps = Deps::Resolved(Vec::new());
    }
    {
        let paths: Vec<TaskPaths<'_>> = sources
            .iter()
            .zip(&tasks)
            .map(|(source, task)| TaskPaths {
                cwd: &task.cwd,
                inputs: &source.paths().inputs,
                outputs: &source.paths().outputs,
            })
            .collect();
        lint_races(&tasks, &paths, &dag, origin.root, findings);
    }
    if has_errors(findings) {
        // Warnings about how a manifest is used wait until it is valid: they would only add
        // noise to the errors (an unused key is often a misspelt placeholder's).
        findings.retain(|f| !matches!(f, ManifestError::UnusedMatrixKey { .. }));
        return None;
    }
    findings.extend(dependency_warnings);
    Some(Workflow {
        name: settings.name,
        manifest: origin.path.to_path_buf(),
        root: origin.root.to_path_buf(),
        jobs: settings.jobs.map(|(jobs, _)| jobs),
        keep_going: settings.keep_going,
        keep_runs: settings.keep_runs,
        shell: settings.shell,
        grace: settings.grace,
        env: settings.env,
        executor: raw
            .executor
            .and_then(|e| e.kind)
            .map(|k| k.value)
            .unwrap_or_default(),
        locks,
        memory: settings.memory.budget,
        tasks,
        dag,
    })
}

/// Warns, once per dependency, when a task that declares `outputs` (so it could be up to date)
/// depends on one that declares none: that dependency runs every time, and so does the task.
fn warn_dependencies_without_outputs(
    tasks: &[Task],
    sources: &[TaskSource],
    dag: &Dag,
    findings: &mut Findings,
) {
    let mut warned: HashSet<&str> = HashSet::new();
    for (id, source) in sources.iter().enumerate() {
        let task = &tasks[id];
        if source.first_of_table != id || task.outputs.is_empty() {
            continue;
        }
        for dep in source.resolved() {
            let targets: Vec<&Task> = dag
                .dependencies_in_order(id)
                .filter(|d| dep.targets.contains(d))
                .map(|d| &tasks[d])
                .collect();
            let Some(first) = targets.first() else {
                continue;
            };
            if targets.iter().all(|t| t.outputs.is_empty()) && warned.insert(first.base()) {
                findings.push(ManifestError::DependencyWithoutOutputs {
                    task: task.base().to_owned(),
                    dep: dep.name(tasks).to_owned(),
                    span: dep.span.clone().into(),
                });
            }
        }
    }
}

/// The templates of a list of templated values, each with the span it was written at.
fn templates(list: Option<&Sp<Vec<Sp<String>>>>) -> Vec<(Template<'_>, &Range<usize>)> {
    list.map(|l| {
        l.value
            .iter()
            .map(|s| (Template::new(&s.value), &s.span))
            .collect()
    })
    .unwrap_or_default()
}

/// True if the expansions of `matrix` have distinct names without comparing them: a product
/// whose every axis has distinct values, none with a `,` (which could make `k=a,j=b` out of two
/// values). A name is `base[k1=v1,k2=v2]`: with no `,` in a value, each value ends at the next
/// `,` (or at the closing `]`), so two combinations that differ in a value differ in name.
fn names_are_distinct(matrix: &RawMatrix) -> bool {
    let RawMatrix::Product { axes, .. } = matrix else {
        return false;
    };
    axes.iter().all(|axis| {
        let mut values = HashSet::with_capacity(axis.values.len());
        axis.values
            .iter()
            .all(|v| !v.value.0.contains(',') && values.insert(v.value.0.as_str()))
    })
}

/// True if an environment variable can have this name: not empty, no `=`, no NUL.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

/// The checked `[workflow]` table.
struct Settings {
    name: String,
    jobs: Option<(u32, Range<usize>)>,
    keep_going: bool,
    keep_runs: u32,
    shell: Vec<String>,
    grace: Duration,
    env: Vec<(String, String)>,
    max_expansions: u64,
    memory: Budget,
}

impl Settings {
    fn check(raw: &RawWorkflow, origin: &Origin<'_>, findings: &mut Findings) -> Self {
        let name = raw.name.as_ref().map_or_else(
            || {
                origin
                    .path
                    .file_stem()
                    .map_or_else(|| "wf".to_owned(), |s| s.to_string_lossy().into_owned())
            },
            |n| n.value.clone(),
        );
        let jobs = raw.jobs.as_ref().map(|jobs| {
            let value = at_least("jobs", jobs, 1, findings);
            (u32::try_from(value).unwrap_or(u32::MAX), jobs.span.clone())
        });
        let shell = match &raw.shell {
            Some(shell) if shell.value.is_empty() || shell.value[0].value.is_empty() => {
                findings.push(ManifestError::EmptyShell {
                    span: shell.span.clone().into(),
                });
                Vec::new()
            }
            Some(shell) => {
                for part in &shell.value {
                    check_nul("`[workflow].shell`", part, findings);
                }
                shell.value.iter().map(|s| s.value.clone()).collect()
            }
            None => crate::workflow::DEFAULT_SHELL.map(str::to_owned).to_vec(),
        };
        let settings = Settings {
            name,
            jobs,
            keep_going: raw.keep_going.as_ref().is_some_and(|k| k.value),
            keep_runs: raw
                .keep_runs
                .as_ref()
                .map_or(crate::workflow::DEFAULT_KEEP_RUNS, |keep| {
                    u32::try_from(at_least("keep_runs", keep, 1, findings)).unwrap_or(u32::MAX)
                }),
            shell,
            grace: raw
                .grace
                .as_ref()
                .map_or(Duration::from_secs(5), |g| g.value.0),
            env: check_env(
                "[workflow].env",
                raw.env.as_ref().map(|e| e.0.as_slice()).unwrap_or_default(),
                findings,
            ),
            max_expansions: raw
                .max_expansions
                .as_ref()
                .map_or(DEFAULT_MAX_EXPANSIONS, |max| {
                    u64::try_from(at_least("max_expansions", max, 1, findings)).unwrap_or(1)
                }),
            memory: Budget::from_raw(raw.memory.as_ref()),
        };
        // `[workflow].env` belongs to no task: a matrix placeholder there cannot be filled.
        for (_, value) in raw.env.iter().flat_map(|e| e.0.iter()) {
            for placeholder in placeholders(&value.value) {
                let text = &value.value[placeholder.range.clone()];
                findings.push(ManifestError::MatrixOutsideMatrix {
                    place: "[workflow].env".to_owned(),
                    help: "[workflow].env applies to every task: put the variable in the `env` of \
                           the matrix task instead"
                        .to_owned(),
                    key: placeholder.key,
                    span: locate(origin.text, &value.span, text).into(),
                });
            }
        }
        settings
    }
}

/// Reports a `timeout` of zero, which would end every attempt at once.
fn check_timeout(timeout: Option<&Sp<DurationValue>>, findings: &mut Findings) {
    if let Some(timeout) = timeout.filter(|t| t.value.0.is_zero()) {
        findings.push(ManifestError::InvalidDuration {
            message: "`timeout` must be longer than zero".to_owned(),
            label: "zero is not allowed",
            span: timeout.span.clone().into(),
            help: Some(
                "a timeout of zero would end every attempt at once; for no time limit, leave \
                 `timeout` out"
                    .to_owned(),
            ),
        });
    }
}

/// The value of an integer key, reported and clamped when it is below `min`.
fn at_least(key: &'static str, value: &Sp<i64>, min: i64, findings: &mut Findings) -> i64 {
    if value.value < min {
        findings.push(ManifestError::OutOfRange {
            key,
            value: value.value,
            min,
            span: value.span.clone().into(),
        });
        min
    } else {
        value.value
    }
}

/// Reports a NUL byte in a value that reaches a process or a path; `place` says which value.
fn check_nul(place: &str, value: &Sp<String>, findings: &mut Findings) {
    if has_nul(&value.value) {
        findings.push(ManifestError::NulByte {
            place: place.to_owned(),
            span: value.span.clone().into(),
        });
    }
}

/// Reports a NUL byte in each entry of a list of paths (`inputs`, `outputs`); `place` says
/// which list (built only when there is a finding to word).
fn check_nul_list(
    place: impl Fn() -> String,
    list: Option<&Sp<Vec<Sp<String>>>>,
    findings: &mut Findings,
) {
    for item in list.iter().flat_map(|l| l.value.iter()) {
        if has_nul(&item.value) {
            check_nul(&place(), item, findings);
        }
    }
}

/// Checks the names (and the values, for NUL bytes) of an `env` table in `place`.
fn check_env(
    place: &str,
    entries: &[(Sp<String>, Sp<String>)],
    findings: &mut Findings,
) -> Vec<(String, String)> {
    for (name, value) in entries {
        check_nul(
            &format!("the value of `{}` in the `env` of {place}", name.value),
            value,
            findings,
        );
    }
    entries
        .iter()
        .filter(|(name, _)| {
            let valid = valid_env_name(&name.value);
            if !valid {
                findings.push(ManifestError::InvalidEnvName {
                    name: name.value.clone(),
                    span: name.span.clone().into(),
                });
            }
            valid
        })
        .map(|(name, value)| (name.value.clone(), value.value.clone()))
        .collect()
}

/// Checks the values of `[defaults]` once, so a bad default is reported once, not per task.
fn check_defaults(
    defaults: &RawDefaults,
    jobs: Option<&(u32, Range<usize>)>,
    findings: &mut Findings,
) {
    if let Some(cpus) = &defaults.cpus {
        check_cpus("[defaults]", cpus, jobs, findings);
    }
    if let Some(retries) = &defaults.retries {
        at_least("retries", retries, 0, findings);
    }
    check_timeout(defaults.timeout.as_ref(), findings);
    if let Some(cwd) = &defaults.cwd {
        check_nul("the `cwd` of [defaults]", cwd, findings);
    }
    check_nul_list(
        || "the `inputs` of [defaults]".to_owned(),
        defaults.inputs.as_ref(),
        findings,
    );
    check_nul_list(
        || "the `outputs` of [defaults]".to_owned(),
        defaults.outputs.as_ref(),
        findings,
    );
    check_env(
        "[defaults]",
        defaults
            .env
            .as_ref()
            .map(|e| e.0.as_slice())
            .unwrap_or_default(),
        findings,
    );
}

fn check_cpus(
    task: &str,
    cpus: &Sp<i64>,
    jobs: Option<&(u32, Range<usize>)>,
    findings: &mut Findings,
) -> u32 {
    let value = at_least("cpus", cpus, 1, findings);
    if let Some((jobs, jobs_span)) = jobs {
        if value > i64::from(*jobs) {
            findings.push(ManifestError::CpusExceedJobs {
                task: task.to_owned(),
                cpus: value,
                jobs: i64::from(*jobs),
                span: cpus.span.clone().into(),
                jobs_span: jobs_span.clone().into(),
            });
        }
    }
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Where the parts of one expanded task were written, for findings that come later.
struct TaskSource {
    name_span: Range<usize>,
    /// The first expansion of the same `[tasks.NAME]` table.
    first_of_table: TaskId,
    /// The `deps` of the table, held by its first expansion only (the others share them: see
    /// [`deps_of`]).
    deps: Deps,
    /// `locks`, `inputs` and `outputs` as written; `None` when all three are empty (so that the
    /// many tasks of a large generated manifest that write none do not each carry 72 bytes).
    paths: Option<Box<WrittenPaths>>,
}

/// A table's `deps`: as written (moved out of the raw task) until they are resolved, then
/// resolved.
enum Deps {
    /// The names as written.
    Written(Vec<Sp<String>>),
    /// Each written dependency that names other tasks, with the tasks it names.
    Resolved(Vec<WrittenDep>),
}

impl TaskSource {
    /// The resolved `deps` (none before [`resolve_deps`], and none on an expansion but the
    /// table's first).
    fn resolved(&self) -> &[WrittenDep] {
        match &self.deps {
            Deps::Resolved(resolved) => resolved,
            Deps::Written(_) => &[],
        }
    }

    /// `locks`, `inputs` and `outputs` as written (rendered for this expansion).
    fn paths(&self) -> &WrittenPaths {
        self.paths.as_deref().unwrap_or(&NO_PATHS)
    }
}

/// A task's `locks`, `inputs` and `outputs` as written, rendered for its expansion.
struct WrittenPaths {
    lock_names: Vec<Sp<String>>,
    inputs: Vec<Sp<String>>,
    outputs: Vec<Sp<String>>,
}

/// The paths of a task that wrote none.
static NO_PATHS: WrittenPaths = WrittenPaths {
    lock_names: Vec::new(),
    inputs: Vec::new(),
    outputs: Vec::new(),
};

/// A dependency as written, resolved: 32 bytes instead of its text (a million tasks with three
/// dependencies each would otherwise keep 0.2 GB of names until the end).
struct WrittenDep {
    /// Where it is written.
    span: Range<usize>,
    /// The tasks it names: a table's expansions, or one expansion by its full name.
    targets: Range<TaskId>,
    /// Named by its full name (`train[lr=0.1]`), not by its table's.
    by_full_name: bool,
}

impl WrittenDep {
    /// The name as written (the name it was found by).
    fn name<'t>(&self, tasks: &'t [Task]) -> &'t str {
        let target = &tasks[self.targets.start];
        if self.by_full_name {
            &target.name
        } else {
            target.base()
        }
    }
}

struct TaskBuilder<'a, 'f> {
    origin: &'a Origin<'a>,
    /// `[workflow].shell`, which runs string commands.
    shell: &'a [String],
    defaults: &'a RawDefaults,
    jobs: Option<&'a (u32, Range<usize>)>,
    /// The most tasks the manifest may expand to.
    max_expansions: u64,
    /// How many tasks the tables seen so far expand to.
    expanded: u64,
    findings: &'f mut Findings,
    tasks: Vec<Task>,
    sources: Vec<TaskSource>,
    /// Memory and resource amounts as written, per expanded task, for checks after expansion
    /// (apart from the sources: they are freed first). Ends at the last task that wrote any:
    /// the checks zip it with the tasks, and a task that wrote none has nothing to check.
    needs: Vec<TaskNeeds>,
    /// The working directory of the last task built, shared with the next ones while equal.
    last_cwd: Option<Arc<Path>>,
}

impl TaskBuilder<'_, '_> {
    /// `cwd`, in the allocation of the last task's when it is the same (it nearly always is:
    /// at a million tasks, a copy each was tens of megabytes).
    fn shared_cwd(&mut self, cwd: PathBuf) -> Arc<Path> {
        match &self.last_cwd {
            Some(last) if **last == *cwd => Arc::clone(last),
            _ => {
                let shared: Arc<Path> = Arc::from(cwd);
                self.last_cwd = Some(Arc::clone(&shared));
                shared
            }
        }
    }

    /// Checks one `[tasks.NAME]` table and adds one task per expansion. Its dependencies as
    /// written are taken from the raw task; the rest is freed with its piece (see [`build`]),
    /// so a large manifest's raw model is freed as its tasks are built.
    fn add(&mut self, name: &Sp<String>, raw: &mut RawTask) {
        let mut deps = raw.deps.take().map(|d| d.value);
        let raw = &*raw;
        let defaults = self.defaults;
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            self.findings.push(ManifestError::InvalidTaskName {
                name: name.value.clone(),
                span: name.span.clone().into(),
            });
        }
        // A task without `run` is reported and still added (with no command), so that tasks
        // depending on it are not also told it does not exist.
        let missing = Sp::new(RawCommand::Argv(Vec::new()), name.span.clone());
        let command = match &raw.run {
            None if raw.invalid_keys.contains(&"run") => &missing,
            None => {
                self.findings.push(ManifestError::MissingRun {
                    task: name.value.clone(),
                    span: name.span.clone().into(),
                });
                &missing
            }
            Some(run) => run,
        };
        let empty = match &command.value {
            RawCommand::Shell(line) => line.trim().is_empty(),
            RawCommand::Argv(argv) => argv.first().is_none_or(String::is_empty),
        };
        if empty && raw.run.is_some() {
            self.findings.push(ManifestError::EmptyRun {
                task: name.value.clone(),
                span: command.span.clone().into(),
            });
        }
        let nul_in_run = match &command.value {
            RawCommand::Shell(line) => has_nul(line),
            RawCommand::Argv(argv) => argv.iter().any(|a| has_nul(a)),
        };
        if nul_in_run {
            self.findings.push(ManifestError::NulByte {
                place: format!("the `run` of task `{}`", name.value),
                span: command.span.clone().into(),
            });
        }
        if let Some(cwd) = &raw.cwd {
            check_nul(
                &format!("the `cwd` of task `{}`", name.value),
                cwd,
                self.findings,
            );
        }
        check_nul_list(
            || format!("the `inputs` of task `{}`", name.value),
            raw.inputs.as_ref(),
            self.findings,
        );
        check_nul_list(
            || format!("the `outputs` of task `{}`", name.value),
            raw.outputs.as_ref(),
            self.findings,
        );
        let cpus = raw
            .cpus
            .as_ref()
            .map(|c| check_cpus(&name.value, c, self.jobs, self.findings))
            .or_else(|| {
                defaults
                    .cpus
                    .as_ref()
                    .map(|c| c.value.clamp(1, i64::from(u32::MAX)) as u32)
            })
            .unwrap_or(1);
        let retries = raw
            .retries
            .as_ref()
            .map(|r| at_least("retries", r, 0, self.findings))
            .or_else(|| defaults.retries.as_ref().map(|r| r.value.max(0)))
            .unwrap_or(0);
        let mut env = defaults
            .env
            .as_ref()
            .map(|e| e.0.clone())
            .unwrap_or_default();
        if let Some(own) = &raw.env {
            check_env(&format!("task `{}`", name.value), &own.0, self.findings);
            for (key, value) in &own.0 {
                env.retain(|(k, _)| k.value != key.value);
                env.push((key.clone(), value.clone()));
            }
        }
        env.retain(|(k, _)| valid_env_name(&k.value));

        check_timeout(raw.timeout.as_ref(), self.findings);
        for input in raw
            .inputs
            .iter()
            .chain(defaults.inputs.iter().filter(|_| raw.inputs.is_none()))
        {
            for pattern in &input.value {
                if let Err(error) = glob::Pattern::new(&pattern.value) {
                    self.findings.push(ManifestError::InvalidGlob {
                        task: name.value.clone(),
                        pattern: pattern.value.clone(),
                        message: error.msg.to_owned(),
                        span: pattern.span.clone().into(),
                    });
                }
            }
        }
        let combos = match &raw.matrix {
            Some(matrix) => self.check_matrix(&name.value, matrix),
            None => {
                self.expanded = self.expanded.saturating_add(1);
                vec![Expansion {
                    values: Box::default(),
                    span: name.span.clone(),
                }]
            }
        };
        let cwd = raw.cwd.as_ref().or(defaults.cwd.as_ref());
        let inputs = raw.inputs.as_ref().or(defaults.inputs.as_ref());
        let outputs = raw.outputs.as_ref().or(defaults.outputs.as_ref());
        let lock_names = raw.locks.as_ref().or(defaults.locks.as_ref());
        let description = raw.description.as_ref().or(defaults.description.as_ref());
        let mem = raw.mem.as_ref().or(defaults.mem.as_ref());
        let mem_limit = raw.mem_limit.as_ref().or(defaults.mem_limit.as_ref());
        let amounts = raw.resources.as_ref().or(defaults.resources.as_ref());
        let mut templated: Vec<(&str, &Range<usize>)> = Vec::new();
        match &command.value {
            RawCommand::Shell(line) => templated.push((line, &command.span)),
            RawCommand::Argv(argv) => {
                templated.extend(argv.iter().map(|a| (a.as_str(), &command.span)));
            }
        }
        for list in [inputs, outputs, lock_names].into_iter().flatten() {
            templated.extend(list.value.iter().map(|s| (s.value.as_str(), &s.span)));
        }
        templated.extend(
            cwd.into_iter()
                .chain(description)
                .map(|s| (s.value.as_str(), &s.span)),
        );
        templated.extend(env.iter().map(|(_, v)| (v.value.as_str(), &v.span)));
        templated.extend(amounts.iter().flat_map(|a| a.0.iter()).filter_map(
            |(_, v)| match &v.value {
                AmountValue::Template(text) => Some((text.as_str(), &v.span)),
                AmountValue::Number(_) => None,
            },
        ));
        self.check_placeholders(&name.value, raw.matrix.is_some(), &combos, &templated);
        if let Some(matrix) = &raw.matrix {
            self.check_unused_keys(&name.value, matrix, &templated);
        }
        let pick_bool = |own: &Option<Sp<bool>>, default: &Option<Sp<bool>>| {
            own.as_ref().or(default.as_ref()).is_some_and(|b| b.value)
        };
        let slurm = Some(merge_slurm(raw, defaults))
            .filter(|options| *options != SlurmOptions::default())
            .map(Box::new);
        let first_of_table = self.tasks.len();
        // A string `run` is the same for every expansion: values reach it only through the
        // environment.
        let shell_line = match &command.value {
            // Without a matrix, a placeholder is already an error (`matrix_outside_matrix`).
            RawCommand::Shell(line) if raw.matrix.is_none() => Some(line.clone()),
            RawCommand::Shell(line) => Some(self.shell_line(&name.value, line, &command.span)),
            RawCommand::Argv(_) => None,
        };
        // Each templated value's placeholders are found once for all the expansions.
        let input_templates = templates(inputs);
        let output_templates = templates(outputs);
        let lock_templates = templates(lock_names);
        let cwd_template = cwd.map(|c| Template::new(&c.value));
        let description_template = description.map(|d| Template::new(&d.value));
        let env_templates: Vec<(&String, Template<'_>)> = env
            .iter()
            .map(|(k, v)| (&k.value, Template::new(&v.value)))
            .collect();
        let argv_templates: Vec<Template<'_>> = match &command.value {
            RawCommand::Argv(argv) => argv.iter().map(|a| Template::new(a)).collect(),
            RawCommand::Shell(_) => Vec::new(),
        };
        // A number written is a text without placeholders.
        let amount_texts: Vec<Cow<'_, str>> = amounts
            .iter()
            .flat_map(|a| a.0.iter())
            .map(|(_, amount)| match &amount.value {
                AmountValue::Template(text) => Cow::Borrowed(text.as_str()),
                AmountValue::Number(n) => Cow::Owned(n.to_string()),
            })
            .collect();
        let amount_templates: Vec<Template<'_>> = amount_texts
            .iter()
            .map(|text| Template::new(text))
            .collect();
        for combo in combos {
            // Values filled in, escaped for a glob pattern if `glob`.
            let render_list = |list: &[(Template<'_>, &Range<usize>)], glob: bool| {
                list.iter()
                    .map(|(template, span)| {
                        let text = if glob {
                            template.substitute_in_glob(&combo)
                        } else {
                            template.substitute(&combo)
                        };
                        Sp::new(text, (*span).clone())
                    })
                    .collect::<Vec<_>>()
            };
            // The matrix variables are not stored: `Task::environment` adds them.
            let task_env: Vec<(String, String)> = env_templates
                .iter()
                .map(|(k, v)| ((*k).clone(), v.substitute(&combo)))
                .collect();
            let inputs = render_list(&input_templates, true);
            let outputs = render_list(&output_templates, false);
            let cwd = self.shared_cwd(resolve_cwd(
                self.origin.root,
                cwd_template.as_ref().map(|c| c.substitute(&combo)),
            ));
            self.tasks.push(Task {
                name: combo.task_name(&name.value),
                base_len: name.value.len(),
                // Filled in below, moved from the expansion.
                matrix: Box::default(),
                command: match &command.value {
                    RawCommand::Shell(line) => {
                        Command::Shell(shell_line.clone().unwrap_or_else(|| line.clone()))
                    }
                    RawCommand::Argv(_) => Command::Argv(
                        argv_templates
                            .iter()
                            .map(|a| a.substitute(&combo))
                            .collect(),
                    ),
                },
                locks: Vec::new(),
                cpus,
                timeout: raw
                    .timeout
                    .as_ref()
                    .or(defaults.timeout.as_ref())
                    .map(|t| t.value.0),
                retries: u32::try_from(retries).unwrap_or(u32::MAX),
                retry_delay: raw
                    .retry_delay
                    .as_ref()
                    .or(defaults.retry_delay.as_ref())
                    .map_or(Duration::from_secs(1), |d| d.value.0),
                inputs: inputs.iter().map(|s| s.value.clone()).collect(),
                outputs: outputs.iter().map(|s| s.value.clone()).collect(),
                cwd,
                env: task_env,
                when: raw
                    .when
                    .as_ref()
                    .or(defaults.when.as_ref())
                    .map(|w| w.value)
                    .unwrap_or_default(),
                allow_failure: pick_bool(&raw.allow_failure, &defaults.allow_failure),
                priority: raw
                    .priority
                    .as_ref()
                    .or(defaults.priority.as_ref())
                    .map_or(0, |p| p.value),
                slurm: slurm.clone(),
                details: TaskDetails {
                    description: description_template.as_ref().map(|d| d.substitute(&combo)),
                    mem: mem.map(|m| m.value.0),
                    mem_limit: mem_limit.map(|m| m.value.0),
                    resources: Vec::new(),
                }
                .boxed(),
            });
            self.sources.push(TaskSource {
                name_span: name.span.clone(),
                first_of_table,
                deps: Deps::Written(deps.take().unwrap_or_default()),
                paths: Some(WrittenPaths {
                    lock_names: render_list(&lock_templates, false),
                    inputs,
                    outputs,
                })
                .filter(|p| {
                    !(p.lock_names.is_empty() && p.inputs.is_empty() && p.outputs.is_empty())
                })
                .map(Box::new),
            });
            let need = TaskNeeds {
                mem_span: mem.map(|m| m.span.clone()),
                mem_limit_span: mem_limit.map(|m| m.span.clone()),
                amounts: amounts
                    .iter()
                    .flat_map(|a| a.0.iter())
                    .zip(&amount_templates)
                    .map(|((name, amount), template)| {
                        let text = template.substitute(&combo);
                        (name.clone(), Sp::new(text, amount.span.clone()))
                    })
                    .collect(),
            };
            if !need.is_empty() {
                self.needs
                    .resize_with(self.tasks.len() - 1, TaskNeeds::default);
                self.needs.push(need);
            }
            if let Some(task) = self.tasks.last_mut() {
                task.matrix = combo.values;
            }
        }
    }

    /// A string `run` with each placeholder replaced by a reference to its `WF_MATRIX_*`
    /// variable fitted to its quoting context. A placeholder whose context is unclear, or any
    /// placeholder when the shell is not a POSIX shell, is reported.
    fn shell_line(&mut self, task: &str, line: &str, span: &Range<usize>) -> String {
        let found = placeholders(line);
        if found.is_empty() {
            return line.to_owned();
        }
        let at = |placeholder: &super::expand::Placeholder| {
            locate_nth(self.origin.text, span, line, &placeholder.range)
        };
        let program = self.shell.first().map_or("sh", String::as_str);
        if !shell_context::is_posix_shell(program) {
            let first = &found[0];
            self.findings
                .push(ManifestError::PlaceholderInForeignShell {
                    task: task.to_owned(),
                    key: first.key.clone(),
                    program: program.to_owned(),
                    variable: matrix_variable(&first.key),
                    span: at(first).into(),
                });
            return line.to_owned();
        }
        let holes: Vec<Range<usize>> = found.iter().map(|p| p.range.clone()).collect();
        let mut contexts = Vec::with_capacity(found.len());
        for (placeholder, context) in found.iter().zip(shell_context::classify(line, &holes)) {
            match context {
                Ok(quoting) => contexts.push(quoting),
                Err(unclear) => {
                    self.findings.push(ManifestError::UnsafePlaceholder {
                        task: task.to_owned(),
                        key: placeholder.key.clone(),
                        place: unclear.describe(),
                        variable: matrix_variable(&placeholder.key),
                        span: at(placeholder).into(),
                    });
                    contexts.push(Quoting::Unquoted);
                }
            }
        }
        substitute_references(line, &contexts)
    }

    /// Checks a matrix and returns its expansions (duplicates removed). A matrix over the
    /// expansion limit is reported and not expanded: its first combination stands in for it.
    fn check_matrix(&mut self, task: &str, matrix: &RawMatrix) -> Vec<Expansion> {
        let keys: Vec<&Sp<String>> = match matrix {
            RawMatrix::Product { axes, .. } => axes.iter().map(|a| &a.key).collect(),
            RawMatrix::Records { records, .. } => records
                .iter()
                .flat_map(|r| r.value.iter().map(|(k, _)| k))
                .collect(),
        };
        let values: Vec<(&Sp<String>, &Sp<super::raw::Scalar>)> = match matrix {
            RawMatrix::Product { axes, .. } => axes
                .iter()
                .flat_map(|a| a.values.iter().map(move |v| (&a.key, v)))
                .collect(),
            RawMatrix::Records { records, .. } => records
                .iter()
                .flat_map(|r| r.value.iter().map(|(k, v)| (k, v)))
                .collect(),
        };
        for (key, value) in values {
            if has_nul(&value.value.0) {
                self.findings.push(ManifestError::NulByte {
                    place: format!("a value of matrix key `{}` of task `{task}`", key.value),
                    span: value.span.clone().into(),
                });
            }
        }
        self.check_key_collisions(&keys);
        let count = expansion_count(matrix);
        let before = self.expanded;
        let total = count.and_then(|count| before.checked_add(count));
        if total.is_none_or(|total| total > self.max_expansions) {
            self.findings.push(ManifestError::MatrixTooLarge {
                message: too_large_message(task, count, before, self.max_expansions),
                span: matrix_span(matrix).into(),
            });
            // Counted as one task, so that later matrices are judged on their own size.
            self.expanded = before.saturating_add(1);
            return vec![first_expansion(matrix)];
        }
        self.expanded = total.unwrap_or(u64::MAX);
        let mut reported = HashSet::new();
        for key in keys {
            let valid = key
                .value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid && reported.insert(key.value.clone()) {
                self.findings.push(ManifestError::InvalidMatrixKey {
                    key: key.value.clone(),
                    span: key.span.clone().into(),
                });
            }
        }
        if names_are_distinct(matrix) {
            return expansions(matrix);
        }
        let mut seen = HashSet::new();
        let mut unique = Vec::new();
        for combo in expansions(matrix) {
            let name = combo.task_name(task);
            if seen.insert(name.clone()) {
                unique.push(combo);
            } else {
                self.findings.push(ManifestError::DuplicateExpansion {
                    task: task.to_owned(),
                    name,
                    span: combo.span.clone().into(),
                });
            }
        }
        unique
    }

    /// Reports two matrix keys that set the same `WF_MATRIX_*` variable (`a` and `A`), once per
    /// pair of spellings.
    fn check_key_collisions(&mut self, keys: &[&Sp<String>]) {
        let mut first_by_variable: HashMap<String, &Sp<String>> = HashMap::new();
        let mut reported = HashSet::new();
        for &key in keys {
            let variable = matrix_variable(&key.value);
            match first_by_variable.get(&variable) {
                Some(first) if first.value != key.value => {
                    if reported.insert((first.value.clone(), key.value.clone())) {
                        self.findings.push(ManifestError::MatrixKeyCollision {
                            first: first.value.clone(),
                            second: key.value.clone(),
                            variable,
                            span: key.span.clone().into(),
                            first_span: first.span.clone().into(),
                        });
                    }
                }
                Some(_) => {}
                None => {
                    first_by_variable.insert(variable, key);
                }
            }
        }
    }

    /// Checks every placeholder attempt in a task's templated values (`texts`, each with the
    /// span it was written at), reporting each problem once per table: matrix keys that are
    /// not defined, misspelt and unclosed placeholders.
    fn check_placeholders(
        &mut self,
        task: &str,
        has_matrix: bool,
        combos: &[Expansion],
        texts: &[(&str, &Range<usize>)],
    ) {
        let mut reported = HashSet::new();
        let is_key = |key: &str| combos.iter().any(|c| c.get(key).is_some());
        for &(text, span) in texts {
            for attempt in attempts(text) {
                let at = |range: &Range<usize>| locate_nth(self.origin.text, span, text, range);
                let placeholder = match attempt {
                    Attempt::Placeholder(placeholder) => placeholder,
                    Attempt::Misspelt { range, name, key } => {
                        if reported.insert(format!("misspelt {name}")) {
                            let help = format!(
                                "did you mean `{{{{ matrix.{key} }}}}`? wf's only placeholders \
                                 are `{{{{ matrix.KEY }}}}`"
                            );
                            self.findings.push(ManifestError::UnknownPlaceholder {
                                text: text[range.clone()].to_owned(),
                                task: task.to_owned(),
                                span: at(&range).into(),
                                help,
                            });
                        }
                        continue;
                    }
                    Attempt::Bare { range, key } => {
                        if has_matrix && is_key(&key) && reported.insert(format!("bare {key}")) {
                            self.findings.push(ManifestError::UnknownPlaceholder {
                                text: text[range.clone()].to_owned(),
                                task: task.to_owned(),
                                span: at(&range).into(),
                                help: format!(
                                    "did you mean `{{{{ matrix.{key} }}}}`? a matrix value is \
                                     written with the `matrix.` prefix"
                                ),
                            });
                        }
                        continue;
                    }
                    Attempt::Unclosed { range, name } => {
                        if reported.insert(format!("unclosed {name}")) {
                            self.findings.push(ManifestError::UnclosedPlaceholder {
                                text: text[range.clone()].to_owned(),
                                name,
                                task: task.to_owned(),
                                span: at(&range).into(),
                            });
                        }
                        continue;
                    }
                };
                let key = placeholder.key;
                let at = at(&placeholder.range);
                if !has_matrix {
                    if reported.insert(key.clone()) {
                        self.findings.push(ManifestError::MatrixOutsideMatrix {
                            place: format!("task `{task}`"),
                            help: "add a `matrix` to the task, or write the value itself"
                                .to_owned(),
                            key,
                            span: at.into(),
                        });
                    }
                } else if combos.iter().any(|c| c.get(&key).is_none())
                    && reported.insert(key.clone())
                {
                    // Each key once, in the order first written (every expansion repeats them).
                    let mut defined: Vec<&str> = Vec::new();
                    for (k, _) in combos.iter().flat_map(|c| c.values.iter()) {
                        if !defined.contains(&&**k) {
                            defined.push(k);
                        }
                    }
                    let partly = is_key(&key);
                    let help = if partly {
                        format!("`{key}` is missing from some of the matrix records")
                    } else {
                        match did_you_mean(&key, defined.iter().copied()) {
                            Some(near) => format!(
                                "did you mean `{near}`? the matrix defines: {}",
                                defined.join(", ")
                            ),
                            None => format!("the matrix defines: {}", defined.join(", ")),
                        }
                    };
                    self.findings.push(ManifestError::UndefinedMatrixKey {
                        task: task.to_owned(),
                        key,
                        span: at.into(),
                        help: Some(help),
                    });
                }
            }
        }
    }

    /// Warns about each matrix key that no value of the task uses, neither as
    /// `{{ matrix.KEY }}` nor as `WF_MATRIX_KEY`: its expansions differ only by name.
    fn check_unused_keys(
        &mut self,
        task: &str,
        matrix: &RawMatrix,
        texts: &[(&str, &Range<usize>)],
    ) {
        let written: Vec<&Sp<String>> = match matrix {
            RawMatrix::Product { axes, .. } => axes.iter().map(|a| &a.key).collect(),
            RawMatrix::Records { records, .. } => records
                .iter()
                .flat_map(|r| r.value.iter().map(|(k, _)| k))
                .collect(),
        };
        let mut seen = HashSet::new();
        let keys: Vec<&Sp<String>> = written
            .into_iter()
            .filter(|k| seen.insert(k.value.as_str()))
            .collect();
        // A misspelt or unclosed placeholder is already an error: its key counts as used.
        let mut used: HashSet<String> = HashSet::new();
        for &(text, _) in texts {
            used.extend(attempts(text).into_iter().map(|attempt| {
                match attempt {
                    Attempt::Placeholder(p) => p.key,
                    Attempt::Misspelt { key, .. } | Attempt::Bare { key, .. } => key,
                    Attempt::Unclosed { name, .. } => name
                        .split_once('.')
                        .map_or(name.clone(), |(_, k)| k.to_owned()),
                }
            }));
        }
        for key in keys {
            let variable = matrix_variable(&key.value);
            if used.contains(&key.value) || texts.iter().any(|(t, _)| t.contains(&variable)) {
                continue;
            }
            self.findings.push(ManifestError::UnusedMatrixKey {
                task: task.to_owned(),
                key: key.value.clone(),
                variable,
                span: key.span.clone().into(),
            });
        }
    }
}

/// The span of the placeholder at `range` of the string `value` inside the source range
/// `within`: the same occurrence of the same text (the n-th, counted in `value`), or `within`
/// itself when the string was written with escapes and cannot be found verbatim.
fn locate_nth(
    text: &str,
    within: &Range<usize>,
    value: &str,
    range: &Range<usize>,
) -> Range<usize> {
    let needle = &value[range.clone()];
    let nth = value[..range.start].matches(needle).count();
    text.get(within.clone())
        .and_then(|slice| slice.match_indices(needle).nth(nth))
        .map_or_else(
            || within.clone(),
            |(offset, _)| within.start + offset..within.start + offset + needle.len(),
        )
}

/// The span of `needle` inside the source range `within`, or `within` itself when the string was
/// written with escapes and cannot be found verbatim.
fn locate(text: &str, within: &Range<usize>, needle: &str) -> Range<usize> {
    text.get(within.clone())
        .and_then(|slice| slice.find(needle))
        .map_or_else(
            || within.clone(),
            |at| within.start + at..within.start + at + needle.len(),
        )
}

fn resolve_cwd(root: &Path, cwd: Option<String>) -> PathBuf {
    match cwd {
        Some(dir) => root.join(dir),
        None => root.to_path_buf(),
    }
}

fn merge_slurm(task: &RawTask, defaults: &RawDefaults) -> SlurmOptions {
    let own = task.slurm.as_deref().cloned().unwrap_or_default();
    let base = defaults.slurm.clone().unwrap_or_default();
    let text = |a: Option<Sp<String>>, b: Option<Sp<String>>| a.or(b).map(|s| s.value);
    SlurmOptions {
        partition: text(own.partition, base.partition),
        account: text(own.account, base.account),
        qos: text(own.qos, base.qos),
        time: text(own.time, base.time),
        mem: text(own.mem, base.mem),
        gres: text(own.gres, base.gres),
        gpus: text(own.gpus, base.gpus),
        constraint: text(own.constraint, base.constraint),
        extra: own
            .extra
            .or(base.extra)
            .map(|e| e.value.into_iter().map(|s| s.value).collect())
            .unwrap_or_default(),
    }
}

/// Gives every task its lock ids: the declared locks first, then undeclared names as mutexes.
fn resolve_locks(
    declared: Vec<(Sp<String>, Sp<i64>)>,
    tasks: &mut [Task],
    sources: &[TaskSource],
    findings: &mut Findings,
) -> Vec<Lock> {
    let mut locks: Vec<Lock> = Vec::with_capacity(declared.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for (name, capacity) in &declared {
        if capacity.value < 1 {
            findings.push(ManifestError::InvalidLockCapacity {
                lock: name.value.clone(),
                capacity: capacity.value,
                span: capacity.span.clone().into(),
            });
        }
        index.insert(name.value.clone(), locks.len());
        locks.push(Lock {
            name: name.value.clone(),
            capacity: u32::try_from(capacity.value.max(1)).unwrap_or(u32::MAX),
        });
    }
    for (task, source) in tasks.iter_mut().zip(sources) {
        for name in &source.paths().lock_names {
            let id = *index.entry(name.value.clone()).or_insert_with(|| {
                locks.push(Lock {
                    name: name.value.clone(),
                    capacity: 1,
                });
                locks.len() - 1
            });
            if !task.locks.contains(&id) {
                task.locks.push(id);
            }
        }
    }
    locks
}

/// Resolves every dependency name to task ids, reporting unknown names and self-dependencies
/// once per `[tasks.NAME]` table.
///
/// The expansions of one table are consecutive tasks, so a table name resolves to a range of
/// ids: one hash lookup per dependency, no list per name, no string comparison.
fn resolve_deps(
    tasks: &[Task],
    sources: &mut [TaskSource],
    findings: &mut Findings,
) -> ResolvedDeps {
    // Each table's tasks, consecutive: first..end.
    let mut tables: Vec<Range<TaskId>> = Vec::new();
    for (id, source) in sources.iter().enumerate() {
        match tables.last_mut() {
            Some(table) if source.first_of_table == table.start => table.end = id + 1,
            _ => tables.push(id..id + 1),
        }
    }
    // The table names copied into one string, in order: a lookup then compares the name
    // written with one in a few megabytes rather than one anywhere in the heap (at a million
    // tasks, these cache misses were most of the time spent here).
    let mut arena = String::new();
    for table in &tables {
        arena.push_str(tasks[table.start].base());
    }
    let mut by_base: NameMap<&str, Range<TaskId>> = name_map(tables.len());
    let mut offset = 0;
    for table in tables {
        let end = offset + tasks[table.start].base().len();
        let name = arena.get(offset..end).unwrap_or_default();
        offset = end;
        by_base.entry(name).or_insert(table);
    }
    // Each table's dependencies are looked up by table name in parallel, in blocks of tasks.
    // A task with a name not found that way (a full name, or a mistake) is left for the
    // sequential pass below, which keeps the findings in task order.
    // Each block's ids go into one list of the block's (`ends`: where each task's stop), from
    // which the graph is built and which is then let go: no list per task, made on the pool's
    // threads among the parser's freed temporaries, outlives the reading (`chunks.rs` says
    // why that matters).
    let shared: &[Task] = tasks;
    let mut blocks: Vec<ResolvedBlock> = sources
        .par_chunks_mut(RESOLVE_BLOCK)
        .enumerate()
        .map(|(block, sources)| {
            let first = block * RESOLVE_BLOCK;
            let mut resolved = ResolvedBlock {
                steps: Vec::new(),
                ids: Vec::new(),
                ends: Vec::with_capacity(sources.len()),
            };
            for (at, source) in sources.iter_mut().enumerate() {
                let id = first + at;
                if source.first_of_table == id {
                    resolve_by_table(id, shared, source, &mut resolved, &by_base);
                }
                resolved.ends.push(resolved.ids.len());
            }
            resolved
        })
        .collect();
    let mut unresolved = Unresolved {
        tasks: shared,
        by_base: &by_base,
        by_full: None,
        suggestions: None,
    };
    let mut pending: NameMap<TaskId, Vec<TaskId>> = NameMap::default();
    for step in blocks.iter_mut().flat_map(|block| block.steps.drain(..)) {
        match step {
            Resolution::Finding(finding) => findings.push(finding),
            Resolution::Pending(id) => {
                let deps = unresolved.resolve(id, sources, findings);
                pending.insert(id, deps);
            }
        }
    }
    ResolvedDeps { blocks, pending }
}

/// Every table's dependencies, resolved, until the graph is built from them.
struct ResolvedDeps {
    /// What each block's lookup by table name found.
    blocks: Vec<ResolvedBlock>,
    /// The deps of the tasks resolved one by one, by task.
    pending: NameMap<TaskId, Vec<TaskId>>,
}

impl ResolvedDeps {
    /// The tasks the table whose first task is `first` depends on (each of its expansions),
    /// ascending.
    fn of_table(&self, first: TaskId) -> &[TaskId] {
        if let Some(deps) = self.pending.get(&first) {
            return deps;
        }
        let block = &self.blocks[first / RESOLVE_BLOCK];
        let at = first % RESOLVE_BLOCK;
        let start = if at == 0 { 0 } else { block.ends[at - 1] };
        &block.ids[start..block.ends[at]]
    }
}

/// What the parallel lookup of one block of tasks found.
struct ResolvedBlock {
    /// What is left to do, in task order.
    steps: Vec<Resolution>,
    /// The ids each task depends on, task after task.
    ids: Vec<TaskId>,
    /// Where each task's ids end in `ids`.
    ends: Vec<usize>,
}

/// Tasks per block of the parallel dependency lookup.
const RESOLVE_BLOCK: usize = 4096;

/// What looking up one task's dependencies by table name left to do, in task order.
enum Resolution {
    /// A finding to report.
    Finding(ManifestError),
    /// Task `id` names something that is not a table: resolved in the sequential pass.
    Pending(TaskId),
}

/// Resolves the deps of task `id` (the first of its table) if every one names a table:
/// appends them to `block.ids`, and a self-dependency to `block.steps`. Otherwise leaves them
/// as written and adds a [`Resolution::Pending`].
fn resolve_by_table(
    id: TaskId,
    tasks: &[Task],
    source: &mut TaskSource,
    block: &mut ResolvedBlock,
    by_base: &NameMap<&str, Range<TaskId>>,
) {
    let Deps::Written(deps) = &source.deps else {
        return;
    };
    let targets: Option<Vec<Range<TaskId>>> = deps
        .iter()
        .map(|dep| by_base.get(dep.value.as_str()).cloned())
        .collect();
    let Some(targets) = targets else {
        block.steps.push(Resolution::Pending(id));
        return;
    };
    let from = block.ids.len();
    let mut written = Vec::with_capacity(deps.len());
    for (dep, targets) in deps.iter().zip(targets) {
        // A table name's range starts at its first task: its own table starts at `id`.
        if targets.start == id {
            block
                .steps
                .push(Resolution::Finding(ManifestError::SelfDependency {
                    task: tasks[id].base().to_owned(),
                    span: dep.span.clone().into(),
                }));
            continue;
        }
        block.ids.extend(targets.clone());
        written.push(WrittenDep {
            span: dep.span.clone(),
            targets,
            by_full_name: false,
        });
    }
    let own = &mut block.ids[from..];
    own.sort_unstable();
    let mut kept = 0;
    for at in 0..own.len() {
        if kept == 0 || own[at] != own[kept - 1] {
            own[kept] = own[at];
            kept += 1;
        }
    }
    block.ids.truncate(from + kept);
    // The names are freed as they are resolved: what later checks need is kept in `written`.
    source.deps = Deps::Resolved(written);
}

/// The dependencies not found by table name: full names of expansions, and mistakes.
struct Unresolved<'t, 'n> {
    tasks: &'t [Task],
    by_base: &'n NameMap<&'n str, Range<TaskId>>,
    /// The full names of expansions, indexed only if some dependency names one.
    by_full: Option<NameMap<&'t str, TaskId>>,
    suggestions: Option<Suggestions<'n>>,
}

impl Unresolved<'_, '_> {
    /// Resolves the deps of task `id` (the first of its table) one by one, reporting unknown
    /// names and self-dependencies; returns the tasks it depends on.
    fn resolve(
        &mut self,
        id: TaskId,
        sources: &mut [TaskSource],
        findings: &mut Findings,
    ) -> Vec<TaskId> {
        let tasks = self.tasks;
        let task = &tasks[id];
        let deps = match std::mem::replace(&mut sources[id].deps, Deps::Resolved(Vec::new())) {
            Deps::Written(deps) => deps,
            Deps::Resolved(_) => Vec::new(),
        };
        let mut ids = Vec::with_capacity(deps.len());
        let mut written = Vec::with_capacity(deps.len());
        for dep in &deps {
            let (targets, by_full_name) = match self.by_base.get(dep.value.as_str()) {
                Some(range) => (range.clone(), false),
                None => match self
                    .by_full
                    .get_or_insert_with(|| {
                        tasks
                            .iter()
                            .enumerate()
                            .filter(|(_, task)| task.name != task.base())
                            .map(|(id, task)| (task.name.as_str(), id))
                            .collect()
                    })
                    .get(dep.value.as_str())
                {
                    Some(&target) => (target..target + 1, true),
                    None => {
                        let by_base = self.by_base;
                        let suggestions = self.suggestions.get_or_insert_with(|| {
                            Suggestions::new(by_base.keys().copied().collect())
                        });
                        findings.push(ManifestError::UnknownDependency {
                            task: task.base().to_owned(),
                            dep: dep.value.clone(),
                            span: dep.span.clone().into(),
                            help: suggestions
                                .nearest(&dep.value)
                                .map(|near| format!("did you mean `{near}`?")),
                        });
                        continue;
                    }
                },
            };
            // A target of the task's own table (itself, or one of its own expansions).
            let own_table = if by_full_name {
                sources[targets.start].first_of_table == id
            } else {
                targets.start == id
            };
            if own_table {
                findings.push(ManifestError::SelfDependency {
                    task: task.base().to_owned(),
                    span: dep.span.clone().into(),
                });
                continue;
            }
            ids.extend(targets.clone());
            written.push(WrittenDep {
                span: dep.span.clone(),
                targets,
                by_full_name,
            });
        }
        ids.sort_unstable();
        ids.dedup();
        sources[id].deps = Deps::Resolved(written);
        ids
    }
}

/// "Did you mean" hints for unknown dependencies: each misspelling is compared with every task
/// name once, and the comparisons of a whole manifest have a budget, so ten thousand unknown
/// names among ten thousand tasks stay fast (the hints stop when the budget is spent).
struct Suggestions<'a> {
    names: Vec<&'a str>,
    known: HashMap<String, Option<&'a str>>,
    budget: usize,
}

impl<'a> Suggestions<'a> {
    /// Name comparisons allowed per manifest.
    const BUDGET: usize = 100_000;

    fn new(mut names: Vec<&'a str>) -> Self {
        names.sort_unstable();
        Self {
            names,
            known: HashMap::new(),
            budget: Self::BUDGET,
        }
    }

    fn nearest(&mut self, word: &str) -> Option<&'a str> {
        if let Some(&near) = self.known.get(word) {
            return near;
        }
        if self.budget < self.names.len() {
            return None;
        }
        self.budget -= self.names.len();
        let near = did_you_mean(word, self.names.iter().copied());
        self.known.insert(word.to_owned(), near);
        near
    }
}

/// The resolved `deps` written for task `id`'s table.
fn deps_of(sources: &[TaskSource], id: TaskId) -> &[WrittenDep] {
    sources[sources[id].first_of_table].resolved()
}

/// Reports each dependency cycle with its whole path and a label on every edge.
fn report_cycles(dag: &Dag, tasks: &[Task], sources: &[TaskSource], findings: &mut Findings) {
    for cycle in dag.cycles() {
        let mut names: Vec<&str> = cycle.iter().map(|&t| tasks[t].name.as_str()).collect();
        names.push(names[0]);
        let mut edges = Vec::with_capacity(cycle.len());
        for (i, &task) in cycle.iter().enumerate() {
            let dep = cycle[(i + 1) % cycle.len()];
            let span = deps_of(sources, task)
                .iter()
                .find(|d| d.targets.contains(&dep))
                .map_or_else(|| sources[task].name_span.clone(), |d| d.span.clone());
            let label = format!("`{}` depends on `{}`", tasks[task].name, tasks[dep].name);
            edges.push(LabeledSpan::new_with_span(Some(label), span));
        }
        findings.push(ManifestError::DependencyCycle {
            path: names.join(" → "),
            edges,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::raw::{MatrixAxis, Scalar};
    use super::*;

    /// Over many small products of awkward values (empty, commas, `=`, `]`, `[`, multi-byte):
    /// whenever the quick check says the names are distinct, they are.
    #[test]
    fn the_quick_distinct_names_check_never_lets_a_repeat_through() {
        const VALUES: [&str; 12] = [
            "", "a", "b", ",", "=", "]", "é", "a]", "k1=a", "a,k1=a", "a,k=a", "a,k1=",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap_or(0)
        };
        let (mut quick, mut checked) = (0, 0);
        for _ in 0..5_000 {
            let axes: Vec<MatrixAxis> = (0..1 + next(3))
                .map(|a| MatrixAxis {
                    key: Sp::new(["k0", "k1", "k"][a].to_owned(), 0..0),
                    values: (0..1 + next(3))
                        .map(|_| Sp::new(Scalar(VALUES[next(VALUES.len())].to_owned()), 0..0))
                        .collect(),
                    span: 0..0,
                })
                .collect();
            let matrix = RawMatrix::Product { axes, span: 0..0 };
            if !names_are_distinct(&matrix) {
                continue;
            }
            quick += 1;
            let names: Vec<String> = expansions(&matrix)
                .iter()
                .map(|e| e.task_name("m"))
                .collect();
            let distinct: HashSet<&String> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "{names:?}");
            checked += names.len();
        }
        assert!(
            quick > 100 && checked > quick,
            "{quick} products, {checked} names"
        );
    }
}
