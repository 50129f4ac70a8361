//! Turning engine values into text: diagnostics, run progress and summaries, tables, graphs.

pub mod diagnostics;
pub mod excerpt;
pub mod graph;
pub mod hints;
pub mod progress;
pub mod replay;
pub mod run;
pub mod shown;
pub mod style;
pub mod text;
