//! `wf run`: run the workflow (or a dry run of it) and report.

use std::io::IsTerminal;

use wf_engine::exec::TaskOutput;
use wf_engine::layout::REPORT_FILE;
use wf_engine::report::RunStatus;
use wf_engine::session::{Intent, RunSettings};
use wf_engine::state::Freshness;

use super::outputs::write_outputs;
use super::{open_session, plan, report_session_error};
use crate::args::{ColorChoice, OutputMode, RunArgs};
use crate::exit::Exit;
use crate::render::progress::{Progress, heartbeat_interval};
use crate::render::run::{RunRenderer, shown};

/// Runs the selected tasks; the exit code follows the run's status.
pub fn run(args: &RunArgs, color: ColorChoice) -> Exit {
    let (session, selected) = match open_session(&args.target, color) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let settings = RunSettings {
        jobs: args.jobs,
        keep_going: args.keep_going,
        grace: args.grace,
        executor: args.executor.map(Into::into),
        report_path: args.report.clone(),
        output: match args.output {
            OutputMode::Stream => TaskOutput::Stream,
            OutputMode::Grouped | OutputMode::Quiet => TaskOutput::Log,
        },
        task_events: args.output != OutputMode::Quiet,
        own_process: true,
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
    let result = session.run(prepared, &settings, &mut |w: &_, event| {
        renderer.on_event(w, event);
    });
    match result {
        Ok(report) => {
            let root = &session.workflow().root;
            let report_file = wf_engine::layout::run_path(root, &report.run_id).join(REPORT_FILE);
            renderer.end_progress();
            renderer.summary(root, &report, shown(&report_file));
            let written = write_outputs(&report, root, &args.outputs, color);
            let exit = match report.status {
                RunStatus::Cancelled => Exit::Interrupted,
                // A report asked for and not written: the caller must not find success.
                _ if renderer.report_failed() || !written => Exit::Usage,
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
