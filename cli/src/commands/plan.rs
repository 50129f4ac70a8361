//! `wf plan` and `wf run -n`: what would run, in which order, and why; nothing is executed.

use std::fmt::Write as _;
use std::io::IsTerminal;

use rayon::prelude::*;
use wf_engine::Workflow;
use wf_engine::manifest::size::format_size;
use wf_engine::scheduler::plan::{PlannedTask, Simulation};
use wf_engine::session::memory::{MemoryNeed, NeedSource};
use wf_engine::session::{Intent, Plan, RunSettings, Session};
use wf_engine::state::{Freshness, Reason};

use super::{open_session, report_session_error};
use crate::args::{ColorChoice, PlanArgs};
use crate::exit::Exit;
use crate::output::BufferedOut;
use crate::render::style::{Seconds, Style, plural, seconds};
use crate::render::text::{escape_control, shown, shown_name};

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
    // One buffer for the whole listing: a million lines are a few hundred writes.
    let mut out = BufferedOut::new();
    writeln_out!(
        out,
        "{}",
        style.dim(&format!(
            "plan: {} to run on {}, in dispatch order",
            plural(plan.order.len(), "task"),
            plural(jobs as usize, "slot")
        ))
    );
    let lines = Lines {
        workflow,
        reasons: &prepared.reasons,
        learnt: &prepared.learnt,
        expected: &prepared.expected,
        memory: &prepared.memory,
        style,
        number_width: plan.order.len().to_string().len(),
        name_width: plan
            .order
            .par_iter()
            .map(|p| shown(&workflow.tasks[p.task].name).chars().count())
            .max()
            .unwrap_or(0),
    };
    // Pieces of a window of lines are written on all cores at once, then printed in order.
    in_pieces(
        &plan.order,
        LINES_PER_WINDOW,
        LINES_PER_PIECE,
        |first, piece| lines.write(first, piece),
        |text| out.write(format_args!("{text}")),
    );
    let mut reason = String::new();
    let skipped_tasks: Vec<usize> = (0..workflow.tasks.len()).filter(|&t| skipped[t]).collect();
    if !skipped_tasks.is_empty() {
        writeln_out!(
            out,
            "{}",
            style.dim(&format!("skipped: {}", plural(skipped_tasks.len(), "task")))
        );
        let mark = style.good("✓");
        for task in skipped_tasks {
            write_reason(&mut reason, workflow, &prepared.reasons, task);
            writeln_out!(
                out,
                "  {mark} {}  {}",
                shown(&workflow.tasks[task].name),
                escape_control(&reason)
            );
        }
    }
    if !plan.critical_path.is_empty() {
        let path: Vec<String> = plan
            .critical_path
            .iter()
            .map(|&t| shown_name(&workflow.tasks[t].name))
            .collect();
        writeln_out!(
            out,
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
            writeln_out!(
                out,
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
        writeln_out!(
            out,
            "{}",
            style.dim(&format!(
                "expected wall time: ~{} ({note})",
                seconds(plan.wall)
            ))
        );
    }
}

/// How many lines of the listing are written before they are printed: the text of a million
/// lines is never held at once.
const LINES_PER_WINDOW: usize = 1 << 16;

/// How many lines of the listing one thread writes in one go.
const LINES_PER_PIECE: usize = 2048;

/// Writes `items` in pieces of `piece` with `write` (given the index of a piece's first item)
/// on all cores, `window` items at a time, and hands the pieces to `print` in order.
fn in_pieces<T: Sync>(
    items: &[T],
    window: usize,
    piece: usize,
    write: impl Fn(usize, &[T]) -> String + Sync,
    mut print: impl FnMut(&str),
) {
    let (window, piece) = (window.max(1), piece.max(1));
    for start in (0..items.len()).step_by(window) {
        let end = (start + window).min(items.len());
        let firsts: Vec<usize> = (start..end).step_by(piece).collect();
        let pieces: Vec<String> = firsts
            .into_par_iter()
            .map(|first| write(first, &items[first..(first + piece).min(end)]))
            .collect();
        for text in &pieces {
            print(text);
        }
    }
}

/// What the lines of the listing are made of, shared by the threads that write them (the plan
/// itself also holds the state store, which is not shared between threads).
struct Lines<'a> {
    workflow: &'a Workflow,
    reasons: &'a [Option<Reason>],
    learnt: &'a [bool],
    expected: &'a [f64],
    memory: &'a [MemoryNeed],
    style: Style,
    number_width: usize,
    name_width: usize,
}

impl Lines<'_> {
    /// The lines of the planned tasks `piece`, the first of them numbered `first + 1`.
    fn write(&self, first: usize, piece: &[PlannedTask]) -> String {
        let (number_width, name_width) = (self.number_width, self.name_width);
        let mut text = String::with_capacity(piece.len() * 64);
        // Reused for every line: the reason and the notes in parentheses.
        let mut reason = String::new();
        let mut notes = String::new();
        for (index, planned) in (first..).zip(piece) {
            let task = &self.workflow.tasks[planned.task];
            write_reason(&mut reason, self.workflow, self.reasons, planned.task);
            notes.clear();
            self.write_notes(&mut notes, planned.task);
            let _ = writeln!(
                text,
                "{:>number_width$}. {:name_width$}  {}  {}",
                index + 1,
                shown(&task.name),
                escape_control(&reason),
                self.style.dimmed(&notes)
            );
        }
        text
    }

    /// The notes of one planned task, in parentheses: its expected time (and memory), then
    /// what it holds or needs beyond one slot.
    fn write_notes(&self, notes: &mut String, id: usize) {
        let workflow = self.workflow;
        let task = &workflow.tasks[id];
        let mark = if self.learnt[id] { "~" } else { "~?" };
        let _ = write!(notes, "({mark}{}", Seconds(self.expected[id]));
        let need = self.memory[id];
        if need.source != NeedSource::Unknown {
            let mark = if need.source == NeedSource::Learnt {
                "~"
            } else {
                ""
            };
            let _ = write!(notes, ", {mark}{}", format_size(need.bytes));
            if need.clamped {
                notes.push_str("; needs more than the memory budget: runs alone");
            }
        }
        for &(resource, amount) in task.resources() {
            let _ = write!(
                notes,
                "; {} × {amount}",
                shown(&workflow.locks[resource].name)
            );
        }
        if task.cpus > 1 {
            let _ = write!(notes, "; {} slots", task.cpus);
        }
        for (index, &lock) in task.locks.iter().enumerate() {
            let lead = if index == 0 { "; locks " } else { ", " };
            let _ = write!(notes, "{lead}{}", shown(&workflow.locks[lock].name));
        }
        if task.priority != 0 {
            let _ = write!(notes, "; priority {}", task.priority);
        }
        notes.push(')');
    }
}

/// Why `task` runs or is skipped, in words, into `reason` (emptied first; left empty when it
/// has no reason).
fn write_reason(reason: &mut String, workflow: &Workflow, reasons: &[Option<Reason>], task: usize) {
    reason.clear();
    if let Some(why) = &reasons[task] {
        let _ = write!(reason, "{}", why.in_words(workflow));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_written_from_their_first_item_and_printed_in_order() {
        let items: Vec<usize> = (0..50).collect();
        for (window, piece) in [(7, 3), (3, 7), (1, 1), (64, 5), (50, 50), (0, 0)] {
            let mut printed = Vec::new();
            in_pieces(
                &items,
                window,
                piece,
                |first, piece| {
                    assert_eq!(piece.first(), Some(&first), "a piece starts at its index");
                    piece.iter().map(|i| format!("{i} ")).collect()
                },
                |text| printed.push(text.to_owned()),
            );
            let expected: String = items.iter().map(|i| format!("{i} ")).collect();
            assert_eq!(printed.concat(), expected, "window {window}, piece {piece}");
            let longest = printed.iter().map(|t| t.split(' ').count() - 1).max();
            assert!(
                longest <= Some(piece.max(1)),
                "window {window}, piece {piece}"
            );
        }
    }
}
