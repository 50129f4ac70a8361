//! `wf run`: run the workflow (or a dry run of it) and report.

use std::io::IsTerminal;
use std::sync::Arc;

use wf_engine::exec::local::TaskOutput;
use wf_engine::rundir::REPORT_FILE;
use wf_engine::scheduler::{Recorder, RunOptions, run as run_workflow};
use wf_engine::state::Freshness;

use super::freshness::{open_store, prepare};
use super::outputs::write_outputs;
use super::{open_selection, plan, report_error};
use crate::args::{ColorChoice, OutputMode, RunArgs};
use crate::exit::Exit;
use crate::render::progress::{Progress, heartbeat_interval};
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
        eprintln!(
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
    let progress = Progress::new(
        &selected,
        prepared.weights.clone(),
        jobs,
        prepared.learnt.iter().any(|&learnt| learnt),
    );
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
    renderer.show_progress(
        progress,
        std::io::stderr().is_terminal(),
        heartbeat_interval(),
    );
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
            renderer.end_progress();
            renderer.summary(&workflow.root, &report, shown(&report_file));
            let written = write_outputs(&report, &workflow.root, &args.outputs, color);
            match report.status {
                wf_engine::report::RunStatus::Succeeded if written => Exit::Success,
                wf_engine::report::RunStatus::Succeeded | wf_engine::report::RunStatus::Failed => {
                    Exit::Failure
                }
                wf_engine::report::RunStatus::Cancelled => Exit::Interrupted,
            }
        }
        Err(error) => {
            renderer.end_progress();
            report_error(&error, color);
            Exit::Usage
        }
    }
}
