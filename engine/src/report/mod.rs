//! The run report: what happened to every task, for people (the CLI renders it) and programs
//! (`report.json`, whose JSON Schema is in `schemas/`).

pub mod error;
pub mod html;
pub mod junit;
pub mod logtext;
pub mod model;
pub mod signals;
pub mod tasks;
pub mod time;
pub mod write;

pub use error::ReportError;
pub use model::{AttemptReport, RunReport, RunStatus, TaskReport, TaskStatus};
pub use tasks::{TaskReportSource, TaskReports};
pub use write::WriteError;

use std::path::Path;

/// Writes a report as pretty JSON (see [`write::write_file`]: never half-written, never through
/// a planted link, directly into a pipe or device), streamed: a report of a million tasks is
/// never held in memory as text.
pub fn write_json(report: &RunReport, path: &Path) -> Result<(), WriteError> {
    write::write_with(path, |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    })
}

/// Reads a report written by [`write_json`].
pub fn read_json(path: &Path) -> std::io::Result<RunReport> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// The JSON Schema of the run report, pretty-printed with a trailing newline.
pub fn report_schema_text() -> String {
    let settings = schemars::generate::SchemaSettings::draft07();
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<RunReport>();
    schema.insert(
        "$id".into(),
        "https://wf.dev/schemas/wf-report.schema.json".into(),
    );
    schema.insert("title".into(), "wf run report".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
