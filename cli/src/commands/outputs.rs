//! The report files of `wf run --junit/--html` and `wf report --junit/--html`, all made from
//! the same `RunReport`.

use std::path::Path;

use wf_engine::report::RunReport;
use wf_engine::report::html::write_timeline;
use wf_engine::report::junit::write_junit;

use super::report_error;
use crate::args::{ColorChoice, ReportOutputs};

/// The report files of a run, written when it has finished (after the terminal summary).
pub struct ReportFiles<'a> {
    outputs: &'a ReportOutputs,
    color: ColorChoice,
    failed: bool,
}

impl<'a> ReportFiles<'a> {
    /// The files `outputs` asks for.
    pub fn new(outputs: &'a ReportOutputs, color: ColorChoice) -> Self {
        Self {
            outputs,
            color,
            failed: false,
        }
    }

    /// The run has finished: writes every file; a failure is printed.
    pub fn finished(&mut self, report: &RunReport, root: &Path) {
        self.failed |= !write_outputs(report, root, self.outputs, self.color);
    }

    /// True if a file could not be written.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

/// Writes the files `outputs` asks for; logs are read under `root` (the manifest's folder).
/// Every file is attempted; false if one could not be written (the error is printed).
pub fn write_outputs(
    report: &RunReport,
    root: &Path,
    outputs: &ReportOutputs,
    color: ColorChoice,
) -> bool {
    let mut ok = true;
    if let Some(path) = &outputs.junit {
        if let Err(error) = write_junit(report, root, path) {
            report_error(&error, color);
            ok = false;
        }
    }
    if let Some(path) = &outputs.html {
        if let Err(error) = write_timeline(report, root, path) {
            report_error(&error, color);
            ok = false;
        }
    }
    ok
}
