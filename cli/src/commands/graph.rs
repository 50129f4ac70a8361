//! `wf graph`: the task graph as Graphviz dot or a Mermaid flowchart.

use super::open_workflow;
use crate::args::{ColorChoice, GraphArgs, GraphFormat};
use crate::exit::Exit;
use crate::render::graph;

/// Prints the graph in the requested language.
pub fn run(args: &GraphArgs, color: ColorChoice) -> Exit {
    match open_workflow(&args.manifest, color) {
        Ok(workflow) => {
            let text = match args.format {
                GraphFormat::Dot => graph::dot(&workflow),
                GraphFormat::Mermaid => graph::mermaid(&workflow),
            };
            print_out!("{text}");
            Exit::Success
        }
        Err(exit) => exit,
    }
}
