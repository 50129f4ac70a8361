//! The report files of `wf run --junit/--html` and `wf report --junit/--html`, all made from
//! the same `RunReport`.

use std::path::Path;

use wf_engine::report::RunReport;
use wf_engine::report::html::write_timeline;
use wf_engine::report::junit::write_junit;

use super::report_error;
use crate::args::{ColorChoice, ReportOutputs};

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
