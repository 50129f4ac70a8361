//! The validated workflow: every task expanded and checked, every reference resolved.
//!
//! This is what the rest of the engine consumes. Everything in it has been checked by
//! `manifest::load`, so the scheduler never re-validates and never meets a dangling name.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::graph::{Dag, TaskId};

/// Index of a lock in [`Workflow::locks`].
pub type LockId = usize;

/// How many runs of a manifest `.wf/` keeps when `[workflow].keep_runs` is not set.
pub const DEFAULT_KEEP_RUNS: u32 = 20;

/// The program and arguments a string `run` is appended to when `[workflow].shell` is not set:
/// `sh -e -c`, so that a multi-line command stops at its first failing line (as GitHub
/// Actions' `bash -e` and go-task do).
pub const DEFAULT_SHELL: [&str; 2] = ["sh", "-ec"];

/// A workflow ready to plan and run.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Display name (`[workflow].name`, or the manifest's file stem).
    pub name: String,
    /// The manifest's path, as it was given.
    pub manifest: PathBuf,
    /// The folder the manifest is in: relative `cwd`s start here and `.wf/` lives here.
    pub root: PathBuf,
    /// Job slots from `[workflow].jobs`; `None` means the number of CPUs.
    pub jobs: Option<u32>,
    /// Keep starting independent tasks after a failure.
    pub keep_going: bool,
    /// How many runs of this manifest `.wf/` keeps (`[workflow].keep_runs`, at least 1).
    pub keep_runs: u32,
    /// Program and arguments a string command is appended to.
    pub shell: Vec<String>,
    /// SIGTERM → SIGKILL grace for timeouts and cancellation.
    pub grace: Duration,
    /// Environment added to every task, on top of the caller's.
    pub env: Vec<(String, String)>,
    /// Where tasks run unless the command line says otherwise.
    pub executor: ExecutorKind,
    /// Every lock a task uses: the declared ones first, then undeclared ones (mutexes).
    pub locks: Vec<Lock>,
    /// How much memory tasks with a known need may use together.
    pub memory: MemoryBudget,
    /// The expanded tasks, in the order they were declared; a task's index is its [`TaskId`].
    pub tasks: Vec<Task>,
    /// The dependency graph over [`TaskId`]s.
    pub dag: Dag,
}

/// A named shared resource: a lock (`[locks]`, each task holds one unit) or a counted
/// resource (`[resources]`, tasks hold amounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The lock's name.
    pub name: String,
    /// How many units exist: for a lock, how many tasks may hold it at once.
    pub capacity: u32,
}

/// One runnable task (a matrix task contributes one per expansion).
#[derive(Debug, Clone)]
pub struct Task {
    /// Full name: `train[lr=0.1,seed=1]` for an expansion, the table name otherwise.
    pub name: String,
    /// The length of the name of the `[tasks.NAME]` table it came from, which `name` starts
    /// with (see [`Task::base`]): a second copy of every name was a string per task.
    pub(crate) base_len: usize,
    /// The matrix values of this expansion, keys in the order written; empty for a plain task.
    /// Each key and value is one allocation shared by every expansion that has it.
    pub matrix: MatrixValues,
    /// What to execute.
    pub command: Command,
    /// Locks held while it runs.
    pub locks: Vec<LockId>,
    /// Slots it occupies.
    pub cpus: u32,
    /// Limit per attempt.
    pub timeout: Option<Duration>,
    /// Extra attempts after a failure or timeout.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub retry_delay: Duration,
    /// Files or globs, relative to `cwd`, hashed into the fingerprint.
    pub inputs: Vec<String>,
    /// Files, relative to `cwd`, that must exist after success.
    pub outputs: Vec<String>,
    /// Absolute working directory; one allocation shared by the tasks that have the same.
    pub cwd: Arc<Path>,
    /// The task's own environment as the manifest writes it (defaults and task merged), with
    /// its matrix values filled in; the matrix variables are not in it: see
    /// [`Task::environment`], which adds them.
    pub env: Vec<(String, String)>,
    /// When it runs, given how its deps ended.
    pub when: When,
    /// Its failure does not fail the run.
    pub allow_failure: bool,
    /// Explicit priority among ready tasks (higher first); 0 by default.
    pub priority: i64,
    /// Options for the Slurm executor; `None` when none is set (most tasks: boxed, so that a
    /// million tasks do not each carry room for nine options).
    pub slurm: Option<Box<SlurmOptions>>,
    /// What few tasks set: a description, memory, counted resources (`None` when none is
    /// set: boxed, so that a million generated tasks do not each carry room for them).
    pub details: Option<Box<TaskDetails>>,
}

/// A matrix expansion's key/value pairs, keys in the order written.
pub type MatrixValues = Box<[(Arc<str>, Arc<str>)]>;

/// The settings of a task that most tasks leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDetails {
    /// Shown by `wf list` and in reports.
    pub description: Option<String>,
    /// Declared memory need in bytes (`mem`); `None` means learnt, or unknown.
    pub mem: Option<u64>,
    /// Memory limit in bytes (`mem_limit`): the task's tree is killed above it.
    pub mem_limit: Option<u64>,
    /// Counted resources held while it runs, with amounts (`resources`); each lock in
    /// [`Task::locks`] is one more unit.
    pub resources: Vec<(LockId, u32)>,
}

impl TaskDetails {
    /// `self` boxed, or `None` when nothing is set.
    pub fn boxed(self) -> Option<Box<TaskDetails>> {
        (self != TaskDetails::default()).then(|| Box::new(self))
    }
}

impl Task {
    /// Shown by `wf list` and in reports.
    pub fn description(&self) -> Option<&str> {
        self.details.as_ref()?.description.as_deref()
    }

    /// Declared memory need in bytes (`mem`); `None` means learnt, or unknown.
    pub fn mem(&self) -> Option<u64> {
        self.details.as_ref()?.mem
    }

    /// Memory limit in bytes (`mem_limit`): the task's tree is killed above it.
    pub fn mem_limit(&self) -> Option<u64> {
        self.details.as_ref()?.mem_limit
    }

    /// Counted resources held while it runs, with amounts (`resources`); each lock in
    /// [`Task::locks`] is one more unit.
    pub fn resources(&self) -> &[(LockId, u32)] {
        self.details
            .as_ref()
            .map_or(&[], |details| details.resources.as_slice())
    }

    /// The environment the task gets on top of the workflow's, in order (a later entry wins):
    /// its own [`Task::env`], then one `WF_MATRIX_<KEY>` variable per matrix key (keys in the
    /// order written), which replaces a variable of the same name the manifest sets.
    pub fn environment(&self) -> impl Iterator<Item = (Cow<'_, str>, &str)> {
        let own = self.env.iter().filter(|(name, _)| {
            !self
                .matrix
                .iter()
                .any(|(key, _)| is_matrix_variable(name, key))
        });
        own.map(|(name, value)| (Cow::Borrowed(name.as_str()), value.as_str()))
            .chain(
                self.matrix
                    .iter()
                    .map(|(key, value)| (Cow::Owned(matrix_variable(key)), &**value)),
            )
    }

    /// The name of the `[tasks.NAME]` table it came from.
    pub fn base(&self) -> &str {
        self.name.get(..self.base_len).unwrap_or(&self.name)
    }

    /// Everything the task holds while it runs, as (lock or resource, amount): its locks one
    /// unit each, its resources their amounts.
    pub fn claims(&self) -> Vec<(LockId, u32)> {
        let mut claims: Vec<(LockId, u32)> = self.locks.iter().map(|&l| (l, 1)).collect();
        for &(id, amount) in self.resources() {
            match claims.iter_mut().find(|(l, _)| *l == id) {
                Some((_, held)) => *held = held.saturating_add(amount),
                None => claims.push((id, amount)),
            }
        }
        claims
    }
}

/// The environment variable that carries a matrix key's value: `WF_MATRIX_<KEY>`.
pub fn matrix_variable(key: &str) -> String {
    format!("WF_MATRIX_{}", key.to_ascii_uppercase())
}

/// True if `name` is [`matrix_variable`]`(key)`, without making that name.
fn is_matrix_variable(name: &str, key: &str) -> bool {
    name.strip_prefix("WF_MATRIX_").is_some_and(|rest| {
        rest.len() == key.len()
            && rest
                .bytes()
                .zip(key.bytes())
                .all(|(r, k)| r == k.to_ascii_uppercase())
    })
}

/// `[workflow].memory`: how much memory tasks with a known need may use at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemoryBudget {
    /// The machine's available memory when the run starts, minus a reserve (the default).
    #[default]
    Auto,
    /// No budget: memory never holds a task back.
    Off,
    /// A fixed number of bytes.
    Fixed(u64),
}

/// What a task executes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// A command line passed to the workflow's shell.
    Shell(String),
    /// A program and its arguments, executed directly.
    Argv(Vec<String>),
}

impl Command {
    /// The program and arguments to execute, given the workflow's shell.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Command::Shell(line) => shell.iter().cloned().chain([line.clone()]).collect(),
            Command::Argv(argv) => argv.clone(),
        }
    }

    /// The command as one line, for display.
    pub fn display(&self) -> String {
        match self {
            Command::Shell(line) => line.clone(),
            Command::Argv(argv) => argv
                .iter()
                .map(|arg| crate::quote::shell_quote(arg))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// When a task runs, given how its dependencies ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// All dependencies succeeded (the default).
    #[default]
    Success,
    /// All dependencies finished, however they ended.
    Always,
    /// At least one dependency failed.
    Failure,
}

/// Where tasks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// The built-in local process pool.
    #[default]
    Local,
    /// Each task is submitted to a Slurm cluster with `sbatch`.
    Slurm,
}

impl ExecutorKind {
    /// True if and only if this build of wf can run tasks on this executor: every kind can
    /// (the Slurm executor still needs the Slurm tools at run time).
    pub fn is_available(self) -> bool {
        matches!(self, ExecutorKind::Local | ExecutorKind::Slurm)
    }

    /// The kind's name as the manifest, the command line and the report write it.
    pub fn name(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
        }
    }
}

/// Options passed to `sbatch` for one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--gpus`.
    pub gpus: Option<String>,
    /// `--constraint` (node features).
    pub constraint: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--mem`.
    pub mem: Option<String>,
    /// `--gres`.
    pub gres: Option<String>,
    /// Further arguments.
    pub extra: Vec<String>,
}

impl Workflow {
    /// The tasks task `id` must wait for, in ascending order (kept once, in the graph).
    pub fn deps(
        &self,
        id: TaskId,
    ) -> impl DoubleEndedIterator<Item = TaskId> + ExactSizeIterator + Clone + '_ {
        self.dag.dependencies_in_order(id)
    }

    /// The task with this exact full name.
    pub fn task_named(&self, name: &str) -> Option<TaskId> {
        self.tasks.iter().position(|task| task.name == name)
    }

    /// The tasks a command-line TASK selects: an exact name, or every expansion of a matrix task.
    pub fn select(&self, name: &str) -> Vec<TaskId> {
        if let Some(id) = self.task_named(name) {
            return vec![id];
        }
        (0..self.tasks.len())
            .filter(|&id| self.tasks[id].base() == name)
            .collect()
    }

    /// The tasks marked in `roots` and, transitively, everything they depend on.
    pub fn with_dependencies(&self, roots: &[bool]) -> Vec<bool> {
        let count = self.tasks.len();
        let mut needed: Vec<bool> = (0..count)
            .map(|id| roots.get(id).copied().unwrap_or(false))
            .collect();
        let mut stack: Vec<TaskId> = (0..count).filter(|&id| needed[id]).collect();
        // The graph's compact rows, not the tasks' own lists: at a million tasks, reading each
        // task's record was a cache miss per task.
        while let Some(id) = stack.pop() {
            for dep in self.dag.dependencies(id) {
                if !std::mem::replace(&mut needed[dep], true) {
                    stack.push(dep);
                }
            }
        }
        needed
    }

    /// The manifest's absolute path: the key of this workflow's runs in `.wf/`.
    pub fn manifest_path(&self) -> PathBuf {
        crate::layout::manifest_key(&self.root, &self.manifest)
    }

    /// The job slots a run uses: `override_jobs`, else `[workflow].jobs`, else the CPU count.
    pub fn effective_jobs(&self, override_jobs: Option<u32>) -> u32 {
        override_jobs.or(self.jobs).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::manifest::{SourceFile, parse};

    #[test]
    fn a_task_record_stays_small() {
        // One per task, all held through a run: 368 bytes before the deps went to the graph
        // and the rarely set fields out of line.
        let size = std::mem::size_of::<super::Task>();
        assert!(size <= 264, "{size}");
    }

    #[test]
    fn a_tasks_environment_adds_its_matrix_variables_over_its_own() {
        let text = "[tasks.m]\nrun = 'x'\nmatrix = { lr = ['0.1'], seed = ['1'] }\n\
                    env = { WF_MATRIX_LR = 'mine', MODE = 'fast', WF_MATRIX_LR2 = 'kept', \
                    WF_MATRIX_lr = 'other' }\n";
        let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/p"));
        let workflow = loaded.workflow.expect("valid");
        let task = &workflow.tasks[0];
        let env: Vec<(String, &str)> = task
            .environment()
            .map(|(name, value)| (name.into_owned(), value))
            .collect();
        assert_eq!(
            env,
            [
                ("MODE".to_owned(), "fast"),
                ("WF_MATRIX_LR2".to_owned(), "kept"),
                ("WF_MATRIX_lr".to_owned(), "other"),
                ("WF_MATRIX_LR".to_owned(), "0.1"),
                ("WF_MATRIX_SEED".to_owned(), "1"),
            ]
        );
        // Stored once: the matrix variables are made when asked for.
        assert_eq!(task.env.len(), 4);
    }

    #[test]
    fn a_task_knows_its_table_and_matrix_values_and_tasks_share_an_equal_working_directory() {
        let text = "[tasks.prep]\nrun = 'x'\n\
                    [tasks.train]\nrun = 'x'\nmatrix = { lr = ['0.1', '0.2'] }\n\
                    [tasks.sub]\nrun = 'x'\ncwd = 'sub'\n\
                    [tasks.last]\nrun = 'x'\n";
        let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/p"));
        let workflow = loaded.workflow.expect("valid");
        let names: Vec<(&str, &str)> = workflow
            .tasks
            .iter()
            .map(|task| (task.name.as_str(), task.base()))
            .collect();
        assert_eq!(
            names,
            [
                ("prep", "prep"),
                ("train[lr=0.1]", "train"),
                ("train[lr=0.2]", "train"),
                ("sub", "sub"),
                ("last", "last"),
            ]
        );
        let matrix = &workflow.tasks[2].matrix;
        assert_eq!(matrix.len(), 1);
        assert_eq!((&*matrix[0].0, &*matrix[0].1), ("lr", "0.2"));
        // One allocation per key and value, shared by the expansions.
        assert!(Arc::ptr_eq(&matrix[0].0, &workflow.tasks[1].matrix[0].0));
        assert!(workflow.tasks[0].matrix.is_empty());
        let cwd = |id: usize| &workflow.tasks[id].cwd;
        assert_eq!(&**cwd(0), Path::new("/p"));
        assert_eq!(&**cwd(3), Path::new("/p/sub"));
        assert!(Arc::ptr_eq(cwd(0), cwd(1)) && Arc::ptr_eq(cwd(1), cwd(2)));
        assert_eq!(cwd(4), cwd(0));
    }

    #[test]
    fn a_dependency_on_its_own_table_by_either_name_is_refused_and_others_resolve() {
        let codes = |text: &str| -> Vec<String> {
            let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/p"));
            loaded
                .findings
                .iter()
                .filter_map(|f| miette::Diagnostic::code(f).map(|c| c.to_string()))
                .collect()
        };
        let matrix = "[tasks.m]\nrun = ['x', '{{ matrix.k }}']\nmatrix = { k = ['1', '2'] }\n";
        assert_eq!(
            codes(&format!("{matrix}deps = ['m']\n")),
            ["wf::self_dependency"]
        );
        assert_eq!(
            codes(&format!("{matrix}deps = ['m[k=2]']\n")),
            ["wf::self_dependency"]
        );
        let text = format!("{matrix}[tasks.n]\nrun = 'x'\ndeps = ['m[k=2]', 'm']\n");
        assert!(codes(&text).is_empty(), "{:?}", codes(&text));
        let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/p"));
        let workflow = loaded.workflow.expect("valid");
        assert_eq!(workflow.deps(2).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn a_product_that_repeats_a_name_is_reported_once_per_repeat() {
        let findings = |matrix: &str| -> Vec<(String, String)> {
            let text = format!(
                "[tasks.m]\nrun = ['x', '{{{{ matrix.a }}}}', '{{{{ matrix.b }}}}']\nmatrix = {matrix}\n"
            );
            let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/p"));
            loaded
                .findings
                .iter()
                .map(|f| {
                    let code = miette::Diagnostic::code(f).map(|c| c.to_string());
                    (code.unwrap_or_default(), f.to_string())
                })
                .collect()
        };
        assert!(findings("{ a = ['1', '2'], b = ['x', 'y'] }").is_empty());
        // A value written twice in an axis repeats every combination with it.
        assert_eq!(
            findings("{ a = ['1', '2', '1'], b = ['x'] }"),
            [(
                "wf::duplicate_expansion".to_owned(),
                "matrix of `m` expands to `m[a=1,b=x]` twice".to_owned()
            )]
        );
        // Distinct values whose commas make the same name.
        assert_eq!(
            findings("{ a = ['p,b=q', 'p'], b = ['r', 'q,b=r'] }"),
            [(
                "wf::duplicate_expansion".to_owned(),
                "matrix of `m` expands to `m[a=p,b=q,b=r]` twice".to_owned()
            )]
        );
    }
}
