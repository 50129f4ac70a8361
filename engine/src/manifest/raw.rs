//! The manifest as written: one Rust type per TOML table, every key optional, every value with
//! its source span. These types are also where the JSON Schema comes from (`wf schema`), so the
//! doc comment on each key is the description editors show.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use toml::de::{DeValue, ValueDeserializer};

use super::diagnostic::{Findings, ManifestError};
use super::duration::parse_duration;
pub use super::size::{AmountValue, MemoryValue, SizeValue};
use super::spanned::{FromToml, Named, Sp, TomlLeaf, TomlValue, Written, toml_table, variant_hint};
pub use crate::workflow::{ExecutorKind, When};

toml_table! {
    /// A wf manifest, format version 1.
    #[schemars(rename = "Manifest")]
    pub struct RawManifest ("the manifest") {
        /// Settings of the whole workflow.
        workflow: RawWorkflow,
        /// Named shared resources: the value is how many tasks may hold the lock at once.
        #[schemars(extend("additionalProperties" = { "type": "integer", "minimum": 1 }))]
        locks: Named<Sp<i64>>,
        /// Counted resources: the value is how many units exist; tasks take amounts of them.
        #[schemars(extend("additionalProperties" = { "type": "integer", "minimum": 1 }))]
        resources: Named<Sp<i64>>,
        /// Values for any task key except `run`, `deps` and `matrix`; a task's own value wins.
        defaults: RawDefaults,
        /// Where tasks run: the local process pool (default) or a Slurm cluster.
        executor: RawExecutor,
        /// The tasks, by name (`[A-Za-z0-9_.-]+`).
        #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_.-]+$" }))]
        tasks: Named<RawTask>,
    }
}

toml_table! {
    /// Settings of the whole workflow.
    #[schemars(rename = "Workflow")]
    pub struct RawWorkflow ("[workflow]") {
        /// Display name; default: the manifest file's stem.
        name: Sp<String>,
        /// Job slots; default: the number of CPUs. `wf run -j N` overrides it.
        #[schemars(range(min = 1))]
        jobs: Sp<i64>,
        /// After a failure, keep starting tasks that do not depend on it (default false).
        keep_going: Sp<bool>,
        /// Program and arguments that a string `run` is appended to; default ["sh", "-ec"] (a
        /// failing line stops the command).
        #[schemars(length(min = 1))]
        shell: Sp<Vec<Sp<String>>>,
        /// After SIGTERM (timeout, Ctrl-C), wait this long before SIGKILL; default "5s".
        grace: Sp<DurationValue>,
        /// Environment added to every task, on top of the caller's.
        env: Named<Sp<String>>,
        /// The most tasks the manifest may expand to, matrices included; default 5000000.
        #[schemars(range(min = 1))]
        max_expansions: Sp<i64>,
        /// How many runs of this manifest `.wf/` keeps, folders and history; default 20.
        #[schemars(range(min = 1))]
        keep_runs: Sp<i64>,
        /// Memory budget: "auto" (available memory minus a reserve; the default), "off", or a
        /// size ("16G"). Only tasks whose need is known (declared `mem` or learnt) count.
        memory: Sp<MemoryValue>,
    }
}

toml_table! {
    /// One task: a command, what it needs first, what it holds while it runs.
    #[schemars(rename = "Task")]
    pub struct RawTask ("a task") {
        /// Shown by `wf list` and in reports.
        description: Sp<String>,
        /// The command: a string runs through `[workflow].shell`, an array is executed directly.
        run: Sp<RawCommand>,
        /// Tasks that must finish first (a matrix task's name means all of its expansions).
        deps: Sp<Vec<Sp<String>>>,
        /// Locks held for the task's whole run, all taken at once. Undeclared locks are mutexes.
        locks: Sp<Vec<Sp<String>>>,
        /// Job slots the task occupies while it runs (1 to `jobs`); default 1.
        #[schemars(range(min = 1))]
        cpus: Sp<i64>,
        /// Wall-clock limit per attempt ("90s", "10m", "1h30m"); then TERM, grace, KILL.
        timeout: Sp<DurationValue>,
        /// Extra attempts after a failure or timeout; default 0.
        #[schemars(range(min = 0))]
        retries: Sp<i64>,
        /// Wait before the first retry; doubles on each further one. Default "1s".
        retry_delay: Sp<DurationValue>,
        /// Files or globs (relative to `cwd`) whose content goes into the task's fingerprint.
        inputs: Sp<Vec<Sp<String>>>,
        /// Files (relative to `cwd`) the task writes; it is skipped when they are up to date.
        outputs: Sp<Vec<Sp<String>>>,
        /// Working directory, relative to the manifest's folder.
        cwd: Sp<String>,
        /// Environment added for this task, on top of `[workflow].env`.
        env: Named<Sp<String>>,
        /// Expands the task: a table of arrays (cartesian product) or an array of tables.
        matrix: RawMatrix,
        /// When the task runs: "success" (all deps succeeded, the default), "always" (all deps
        /// finished), "failure" (a dep failed).
        when: Sp<When>,
        /// A failure is reported but does not fail the run or block dependents.
        allow_failure: Sp<bool>,
        /// Overrides the critical-path order among ready tasks: higher starts first.
        priority: Sp<i64>,
        /// Memory the task needs while it runs ("2G"); it starts only when that much of the
        /// workflow's memory budget is free. Default: learnt from earlier runs.
        mem: Sp<SizeValue>,
        /// Kill the task's process tree if it uses more than this ("3G"); reported as
        /// `out_of_memory`. Needs a writable cgroup v2.
        mem_limit: Sp<SizeValue>,
        /// Amounts of counted resources held while the task runs ({ gpu = 1 }).
        resources: Named<Sp<AmountValue>>,
        /// Options for the Slurm executor.
        // Boxed: rarely written, and a million raw tasks each carrying room for them inline
        // would take 0.4 GB.
        slurm: Box<RawSlurm>,
    }
}

toml_table! {
    /// Defaults for every task: any task key except `run`, `deps` and `matrix`.
    #[schemars(rename = "Defaults")]
    pub struct RawDefaults ("[defaults]") {
        /// Shown by `wf list` and in reports.
        description: Sp<String>,
        /// Locks held for the task's whole run, all taken at once.
        locks: Sp<Vec<Sp<String>>>,
        /// Job slots the task occupies while it runs.
        #[schemars(range(min = 1))]
        cpus: Sp<i64>,
        /// Wall-clock limit per attempt.
        timeout: Sp<DurationValue>,
        /// Extra attempts after a failure or timeout.
        #[schemars(range(min = 0))]
        retries: Sp<i64>,
        /// Wait before the first retry; doubles on each further one.
        retry_delay: Sp<DurationValue>,
        /// Files or globs whose content goes into the task's fingerprint.
        inputs: Sp<Vec<Sp<String>>>,
        /// Files the task writes.
        outputs: Sp<Vec<Sp<String>>>,
        /// Working directory, relative to the manifest's folder.
        cwd: Sp<String>,
        /// Environment for every task; a task's own `env` adds to it and wins per variable.
        env: Named<Sp<String>>,
        /// When the task runs.
        when: Sp<When>,
        /// A failure is reported but does not fail the run.
        allow_failure: Sp<bool>,
        /// Order among ready tasks.
        priority: Sp<i64>,
        /// Memory the task needs while it runs ("2G"); it starts only when that much of the
        /// workflow's memory budget is free. Default: learnt from earlier runs.
        mem: Sp<SizeValue>,
        /// Kill the task's process tree if it uses more than this ("3G"); reported as
        /// `out_of_memory`. Needs a writable cgroup v2.
        mem_limit: Sp<SizeValue>,
        /// Amounts of counted resources held while the task runs ({ gpu = 1 }).
        resources: Named<Sp<AmountValue>>,
        /// Options for the Slurm executor.
        slurm: RawSlurm,
    }
}

toml_table! {
    /// Where tasks run.
    #[schemars(rename = "Executor")]
    pub struct RawExecutor ("[executor]") {
        /// "local" (the built-in process pool, the default) or "slurm".
        kind: Sp<ExecutorKind>,
    }
}

toml_table! {
    /// Options passed to `sbatch` when the Slurm executor runs the task.
    #[schemars(rename = "SlurmOptions")]
    pub struct RawSlurm ("slurm options") {
        /// `--partition`.
        partition: Sp<String>,
        /// `--account`.
        account: Sp<String>,
        /// `--qos`.
        qos: Sp<String>,
        /// `--time`, in Slurm's own format ("1:00:00").
        time: Sp<String>,
        /// `--mem` ("4G").
        mem: Sp<String>,
        /// `--gres` ("gpu:1").
        gres: Sp<String>,
        /// `--gpus` ("2", "a100:1").
        gpus: Sp<String>,
        /// `--constraint`: required node features ("a100&ib").
        constraint: Sp<String>,
        /// Further `sbatch` arguments, each passed as one argument, exactly as written (never
        /// split by a shell).
        extra: Sp<Vec<Sp<String>>>,
    }
}

/// A task's command as written.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(rename = "Command")]
#[serde(untagged)]
pub enum RawCommand {
    /// Runs through the workflow's shell.
    Shell(String),
    /// Program and arguments, executed directly.
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> serde::de::Visitor<'de> for CommandVisitor {
            type Value = RawCommand;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command string or an array of strings")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawCommand, E> {
                Ok(RawCommand::Shell(text.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawCommand, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(RawCommand::Argv(argv))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}
impl TomlLeaf for RawCommand {}

impl TomlLeaf for When {
    fn hint(written: &Written) -> Option<String> {
        variant_hint(written, &["success", "always", "failure"])
    }

    fn invalid(
        message: String,
        span: std::ops::Range<usize>,
        help: Option<String>,
    ) -> ManifestError {
        ManifestError::InvalidWhen {
            message,
            span: span.into(),
            help,
        }
    }
}

impl TomlLeaf for ExecutorKind {
    fn hint(written: &Written) -> Option<String> {
        variant_hint(written, &["local", "slurm"])
    }
}

/// A duration written as a number with a unit: "500ms", "90s", "10m", "1h30m", "1d".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(DurationValue)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number with a unit (ms, s, m, h, d), e.g. \"90s\", \"1h30m\".",
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$",
        })
    }
}

impl TomlLeaf for DurationValue {
    fn hint(written: &Written) -> Option<String> {
        let number = match written {
            Written::Int(text) => text.clone(),
            Written::Str(text) if !text.trim().is_empty() && text.trim().parse::<f64>().is_ok() => {
                text.trim().to_owned()
            }
            _ => return None,
        };
        Some(format!(
            "a duration is a string with a unit: did you mean \"{number}s\"?"
        ))
    }

    fn invalid(
        message: String,
        span: std::ops::Range<usize>,
        help: Option<String>,
    ) -> ManifestError {
        ManifestError::InvalidDuration {
            message,
            label: "not a duration",
            span: span.into(),
            help,
        }
    }
}

/// A matrix value: a string, integer, float or boolean, kept as the text it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scalar(pub String);

impl Scalar {
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Sp<Scalar>> {
        let span = value.span();
        if let found @ ("array" | "table" | "datetime") = value.get_ref().type_str() {
            findings.push(ManifestError::InvalidMatrixValue {
                found,
                span: span.into(),
            });
            return None;
        }
        // A float keeps the spelling it was written with (`1.0` stays `1.0` in task names).
        if let Some(float) = value.get_ref().as_float() {
            return Some(Sp::new(Scalar(float.as_str().to_owned()), span));
        }
        let text = match toml::Value::deserialize(ValueDeserializer::from(value)) {
            Ok(toml::Value::String(text)) => text,
            Ok(toml::Value::Integer(n)) => n.to_string(),
            Ok(toml::Value::Float(f)) => f.to_string(),
            Ok(toml::Value::Boolean(b)) => b.to_string(),
            Ok(other) => other.to_string(),
            Err(error) => {
                findings.push(ManifestError::InvalidType {
                    message: error.message().to_owned(),
                    span: span.into(),
                    help: None,
                });
                return None;
            }
        };
        Some(Sp::new(Scalar(text), span))
    }
}

/// One matrix key with its values, as written.
#[derive(Debug, Clone)]
pub struct MatrixAxis {
    /// The key, e.g. `lr`.
    pub key: Sp<String>,
    /// Its values, in order.
    pub values: Vec<Sp<Scalar>>,
    /// The span of the whole array.
    pub span: std::ops::Range<usize>,
}

/// One record of an array-of-tables matrix: its key/value pairs in the order written.
pub type MatrixRecord = Sp<Vec<(Sp<String>, Sp<Scalar>)>>;

/// A task's `matrix` as written.
#[derive(Debug, Clone)]
pub enum RawMatrix {
    /// A table of arrays: one expansion per combination (the cartesian product).
    Product {
        /// The axes in the order written.
        axes: Vec<MatrixAxis>,
        /// The span of the whole table.
        span: std::ops::Range<usize>,
    },
    /// An array of tables: one expansion per table.
    Records {
        /// The records in the order written, each a list of key/value pairs.
        records: Vec<MatrixRecord>,
        /// The span of the whole array.
        span: std::ops::Range<usize>,
    },
}

impl FromToml for RawMatrix {
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Self> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Table(table) => {
                let mut axes = Vec::with_capacity(table.len());
                for (key, value) in table {
                    let key = Sp::new(key.get_ref().to_string(), key.span());
                    let array_span = value.span();
                    let DeValue::Array(items) = value.into_inner() else {
                        findings.push(ManifestError::InvalidType {
                            message: format!(
                                "matrix key `{}` must be an array of values",
                                key.value
                            ),
                            span: array_span.into(),
                            help: Some("e.g. lr = [0.1, 0.01]; a single value is [0.1]".to_owned()),
                        });
                        continue;
                    };
                    if items.is_empty() {
                        findings.push(ManifestError::EmptyMatrix {
                            key: key.value.clone(),
                            span: array_span.clone().into(),
                        });
                    }
                    let values = items
                        .iter()
                        .cloned()
                        .filter_map(|item| Scalar::from_toml(item, findings))
                        .collect();
                    axes.push(MatrixAxis {
                        key,
                        values,
                        span: array_span,
                    });
                }
                if axes.is_empty() {
                    findings.push(ManifestError::EmptyMatrix {
                        key: String::new(),
                        span: span.clone().into(),
                    });
                }
                Some(RawMatrix::Product { axes, span })
            }
            DeValue::Array(items) => {
                if items.is_empty() {
                    findings.push(ManifestError::EmptyMatrix {
                        key: String::new(),
                        span: span.clone().into(),
                    });
                }
                let mut records = Vec::with_capacity(items.len());
                for item in items.iter().cloned() {
                    let record_span = item.span();
                    let DeValue::Table(table) = item.into_inner() else {
                        findings.push(ManifestError::InvalidType {
                            message: "each record of a matrix array must be a table".into(),
                            span: record_span.into(),
                            help: Some("e.g. matrix = [{ lr = 0.1, seed = 1 }]".to_owned()),
                        });
                        continue;
                    };
                    let pairs = table
                        .into_iter()
                        .filter_map(|(key, value)| {
                            let key = Sp::new(key.get_ref().to_string(), key.span());
                            Scalar::from_toml(value, findings).map(|v| (key, v))
                        })
                        .collect();
                    records.push(Sp::new(pairs, record_span));
                }
                Some(RawMatrix::Records { records, span })
            }
            other => {
                findings.push(ManifestError::InvalidType {
                    message: format!(
                        "invalid type: {}, expected a table of arrays or an array of tables",
                        other.type_str()
                    ),
                    span: span.into(),
                    help: Some(
                        "e.g. matrix = { lr = [0.1, 0.01] } or matrix = [{ lr = 0.1 }]".to_owned(),
                    ),
                });
                None
            }
        }
    }
}

impl JsonSchema for RawMatrix {
    fn schema_name() -> Cow<'static, str> {
        "Matrix".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let scalar = json_schema!({ "type": ["string", "integer", "number", "boolean"] });
        json_schema!({
            "description": "Expands the task: a table of arrays (the cartesian product) or an array of tables (one task per table).",
            "oneOf": [
                {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
                    "additionalProperties": { "type": "array", "minItems": 1, "items": scalar },
                },
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
                        "additionalProperties": scalar,
                    },
                },
            ],
        })
    }
}
