//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// wf: a declarative workflow engine. Tasks, dependencies and shared locks in a TOML manifest,
/// run as early and as parallel as they allow.
#[derive(Debug, Parser)]
#[command(name = "wf", version, about, propagate_version = true)]
pub struct Cli {
    /// When to use colours (NO_COLOR is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests; run nothing.
    Validate(ValidateArgs),
    /// List the tasks with their descriptions, dependencies and locks.
    List(ListArgs),
    /// Print the task graph for Graphviz or Mermaid.
    Graph(GraphArgs),
    /// Print the JSON Schema of the manifest (or of the run report).
    Schema(SchemaArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// `wf validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifests to check (default: wf.toml); several are checked in parallel.
    #[arg(value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// How to print findings.
    #[arg(long, value_enum, default_value_t = FindingFormat::Human)]
    pub format: FindingFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

/// How `wf validate` prints findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingFormat {
    /// Annotated source excerpts for people.
    Human,
    /// One JSON array of findings for scripts.
    Json,
    /// GitHub Actions workflow commands (`::error file=…`).
    Github,
}

/// `wf list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The manifest (default: wf.toml).
    #[arg(value_name = "MANIFEST", default_value = "wf.toml")]
    pub manifest: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `wf graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The manifest (default: wf.toml).
    #[arg(value_name = "MANIFEST", default_value = "wf.toml")]
    pub manifest: PathBuf,
    /// Output language.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Graph output languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz `dot`.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// `wf schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum, default_value_t = SchemaKind::Manifest)]
    pub kind: SchemaKind,
}

/// The schemas `wf schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The manifest (wf.toml).
    Manifest,
}

/// `wf completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When the output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// True if output to a stream that `is_terminal` or not should be coloured.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}
