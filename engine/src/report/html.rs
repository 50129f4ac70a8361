//! The run as one self-contained HTML page: a timeline of every attempt on its worker slot,
//! drawn on a canvas by the page's own script from the report embedded as JSON (see
//! docs/report.md#html-timeline). Nothing is loaded from the network.

use std::path::Path;

use serde::Serialize;

use super::error::{ReportError, write_atomically};
use super::logtext::read_tail;
use super::model::{AttemptReport, RunReport, RunStatus, TaskStatus};

/// The page; its script and styles are inline. `@WF_DATA@` is replaced by the run's data.
const TEMPLATE: &str = include_str!("timeline.html");

/// Where the data goes in the template.
const PLACEHOLDER: &str = "@WF_DATA@";

/// Log bytes embedded for a task that failed or timed out.
pub const FAILED_LOG_LIMIT: u64 = 16 * 1024;
/// Log bytes embedded for any other task.
pub const OTHER_LOG_LIMIT: u64 = 2 * 1024;
/// Log bytes embedded for the whole run; tasks past it show their log's path only.
pub const TOTAL_LOG_LIMIT: u64 = 8 * 1024 * 1024;

/// What the page's script reads.
#[derive(Debug, Serialize)]
struct PageData<'a> {
    workflow: &'a str,
    run_id: &'a str,
    manifest: &'a str,
    status: &'static str,
    jobs: u32,
    executor: &'a str,
    started_at: &'a str,
    duration_s: f64,
    counts: Vec<(&'static str, usize)>,
    critical_path: &'a [String],
    stray_processes: u32,
    tasks: Vec<TaskData<'a>>,
}

/// One task for the page.
#[derive(Debug, Serialize)]
struct TaskData<'a> {
    name: &'a str,
    status: &'static str,
    command: Option<&'a str>,
    description: Option<&'a str>,
    reason: Option<&'a str>,
    attempts: u32,
    duration_s: Option<f64>,
    lock_wait_s: f64,
    start_s: Option<f64>,
    end_s: Option<f64>,
    worker: Option<u64>,
    exit_code: Option<i32>,
    signal: Option<&'a str>,
    allow_failure: bool,
    log: Option<&'a str>,
    log_tail: Option<String>,
    critical: bool,
    detail: &'a [AttemptReport],
}

/// The HTML page of a run. Log tails are read from `root` (the manifest's folder).
pub fn timeline_html(report: &RunReport, root: &Path) -> Result<String, ReportError> {
    let critical: std::collections::HashSet<&str> =
        report.critical_path.iter().map(String::as_str).collect();
    let mut budget = TOTAL_LOG_LIMIT;
    // The page holds every entry at once (it is one JSON value); a report made on demand makes
    // them here.
    let entries: Vec<_> = report.tasks.iter().collect();
    let tasks = entries
        .iter()
        .map(|task| {
            let limit = match task.status {
                TaskStatus::Failed | TaskStatus::TimedOut => FAILED_LOG_LIMIT,
                _ => OTHER_LOG_LIMIT,
            };
            let log_tail = task
                .log
                .as_ref()
                .filter(|_| budget >= limit)
                .and_then(|log| read_tail(&root.join(log), limit).ok())
                .map(|tail| tail.text);
            budget -= log_tail.as_ref().map_or(0, |t| t.len() as u64).min(budget);
            TaskData {
                name: &task.name,
                status: task.status.as_str(),
                command: task.command.as_deref(),
                description: task.description.as_deref(),
                reason: task.reason.as_deref(),
                attempts: task.attempts,
                duration_s: task.duration_s,
                lock_wait_s: task.lock_wait_s,
                start_s: task.start_s,
                end_s: task.end_s,
                worker: task.worker,
                exit_code: task.exit_code,
                signal: task.signal.as_deref(),
                allow_failure: task.allow_failure,
                log: task.log.as_deref(),
                log_tail,
                critical: critical.contains(task.name.as_str()),
                detail: &task.attempts_detail,
            }
        })
        .collect();
    let data = PageData {
        workflow: &report.workflow,
        run_id: &report.run_id,
        manifest: &report.manifest,
        status: match report.status {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        },
        jobs: report.jobs,
        executor: report.executor.name(),
        started_at: &report.started_at,
        duration_s: report.duration_s,
        counts: report
            .counts()
            .into_iter()
            .map(|(status, n)| (status.as_str(), n))
            .collect(),
        critical_path: &report.critical_path,
        stray_processes: report.stray_processes,
        tasks,
    };
    let json = script_json(&data).map_err(|source| ReportError::Html { source })?;
    Ok(TEMPLATE.replacen(PLACEHOLDER, &json, 1))
}

/// Writes the HTML page of a run to `path`.
pub fn write_timeline(report: &RunReport, root: &Path, path: &Path) -> Result<(), ReportError> {
    write_atomically(path, timeline_html(report, root)?.as_bytes())
}

/// JSON that can sit inside a `<script>` element whatever its strings hold: `<`, `>` and `&`
/// (so no `</script>` or `<!--` ends or changes the element) and U+2028, U+2029 are written as
/// `\u` escapes. They can only occur inside JSON strings, where the escapes mean the same.
pub fn script_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_end_its_element_and_means_the_same() {
        let nasty = "</script><script>alert(1)</script><!-- & \u{2028}\u{2029} \"quoted\"";
        let json = script_json(&nasty).expect("json");
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!json.contains(bad), "{json}");
        }
        let back: String = serde_json::from_str(&json).expect("valid json");
        assert_eq!(back, nasty);
    }

    #[test]
    fn the_template_has_one_placeholder_inside_a_json_script() {
        assert_eq!(TEMPLATE.matches(PLACEHOLDER).count(), 1);
        assert!(TEMPLATE.contains(&format!(
            r#"<script type="application/json" id="wf-data">{PLACEHOLDER}</script>"#
        )));
        assert!(!TEMPLATE.contains("http://") && !TEMPLATE.contains("https://"));
    }
}
