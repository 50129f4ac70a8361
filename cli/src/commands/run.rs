//! `wf run`: run the workflow (or a dry run of it) and report.

use std::io::IsTerminal;
use std::sync::Arc;

use wf_engine::exec::local::TaskOutput;
use wf_engine::rundir::REPORT_FILE;
use wf_engine::scheduler::{Recorder, RunOptions, run as run_workflow};
use wf_engine::state::Freshness;

use super::freshness::{open_store, prepare};
use super::{open_selection, plan, report_error};
use crate::args::{ColorChoice, OutputMode, RunArgs};
use crate::exit::Exit;
use crate::render::run::{RunRenderer, shown};

/// Runs the selected tasks; the exit code follows the run's status.
pub fn run(args: &RunArgs, color: ColorChoice) -> Exit {
    let (workflow, selected) = match open_selection(&args.target, color) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let jobs = workflow.effective_jobs(args.jobs);
    let keep_going = args.keep_going || workflow.keep_going;
    let freshness = Freshness {
        force: args.force,
        resume: args.resume,
    };
    if args.dry_run {
        return plan::print_plan(&workflow, &selected, jobs, keep_going, freshness, color);
    }
    if workflow.executor == wf_engine::workflow::ExecutorKind::Slurm {
        // Said plainly rather than silently: the manifest asked for a cluster.
        println_err!(
            "wf: warning: [executor] kind = \"slurm\" is not supported by this version of wf; \
             the tasks run on the local process pool"
        );
    }
    let mut store = match open_store(&workflow, color) {
        Ok(store) => store,
        Err(exit) => return exit,
    };
    let prepared = match prepare(&workflow, &selected, freshness, Some(&mut store), color) {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    let grace = args.grace.unwrap_or(workflow.grace);
    let options = RunOptions {
        selected,
        jobs,
        keep_going,
        grace,
        up_to_date: prepared.up_to_date(),
        weights: Some(prepared.weights),
        report_path: args.report.clone(),
        output: match args.output {
            OutputMode::Stream => TaskOutput::Stream,
            OutputMode::Grouped | OutputMode::Quiet => TaskOutput::Log,
        },
        task_events: args.output != OutputMode::Quiet,
    };
    let colored = color.enabled(std::io::stderr().is_terminal());
    let mut renderer = RunRenderer::new(args.output, colored, grace);
    let workflow = Arc::new(workflow);
    let recorder = Recorder {
        store: &mut store,
        fingerprints: prepared.fingerprints,
        cache: prepared.cache,
    };
    let result = run_workflow(
        Arc::clone(&workflow),
        &options,
        Some(recorder),
        &mut |w, event| renderer.on_event(w, event),
    );
    match result {
        Ok(report) => {
            let report_file =
                wf_engine::rundir::run_path(&workflow.root, &report.run_id).join(REPORT_FILE);
            renderer.summary(&workflow.root, &report, shown(&report_file));
            match report.status {
                wf_engine::report::RunStatus::Cancelled => Exit::Interrupted,
                // A report asked for and not written: the caller must not find success.
                _ if renderer.report_failed() => Exit::Usage,
                wf_engine::report::RunStatus::Succeeded => Exit::Success,
                wf_engine::report::RunStatus::Failed => Exit::Failure,
            }
        }
        Err(error) => {
            report_error(&error, color);
            Exit::Usage
        }
    }
}
