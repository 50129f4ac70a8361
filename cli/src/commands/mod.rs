//! One module per subcommand; this one routes and holds what they share.

mod freshness;
mod gc;
mod graph;
mod history;
mod list;
mod plan;
mod report;
mod run;
mod schema;
mod validate;

use std::io::IsTerminal;
use std::path::Path;

use wf_engine::Workflow;

use crate::args::{Cli, ColorChoice, Command};
use crate::exit::Exit;
use crate::render::diagnostics;

/// Runs the parsed command line and says how `wf` should exit.
pub fn dispatch(cli: Cli) -> Exit {
    let color = cli.color;
    match cli.command {
        Command::Run(args) => run::run(&args, color),
        Command::Plan(args) => plan::run(&args, color),
        Command::Report(args) => report::run(&args, color),
        Command::History(args) => history::run(&args, color),
        Command::Gc(args) => gc::run(&args, color),
        Command::Validate(args) => validate::run(&args, color),
        Command::List(args) => list::run(&args, color),
        Command::Graph(args) => graph::run(&args, color),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => schema::completions(args.shell),
    }
}

/// Loads a manifest for a command that needs a valid workflow. Findings go to stderr; an
/// unreadable or invalid manifest is exit code 2 (nothing was done).
pub fn open_workflow(path: &Path, color: ColorChoice) -> Result<Workflow, Exit> {
    let colored = color.enabled(std::io::stderr().is_terminal());
    let loaded = match wf_engine::load(path) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}: {}", error.source);
            return Err(Exit::Usage);
        }
    };
    for finding in &loaded.findings {
        eprint!("{}", diagnostics::human(&loaded.source, finding, colored));
    }
    match loaded.workflow {
        Some(workflow) => Ok(workflow),
        None => {
            eprintln!(
                "error: {} is invalid ({}); run `wf validate {}` for details",
                loaded.source.name(),
                diagnostics::counts(&loaded.findings),
                loaded.source.name()
            );
            Err(Exit::Usage)
        }
    }
}

/// Marks the tasks to run for the given target names; an unknown name is a usage error.
pub fn select_or_explain(
    workflow: &Workflow,
    targets: &[String],
    color: ColorChoice,
) -> Result<Vec<bool>, Exit> {
    wf_engine::scheduler::select(workflow, targets).map_err(|error| {
        report_error(&error, color);
        Exit::Usage
    })
}

/// Prints an engine error (a miette diagnostic without source code) to stderr.
pub fn report_error(error: &dyn miette::Diagnostic, color: ColorChoice) {
    let colored = color.enabled(std::io::stderr().is_terminal());
    let mut out = String::new();
    if diagnostics::human_handler(colored)
        .render_report(&mut out, error)
        .is_err()
    {
        out = format!("error: {error}\n");
    }
    eprint!("{out}");
}

/// Loads the manifest named by a command's target arguments and marks the tasks selected;
/// findings and unknown task names are printed, and are usage errors.
pub fn open_selection(
    target: &crate::args::Target,
    color: ColorChoice,
) -> Result<(Workflow, Vec<bool>), Exit> {
    let (manifest, targets) = target.split();
    let workflow = open_workflow(&manifest, color)?;
    let selected = select_or_explain(&workflow, &targets, color)?;
    Ok((workflow, selected))
}
