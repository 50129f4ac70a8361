//! What `wf run` shows while it runs and when it ends.

use std::io::Write;

/// Like `println!`, but a closed or failing stdout is ignored: the run must go on (and its
/// report be written) even if nobody reads its output any more.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Like `eprintln!`, ignoring a closed stderr.
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wf_engine::Workflow;
use wf_engine::exec::logs::tail;
use wf_engine::report::signals::signal_name;
use wf_engine::report::{RunReport, RunStatus, TaskStatus};
use wf_engine::run::RunEvent;

use super::progress::{Heartbeat, Progress, SharedProgress, StatusLine};
use super::style::{Style, plural, seconds};
use super::text::{escape_control, shown_name};
use crate::args::OutputMode;

/// How many log lines a failure shows in the summary.
const FAILURE_TAIL_LINES: usize = 20;

/// How many failures the summary shows in detail (name, reason, log tail); the others are
/// counted, so a run of a million failing tasks ends with a screenful, not a million entries.
const FAILURES_SHOWN: usize = 20;

/// How many tasks that did not run (up to date, skipped) get a line of their own as the run
/// goes; the rest are counted in the summary.
const SETTLED_SHOWN: usize = 50;

/// A critical path longer than this is shown by its ends.
const PATH_SHOWN: usize = 12;

/// Renders run events as they come (task lines and output on stdout, in order), and the
/// summary at the end (on stderr, with diagnostics).
pub struct RunRenderer {
    mode: OutputMode,
    style: Style,
    grace: std::time::Duration,
    /// Report files that could not be written: (the file, the error), shown after the summary.
    report_failures: Vec<(std::path::PathBuf, String)>,
    progress: Option<SharedProgress>,
    live: Live,
    /// Lines printed so far for tasks that did not run.
    settled_shown: std::cell::Cell<usize>,
}

/// How progress is shown between task lines.
enum Live {
    /// Not at all.
    Off,
    /// A status line at the bottom of the terminal.
    Line(StatusLine),
    /// A heartbeat line during long silent stretches.
    Heartbeat(Heartbeat),
}

impl RunRenderer {
    /// A renderer for the given output mode.
    pub fn new(mode: OutputMode, color: bool, grace: std::time::Duration) -> Self {
        Self {
            mode,
            style: Style::new(color),
            grace,
            report_failures: Vec::new(),
            progress: None,
            live: Live::Off,
            settled_shown: std::cell::Cell::new(0),
        }
    }

    /// Shows `progress` as the run goes: a status line on stderr when `terminal`, else a
    /// heartbeat every `heartbeat` of silence. Does nothing for `--output quiet` (nothing but
    /// the summary is shown) and, on a terminal, for `--output stream` (tasks print their
    /// lines themselves, which a status line would tear).
    pub fn show_progress(&mut self, progress: Progress, terminal: bool, heartbeat: Duration) {
        let shared = Arc::new(Mutex::new(progress));
        self.live = match (self.mode, terminal) {
            (OutputMode::Quiet, _) | (OutputMode::Stream, true) => return,
            (OutputMode::Grouped, true) => {
                Live::Line(StatusLine::start(Arc::clone(&shared), self.style))
            }
            (_, false) => {
                Live::Heartbeat(Heartbeat::start(Arc::clone(&shared), heartbeat, self.style))
            }
        };
        self.progress = Some(shared);
    }

    /// Stops showing progress (before the summary).
    pub fn end_progress(&mut self) {
        match std::mem::replace(&mut self.live, Live::Off) {
            Live::Off => {}
            Live::Line(line) => line.finish(),
            Live::Heartbeat(mut beat) => beat.stop(),
        }
    }

    /// Handles one event of the run: updates the progress, then prints what it says (with the
    /// status line out of the way, and no heartbeat in the middle).
    pub fn on_event(&mut self, workflow: &Workflow, event: RunEvent) {
        if let Some(progress) = &self.progress {
            let mut progress = progress.lock().unwrap_or_else(PoisonError::into_inner);
            match &event {
                RunEvent::TaskStarted { task, .. } => {
                    progress.started(*task, &workflow.tasks[*task].name, Instant::now());
                }
                RunEvent::TaskFinished {
                    task,
                    status,
                    retry_in,
                    ..
                } => progress.finished(*task, *status, retry_in.is_some()),
                RunEvent::TaskSettled { task, .. } => progress.settled(*task),
                _ => {}
            }
        }
        match event {
            RunEvent::TaskStarted { .. } => return,
            RunEvent::ReportFailed { path, message } => {
                self.report_failures.push((path, message));
                return;
            }
            _ => {}
        }
        match &self.live {
            Live::Off => self.print_event(workflow, event),
            Live::Line(line) => line.suspend(|| self.print_event(workflow, event)),
            Live::Heartbeat(beat) => beat.print(|| self.print_event(workflow, event)),
        }
    }

    fn print_event(&self, workflow: &Workflow, event: RunEvent) {
        let style = self.style;
        match event {
            RunEvent::TaskStarted { .. } => {}
            RunEvent::Started {
                run_id,
                jobs,
                tasks,
                ..
            } => {
                if self.mode != OutputMode::Quiet {
                    let (tasks, slots) = (plural(tasks, "task"), plural(jobs as usize, "slot"));
                    out!(
                        "{}",
                        style.dim(&format!("wf: {tasks} on {slots}, run {run_id}"))
                    );
                }
            }
            RunEvent::TaskFinished {
                task,
                attempt,
                status,
                retry_in,
                duration_s,
                log,
                reason,
            } => {
                if self.mode == OutputMode::Quiet {
                    return;
                }
                let name = &shown_name(&workflow.tasks[task].name);
                let failed = status != TaskStatus::Succeeded;
                let mark = match (failed, retry_in) {
                    (false, _) => style.good("✓"),
                    (true, Some(_)) => style.warn("↻"),
                    (true, None) => style.bad("✗"),
                };
                let mut line = format!(
                    "{mark} {} {}",
                    style.bold(name),
                    style.dim(&seconds(duration_s))
                );
                if attempt > 1 {
                    line.push_str(&style.dim(&format!(" (attempt {attempt})")));
                }
                if let Some(reason) = reason {
                    line.push_str(&format!(": {}", escape_control(&reason.to_string())));
                }
                if let Some(delay) = retry_in {
                    line.push_str(
                        &style.dim(&format!(", retrying in {}", seconds(delay.as_secs_f64()))),
                    );
                }
                out!("{line}");
                if let Some(log) =
                    log.filter(|_| retry_in.is_none() && self.mode == OutputMode::Grouped)
                {
                    print_log(&log);
                }
            }
            RunEvent::TaskSettled {
                task,
                status,
                reason,
            } => {
                if self.mode == OutputMode::Quiet || status == TaskStatus::NotRun {
                    return;
                }
                let shown = self.settled_shown.get();
                self.settled_shown.set(shown.saturating_add(1));
                if shown == SETTLED_SHOWN {
                    out!(
                        "{}",
                        style.dim("- … more tasks that do not run: counted in the summary")
                    );
                }
                if shown >= SETTLED_SHOWN {
                    return;
                }
                let name = &shown_name(&workflow.tasks[task].name);
                let word = status.as_str().replace('_', " ");
                let reason = reason
                    .map(|r| format!(": {}", escape_control(&r.to_string())))
                    .unwrap_or_default();
                out!(
                    "{} {} {}{reason}",
                    style.warn("-"),
                    style.bold(name),
                    style.dim(&word)
                );
            }
            RunEvent::Recovered { run_id, ended } => {
                if ended > 0 {
                    err!(
                        "{}",
                        style.warn(&format!(
                            "wf: run {run_id} did not end normally; ended {} it left running",
                            plural(ended, "process")
                        ))
                    );
                }
            }
            RunEvent::StoreFailed { message } => {
                err!(
                    "{}",
                    style.warn(&format!(
                        "wf: could not record this run in the state store ({message}); its report and logs are complete"
                    ))
                );
            }
            // Kept for after the summary (see `on_event`).
            RunEvent::ReportFailed { .. } => {}
            RunEvent::Interrupted { signal, force } => {
                let name = signal_name(signal);
                if force {
                    err!(
                        "{}",
                        style.bad(&format!("wf: {name} again: killing every running task now"))
                    );
                } else {
                    err!(
                        "{}",
                        style.warn(&format!(
                            "wf: {name}: stopping; running tasks get SIGTERM and {} to end (again to kill now)",
                            seconds(self.grace.as_secs_f64())
                        ))
                    );
                }
            }
            RunEvent::InterruptedCleanup { signal } => {
                let name = signal_name(signal);
                err!(
                    "{}",
                    style.bad(&format!(
                        "wf: {name}: not waiting any longer; killing what the tasks left running now"
                    ))
                );
            }
        }
    }

    /// The end-of-run summary: each failure with the tail of its log (root causes only: the
    /// tasks that failed, not the ones skipped because of them), counts, wall time, critical
    /// path and where the report is.
    pub fn summary(&self, root: &Path, report: &RunReport, report_file: &Path) {
        let style = self.style;
        let mut failures: Vec<_> = report
            .tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Failed | TaskStatus::TimedOut))
            .collect();
        failures.sort_by(|a, b| {
            a.end_s
                .unwrap_or(f64::MAX)
                .total_cmp(&b.end_s.unwrap_or(f64::MAX))
        });
        let hidden = failures.len().saturating_sub(FAILURES_SHOWN);
        failures.truncate(FAILURES_SHOWN);
        for task in &failures {
            let label = if task.allow_failure {
                style.warn("✗ allowed failure")
            } else {
                style.bad("✗ failed")
            };
            err!();
            err!(
                "{label} {}: {}",
                style.bold(&shown_name(&task.name)),
                escape_control(task.reason.as_deref().unwrap_or(task.status.as_str()))
            );
            if let Some(log) = &task.log {
                let path = root.join(log);
                if let Ok(text) = tail(&path, FAILURE_TAIL_LINES, 64 * 1024) {
                    for line in text.lines() {
                        err!("  {} {line}", style.dim("│"));
                    }
                }
                err!(
                    "  {}",
                    style.dim(&format!("log: {}", shown(&root.join(log)).display()))
                );
            }
        }
        if hidden > 0 {
            err!();
            err!(
                "{}",
                style.bad(&format!(
                    "✗ {hidden} more {} failed: the run's report lists every task",
                    if hidden == 1 { "task" } else { "tasks" }
                ))
            );
        }
        let counts: Vec<String> = report
            .counts()
            .into_iter()
            .map(|(status, n)| {
                let text = format!("{n} {}", status.as_str().replace('_', " "));
                match status {
                    TaskStatus::Succeeded | TaskStatus::UpToDate => style.good(&text),
                    TaskStatus::Failed | TaskStatus::TimedOut => style.bad(&text),
                    _ => style.warn(&text),
                }
            })
            .collect();
        let verdict = match report.status {
            RunStatus::Succeeded => style.good("succeeded"),
            RunStatus::Failed => style.bad("failed"),
            RunStatus::Cancelled => style.warn("cancelled"),
        };
        err!();
        err!(
            "wf: {verdict} in {} with {}: {}",
            seconds(report.duration_s),
            plural(report.jobs as usize, "slot"),
            if counts.is_empty() {
                "no tasks".to_owned()
            } else {
                counts.join(", ")
            }
        );
        if report.critical_path.len() > 1 {
            err!(
                "{}",
                style.dim(&format!(
                    "critical path: {}",
                    path_text(&report.critical_path)
                ))
            );
        }
        let leftovers: u32 = report.tasks.iter().map(|t| t.leftover_processes).sum();
        if leftovers + report.stray_processes > 0 {
            err!(
                "{}",
                style.warn(&format!(
                    "wf: ended {} that tasks left running",
                    plural((leftovers + report.stray_processes) as usize, "process")
                ))
            );
        }
        if !self
            .report_failures
            .iter()
            .any(|(path, _)| path.ends_with(report_file))
        {
            err!(
                "{}",
                style.dim(&format!("report: {}", report_file.display()))
            );
        }
        for (_, message) in &self.report_failures {
            err!(
                "{}",
                style.bad(&format!(
                    "wf: error: {message} (the run itself is recorded in full)"
                ))
            );
        }
    }

    /// True if a report file could not be written.
    pub fn report_failed(&self) -> bool {
        !self.report_failures.is_empty()
    }
}

impl Drop for RunRenderer {
    fn drop(&mut self) {
        self.end_progress();
    }
}

/// The critical path as `a → b → c`; a long one by its first and last few tasks.
fn path_text(path: &[String]) -> String {
    let names = |part: &[String]| {
        part.iter()
            .map(|name| shown_name(name))
            .collect::<Vec<_>>()
            .join(" → ")
    };
    if path.len() <= PATH_SHOWN {
        return names(path);
    }
    let end = PATH_SHOWN / 2;
    format!(
        "{} → … {} more … → {}",
        names(&path[..end]),
        path.len() - 2 * end,
        names(&path[path.len() - end..])
    )
}

/// Copies a task's log to stdout.
fn print_log(log: &Path) {
    if let Ok(mut file) = std::fs::File::open(log) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = std::io::copy(&mut file, &mut out);
        let _ = out.flush();
    }
}

/// A path as the user best reads it: relative to the current folder when it is inside it.
pub fn shown(path: &Path) -> &Path {
    match std::env::current_dir() {
        Ok(cwd) => path.strip_prefix(&cwd).unwrap_or(path),
        Err(_) => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn a_short_critical_path_is_shown_whole() {
        assert_eq!(path_text(&names(3)), "t0 → t1 → t2");
        assert_eq!(
            path_text(&names(PATH_SHOWN)).matches('→').count(),
            PATH_SHOWN - 1
        );
    }

    #[test]
    fn a_long_critical_path_is_shown_by_its_ends() {
        let text = path_text(&names(100_000));
        assert_eq!(
            text,
            "t0 → t1 → t2 → t3 → t4 → t5 → … 99988 more … → t99994 → t99995 → t99996 → \
             t99997 → t99998 → t99999"
        );
    }
}
