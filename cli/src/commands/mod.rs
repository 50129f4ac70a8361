//! One module per subcommand; this one routes and holds what they share.

pub mod complete;
mod gc;
mod graph;
mod history;
mod init;
mod list;
mod outputs;
mod plan;
mod report;
mod run;
mod schema;
mod validate;

use std::io::IsTerminal;
use std::path::Path;

use wf_engine::Workflow;
use wf_engine::session::{Session, SessionError};

use crate::args::{Cli, ColorChoice, Command};
use crate::exit::Exit;
use crate::render::{diagnostics, hints};

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
        Command::Init(args) => init::run(&args),
        Command::Completions(args) => complete::completions(args.shell),
    }
}

/// Loads a manifest for a command that needs a valid workflow. Findings go to stderr; an
/// unreadable or invalid manifest is exit code 2 (nothing was done).
pub fn open_workflow(path: &Path, color: ColorChoice) -> Result<Workflow, Exit> {
    let colored = color.enabled(std::io::stderr().is_terminal());
    let loaded = match wf_engine::load(path) {
        Ok(loaded) => loaded,
        Err(error) => {
            println_err!("error: {error}: {}", error.source);
            return Err(Exit::Usage);
        }
    };
    for finding in &loaded.findings {
        print_err!("{}", diagnostics::human(&loaded.source, finding, colored));
    }
    match loaded.workflow {
        Some(workflow) => Ok(workflow),
        None => {
            // The findings are above: no need to send the user to `wf validate` for them.
            println_err!(
                "error: {} is invalid ({}); nothing was started",
                loaded.source.name(),
                diagnostics::counts(&loaded.findings),
            );
            Err(Exit::Usage)
        }
    }
}

/// Lets a large value go without freeing it, at the end of a command: the process is about to
/// exit and the kernel takes its memory back at once, while freeing a workflow of a million
/// tasks one allocation at a time costs a noticeable part of a second. Only for values that
/// own nothing but memory (no file, lock or connection whose destructor must run).
pub fn leak_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Prints an engine error (a miette diagnostic without source code) to stderr.
pub fn report_error(error: &dyn miette::Diagnostic, color: ColorChoice) {
    let colored = color.enabled(std::io::stderr().is_terminal());
    print_err!("{}", diagnostics::human_error(error, colored));
}

/// Prints an error of the session, with the command line's own help where it has one.
pub fn report_session_error(error: &SessionError, color: ColorChoice) {
    match hints::cli_help(error) {
        Some(help) => report_error(&hints::WithHelp { inner: error, help }, color),
        None => report_error(error, color),
    }
}

/// Opens a session over the manifest named by a command's target arguments and marks the
/// tasks selected; findings and unknown task names are printed, and are usage errors.
pub fn open_session(
    target: &crate::args::Target,
    color: ColorChoice,
) -> Result<(Session, Vec<bool>), Exit> {
    let (manifest, targets) = target.split();
    let session = Session::new(open_workflow(&manifest, color)?);
    let selected = session.select(&targets).map_err(|error| {
        report_session_error(&error, color);
        Exit::Usage
    })?;
    Ok((session, selected))
}
