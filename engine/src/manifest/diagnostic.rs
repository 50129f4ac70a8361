//! Everything `wf validate` can find wrong in a manifest, one variant per kind of finding.
//!
//! Each variant has a stable code (`wf::unknown_dependency`, …) that scripts and CI rules can
//! rely on, a label at the exact source span and, where there is one, a hint.

use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, SourceSpan};
use thiserror::Error;

use crate::suggest::nearest_key;

/// The findings of one manifest, errors and warnings, in the order they were found.
pub type Findings = Vec<ManifestError>;

/// True if any finding is an error (not a warning).
pub fn has_errors(findings: &[ManifestError]) -> bool {
    findings.iter().any(|f| !f.is_warning())
}

/// One problem in a manifest.
#[derive(Debug, Clone, Error, Diagnostic)]
pub enum ManifestError {
    /// The file is not valid TOML.
    #[error("{message}")]
    #[diagnostic(code(wf::toml_syntax), help("see https://toml.io for the syntax"))]
    TomlSyntax {
        /// What the TOML parser said.
        message: String,
        /// Where.
        #[label("here")]
        span: SourceSpan,
    },

    /// A table or key defined twice (a TOML syntax error), with its first definition.
    #[error("{message}")]
    #[diagnostic(
        code(wf::toml_syntax),
        help("TOML allows each table and key once: merge the two, or rename one")
    )]
    DuplicateKey {
        /// What is repeated, in words.
        message: String,
        /// The repetition.
        #[label("defined again here")]
        span: SourceSpan,
        /// The first definition.
        #[label("first defined here")]
        first_span: SourceSpan,
    },

    /// A key that the table does not accept.
    #[error("unknown key `{key}` in {table}")]
    #[diagnostic(code(wf::unknown_key))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Which table it is in, in words.
        table: &'static str,
        /// The key's span.
        #[label("not a key of {table}")]
        span: SourceSpan,
        /// A suggestion and the list of keys.
        #[help]
        help: Option<String>,
    },

    /// A value of the wrong type, or an invalid value that serde rejected.
    #[error("{message}")]
    #[diagnostic(code(wf::invalid_type))]
    InvalidType {
        /// What was expected and found.
        message: String,
        /// The value's span.
        #[label("wrong type")]
        span: SourceSpan,
        /// How to write it (drop the quotes, the nearest accepted name, …).
        #[help]
        help: Option<String>,
    },

    /// A task without a `run` key.
    #[error("task `{task}` has no `run` command")]
    #[diagnostic(
        code(wf::missing_run),
        help("add `run = \"...\"` (through the shell) or `run = [\"program\", \"arg\"]`")
    )]
    MissingRun {
        /// The task.
        task: String,
        /// The task's name in its table header.
        #[label("this task needs a `run`")]
        span: SourceSpan,
    },

    /// A `run` that is empty.
    #[error("task `{task}` has an empty `run` command")]
    #[diagnostic(code(wf::empty_run), help("give the command to run"))]
    EmptyRun {
        /// The task.
        task: String,
        /// The `run` value.
        #[label("empty command")]
        span: SourceSpan,
    },

    /// A task name with characters outside `[A-Za-z0-9_.-]`.
    #[error("invalid task name `{name}`")]
    #[diagnostic(
        code(wf::invalid_task_name),
        help("task names may contain only letters, digits, `_`, `.` and `-`")
    )]
    InvalidTaskName {
        /// The name as written.
        name: String,
        /// Its span.
        #[label("invalid name")]
        span: SourceSpan,
    },

    /// A dependency on a task that does not exist.
    #[error("task `{task}` depends on `{dep}`, which does not exist")]
    #[diagnostic(code(wf::unknown_dependency))]
    UnknownDependency {
        /// The task that declares the dependency.
        task: String,
        /// The missing task.
        dep: String,
        /// The dependency's span.
        #[label("no task named `{dep}`")]
        span: SourceSpan,
        /// The nearest existing name.
        #[help]
        help: Option<String>,
    },

    /// A task that lists itself as a dependency.
    #[error("task `{task}` depends on itself")]
    #[diagnostic(code(wf::self_dependency), help("remove `{task}` from its own `deps`"))]
    SelfDependency {
        /// The task.
        task: String,
        /// The dependency's span.
        #[label("a task cannot depend on itself")]
        span: SourceSpan,
    },

    /// A cycle of dependencies.
    #[error("dependency cycle: {path}")]
    #[diagnostic(
        code(wf::dependency_cycle),
        help("a workflow must be a DAG: remove one of the dependencies of the cycle")
    )]
    DependencyCycle {
        /// The cycle in words, `a → b → a`.
        path: String,
        /// One label per edge of the cycle.
        #[label(collection)]
        edges: Vec<LabeledSpan>,
    },

    /// A duration that cannot be parsed, or a zero `timeout`.
    #[error("{message}")]
    #[diagnostic(code(wf::invalid_duration))]
    InvalidDuration {
        /// What is wrong.
        message: String,
        /// The label at the value: "not a duration", "zero is not allowed".
        label: &'static str,
        /// The value's span.
        #[label("{label}")]
        span: SourceSpan,
        /// How to write it.
        #[help]
        help: Option<String>,
    },

    /// A number below its minimum.
    #[error("`{key}` must be at least {min}, found {value}")]
    #[diagnostic(code(wf::out_of_range))]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value found.
        value: i64,
        /// The smallest value allowed.
        min: i64,
        /// The value's span.
        #[label("must be ≥ {min}")]
        span: SourceSpan,
    },

    /// A task that needs more slots than the workflow has.
    #[error("task `{task}` needs {cpus} slots but the workflow has only {jobs}")]
    #[diagnostic(
        code(wf::cpus_exceed_jobs),
        help("lower `cpus` or raise `[workflow].jobs`; the task could never start")
    )]
    CpusExceedJobs {
        /// The task.
        task: String,
        /// Its `cpus`.
        cpus: i64,
        /// The workflow's `jobs`.
        jobs: i64,
        /// The `cpus` value.
        #[label("{cpus} slots")]
        span: SourceSpan,
        /// The `jobs` value.
        #[label("only {jobs} slots")]
        jobs_span: SourceSpan,
    },

    /// A lock whose capacity is below 1.
    #[error("lock `{lock}` has capacity {capacity}; it must be at least 1")]
    #[diagnostic(
        code(wf::invalid_lock_capacity),
        help("1 makes a mutex, N lets N tasks hold the lock at once")
    )]
    InvalidLockCapacity {
        /// The lock.
        lock: String,
        /// The capacity found.
        capacity: i64,
        /// The value's span.
        #[label("no task could ever take it")]
        span: SourceSpan,
    },

    /// A memory size that cannot be read (`mem`, `mem_limit`, `[workflow].memory`).
    #[error("{message}")]
    #[diagnostic(
        code(wf::invalid_size),
        help("sizes are a number and a unit: K, M, G, T (powers of 1000) or KiB, MiB, GiB, TiB")
    )]
    InvalidSize {
        /// What is wrong.
        message: String,
        /// The value's span.
        #[label("not a size")]
        span: SourceSpan,
    },

    /// A task's `resources` names a resource that `[resources]` does not declare.
    #[error("task `{task}` needs resource `{resource}`, which `[resources]` does not declare")]
    #[diagnostic(
        code(wf::unknown_resource),
        help("declare it with its capacity, e.g. [resources] {resource} = 2")
    )]
    UnknownResource {
        /// The task.
        task: String,
        /// The resource name.
        resource: String,
        /// The name's span.
        #[label("not in [resources]")]
        span: SourceSpan,
    },

    /// A task needs more of a resource than exists.
    #[error("task `{task}` needs {amount} of `{resource}`, but there are only {capacity}")]
    #[diagnostic(
        code(wf::resource_above_capacity),
        help("raise the capacity in [resources], or lower the amount")
    )]
    ResourceAboveCapacity {
        /// The task (with its matrix values).
        task: String,
        /// The resource.
        resource: String,
        /// The amount asked for.
        amount: i64,
        /// The declared capacity.
        capacity: i64,
        /// The amount's span.
        #[label("the task could never start")]
        span: SourceSpan,
    },

    /// A resource amount that is not a positive integer (or a placeholder rendering to one).
    #[error("{message}")]
    #[diagnostic(
        code(wf::invalid_resource_amount),
        help(
            "an amount is an integer ≥ 1, or \"{{{{ matrix.KEY }}}}\" whose values are integers ≥ 1"
        )
    )]
    InvalidResourceAmount {
        /// What is wrong.
        message: String,
        /// The value's span.
        #[label("not a positive amount")]
        span: SourceSpan,
    },

    /// A name declared both in `[locks]` and in `[resources]`.
    #[error("`{name}` is declared both in [locks] and in [resources]")]
    #[diagnostic(
        code(wf::duplicate_resource),
        help("locks and resources share one namespace: declare it once")
    )]
    DuplicateResource {
        /// The name.
        name: String,
        /// The second declaration.
        #[label("declared again")]
        span: SourceSpan,
    },

    /// A task declares more memory than the workflow's fixed budget.
    #[error(
        "task `{task}` declares mem = {mem}, more than the workflow's memory budget of {budget}"
    )]
    #[diagnostic(
        code(wf::mem_above_budget),
        help("raise [workflow].memory, or lower the task's `mem`: it could never start")
    )]
    MemAboveBudget {
        /// The task.
        task: String,
        /// Its declared need, for people.
        mem: String,
        /// The budget, for people.
        budget: String,
        /// The `mem` value.
        #[label("above the budget")]
        span: SourceSpan,
        /// The budget value.
        #[label("the budget")]
        budget_span: SourceSpan,
    },

    /// `mem_limit` cannot be enforced on this machine.
    #[error("task `{task}` sets mem_limit, which this machine cannot enforce: {why}")]
    #[diagnostic(
        code(wf::mem_limit_unenforced),
        severity(Warning),
        help(
            "enforcing needs a writable cgroup v2 with the memory controller; the task runs without a limit"
        )
    )]
    MemLimitUnenforced {
        /// The task.
        task: String,
        /// Why not.
        why: String,
        /// The `mem_limit` value.
        #[label("not enforced here")]
        span: SourceSpan,
    },

    /// An empty `[workflow].shell`.
    #[error("`shell` must name a program")]
    #[diagnostic(
        code(wf::empty_shell),
        help("e.g. shell = [\"bash\", \"-euo\", \"pipefail\", \"-c\"]")
    )]
    EmptyShell {
        /// The value's span.
        #[label("empty")]
        span: SourceSpan,
    },

    /// An environment variable name that the OS cannot carry.
    #[error("invalid environment variable name `{name}`")]
    #[diagnostic(
        code(wf::invalid_env_name),
        help("a name must be non-empty and contain neither `=` nor a NUL byte")
    )]
    InvalidEnvName {
        /// The name.
        name: String,
        /// Its span.
        #[label("invalid name")]
        span: SourceSpan,
    },

    /// A matrix with no values to expand to.
    #[error("{}", if key.is_empty() { "empty matrix".to_owned() } else { format!("matrix key `{key}` has no values") })]
    #[diagnostic(
        code(wf::empty_matrix),
        help("a matrix needs at least one value per key, or remove it")
    )]
    EmptyMatrix {
        /// The key whose array is empty, or empty for an empty matrix.
        key: String,
        /// The span.
        #[label("expands to no task")]
        span: SourceSpan,
    },

    /// A matrix value that is an array, table or date.
    #[error("matrix values must be strings, numbers or booleans, found {found}")]
    #[diagnostic(code(wf::invalid_matrix_value))]
    InvalidMatrixValue {
        /// The TOML type found.
        found: &'static str,
        /// Its span.
        #[label("not a scalar")]
        span: SourceSpan,
    },

    /// A matrix key that cannot be used in `{{ matrix.KEY }}` or `WF_MATRIX_KEY`.
    #[error("invalid matrix key `{key}`")]
    #[diagnostic(
        code(wf::invalid_matrix_key),
        help("matrix keys are identifiers: letters, digits and `_`, not starting with a digit")
    )]
    InvalidMatrixKey {
        /// The key.
        key: String,
        /// Its span.
        #[label("invalid key")]
        span: SourceSpan,
    },

    /// `{{ matrix.KEY }}` for a key the task's matrix does not define.
    #[error("`{{{{ matrix.{key} }}}}` is not defined for task `{task}`")]
    #[diagnostic(code(wf::undefined_matrix_key))]
    UndefinedMatrixKey {
        /// The task.
        task: String,
        /// The key used.
        key: String,
        /// The placeholder's span.
        #[label("undefined matrix key")]
        span: SourceSpan,
        /// The keys that exist.
        #[help]
        help: Option<String>,
    },

    /// A `{{ … }}` that looks like a placeholder but is not one: a misspelt namespace
    /// (`{{ matrx.lr }}`) or a matrix key without `matrix.` (`{{ lr }}`).
    #[error("`{text}` in task `{task}` is not a placeholder")]
    #[diagnostic(code(wf::unknown_placeholder))]
    UnknownPlaceholder {
        /// The text as written.
        text: String,
        /// The task.
        task: String,
        /// Its span.
        #[label("unknown placeholder")]
        span: SourceSpan,
        /// The placeholder it most likely means.
        #[help]
        help: String,
    },

    /// `{{ matrix.KEY` without the closing `}}`.
    #[error("placeholder `{text}` in task `{task}` is not closed")]
    #[diagnostic(
        code(wf::unclosed_placeholder),
        help("write `{{{{ {name} }}}}`: a placeholder ends with `}}}}`")
    )]
    UnclosedPlaceholder {
        /// The text as written, up to where `}}` was expected.
        text: String,
        /// The dotted name (`matrix.bs`).
        name: String,
        /// The task.
        task: String,
        /// Its span.
        #[label("`}}}}` expected after `{name}`")]
        span: SourceSpan,
    },

    /// A matrix key that no value of the task uses: the expansions differ only by name.
    #[error("matrix key `{key}` of task `{task}` is not used")]
    #[diagnostic(
        code(wf::unused_matrix_key),
        severity(Warning),
        help(
            "every expansion runs the same command; use `{{{{ matrix.{key} }}}}` (or ${variable}) in \
             `run`, `env`, `cwd`, `inputs` or `outputs`, or remove the key"
        )
    )]
    UnusedMatrixKey {
        /// The task.
        task: String,
        /// The key.
        key: String,
        /// `WF_MATRIX_KEY`.
        variable: String,
        /// The key where it is first written.
        #[label("used nowhere in the task")]
        span: SourceSpan,
    },

    /// `{{ matrix.KEY }}` in a task that has no matrix, or outside any task.
    #[error("`{{{{ matrix.{key} }}}}` used in {place}, which has no matrix")]
    #[diagnostic(code(wf::matrix_outside_matrix))]
    MatrixOutsideMatrix {
        /// Where, in words: "task `a`" or "[workflow].env".
        place: String,
        /// The key used.
        key: String,
        /// The placeholder's span.
        #[label("no matrix here")]
        span: SourceSpan,
        /// What to do instead, which depends on where it was used.
        #[help]
        help: String,
    },

    /// Two matrix records that expand to the same task.
    #[error("matrix of `{task}` expands to `{name}` twice")]
    #[diagnostic(code(wf::duplicate_expansion), help("remove the repeated combination"))]
    DuplicateExpansion {
        /// The task.
        task: String,
        /// The repeated expanded name.
        name: String,
        /// The repeated record or value.
        #[label("repeats an earlier combination")]
        span: SourceSpan,
    },

    /// An `inputs` pattern that is not a valid glob.
    #[error("invalid glob `{pattern}` in the inputs of `{task}`: {message}")]
    #[diagnostic(
        code(wf::invalid_glob),
        help(
            "`*` matches within a folder, `**` across folders, `?` one character, `[abc]` a set; write `[[]` for a literal `[`"
        )
    )]
    InvalidGlob {
        /// The task.
        task: String,
        /// The pattern.
        pattern: String,
        /// What the glob parser said.
        message: String,
        /// The pattern's span.
        #[label("not a glob")]
        span: SourceSpan,
    },

    /// A `when` that is not success, always or failure.
    #[error("{message}")]
    #[diagnostic(code(wf::invalid_when))]
    InvalidWhen {
        /// What serde said.
        message: String,
        /// The value's span.
        #[label("invalid `when`")]
        span: SourceSpan,
        /// The nearest accepted value, and the list ("success" is the default).
        #[help]
        help: Option<String>,
    },

    /// A key that must be a table but is not.
    #[error("expected a table")]
    #[diagnostic(code(wf::invalid_type))]
    ExpectedTable {
        /// The value's span.
        #[label("not a table")]
        span: SourceSpan,
    },

    /// Two tasks that may run at the same time and write the same file.
    #[error("`{first}` and `{second}` both write `{path}` and may run at the same time")]
    #[diagnostic(
        code(wf::output_race),
        help("make one depend on the other, or give them different outputs")
    )]
    OutputRace {
        /// The path, relative to the manifest's folder.
        path: String,
        /// One writer.
        first: String,
        /// The other writer.
        second: String,
        /// The first writer's output.
        #[label("written by `{first}`")]
        first_span: SourceSpan,
        /// The second writer's output.
        #[label("and by `{second}`")]
        second_span: SourceSpan,
    },

    /// A task that reads a file another task writes, without depending on it.
    #[error("`{reader}` reads `{path}`, which `{writer}` writes, but does not depend on it")]
    #[diagnostic(
        code(wf::undeclared_input_dependency),
        severity(Warning),
        help(
            "add \"{writer}\" to the `deps` of `{reader}`, or it may read a stale or partial file"
        )
    )]
    UndeclaredInputDependency {
        /// The path, relative to the manifest's folder.
        path: String,
        /// The task that reads it.
        reader: String,
        /// The task that writes it.
        writer: String,
        /// The input.
        #[label("read here")]
        input_span: SourceSpan,
        /// The output.
        #[label("written here")]
        output_span: SourceSpan,
    },

    /// A matrix whose expansions, alone or with the rest of the manifest, pass the limit.
    #[error("{message}")]
    #[diagnostic(
        code(wf::matrix_too_large),
        help(
            "split the matrix, or raise the limit with `max_expansions = N` in [workflow] (default 5000000)"
        )
    )]
    MatrixTooLarge {
        /// The product, the total and the limit in words.
        message: String,
        /// The whole matrix.
        #[label("too many expansions")]
        span: SourceSpan,
    },

    /// A NUL byte in a value that becomes a process's argument, environment, folder or path.
    #[error("{place} contains a NUL byte")]
    #[diagnostic(
        code(wf::nul_byte),
        help("a NUL byte cannot be passed to a process or used in a path: remove the `\\u0000`")
    )]
    NulByte {
        /// The value, in words: "the `run` of task `a`".
        place: String,
        /// The value's span.
        #[label("contains a NUL byte")]
        span: SourceSpan,
    },

    /// Two matrix keys that set the same `WF_MATRIX_*` variable.
    #[error("matrix keys `{first}` and `{second}` both set `{variable}`")]
    #[diagnostic(
        code(wf::matrix_key_collision),
        help(
            "each key sets WF_MATRIX_ and the key in upper case: rename one of them so they differ in more than case"
        )
    )]
    MatrixKeyCollision {
        /// The key written first.
        first: String,
        /// The later key.
        second: String,
        /// The variable both set.
        variable: String,
        /// The later key's span.
        #[label("`{second}` sets `{variable}`")]
        span: SourceSpan,
        /// The first key's span.
        #[label("and so does `{first}`")]
        first_span: SourceSpan,
    },

    /// A manifest that is not UTF-8 text.
    #[error(
        "the manifest is not valid UTF-8: byte 0x{byte:02x} at line {line}, column {column} (byte offset {offset})"
    )]
    #[diagnostic(code(wf::invalid_utf8), help("save the manifest as UTF-8"))]
    InvalidUtf8 {
        /// The first invalid byte.
        byte: u8,
        /// Its line (1-based).
        line: usize,
        /// Its column (1-based, in characters).
        column: usize,
        /// Its byte offset in the file (0-based).
        offset: usize,
        /// Where it is, in the text with invalid bytes replaced.
        #[label("not UTF-8")]
        span: SourceSpan,
    },

    /// A task with `outputs` that depends on a task without: both run every time.
    #[error("`{task}` reruns every time because its dependency `{dep}` declares no outputs")]
    #[diagnostic(
        code(wf::dependency_without_outputs),
        severity(Warning),
        help(
            "a task without `outputs` runs every time, and so does every task after it; declare \
             the files `{dep}` writes in its `outputs` so it can be up to date"
        )
    )]
    DependencyWithoutOutputs {
        /// The task that could be up to date.
        task: String,
        /// Its dependency without outputs.
        dep: String,
        /// The dependency in `deps`.
        #[label("declares no outputs")]
        span: SourceSpan,
    },

    /// A manifest that declares no task.
    #[error("the manifest declares no tasks")]
    #[diagnostic(
        code(wf::no_tasks),
        severity(Warning),
        help("add a task: [tasks.hello] run = \"echo hello\"")
    )]
    NoTasks {
        /// The start of the file.
        #[label("nothing to run")]
        span: SourceSpan,
    },

    /// A `{{ matrix.KEY }}` in a string `run` at a place where wf cannot be sure how the shell
    /// would read what replaces it.
    #[error("`{{{{ matrix.{key} }}}}` in the `run` of `{task}` is {place}")]
    #[diagnostic(
        code(wf::unsafe_placeholder),
        help(
            "there wf cannot pass the value safely; write \"${variable}\" there instead (the \
             task's environment has the value), move the placeholder out of that construct, \
             or use an array `run`"
        )
    )]
    UnsafePlaceholder {
        /// The task.
        task: String,
        /// The key used.
        key: String,
        /// Where it is, in words ("inside backquotes (`…`)").
        place: &'static str,
        /// `WF_MATRIX_KEY`.
        variable: String,
        /// The placeholder's span.
        #[label("cannot be passed safely here")]
        span: SourceSpan,
    },

    /// A `{{ matrix.KEY }}` in a string `run` while `[workflow].shell` is not a POSIX shell,
    /// whose quoting wf does not know.
    #[error(
        "`{{{{ matrix.{key} }}}}` in the string `run` of `{task}`, but `{program}` is not a \
         POSIX shell"
    )]
    #[diagnostic(
        code(wf::placeholder_in_foreign_shell),
        help(
            "wf can pass matrix values into a string `run` only for sh, bash, dash, zsh, ksh, \
             ash and busybox; use an array `run` (each placeholder stays inside its own \
             argument), or read `{variable}` from the environment in the command"
        )
    )]
    PlaceholderInForeignShell {
        /// The task.
        task: String,
        /// The key used.
        key: String,
        /// The shell's program.
        program: String,
        /// `WF_MATRIX_KEY`.
        variable: String,
        /// The placeholder's span.
        #[label("not passed to {program}")]
        span: SourceSpan,
    },
}

impl ManifestError {
    /// A finding for a key the table does not accept, with the nearest accepted key as a hint.
    pub fn unknown_key(key: &str, table: &'static str, span: Range<usize>, keys: &[&str]) -> Self {
        let known = keys.join(", ");
        let help = match nearest_key(key, keys) {
            Some(near) => format!("did you mean `{near}`? {table} accepts: {known}"),
            None => format!("{table} accepts: {known}"),
        };
        ManifestError::UnknownKey {
            key: key.to_owned(),
            table,
            span: span.into(),
            help: Some(help),
        }
    }

    /// A finding for a value that must be a table.
    pub fn expected_table(span: Range<usize>) -> Self {
        ManifestError::ExpectedTable { span: span.into() }
    }

    /// The byte offset of the finding's primary (first) label, for ordering findings as they
    /// appear in the file.
    pub fn offset(&self) -> usize {
        self.labels()
            .and_then(|mut labels| labels.next())
            .map_or(0, |label| label.offset())
    }

    /// True if this finding is a warning, which fails validation only with `--strict`.
    pub fn is_warning(&self) -> bool {
        matches!(self.severity(), Some(miette::Severity::Warning))
    }
}
