//! Reaping adopted orphans while the run goes on.
//!
//! wf is a child subreaper during a run (see [`super::group`]): every process a task orphans
//! (`(cmd &)`, a double fork, a daemon) is re-parented to wf. When such a process exits it stays
//! a zombie until wf waits for it, and a zombie still counts against the user's process limit
//! (and a cgroup's `pids.max`). A task that forks thousands of short-lived orphans would
//! otherwise fill the process table until the end of the run.
//!
//! # Never stealing a task's exit status
//!
//! A task's main process is waited for by its worker thread (pidfd, then `waitpid(pid)`). A
//! reaper that called `waitpid(-1)` could collect that status first, and the task would lose
//! its exit code. So the reaper never waits for "any child". It waits for specific pids, and it
//! finds them by *which thread is their parent*:
//!
//! - A task's main process is created by `clone` on its worker thread, so the kernel lists it in
//!   `/proc/self/task/WORKER_TID/children` for as long as it is unreaped. That holds from the
//!   instant `clone` returns, so there is no window between the spawn and some registration
//!   in which the reaper could take it.
//! - Orphans are re-parented to a thread of wf that is not a worker (the kernel picks the first
//!   live thread of the process: the thread that called `run`).
//!
//! The reaper reads the `children` file of every thread of wf *except* the workers (whose thread
//! ids they register when they start) and reaps each listed pid with `waitid(P_PID, pid,
//! WEXITED | WNOHANG)`, which reaps only if that process has exited. If an orphan ever landed on
//! a worker thread, it would merely be left for the end-of-run cleanup.
//!
//! # Cost on the dispatch path
//!
//! The reaper does not listen for SIGCHLD: a handler would interrupt one of wf's threads at
//! every task's exit (a wake-up and a thread switch per task, on the dispatch path of a run of
//! tiny tasks). SIGCHLD keeps its default disposition (discarded; children still become zombies
//! until waited for, so no status is lost) and the reaper scans on a timer instead: again after
//! [`REAP_SOON`] when its last scan reaped something (a task that keeps forking orphans), backing
//! off to [`REAP_IDLE`] while scans find nothing. A zombie lives at most about [`REAP_IDLE`], and
//! an idle run costs a few system calls [`REAP_IDLE`] apart, whatever its task rate.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::supervise::{eventfd, notify};

/// The pause after a scan that reaped something: orphans keep coming, look again soon.
pub const REAP_SOON: Duration = Duration::from_millis(20);

/// The longest pause between two scans, reached by doubling while scans find nothing.
pub const REAP_IDLE: Duration = Duration::from_millis(250);

/// Thread ids whose children the reaper must leave alone (the workers').
#[derive(Debug, Default)]
pub struct Workers {
    tids: Mutex<Vec<libc::pid_t>>,
}

impl Workers {
    /// Registers the calling thread as a worker: its children (task main processes) are never
    /// reaped by the reaper.
    pub fn register_current_thread(&self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.tids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tid);
    }

    fn snapshot(&self) -> Vec<libc::pid_t> {
        self.tids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The running reaper thread; [`Reaper::stop`] ends it (also on drop).
pub struct Reaper {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
    /// The workers, shared with the reaper thread.
    pub workers: Arc<Workers>,
}

impl Reaper {
    /// Starts the reaper thread.
    pub fn start() -> io::Result<Self> {
        let stop = eventfd()?;
        let workers = Arc::new(Workers::default());
        let thread = {
            let stop = stop.try_clone()?;
            let workers = Arc::clone(&workers);
            std::thread::Builder::new()
                .name("wf-reaper".into())
                .spawn(move || reaper_loop(&stop, &workers))?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
            workers,
        })
    }

    /// Stops the reaper and waits for its thread; from then on adopted children are left to
    /// the caller (the end-of-run cleanup reaps them).
    pub fn stop(&mut self) {
        notify(&self.stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Scans, pauses, scans again; until stopped.
fn reaper_loop(stop: &OwnedFd, workers: &Workers) {
    let mut pause = REAP_SOON;
    loop {
        pause = next_pause(pause, reap_adopted(&workers.snapshot()));
        if stop_within(stop, Instant::now() + pause) {
            return;
        }
    }
}

/// The pause after a scan that reaped `reaped` processes, the last pause being `last`.
fn next_pause(last: Duration, reaped: usize) -> Duration {
    if reaped > 0 {
        REAP_SOON
    } else {
        last.saturating_mul(2).min(REAP_IDLE)
    }
}

/// Sleeps until `until` unless `stop` fires first; true if `stop` fired.
fn stop_within(stop: &OwnedFd, until: Instant) -> bool {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fd = libc::pollfd {
            fd: stop.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut fd, 1, millis) };
        if ready > 0 {
            return true;
        }
        if ready == 0 {
            return false;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// Reaps every exited child of wf's threads except those of `workers` (their children are
/// task main processes, which their worker waits for). Returns how many were reaped.
pub fn reap_adopted(workers: &[libc::pid_t]) -> usize {
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut reaped = 0;
    for thread in threads.filter_map(Result::ok) {
        let Some(tid) = thread
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if workers.contains(&tid) {
            continue;
        }
        let Ok(children) = std::fs::read_to_string(thread.path().join("children")) else {
            continue;
        };
        for pid in children
            .split_ascii_whitespace()
            .filter_map(|p| p.parse::<libc::pid_t>().ok())
        {
            if reap_if_exited(pid) {
                reaped += 1;
            }
        }
    }
    reaped
}

/// Reaps `pid` if it is an exited child; true if it was.
fn reap_if_exited(pid: libc::pid_t) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else {
        return false;
    };
    // SAFETY: siginfo_t is plain data, for which all-zero bytes are a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out pointer; P_PID limits the wait to this one process, and
    // WNOHANG leaves it alone unless it has already exited.
    let rc = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOHANG) };
    // SAFETY: si_pid is valid to read once waitid returned 0 (it is 0 if nothing was reaped).
    rc == 0 && unsafe { info.si_pid() } != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_back_off_while_idle_and_come_back_soon_after_a_reap() {
        let mut pause = REAP_SOON;
        let mut seen = Vec::new();
        for _ in 0..6 {
            pause = next_pause(pause, 0);
            seen.push(pause);
        }
        assert_eq!(seen[0], REAP_SOON * 2);
        assert_eq!(seen.last(), Some(&REAP_IDLE));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(next_pause(REAP_IDLE, 3), REAP_SOON);
    }
}
