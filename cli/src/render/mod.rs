//! Turning engine values into text: diagnostics, tables, graphs.

pub mod diagnostics;
pub mod graph;
