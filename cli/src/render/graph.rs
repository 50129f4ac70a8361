//! The task graph as text: Graphviz dot and Mermaid. Expansions of a matrix task are grouped.

use std::fmt::Write as _;

use wf_engine::{TaskId, Workflow};

use super::text::escape_control;

/// Consecutive runs of tasks from the same `[tasks.NAME]` table.
fn tables(workflow: &Workflow) -> Vec<(String, Vec<TaskId>)> {
    let mut groups: Vec<(String, Vec<TaskId>)> = Vec::new();
    for (id, task) in workflow.tasks.iter().enumerate() {
        match groups.last_mut() {
            Some((base, ids)) if *base == task.base() => ids.push(id),
            _ => groups.push((task.base().to_owned(), vec![id])),
        }
    }
    groups
}

/// A dot string: control characters escaped (so they never reach a terminal), then quoted.
fn dot_quote(text: &str) -> String {
    let text = escape_control(text);
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The graph in Graphviz dot; edges point from a dependency to its dependent.
pub fn dot(workflow: &Workflow) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
        dot_quote(&workflow.name)
    );
    for (i, (base, ids)) in tables(workflow).iter().enumerate() {
        if workflow.tasks[ids[0]].matrix.is_empty() {
            let _ = writeln!(out, "  {};", dot_quote(base));
        } else {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label={};",
                dot_quote(base)
            );
            for &id in ids {
                let _ = writeln!(out, "    {};", dot_quote(&workflow.tasks[id].name));
            }
            out.push_str("  }\n");
        }
    }
    for (id, task) in workflow.tasks.iter().enumerate() {
        for dep in workflow.deps(id) {
            let _ = writeln!(
                out,
                "  {} -> {};",
                dot_quote(&workflow.tasks[dep].name),
                dot_quote(&task.name)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid label: control characters escaped, then quoted.
fn mermaid_label(text: &str) -> String {
    format!("\"{}\"", escape_control(text).replace('"', "#quot;"))
}

/// The graph as a Mermaid flowchart; nodes are `t0`, `t1`, … labelled with task names.
pub fn mermaid(workflow: &Workflow) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, (base, ids)) in tables(workflow).iter().enumerate() {
        let grouped = !workflow.tasks[ids[0]].matrix.is_empty();
        let indent = if grouped { "    " } else { "  " };
        if grouped {
            let _ = writeln!(out, "  subgraph g{i}[{}]", mermaid_label(base));
        }
        for &id in ids {
            let _ = writeln!(
                out,
                "{indent}t{id}[{}]",
                mermaid_label(&workflow.tasks[id].name)
            );
        }
        if grouped {
            out.push_str("  end\n");
        }
    }
    for id in 0..workflow.tasks.len() {
        for dep in workflow.deps(id) {
            let _ = writeln!(out, "  t{dep} --> t{id}");
        }
    }
    out
}
