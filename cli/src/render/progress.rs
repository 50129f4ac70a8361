//! Live progress while a run goes on: on a terminal, a status line at the bottom of stderr
//! redrawn in place by a timer (at most 10 times a second); elsewhere, a heartbeat line when
//! nothing was printed for a while. Both read one shared [`Progress`], which the renderer
//! updates as run events arrive, on the coordinator thread, never on a worker's path.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wf_engine::exec::{LineSink, Stream};
use wf_engine::report::TaskStatus;
use wf_engine::workflow::TaskId;

use super::style::Style;

/// How often the status line is redrawn, at most.
const REDRAW_HZ: u8 = 10;
/// The heartbeat interval when `WF_HEARTBEAT_SECS` does not say otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// A task attempt that is running.
#[derive(Debug, Clone)]
struct Running {
    task: TaskId,
    name: String,
    since: Instant,
}

/// What the progress line shows: counts, what runs since when, and the expected work left.
#[derive(Debug, Clone)]
pub struct Progress {
    total: usize,
    settled: usize,
    failed: usize,
    running: Vec<Running>,
    weights: Vec<f64>,
    /// Expected seconds of the tasks that neither run nor ended yet.
    waiting_work: f64,
    jobs: usize,
    /// Whether the expected durations come from earlier runs (else no ETA is shown).
    estimates: bool,
}

impl Progress {
    /// Progress of a run of the `selected` tasks on `jobs` slots, with each task's expected
    /// duration in `weights`; `estimates` says whether those were learnt from earlier runs.
    pub fn new(selected: &[bool], weights: Vec<f64>, jobs: u32, estimates: bool) -> Self {
        let waiting_work = selected
            .iter()
            .zip(&weights)
            .filter(|(s, _)| **s)
            .map(|(_, w)| *w)
            .sum();
        Self {
            total: selected.iter().filter(|s| **s).count(),
            settled: 0,
            failed: 0,
            running: Vec::new(),
            weights,
            waiting_work,
            jobs: jobs.max(1) as usize,
            estimates,
        }
    }

    fn weight(&self, task: TaskId) -> f64 {
        self.weights.get(task).copied().unwrap_or(0.0)
    }

    /// An attempt of `task` (called `name`) started.
    pub fn started(&mut self, task: TaskId, name: &str, now: Instant) {
        self.waiting_work = (self.waiting_work - self.weight(task)).max(0.0);
        self.running.push(Running {
            task,
            name: name.to_owned(),
            since: now,
        });
    }

    /// An attempt of `task` ended with `status`; `retried` if another attempt follows.
    pub fn finished(&mut self, task: TaskId, status: TaskStatus, retried: bool) {
        self.running.retain(|r| r.task != task);
        if retried {
            self.waiting_work += self.weight(task);
        } else {
            self.settled += 1;
            if matches!(status, TaskStatus::Failed | TaskStatus::TimedOut) {
                self.failed += 1;
            }
        }
    }

    /// `task` ended without running (skipped, up to date, not run).
    pub fn settled(&mut self, task: TaskId) {
        self.waiting_work = (self.waiting_work - self.weight(task)).max(0.0);
        self.settled += 1;
    }

    /// True while an attempt runs.
    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Expected seconds until the run ends: the work left spread over the slots, but never
    /// less than what the longest running task still needs.
    pub fn eta(&self, now: Instant) -> Option<f64> {
        if !self.estimates {
            return None;
        }
        let left: Vec<f64> = self
            .running
            .iter()
            .map(|r| (self.weight(r.task) - now.duration_since(r.since).as_secs_f64()).max(0.0))
            .collect();
        let longest = left.iter().copied().fold(0.0, f64::max);
        let spread = (self.waiting_work + left.iter().sum::<f64>()) / self.jobs as f64;
        Some(spread.max(longest))
    }

    /// The status line, at most `width` columns wide:
    /// `[37/120] 4 running: train[lr=0.1] 12s, load 3s … · 1 failed · ETA 1m20s`, the longest
    /// running tasks first, as many as fit.
    pub fn line(&self, now: Instant, width: usize, style: Style) -> String {
        let head = format!("[{}/{}]", self.settled, self.total);
        let mut tail = String::new();
        if self.failed > 0 {
            let _ = write!(tail, " · {}", style.bad(&format!("{} failed", self.failed)));
        }
        if let Some(eta) = self.eta(now) {
            let _ = write!(tail, " · ETA {}", short(eta));
        }
        let mut running: Vec<&Running> = self.running.iter().collect();
        running.sort_by_key(|r| r.since);
        let mut line = head;
        if !running.is_empty() {
            let _ = write!(line, " {} running:", running.len());
            let budget = width.saturating_sub(console::measure_text_width(&tail) + 2);
            for (index, r) in running.iter().enumerate() {
                let item = format!(
                    "{}{} {}",
                    if index == 0 { " " } else { ", " },
                    style.bold(&r.name),
                    short(now.duration_since(r.since).as_secs_f64())
                );
                let room = budget.saturating_sub(console::measure_text_width(&line));
                // Room for the item, and for ` …` should a later one not fit.
                let last = index + 1 == running.len();
                let needed = console::measure_text_width(&item) + if last { 0 } else { 2 };
                if needed > room {
                    line.push_str(" …");
                    break;
                }
                line.push_str(&item);
            }
        }
        line.push_str(&tail);
        console::truncate_str(&line, width.max(8), "…").into_owned()
    }
}

/// Seconds, short: `850ms`, `12s`, `1m20s`, `2h05m`.
pub fn short(seconds: f64) -> String {
    if seconds < 1.0 {
        return format!("{}ms", (seconds * 1000.0).round() as u64);
    }
    let whole = seconds.round() as u64;
    match whole {
        0..60 => format!("{whole}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

/// The progress shared by the renderer and the redraw timer.
pub type SharedProgress = Arc<Mutex<Progress>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The status line at the bottom of a terminal (stderr). Lines printed through
/// [`StatusLine::suspend`] scroll above it.
pub struct StatusLine {
    bar: ProgressBar,
}

impl StatusLine {
    /// Starts drawing `progress` on stderr, redrawn by indicatif's own timer thread.
    pub fn start(progress: SharedProgress, style: Style) -> Self {
        let started = Instant::now();
        let template = ProgressStyle::with_template("{wf}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "wf",
                move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let width = usize::from(console::Term::stderr().size().1).max(20) - 1;
                    let now = Instant::now().max(started);
                    let _ = out.write_str(&lock(&progress).line(now, width, style));
                },
            );
        let bar =
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(REDRAW_HZ));
        bar.set_style(template);
        bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(REDRAW_HZ)));
        Self { bar }
    }

    /// Runs `print` with the status line cleared, then draws it again below what it printed.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        self.bar.suspend(print)
    }

    /// A sink for `--output stream` lines that clears the status line around each one, so
    /// the lines scroll above it intact.
    pub fn lines(&self) -> Arc<dyn LineSink> {
        Arc::new(LinesAbove {
            bar: self.bar.clone(),
        })
    }

    /// Removes the status line for good.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The heartbeat interval: `WF_HEARTBEAT_SECS` (seconds, fractions allowed) or 30 s.
pub fn heartbeat_interval() -> Duration {
    std::env::var("WF_HEARTBEAT_SECS")
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map_or(DEFAULT_HEARTBEAT, Duration::from_secs_f64)
}

/// When output was last printed, and whether the heartbeat must stop.
#[derive(Debug)]
struct Quiet {
    last_output: Instant,
    stop: bool,
}

/// Without a terminal: a line saying what runs (and for how long) on stdout whenever nothing
/// was printed for an interval. The renderer prints through [`Heartbeat::print`], so a
/// heartbeat never lands inside a task's output.
pub struct Heartbeat {
    shared: Arc<(Mutex<Quiet>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts the heartbeat thread.
    pub fn start(progress: SharedProgress, interval: Duration, style: Style) -> Self {
        let shared = Arc::new((
            Mutex::new(Quiet {
                last_output: Instant::now(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let beat = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wf-heartbeat".into())
            .spawn(move || {
                let (quiet, wake) = &*beat;
                let mut state = lock(quiet);
                loop {
                    if state.stop {
                        return;
                    }
                    let now = Instant::now();
                    let due = state.last_output + interval;
                    if now < due {
                        state = wake
                            .wait_timeout(state, due - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        continue;
                    }
                    let progress = lock(&progress);
                    if progress.is_running() {
                        let line = progress.line(now, usize::MAX, style);
                        drop(progress);
                        let _ = writeln!(
                            std::io::stdout().lock(),
                            "{}",
                            style.dim(&format!("wf: {line}"))
                        );
                    }
                    state.last_output = now;
                }
            })
            .ok();
        Self { shared, thread }
    }

    /// Runs `print` without a heartbeat in the middle, and counts it as output.
    pub fn print<R>(&self, print: impl FnOnce() -> R) -> R {
        let mut state = lock(&self.shared.0);
        let result = print();
        state.last_output = Instant::now();
        result
    }

    /// Stops the heartbeat thread and waits for it.
    pub fn stop(&mut self) {
        lock(&self.shared.0).stop = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--output stream` lines written above the status line (see [`StatusLine::lines`]).
struct LinesAbove {
    bar: ProgressBar,
}

impl std::fmt::Debug for LinesAbove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinesAbove")
    }
}

impl LineSink for LinesAbove {
    fn line(&self, stream: Stream, text: &[u8]) {
        self.bar.suspend(|| {
            // A closed or full terminal never stops the run.
            let _ = match stream {
                Stream::Stdout => std::io::stdout().lock().write_all(text),
                Stream::Stderr => std::io::stderr().lock().write_all(text),
            };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> Progress {
        Progress::new(
            &[true, true, true, true],
            vec![10.0, 20.0, 30.0, 40.0],
            2,
            true,
        )
    }

    #[test]
    fn the_line_lists_running_tasks_longest_first_and_the_eta() {
        let mut p = progress();
        let t0 = Instant::now();
        p.started(0, "load", t0);
        p.started(1, "train[lr=0.1]", t0 + Duration::from_secs(3));
        p.settled(3);
        let now = t0 + Duration::from_secs(5);
        // Left: load 5s, train 18s, waiting 30s (task 2) → (5 + 18 + 30) / 2 = 26.5s.
        assert_eq!(
            p.line(now, 200, Style::new(false)),
            "[1/4] 2 running: load 5s, train[lr=0.1] 2s · ETA 27s"
        );
        p.finished(0, TaskStatus::Failed, false);
        assert_eq!(
            p.line(now, 200, Style::new(false)),
            "[2/4] 1 running: train[lr=0.1] 2s · 1 failed · ETA 24s"
        );
    }

    #[test]
    fn the_line_fits_the_width() {
        let mut p = progress();
        let t0 = Instant::now();
        for task in 0..3 {
            p.started(task, &format!("a-rather-long-task-name-{task}"), t0);
        }
        let line = p.line(t0 + Duration::from_secs(1), 60, Style::new(true));
        assert!(console::measure_text_width(&line) <= 60, "{line}");
        assert!(line.contains(" …"), "{line}");
        // Left: 9s + 19s + 29s running, 40s waiting, on 2 slots.
        assert!(line.ends_with("ETA 49s"), "{line}");
    }

    #[test]
    fn a_retry_puts_its_work_back_and_no_estimates_mean_no_eta() {
        let mut p = progress();
        let t0 = Instant::now();
        p.started(0, "a", t0);
        p.finished(0, TaskStatus::Failed, true);
        assert_eq!(p.eta(t0), Some(50.0));
        let plain = Progress::new(&[true], vec![1.0], 1, false);
        assert_eq!(plain.line(t0, 80, Style::new(false)), "[0/1]");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short(0.25), "250ms");
        assert_eq!(short(12.4), "12s");
        assert_eq!(short(80.0), "1m20s");
        assert_eq!(short(7500.0), "2h05m");
    }
}
