//! `wf plan` and `wf run -n`: what would run, in which order, and why; nothing is executed.

use std::io::IsTerminal;

use wf_engine::Workflow;
use wf_engine::manifest::size::format_size;
use wf_engine::scheduler::plan::Simulation;
use wf_engine::session::memory::NeedSource;
use wf_engine::session::{Intent, Plan, RunSettings, Session};
use wf_engine::state::Freshness;

use super::{open_session, report_session_error};
use crate::args::{ColorChoice, PlanArgs};
use crate::exit::Exit;
use crate::render::style::{Style, plural, seconds};
use crate::render::text::{escape_control, shown_name};

/// Prints the plan of the selected tasks.
pub fn run(args: &PlanArgs, color: ColorChoice) -> Exit {
    if let Some(message) = crate::args::resume_force_conflict(args.resume, args.force) {
        println_err!("error: {message}");
        return Exit::Usage;
    }
    let (session, selected) = match open_session(&args.target, color) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let settings = RunSettings {
        jobs: args.jobs,
        ..RunSettings::default()
    };
    let freshness = Freshness {
        force: args.force,
        resume: args.resume,
    };
    let exit = print_plan(&session, selected, &settings, freshness, color);
    // The session holds only the workflow (memory).
    super::leak_at_exit(session);
    exit
}

/// Works out and prints the plan: for each task in dispatch order why it runs and how long it
/// is expected to take, the tasks that will be skipped and why, the critical path and the
/// expected wall time. Reads the state store if there is one; never creates it.
pub fn print_plan(
    session: &Session,
    selected: Vec<bool>,
    settings: &RunSettings,
    freshness: Freshness,
    color: ColorChoice,
) -> Exit {
    if let Err(error) = session.check_slots(&selected, settings) {
        report_session_error(&error.into(), color);
        return Exit::Usage;
    }
    let prepared = match session.prepare(selected, freshness, Intent::Preview) {
        Ok(prepared) => prepared,
        Err(error) => {
            report_session_error(&error, color);
            return Exit::Usage;
        }
    };
    let simulation = match session.simulate(&prepared, settings) {
        Ok(simulation) => simulation,
        Err(error) => {
            report_session_error(&error.into(), color);
            return Exit::Usage;
        }
    };
    render(
        session.workflow(),
        session.jobs(settings),
        &prepared,
        &simulation,
        color,
    );
    super::leak_at_exit(simulation);
    Exit::Success
}

fn render(workflow: &Workflow, jobs: u32, prepared: &Plan, plan: &Simulation, color: ColorChoice) {
    let style = Style::new(color.enabled(std::io::stdout().is_terminal()));
    let skipped = prepared.skipped();
    let estimate = |task: usize| {
        let mark = if prepared.learnt[task] { "~" } else { "~?" };
        format!("{mark}{}", seconds(prepared.expected[task]))
    };
    println_out!(
        "{}",
        style.dim(&format!(
            "plan: {} to run on {}, in dispatch order",
            plural(plan.order.len(), "task"),
            plural(jobs as usize, "slot")
        ))
    );
    let names: Vec<String> = plan
        .order
        .iter()
        .map(|p| shown_name(&workflow.tasks[p.task].name))
        .collect();
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let number_width = plan.order.len().to_string().len();
    for (index, planned) in plan.order.iter().enumerate() {
        let task = &workflow.tasks[planned.task];
        let reason = prepared.reasons[planned.task]
            .as_ref()
            .map(|r| escape_control(&r.to_string()).into_owned())
            .unwrap_or_default();
        let mut notes = vec![estimate(planned.task)];
        let need = prepared.memory[planned.task];
        if need.source != NeedSource::Unknown {
            let mark = if need.source == NeedSource::Learnt {
                "~"
            } else {
                ""
            };
            notes[0].push_str(&format!(", {mark}{}", format_size(need.bytes)));
            if need.clamped {
                notes.push("needs more than the memory budget: runs alone".to_owned());
            }
        }
        for &(resource, amount) in &task.resources {
            notes.push(format!(
                "{} × {amount}",
                shown_name(&workflow.locks[resource].name)
            ));
        }
        if task.cpus > 1 {
            notes.push(format!("{} slots", task.cpus));
        }
        if !task.locks.is_empty() {
            let locks: Vec<String> = task
                .locks
                .iter()
                .map(|&l| shown_name(&workflow.locks[l].name))
                .collect();
            notes.push(format!("locks {}", locks.join(", ")));
        }
        if task.priority != 0 {
            notes.push(format!("priority {}", task.priority));
        }
        println_out!(
            "{:>number_width$}. {:name_width$}  {reason}  {}",
            index + 1,
            names[index],
            style.dim(&format!("({})", notes.join("; ")))
        );
    }
    let skipped_tasks: Vec<usize> = (0..workflow.tasks.len()).filter(|&t| skipped[t]).collect();
    if !skipped_tasks.is_empty() {
        println_out!(
            "{}",
            style.dim(&format!("skipped: {}", plural(skipped_tasks.len(), "task")))
        );
        for task in skipped_tasks {
            let reason = prepared.reasons[task]
                .as_ref()
                .map(|r| escape_control(&r.to_string()).into_owned())
                .unwrap_or_default();
            println_out!(
                "  {} {}  {reason}",
                style.good("✓"),
                shown_name(&workflow.tasks[task].name)
            );
        }
    }
    if !plan.critical_path.is_empty() {
        let path: Vec<String> = plan
            .critical_path
            .iter()
            .map(|&t| shown_name(&workflow.tasks[t].name))
            .collect();
        println_out!(
            "{}",
            style.dim(&format!(
                "critical path ({}): {}",
                plural(path.len(), "task"),
                path.join(" → ")
            ))
        );
    }
    if let Some(budget) = prepared.memory_budget {
        let known = plan
            .order
            .iter()
            .filter(|p| prepared.memory[p.task].source != NeedSource::Unknown)
            .count();
        if known > 0 {
            println_out!(
                "{}",
                style.dim(&format!(
                    "memory budget: {} ({} with a known need)",
                    format_size(budget),
                    plural(known, "task")
                ))
            );
        }
    }
    if !plan.order.is_empty() {
        let estimated = plan
            .order
            .iter()
            .filter(|p| !prepared.learnt[p.task])
            .count();
        let note = match estimated {
            0 => "from the durations of earlier runs".to_owned(),
            n if n == plan.order.len() => "no durations known yet: ~? marks estimates".to_owned(),
            n => format!(
                "{} without a known duration (~?) estimated",
                plural(n, "task")
            ),
        };
        println_out!(
            "{}",
            style.dim(&format!(
                "expected wall time: ~{} ({note})",
                seconds(plan.wall)
            ))
        );
    }
}
