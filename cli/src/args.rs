//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// wf: a declarative workflow engine. Tasks, dependencies and shared locks in a TOML manifest,
/// run as early and as parallel as they allow.
#[derive(Debug, Parser)]
#[command(
    name = "wf",
    version,
    about,
    propagate_version = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// When to use colours (NO_COLOR is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `wf --help`'s examples.
const EXAMPLES: &str = "\
Examples:
  wf init                      write a starter wf.toml
  wf validate                  check wf.toml: every problem at once
  wf list                      the tasks, their dependencies and locks
  wf plan test                 what `wf run test` would run, in which order, and why
  wf run                       run every task (MANIFEST defaults to wf.toml)
  wf run ci.toml lint -j 4     run `lint` of ci.toml and what it needs, 4 at a time
  wf run -k --junit junit.xml  keep going after failures; JUnit XML for CI
  wf report --html run.html    the last run's timeline
  source <(wf completions bash)   complete commands and task names

Docs: README.md, docs/cli.md, docs/manifest.md; man wf (docs/man/).";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the workflow, or only the given tasks and what they need.
    Run(RunArgs),
    /// Show the order the scheduler would start tasks in, and the critical path.
    Plan(PlanArgs),
    /// Show a past run's summary again (or its JSON report).
    Report(ReportArgs),
    /// List past runs of a workflow, newest first.
    History(HistoryArgs),
    /// Remove old runs (folders and history), keeping the newest; compact the state store.
    ///
    /// `wf clean` is another name for it. It never touches your files or task outputs.
    #[command(visible_alias = "clean")]
    Gc(GcArgs),
    /// Check manifests; run nothing.
    Validate(ValidateArgs),
    /// List the tasks with their descriptions, dependencies and locks.
    List(ListArgs),
    /// Print the task graph for Graphviz or Mermaid.
    Graph(GraphArgs),
    /// Print the JSON Schema of the manifest (or of the run report).
    Schema(SchemaArgs),
    /// Write a starter manifest (wf.toml) to begin from.
    Init(InitArgs),
    /// Print shell completions (they complete task names from the manifest, too).
    Completions(CompletionsArgs),
}

/// Which manifest and which tasks a command works on.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The manifest, then tasks to run (a matrix task's name selects all its expansions).
    /// The first argument is taken as the manifest if it ends in `.toml`; otherwise the
    /// manifest is `wf.toml` (use `-f` for a manifest with another name).
    #[arg(value_name = "[MANIFEST] [TASK]")]
    pub args: Vec<String>,
    /// The manifest, explicitly (then every argument is a task).
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    pub file: Option<PathBuf>,
}

impl Target {
    /// The manifest path and the task names.
    pub fn split(&self) -> (PathBuf, Vec<String>) {
        if let Some(file) = &self.file {
            return (file.clone(), self.args.clone());
        }
        match self.args.split_first() {
            Some((first, rest)) if first.ends_with(".toml") => {
                (PathBuf::from(first), rest.to_vec())
            }
            _ => (PathBuf::from("wf.toml"), self.args.clone()),
        }
    }
}

/// `--resume` with `--force`: the command's error, in one sentence (clap's conflict message
/// repeats a usage line that reads as if `--resume` were required).
pub fn resume_force_conflict(resume: bool, force: bool) -> Option<&'static str> {
    (resume && force).then_some(
        "`--resume` and `--force` cannot be used together: `--force` runs every selected task, \
         `--resume` skips what the previous run finished; give one of them",
    )
}

fn parse_jobs(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of slots")),
    }
}

fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    wf_engine::manifest::duration::parse_duration(text)
}

/// `wf run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Manifest and tasks.
    #[command(flatten)]
    pub target: Target,
    /// Job slots (overrides `[workflow].jobs`; default: the number of CPUs, or 100 jobs in the
    /// queue at once with Slurm).
    #[arg(short, long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<u32>,
    /// Where tasks run (overrides `[executor].kind`).
    #[arg(long, value_enum, value_name = "KIND")]
    pub executor: Option<ExecutorChoice>,
    /// Keep starting independent tasks after a failure.
    #[arg(short, long)]
    pub keep_going: bool,
    /// Print what would run, in order, and run nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Also write the JSON run report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Skip tasks that succeeded with the same fingerprint in the previous run of this
    /// manifest (also when that run failed or was killed).
    #[arg(long)]
    pub resume: bool,
    /// Run every selected task: ignore up-to-date checks (not with `--resume`).
    #[arg(long)]
    pub force: bool,
    /// How task output is shown.
    #[arg(long, value_enum, default_value_t = OutputMode::Grouped)]
    pub output: OutputMode,
    /// List every up-to-date task on its own line (by default more than five are shown as
    /// one line: `✓ 34 tasks up to date`).
    #[arg(long)]
    pub show_up_to_date: bool,
    /// SIGTERM → SIGKILL grace for timeouts and Ctrl-C (overrides `[workflow].grace`).
    #[arg(long, value_name = "DURATION", value_parser = parse_grace)]
    pub grace: Option<std::time::Duration>,
    /// Files made from the run's report.
    #[command(flatten)]
    pub outputs: ReportOutputs,
}

/// The report files `wf run` and `wf report` can write besides report.json.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportOutputs {
    /// Also write the run as JUnit XML here (one test case per task), for CI test tabs.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the run as a self-contained HTML timeline here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

/// `wf run --executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorChoice {
    /// Process groups on this machine.
    Local,
    /// One Slurm batch job per attempt (`sbatch`).
    Slurm,
}

impl From<ExecutorChoice> for wf_engine::ExecutorKind {
    fn from(choice: ExecutorChoice) -> Self {
        match choice {
            ExecutorChoice::Local => Self::Local,
            ExecutorChoice::Slurm => Self::Slurm,
        }
    }
}

/// How `wf run` shows task output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Each task's output, after it ends.
    Grouped,
    /// Live, each line prefixed with the task's name.
    Stream,
    /// Only the summary.
    Quiet,
}

/// `wf plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest and tasks.
    #[command(flatten)]
    pub target: Target,
    /// Job slots (overrides `[workflow].jobs`).
    #[arg(short, long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<u32>,
    /// Plan as `wf run --resume` would run.
    #[arg(long)]
    pub resume: bool,
    /// Plan as `wf run --force` would run (not with `--resume`).
    #[arg(long)]
    pub force: bool,
}

/// `wf history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The manifest (default: wf.toml).
    #[arg(value_name = "MANIFEST", default_value = "wf.toml")]
    pub manifest: PathBuf,
    /// How many runs to show.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_keep(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1: the latest run is what `--resume` reads".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of runs")),
    }
}

/// `wf gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// The manifest (default: wf.toml).
    #[arg(value_name = "MANIFEST", default_value = "wf.toml")]
    pub manifest: PathBuf,
    /// How many of the manifest's newest runs to keep (default: `[workflow].keep_runs`, else
    /// 20).
    #[arg(long, value_name = "N", value_parser = parse_keep)]
    pub keep: Option<usize>,
    /// Say what would be removed, and remove nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// `wf report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The manifest whose runs to look in (default: wf.toml; taken as the manifest if it ends
    /// in `.toml`, as for `wf run`), then the run: its id, a unique prefix of it, or `latest`
    /// (the default).
    #[arg(value_name = "[MANIFEST] [RUN_ID]", num_args = 0..=2)]
    pub args: Vec<String>,
    /// The manifest, explicitly (then the argument is the run).
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    pub file: Option<PathBuf>,
    /// Print the JSON report instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Files made from the run's report.
    #[command(flatten)]
    pub outputs: ReportOutputs,
}

impl ReportArgs {
    /// The manifest and the run asked for, or what is wrong with the arguments.
    pub fn split(&self) -> Result<(PathBuf, String), String> {
        let (manifest, rest) = match (&self.file, self.args.split_first()) {
            (Some(file), _) => (file.clone(), self.args.as_slice()),
            (None, Some((first, rest))) if first.ends_with(".toml") => (PathBuf::from(first), rest),
            (None, _) => (PathBuf::from("wf.toml"), self.args.as_slice()),
        };
        match rest {
            [] => Ok((manifest, "latest".to_owned())),
            [run] => Ok((manifest, run.clone())),
            [first, ..] => Err(format!(
                "`{first}` is not a manifest (a manifest's name ends in `.toml`; use `-f` for \
                 another name): give the manifest, then one run"
            )),
        }
    }
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
    /// The run report (report.json).
    Report,
}

/// `wf init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write the manifest.
    #[arg(value_name = "PATH", default_value = "wf.toml")]
    pub path: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
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
        self.decide(is_terminal, std::env::var_os("NO_COLOR").as_deref())
    }

    /// The decision, given whether the stream is a terminal and the value of NO_COLOR (set and
    /// not empty disables colour, per no-color.org).
    fn decide(self, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn auto_colours_terminals_unless_no_color_is_set() {
        assert!(ColorChoice::Auto.decide(true, None));
        assert!(ColorChoice::Auto.decide(true, Some(OsStr::new(""))));
        assert!(!ColorChoice::Auto.decide(true, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Auto.decide(false, None));
        assert!(ColorChoice::Always.decide(false, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Never.decide(true, None));
    }

    #[test]
    fn report_takes_a_manifest_path_like_history() {
        let report = |args: &[&str], file: Option<&str>| {
            ReportArgs {
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                file: file.map(PathBuf::from),
                json: false,
                outputs: ReportOutputs::default(),
            }
            .split()
        };
        let ok = |m: &str, r: &str| Ok((PathBuf::from(m), r.to_owned()));
        assert_eq!(report(&[], None), ok("wf.toml", "latest"));
        assert_eq!(report(&["x.toml"], None), ok("x.toml", "latest"));
        assert_eq!(report(&["x.toml", "2024"], None), ok("x.toml", "2024"));
        assert_eq!(report(&["2024"], None), ok("wf.toml", "2024"));
        assert_eq!(report(&["2024"], Some("ci.wf")), ok("ci.wf", "2024"));
        assert!(report(&["a", "b"], None).is_err());
    }

    #[test]
    fn the_first_argument_is_the_manifest_only_when_it_ends_in_toml() {
        let target = |args: &[&str]| {
            Target {
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                file: None,
            }
            .split()
        };
        assert_eq!(
            target(&["ci.toml", "build"]),
            (PathBuf::from("ci.toml"), vec!["build".to_owned()])
        );
        assert_eq!(
            target(&["build"]),
            (PathBuf::from("wf.toml"), vec!["build".to_owned()])
        );
    }
}
