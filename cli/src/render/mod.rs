//! Turning engine values into text: diagnostics, run progress and summaries, tables, graphs.

pub mod diagnostics;
pub mod graph;
pub mod progress;
pub mod run;
pub mod style;
