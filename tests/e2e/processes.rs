//! Process helpers of the tests that start long-lived processes: markers to find them in
//! /proc, waits, starting and signalling `wf`, reading its report, and a guard that kills
//! leftovers.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::wf_process;

/// A `sleep` duration no other process uses: `1000.PPPPPPNNNN` (test pid, counter, time).
pub fn sleep_marker() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "1000.{:07}{:03}{:06}",
        std::process::id(),
        n % 1000,
        nanos % 1_000_000
    )
}

/// A marker no other test uses, put in a task's environment as `WF_TEST_MARKER` so its
/// processes (and their children) can be found in the process table.
pub fn env_marker(name: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("wf-test-{name}-{}-{}", std::process::id(), now.as_nanos())
}

/// Live (non-zombie) processes with `marker` among their arguments.
pub fn with_argument(marker: &str) -> Vec<i32> {
    live_with("cmdline", marker.as_bytes())
}

/// Live (non-zombie) processes whose environment contains `WF_TEST_MARKER=marker`.
pub fn with_env_marker(marker: &str) -> Vec<i32> {
    live_with("environ", format!("WF_TEST_MARKER={marker}").as_bytes())
}

/// Live (non-zombie) processes whose `/proc/PID/{file}` holds `needle` as one of its
/// NUL-separated entries.
fn live_with(file: &str, needle: &[u8]) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            let live = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit_once(") ")
                        .is_some_and(|(_, r)| !r.starts_with('Z'))
                })
                .unwrap_or(false);
            live && std::fs::read(format!("/proc/{pid}/{file}"))
                .map(|c| c.split(|&b| b == 0).any(|a| a == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Checks `done` every `every` until it holds (true) or `limit` has passed (false).
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !done() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(every);
    }
    true
}

/// Waits up to `limit` until at least `count` processes carry `marker` as an argument.
pub fn wait_for(marker: &str, count: usize, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(20), || {
        with_argument(marker).len() >= count
    })
}

/// Waits up to `limit` for no process to carry `marker` as an argument.
pub fn none_left(marker: &str, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(20), || {
        with_argument(marker).is_empty()
    })
}

/// Waits up to `limit` for no process to carry `marker` in its environment.
pub fn none_left_with_env(marker: &str, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(50), || {
        with_env_marker(marker).is_empty()
    })
}

/// Waits up to `limit` for `path` to exist.
pub fn wait_for_file(path: &Path, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(20), || path.exists())
}

/// `wf ARGS` in `dir`, its output piped.
pub fn spawn_wf(dir: &Path, args: &[&str]) -> Child {
    wf_process(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wf starts")
}

/// The process id of a child.
pub fn pid(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("pid")
}

/// Sends `signal` to `pid` (a child of ours, or its process group as `-pid`).
pub fn signal_pid(pid: i32, signal: i32) {
    // SAFETY: signalling our own child (pid > 0) or its process group (-pid).
    unsafe { libc::kill(pid, signal) };
}

/// Sends `signal` to a child of ours.
pub fn signal(child: &Child, signal: i32) {
    signal_pid(pid(child), signal);
}

/// The JSON report `--report report.json` wrote in `dir`.
pub fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report")
}

/// Kills (SIGKILL, by pid) every process still carrying one of its markers (as an argument)
/// when dropped, and wf itself if it is still running.
pub struct Cleanup {
    markers: Vec<String>,
    /// The `wf` being watched, if any.
    pub wf: Option<Child>,
}

impl Cleanup {
    /// A guard for processes carrying `markers`.
    pub fn new(markers: &[&str]) -> Self {
        Self {
            markers: markers.iter().map(|m| (*m).to_owned()).collect(),
            wf: None,
        }
    }

    /// Waits for wf to end within `limit` and returns its exit code (None if it is still
    /// running: the guard kills it when dropped).
    pub fn wait_within(&mut self, limit: Duration) -> Option<i32> {
        let child = self.wf.as_mut().expect("wf was started");
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.wf = None;
                return status.code();
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What wf printed so far and how it ended, for a failed assertion's message: wf is
    /// SIGKILLed first if it is still running (its output was piped, see [`spawn_wf`]).
    pub fn wf_account(&mut self) -> String {
        let Some(mut child) = self.wf.take() else {
            return "wf was already waited for".into();
        };
        let ended = match child.try_wait() {
            Ok(Some(status)) => format!("wf had ended: {status}"),
            _ => {
                signal(&child, libc::SIGKILL);
                "wf was still running".into()
            }
        };
        match child.wait_with_output() {
            Ok(output) => format!(
                "{ended}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => format!("{ended}; its output could not be read: {error}"),
        }
    }

    /// SIGKILLs wf and waits for it.
    pub fn kill_wf(&mut self) {
        let mut child = self.wf.take().expect("wf was started");
        signal(&child, libc::SIGKILL);
        child.wait().expect("wf is reaped");
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.wf {
            let _ = child.kill();
            let _ = child.wait();
        }
        for marker in &self.markers {
            for pid in with_argument(marker) {
                // SAFETY: kill has no memory-safety preconditions; pid carries our marker.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}
