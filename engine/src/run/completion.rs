//! What the run adds to an attempt the executor reports as ended: a task that exited 0 but
//! did not create its declared outputs has failed. Checked here, once for every executor.

use std::io::Write;
use std::path::Path;

use crate::exec::logs::{log_path, open_log};
use crate::exec::{AttemptEnd, AttemptResult};
use crate::state::missing_outputs;
use crate::workflow::{TaskId, Workflow};

/// `result`, turned into [`AttemptEnd::OutputsMissing`] when the attempt succeeded but some of
/// the task's declared outputs do not exist; the task's log says which.
pub fn check_outputs(
    workflow: &Workflow,
    run_dir: &Path,
    task: TaskId,
    mut result: AttemptResult,
) -> AttemptResult {
    if !result.end.succeeded() || workflow.tasks[task].outputs.is_empty() {
        return result;
    }
    let missing = missing_outputs(workflow, task);
    if missing.is_empty() {
        return result;
    }
    let path = result
        .log
        .clone()
        .unwrap_or_else(|| log_path(run_dir, &workflow.tasks[task].name));
    if let Ok(mut log) = open_log(&path) {
        let _ = writeln!(
            log,
            "wf: exited 0 but did not create {}",
            missing.join(", ")
        );
        result.log_bytes = log.metadata().map_or(result.log_bytes, |m| m.len());
        result.log = Some(path);
    }
    result.end = AttemptEnd::OutputsMissing(missing);
    result
}
