//! The run as JUnit XML, for the test tab of CI systems: one `<testsuite>` per run, one
//! `<testcase>` per task (see docs/report.md#junit-xml).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::error::{ReportError, write_atomically};
use super::logtext::{LogTail, clean, read_tail};
use super::model::{AttemptReport, RunReport, TaskReport, TaskStatus};

/// At most this much of the end of a task's log goes into the XML (per element).
pub const LOG_LIMIT: u64 = 64 * 1024;

/// The JUnit document of a run. Logs are read from `root` (the manifest's folder, which the
/// report's log paths are relative to); a missing log is left out.
pub fn junit_report(report: &RunReport, root: &Path) -> Report {
    let started = DateTime::parse_from_rfc3339(&report.started_at).ok();
    let mut suite = TestSuite::new(report.workflow.as_str());
    if let Some(started) = started {
        suite.set_timestamp(started);
    }
    suite.set_time(secs(report.duration_s));
    suite.add_properties([
        Property::new("run_id", report.run_id.as_str()),
        Property::new("manifest", report.manifest.as_str()),
        Property::new("status", run_status(report)),
        Property::new("jobs", report.jobs.to_string()),
        Property::new("executor", report.executor.name()),
        Property::new("critical_path", report.critical_path.join(" -> ")),
    ]);
    for task in report.tasks.iter() {
        let log = task
            .log
            .as_ref()
            .and_then(|log| read_tail(&root.join(log), LOG_LIMIT).ok());
        suite.add_test_case(test_case(report, &task, started, log));
    }
    let mut junit = Report::new(report.workflow.as_str());
    if let Some(started) = started {
        junit.set_timestamp(started);
    }
    junit.set_time(secs(report.duration_s));
    junit.add_test_suite(suite);
    junit
}

/// The JUnit XML text of a run (see [`junit_report`]).
pub fn junit_xml(report: &RunReport, root: &Path) -> Result<String, ReportError> {
    junit_report(report, root)
        .to_string()
        .map_err(|source| ReportError::Junit { source })
}

/// Writes the JUnit XML of a run to `path`.
pub fn write_junit(report: &RunReport, root: &Path, path: &Path) -> Result<(), ReportError> {
    write_atomically(path, junit_xml(report, root)?.as_bytes())
}

fn run_status(report: &RunReport) -> &'static str {
    match report.status {
        super::RunStatus::Succeeded => "succeeded",
        super::RunStatus::Failed => "failed",
        super::RunStatus::Cancelled => "cancelled",
    }
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or_default()
}

/// The JUnit `type` of a failed attempt or task: how it ended.
fn failure_type(status: TaskStatus, exit_code: Option<i32>, signal: Option<&str>) -> &'static str {
    match (status, exit_code, signal) {
        (TaskStatus::TimedOut, _, _) => "timeout",
        (_, _, Some(_)) => "signal",
        (_, Some(0), None) => "outputs_missing",
        (_, Some(_), None) => "exit_code",
        (_, None, None) => "not_started",
    }
}

fn failure_message(status: TaskStatus, reason: Option<&str>) -> String {
    reason.unwrap_or(status.as_str()).to_owned()
}

/// One task as a test case.
fn test_case(
    report: &RunReport,
    task: &TaskReport,
    started: Option<DateTime<FixedOffset>>,
    log: Option<LogTail>,
) -> TestCase {
    let reason = task.reason.as_deref();
    let mut status = match task.status {
        TaskStatus::Succeeded => TestCaseStatus::success(),
        TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory
            if task.allow_failure =>
        {
            let mut status = TestCaseStatus::skipped();
            status.set_type("allowed_failure").set_message(format!(
                "allowed to fail: {}",
                failure_message(task.status, reason)
            ));
            status
        }
        TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type(failure_type(
                    task.status,
                    task.exit_code,
                    task.signal.as_deref(),
                ))
                .set_message(failure_message(task.status, reason));
            if let Some(log) = &log {
                status.set_description(log.text.as_str());
            }
            status
        }
        TaskStatus::Skipped | TaskStatus::UpToDate | TaskStatus::Cancelled | TaskStatus::NotRun => {
            let word = task.status.as_str().replace('_', " ");
            let mut status = TestCaseStatus::skipped();
            status
                .set_type(task.status.as_str())
                .set_message(reason.map_or(word, str::to_owned));
            status
        }
    };
    // Every attempt before the last one failed (else there would have been no retry).
    let earlier = task.attempts_detail.len().saturating_sub(1);
    for attempt in &task.attempts_detail[..earlier] {
        status.add_rerun(rerun(attempt, started));
    }
    let mut case = TestCase::new(task.name.as_str(), status);
    case.set_classname(report.workflow.as_str());
    case.set_time(secs(task.duration_s.unwrap_or(0.0)));
    if let (Some(started), Some(start_s)) = (started, task.start_s) {
        case.set_timestamp(started + millis(start_s));
    }
    let mut properties = vec![Property::new("attempts", task.attempts.to_string())];
    if let Some(worker) = task.worker {
        properties.push(Property::new("worker", worker.to_string()));
    }
    if task.lock_wait_s > 0.0 {
        properties.push(Property::new("lock_wait_s", task.lock_wait_s.to_string()));
    }
    if let Some(code) = task.exit_code {
        properties.push(Property::new("exit_code", code.to_string()));
    }
    if let Some(signal) = &task.signal {
        properties.push(Property::new("signal", signal.as_str()));
    }
    if let Some(command) = &task.command {
        properties.push(Property::new("command", clean(command.as_bytes())));
    }
    case.add_properties(properties);
    if let Some(log) = log {
        case.set_system_out(log.text);
    }
    case
}

fn millis(seconds: f64) -> TimeDelta {
    TimeDelta::milliseconds((seconds * 1000.0).round() as i64)
}

/// An earlier, failed attempt.
fn rerun(attempt: &AttemptReport, started: Option<DateTime<FixedOffset>>) -> TestRerun {
    let mut rerun = TestRerun::new(NonSuccessKind::Failure);
    rerun.time = Some(secs(attempt.duration_s));
    rerun.timestamp = started.zip(attempt.start_s).map(|(at, s)| at + millis(s));
    rerun.ty =
        Some(failure_type(attempt.status, attempt.exit_code, attempt.signal.as_deref()).into());
    rerun.message = Some(
        format!(
            "attempt {} on slot {}: {}",
            attempt.number,
            attempt.worker,
            failure_message(attempt.status, attempt.reason.as_deref())
        )
        .into(),
    );
    rerun
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{RunStatus, TaskReport};

    fn task(name: &str, status: TaskStatus) -> TaskReport {
        TaskReport {
            command: Some("echo \"<hi>\" && exit 1".to_owned()),
            ..TaskReport::bare(name, status)
        }
    }

    fn attempt(number: u32, status: TaskStatus, exit_code: Option<i32>) -> AttemptReport {
        AttemptReport {
            number,
            start_s: Some(f64::from(number)),
            end_s: f64::from(number) + 0.5,
            duration_s: 0.5,
            worker: 1,
            exit_code,
            signal: None,
            status,
            reason: exit_code
                .filter(|&c| c != 0)
                .map(|c| format!("exited with code {c}")),
            lock_wait_s: 0.0,
            retry_delay_s: 0.0,
        }
    }

    #[test]
    fn statuses_map_to_junit_elements() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("logs")).expect("mkdir");
        std::fs::write(
            dir.path().join("logs/bad.log"),
            b"boom\x00\x1b[1m]]></x>\xff\n",
        )
        .expect("write log");
        let mut flaky = task("flaky", TaskStatus::Succeeded);
        flaky.attempts = 2;
        flaky.duration_s = Some(1.0);
        flaky.attempts_detail = vec![
            attempt(1, TaskStatus::Failed, Some(3)),
            attempt(2, TaskStatus::Succeeded, Some(0)),
        ];
        let mut bad = task("bad", TaskStatus::Failed);
        bad.attempts = 1;
        bad.exit_code = Some(2);
        bad.reason = Some("exited with code 2".to_owned());
        bad.log = Some("logs/bad.log".to_owned());
        let mut slow = task("slow", TaskStatus::TimedOut);
        slow.signal = Some("SIGTERM".to_owned());
        let mut allowed = task("allowed", TaskStatus::Failed);
        allowed.allow_failure = true;
        allowed.exit_code = Some(1);
        let mut skipped = task("after", TaskStatus::Skipped);
        skipped.reason = Some("dependency `bad` failed".to_owned());
        let report = RunReport {
            run_id: "r".to_owned(),
            manifest: "wf.toml".to_owned(),
            workflow: "w".to_owned(),
            status: RunStatus::Failed,
            jobs: 2,
            executor: crate::workflow::ExecutorKind::Local,
            started_at: "2026-11-29T17:32:09.443Z".to_owned(),
            finished_at: "2026-11-29T17:32:10.949Z".to_owned(),
            duration_s: 1.5,
            tasks: vec![flaky, bad, slow, allowed, skipped].into(),
            critical_path: vec![],
            stray_processes: 0,
        };
        let xml = junit_xml(&report, dir.path()).expect("xml");
        assert!(
            xml.contains(r#"tests="5" skipped="2" failures="2" errors="0""#),
            "{xml}"
        );
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(xml.contains(r#"type="exit_code""#), "{xml}");
        assert!(xml.contains(r#"type="timeout""#), "{xml}");
        assert!(xml.contains(r#"type="allowed_failure""#), "{xml}");
        assert!(
            xml.contains(r#"message="dependency `bad` failed""#),
            "{xml}"
        );
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
        assert!(xml.contains("]]&gt;&lt;/x&gt;\u{fffd}"), "{xml}");
        let back = Report::deserialize_from_str(&xml).expect("parses back");
        assert_eq!(back.test_suites[0].test_cases.len(), 5);
    }
}
