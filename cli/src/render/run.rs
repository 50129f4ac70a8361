//! What `wf run` shows while it runs and when it ends.

use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::AsFd;

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
use wf_engine::exec::{LineSink, Recovered};
use wf_engine::layout::{REPORT_FILE, run_path};
use wf_engine::report::signals::signal_name;
use wf_engine::report::{RunReport, RunStatus, TaskStatus};
use wf_engine::run::RunEvent;

use super::progress::{Heartbeat, Progress, SharedProgress, StatusLine};
use super::replay::{self, Destination};
use super::style::{Style, plural, seconds};
use super::text::{escape_control, shown_name};
use crate::args::OutputMode;

/// How many log lines a failure shows in the summary.
const FAILURE_TAIL_LINES: usize = 20;

/// Up to this many up-to-date tasks are listed one a line; more are shown as one count line
/// (`✓ 34 tasks up to date`), unless `--show-up-to-date`.
pub const UP_TO_DATE_LISTED: usize = 5;

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
    /// Up-to-date lines held back to be collapsed into one (see [`UP_TO_DATE_LISTED`]).
    up_to_date: UpToDate,
    /// How finished tasks' logs reach stdout (`grouped`), decided once from what stdout is.
    logs_to: LogsTo,
}

/// How a finished task's log is shown in `--output grouped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogsTo {
    /// A terminal: line by line behind a gutter, control characters escaped.
    Terminal,
    /// Anything else: byte for byte, or not at all for `/dev/null` (see [`replay`]).
    Other(Destination),
}

impl LogsTo {
    /// What wf's stdout is now.
    fn of_stdout() -> Self {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            Self::Terminal
        } else {
            Self::Other(Destination::of(stdout.as_fd()))
        }
    }
}

/// The up-to-date tasks of a run, as their lines are held back.
#[derive(Default)]
struct UpToDate {
    /// List every one (`--show-up-to-date`).
    list_all: bool,
    /// How many tasks the plan found up to date.
    expected: usize,
    /// Their settle events, until all have come (they come first, in one batch).
    held: Vec<RunEvent>,
    /// The lines were shown.
    shown: bool,
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
            up_to_date: UpToDate::default(),
            settled_shown: std::cell::Cell::new(0),
            logs_to: LogsTo::of_stdout(),
        }
    }

    /// Says how many tasks of the run are up to date (they are settled first, together):
    /// more than [`UP_TO_DATE_LISTED`] are shown as one count line, unless `list_all`.
    pub fn up_to_date(&mut self, expected: usize, list_all: bool) {
        self.up_to_date = UpToDate {
            list_all,
            expected,
            held: Vec::new(),
            shown: false,
        };
    }

    /// Shows the held up-to-date lines (each, or one count line), if not shown yet.
    pub fn show_up_to_date(&mut self, workflow: &Workflow) {
        if self.up_to_date.shown {
            return;
        }
        self.up_to_date.shown = true;
        let held = std::mem::take(&mut self.up_to_date.held);
        if held.is_empty() || self.mode == OutputMode::Quiet {
            return;
        }
        let style = self.style;
        let print = |renderer: &Self| {
            if held.len() <= UP_TO_DATE_LISTED {
                for event in held.iter().cloned() {
                    renderer.print_event(workflow, event);
                }
            } else {
                let count = plural(held.len(), "task");
                out!(
                    "{} {}",
                    style.good("✓"),
                    style.dim(&format!(
                        "{count} up to date (--show-up-to-date lists them)"
                    ))
                );
            }
        };
        match &self.live {
            Live::Off => print(self),
            Live::Line(line) => line.suspend(|| print(self)),
            Live::Heartbeat(beat) => beat.print(|| print(self)),
        }
    }

    /// Shows `progress` as the run goes: a status line on stderr when `terminal`, else a
    /// heartbeat every `heartbeat` of silence. Does nothing for `--output quiet` (nothing but
    /// the summary is shown). With `--output stream` on a terminal, the run must send its
    /// task lines through [`RunRenderer::stream_lines`], so that they scroll above the status
    /// line instead of tearing it.
    pub fn show_progress(&mut self, progress: Progress, terminal: bool, heartbeat: Duration) {
        let shared = Arc::new(Mutex::new(progress));
        self.live = match (self.mode, terminal) {
            (OutputMode::Quiet, _) => return,
            (OutputMode::Grouped | OutputMode::Stream, true) => {
                Live::Line(StatusLine::start(Arc::clone(&shared), self.style))
            }
            (_, false) => {
                Live::Heartbeat(Heartbeat::start(Arc::clone(&shared), heartbeat, self.style))
            }
        };
        self.progress = Some(shared);
    }

    /// Where `--output stream` lines must go while a status line is shown (`None`: straight
    /// to stdout and stderr).
    pub fn stream_lines(&self) -> Option<Arc<dyn LineSink>> {
        match &self.live {
            Live::Line(line) => Some(line.lines()),
            Live::Off | Live::Heartbeat(_) => None,
        }
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
            RunEvent::TaskSettled {
                status: TaskStatus::UpToDate,
                ..
            } if !self.up_to_date.list_all && !self.up_to_date.shown => {
                self.up_to_date.held.push(event);
                if self.up_to_date.held.len() >= self.up_to_date.expected {
                    self.show_up_to_date(workflow);
                }
                return;
            }
            // Any other line first shows those held (they all come first, in one batch).
            _ if !self.up_to_date.held.is_empty() => self.show_up_to_date(workflow),
            _ => {}
        }
        if let RunEvent::Finished { report } = event {
            self.end_progress();
            let report_file = run_path(&workflow.root, &report.run_id).join(REPORT_FILE);
            self.summary(&workflow.root, &report, shown(&report_file));
            return;
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
                    // On a terminal a gutter sets the task's output apart from wf's own
                    // lines; elsewhere (files, pipes, CI logs) it is copied byte for byte,
                    // and to /dev/null not at all.
                    match self.logs_to {
                        LogsTo::Terminal => print_log(&log, Some(&style.dim("│ "))),
                        LogsTo::Other(Destination::Copied) => print_log(&log, None),
                        LogsTo::Other(Destination::Discarded) => {}
                    }
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
            RunEvent::Recovered(Recovered {
                run_id,
                processes,
                jobs,
            }) => {
                let ended = match (processes, jobs) {
                    (0, 0) => None,
                    (n, 0) => Some(format!("ended {}", plural(n, "process"))),
                    (0, j) => Some(format!("cancelled {}", plural(j, "job"))),
                    (n, j) => Some(format!(
                        "ended {} and cancelled {}",
                        plural(n, "process"),
                        plural(j, "job")
                    )),
                };
                if let Some(ended) = ended {
                    err!(
                        "{}",
                        style.warn(&format!(
                            "wf: run {run_id} did not end normally; {ended} it left running"
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
            RunEvent::ReportFailed { .. } | RunEvent::Finished { .. } => {}
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
            RunEvent::CleanupStarted => {
                err!(
                    "{}",
                    style.warn(
                        "wf: running tasks have ended; starting the `when = \"always\"` tasks (interrupt again to cancel them)"
                    )
                );
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
        // One pass over the entries (each made and let go in turn when the report makes
        // them on demand): the failures' places and order, and the processes left behind.
        let mut failures: Vec<((bool, f64), usize)> = Vec::new();
        let mut leftovers: u32 = 0;
        for (index, task) in report.tasks.iter().enumerate() {
            leftovers = leftovers.saturating_add(task.leftover_processes);
            if matches!(
                task.status,
                TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory
            ) {
                failures.push((failure_order(&task), index));
            }
        }
        failures.sort_by(|(a, _), (b, _)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let hidden = failures.len().saturating_sub(FAILURES_SHOWN);
        failures.truncate(FAILURES_SHOWN);
        let failures = failures
            .into_iter()
            .filter_map(|(_, index)| report.tasks.get(index));
        for task in failures {
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
                    TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory => {
                        style.bad(&text)
                    }
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

/// Where a failure goes in the summary: failures that fail the run before allowed ones, each
/// group in the order the tasks ended. A task that could not start ended when it was tried
/// (its last attempt's end; it has no `end_s`, which counts from a process start).
fn failure_order(task: &wf_engine::report::TaskReport) -> (bool, f64) {
    let ended = task
        .end_s
        .or_else(|| task.attempts_detail.last().map(|a| a.end_s))
        .unwrap_or(f64::MAX);
    (task.allow_failure, ended)
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

/// Copies a task's log to stdout: as it is (by the kernel, see [`replay`]), or with `gutter`
/// before each line (control characters then escaped, as in every line wf shows a person).
/// A failing stdout (a closed pipe, a full disk) ends the copy; the run goes on.
fn print_log(log: &Path, gutter: Option<&str>) {
    let Ok(file) = std::fs::File::open(log) else {
        return;
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match gutter {
        None => {
            // wf's own bytes still buffered go first; the lock keeps other writers out.
            if out.flush().is_ok() {
                let _ = replay::copy_log(&file, out.as_fd());
            }
        }
        Some(gutter) => {
            for line in std::io::BufReader::new(file)
                .split(b'\n')
                .map_while(Result::ok)
            {
                let text = String::from_utf8_lossy(&line);
                let _ = writeln!(out, "{gutter}{}", escape_control(&text));
            }
        }
    }
    let _ = out.flush();
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
