//! `wf run`: run the workflow (or a dry run of it) and report.

use std::io::IsTerminal;
use std::sync::Arc;

use wf_engine::exec::{StreamPrefix, TaskOutput};
use wf_engine::report::RunStatus;
use wf_engine::session::{Intent, RunSettings, Session};
use wf_engine::state::Freshness;
use wf_engine::{RunEvent, Workflow};

use super::outputs::ReportFiles;
use super::{open_session, plan, report_session_error};
use crate::args::{ColorChoice, OutputMode, RunArgs};
use crate::exit::Exit;
use crate::render::progress::{Progress, heartbeat_interval};
use crate::render::run::RunRenderer;

/// Runs the selected tasks; the exit code follows the run's status.
pub fn run(args: &RunArgs, color: ColorChoice) -> Exit {
    if let Some(message) = crate::args::resume_force_conflict(args.resume, args.force) {
        println_err!("error: {message}");
        return Exit::Usage;
    }
    let (session, selected) = match open_session(&args.target, color) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let mut settings = RunSettings {
        jobs: args.jobs,
        keep_going: args.keep_going,
        grace: args.grace,
        executor: args.executor.map(Into::into),
        report_path: args.report.clone(),
        output: match args.output {
            OutputMode::Stream => TaskOutput::Stream(stream_prefix(&session, &selected, color)),
            OutputMode::Grouped | OutputMode::Quiet => TaskOutput::Log,
        },
        task_events: args.output != OutputMode::Quiet,
        own_process: true,
        lines: None,
    };
    let freshness = Freshness {
        force: args.force,
        resume: args.resume,
    };
    if args.dry_run {
        let exit = plan::print_plan(&session, selected, &settings, freshness, color);
        super::leak_at_exit(session);
        return exit;
    }
    let prepared = match session.prepare(selected, freshness, Intent::Run) {
        Ok(prepared) => prepared,
        Err(error) => {
            report_session_error(&error, color);
            return Exit::Usage;
        }
    };
    let grace = settings.grace.unwrap_or(session.workflow().grace);
    let colored = color.enabled(std::io::stderr().is_terminal());
    let mut renderer = RunRenderer::new(args.output, colored, grace);
    let up_to_date = prepared.skipped().iter().filter(|&&s| s).count();
    renderer.up_to_date(up_to_date, args.show_up_to_date);
    let progress = Progress::new(
        &prepared.selected,
        prepared.expected.clone(),
        session.jobs(&settings),
        prepared.learnt.iter().any(|&learnt| learnt),
    );
    renderer.show_progress(
        progress,
        std::io::stderr().is_terminal(),
        heartbeat_interval(),
    );
    settings.lines = renderer.stream_lines();
    // The reporters, in order: the terminal (progress, task lines, then the summary), then the
    // report files, so that a file that cannot be written is said after the summary.
    let mut files = ReportFiles::new(&args.outputs, color);
    let result = session.run(prepared, &settings, &mut |w: &Workflow, event: RunEvent| {
        let finished = match &event {
            RunEvent::Finished { report } => Some(Arc::clone(report)),
            _ => None,
        };
        renderer.on_event(w, event);
        if let Some(report) = finished {
            files.finished(&report, &w.root);
        }
    });
    renderer.show_up_to_date(session.workflow());
    match result {
        Ok(report) => {
            let exit = match report.status {
                RunStatus::Cancelled => Exit::Interrupted,
                // A report asked for and not written: the caller must not find success.
                _ if renderer.report_failed() || files.failed() => Exit::Usage,
                RunStatus::Succeeded => Exit::Success,
                RunStatus::Failed => Exit::Failure,
            };
            // The report and the workflow are memory only; the renderer still drops normally.
            super::leak_at_exit(report);
            super::leak_at_exit(session);
            exit
        }
        Err(error) => {
            renderer.end_progress();
            report_session_error(&error, color);
            Exit::Usage
        }
    }
}

/// The longest task name `--output stream` pads prefixes to: longer names stick out rather
/// than push every line far right.
const STREAM_PREFIX_MAX_WIDTH: usize = 24;

/// How `--output stream` prefixes lines: names padded to the longest selected one (at most
/// [`STREAM_PREFIX_MAX_WIDTH`]), a colour per task when stdout is a terminal that wants them.
fn stream_prefix(session: &Session, selected: &[bool], color: ColorChoice) -> StreamPrefix {
    let width = session
        .workflow()
        .tasks
        .iter()
        .zip(selected)
        .filter(|(_, on)| **on)
        .map(|(task, _)| task.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(STREAM_PREFIX_MAX_WIDTH);
    StreamPrefix {
        width,
        color: color.enabled(std::io::stdout().is_terminal()),
    }
}
