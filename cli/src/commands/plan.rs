//! `wf plan` and `wf run -n`: the order the scheduler would take, without running anything.

use std::io::IsTerminal;

use wf_engine::Workflow;
use wf_engine::scheduler::plan::simulate;

use super::{open_workflow, select_or_explain};
use crate::args::{ColorChoice, PlanArgs};
use crate::exit::Exit;
use crate::render::style::{Style, plural};

/// Prints the plan of the selected tasks.
pub fn run(args: &PlanArgs, color: ColorChoice) -> Exit {
    let (manifest, targets) = args.target.split();
    let workflow = match open_workflow(&manifest, color) {
        Ok(workflow) => workflow,
        Err(exit) => return exit,
    };
    let selected = match select_or_explain(&workflow, &targets, color) {
        Ok(selected) => selected,
        Err(exit) => return exit,
    };
    let jobs = workflow.effective_jobs(args.jobs);
    if let Err(error) = wf_engine::scheduler::check_slots(&workflow, &selected, jobs) {
        super::report_error(&error, color);
        return Exit::Usage;
    }
    print_plan(&workflow, &selected, jobs, workflow.keep_going, color)
}

/// Prints the dispatch order (with the slot count and locks of each task) and the critical path.
pub fn print_plan(
    workflow: &Workflow,
    selected: &[bool],
    jobs: u32,
    keep_going: bool,
    color: ColorChoice,
) -> Exit {
    let style = Style::new(color.enabled(std::io::stdout().is_terminal()));
    let weights = vec![1.0; workflow.tasks.len()];
    let plan = simulate(workflow, selected, jobs, &weights, keep_going);
    let width = plan.order.len().to_string().len();
    println!(
        "{}",
        style.dim(&format!(
            "plan: {} on {}, in dispatch order",
            plural(plan.order.len(), "task"),
            plural(jobs as usize, "slot")
        ))
    );
    for (index, planned) in plan.order.iter().enumerate() {
        let task = &workflow.tasks[planned.task];
        let mut notes = Vec::new();
        if task.cpus > 1 {
            notes.push(format!("{} slots", task.cpus));
        }
        if !task.locks.is_empty() {
            let names: Vec<&str> = task
                .locks
                .iter()
                .map(|&l| workflow.locks[l].name.as_str())
                .collect();
            notes.push(format!("locks {}", names.join(", ")));
        }
        if task.priority != 0 {
            notes.push(format!("priority {}", task.priority));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            style.dim(&format!("  ({})", notes.join("; ")))
        };
        println!("{:>width$}. {}{notes}", index + 1, task.name);
    }
    if !plan.critical_path.is_empty() {
        let names: Vec<&str> = plan
            .critical_path
            .iter()
            .map(|&t| workflow.tasks[t].name.as_str())
            .collect();
        println!(
            "{}",
            style.dim(&format!(
                "critical path ({}): {}",
                plural(names.len(), "task"),
                names.join(" → ")
            ))
        );
    }
    Exit::Success
}
