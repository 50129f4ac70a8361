//! `wf list`: the tasks, grouped by `[tasks.NAME]` table, with what they need and hold.

use serde::Serialize;
use wf_engine::{TaskId, Workflow};

use super::open_workflow;
use crate::args::{ColorChoice, ListArgs};
use crate::exit::Exit;
use crate::render::text::{escape_control, shown_name};

/// One `[tasks.NAME]` table and its expansions.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    description: Option<String>,
    deps: Vec<String>,
    locks: Vec<String>,
    cpus: u32,
    /// The matrix expansions; empty for a plain task.
    expansions: Vec<Expansion>,
}

/// One expansion of a matrix task, with what the matrix values made of its description and
/// locks.
#[derive(Debug, Serialize)]
struct Expansion {
    name: String,
    description: Option<String>,
    locks: Vec<String>,
}

fn entries(workflow: &Workflow) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut tables: Vec<Vec<TaskId>> = Vec::new();
    for (id, task) in workflow.tasks.iter().enumerate() {
        match entries.last() {
            Some(last) if last.name == task.base() => {
                if let Some(ids) = tables.last_mut() {
                    ids.push(id);
                }
            }
            _ => {
                let mut deps: Vec<String> = Vec::new();
                for dep in workflow.deps(id) {
                    let base = workflow.tasks[dep].base();
                    if !deps.iter().any(|known| known == base) {
                        deps.push(base.to_owned());
                    }
                }
                entries.push(Entry {
                    name: task.base().to_owned(),
                    description: task.description().map(str::to_owned),
                    deps,
                    locks: task
                        .locks
                        .iter()
                        .map(|&l| workflow.locks[l].name.clone())
                        .collect(),
                    cpus: task.cpus,
                    expansions: Vec::new(),
                });
                tables.push(vec![id]);
            }
        }
    }
    for (entry, ids) in entries.iter_mut().zip(&tables) {
        if !workflow.tasks[ids[0]].matrix.is_empty() {
            entry.expansions = ids
                .iter()
                .map(|&id| Expansion {
                    name: workflow.tasks[id].name.clone(),
                    description: workflow.tasks[id].description().map(str::to_owned),
                    locks: lock_names(workflow, id),
                })
                .collect();
        }
    }
    entries
}

fn lock_names(workflow: &Workflow, task: TaskId) -> Vec<String> {
    workflow.tasks[task]
        .locks
        .iter()
        .map(|&l| workflow.locks[l].name.clone())
        .collect()
}

/// The names, each escaped and elided, or `-` for none.
fn or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items
            .iter()
            .map(|item| shown_name(item))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints the task list as a table, or JSON with `--json`.
pub fn run(args: &ListArgs, color: ColorChoice) -> Exit {
    let workflow = match open_workflow(&args.manifest, color) {
        Ok(workflow) => workflow,
        Err(exit) => return exit,
    };
    let entries = entries(&workflow);
    if args.json {
        println_out!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_default()
        );
        return Exit::Success;
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| match e.expansions.len() {
            0 => shown_name(&e.name),
            n => format!("{} (×{n})", shown_name(&e.name)),
        })
        .collect();
    let deps: Vec<String> = entries.iter().map(|e| or_dash(&e.deps)).collect();
    let locks: Vec<String> = entries.iter().map(|e| or_dash(&e.locks)).collect();
    // Expansion rows sit in the same columns, their name indented by two spaces.
    let expansion_names: Vec<String> = entries
        .iter()
        .flat_map(|e| e.expansions.iter())
        .map(|x| format!("  {}", shown_name(&x.name)))
        .collect();
    let expansion_locks: Vec<String> = entries
        .iter()
        .flat_map(|e| e.expansions.iter())
        .map(|x| or_dash(&x.locks))
        .collect();
    let width = |columns: &[&[String]], title: &str| {
        columns
            .iter()
            .flat_map(|column| column.iter())
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (wn, wd, wl) = (
        width(&[&names, &expansion_names], "TASK"),
        width(&[&deps], "DEPS"),
        width(&[&locks, &expansion_locks], "LOCKS"),
    );
    let row = |name: &str, deps: &str, locks: &str, description: &str| {
        let line = format!("{name:wn$}  {deps:wd$}  {locks:wl$}  {description}");
        println_out!("{}", line.trim_end());
    };
    row("TASK", "DEPS", "LOCKS", "DESCRIPTION");
    for (i, entry) in entries.iter().enumerate() {
        // Matrix values may make each expansion's locks or description its own: then they
        // are shown per expansion, and the task's row shows only what they share.
        let own_locks = entry.expansions.iter().any(|e| e.locks != entry.locks);
        let own_description = entry
            .expansions
            .iter()
            .any(|e| e.description != entry.description);
        let description = if own_description {
            String::new()
        } else {
            escape_control(entry.description.as_deref().unwrap_or("")).into_owned()
        };
        let locks = if own_locks { "" } else { locks[i].as_str() };
        row(&names[i], &deps[i], locks, &description);
        for expansion in &entry.expansions {
            let locks = if own_locks {
                or_dash(&expansion.locks)
            } else {
                String::new()
            };
            let description = if own_description {
                escape_control(expansion.description.as_deref().unwrap_or("")).into_owned()
            } else {
                String::new()
            };
            row(
                &format!("  {}", shown_name(&expansion.name)),
                "",
                &locks,
                &description,
            );
        }
    }
    Exit::Success
}
