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
//! The reaper thread sleeps in `poll` on a socket written by the SIGCHLD handler. Workers block
//! SIGCHLD (their children get an empty mask at exec), so the handler runs on another thread
//! (the coordinator's or the reaper's) and never interrupts a worker's `poll` on its task. After each scan the reaper pauses [`REAP_PAUSE`] before it
//! looks again, so a run of many tiny tasks (one SIGCHLD each) costs at most ~50 scans a second,
//! whatever the task rate; zombies live at most about that long.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::supervise::{eventfd, notify, poll_either};

/// The least time between two scans: many exits in a row cost one scan.
pub const REAP_PAUSE: Duration = Duration::from_millis(20);

/// Thread ids whose children the reaper must leave alone (the workers').
#[derive(Debug, Default)]
pub struct Workers {
    tids: Mutex<Vec<libc::pid_t>>,
}

impl Workers {
    /// Registers the calling thread as a worker: its children (task main processes) are never
    /// reaped by the reaper. Also blocks SIGCHLD on this thread, so the reaper's signal handler
    /// never interrupts it (children start with an empty signal mask: see `spawn`).
    pub fn register_current_thread(&self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.tids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tid);
        block_sigchld_on_this_thread();
    }

    fn snapshot(&self) -> Vec<libc::pid_t> {
        self.tids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn block_sigchld_on_this_thread() {
    // SAFETY: the sigset is a valid value owned by this frame; pthread_sigmask only changes
    // the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The running reaper thread; [`Reaper::stop`] ends it (also on drop).
pub struct Reaper {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
    sigchld: Option<signal_hook::SigId>,
    /// The workers, shared with the reaper thread.
    pub workers: Arc<Workers>,
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts the reaper thread. Call it before the workers'
    /// spawners are created, so that tasks get the default SIGCHLD disposition.
    pub fn start() -> io::Result<Self> {
        let (wake_read, wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        let sigchld = signal_hook::low_level::pipe::register(libc::SIGCHLD, wake_write)?;
        let stop = eventfd()?;
        let workers = Arc::new(Workers::default());
        let thread = {
            let stop = stop.try_clone()?;
            let workers = Arc::clone(&workers);
            std::thread::Builder::new()
                .name("wf-reaper".into())
                .spawn(move || reaper_loop(wake_read, &stop, &workers))
        };
        let thread = match thread {
            Ok(thread) => thread,
            Err(error) => {
                signal_hook::low_level::unregister(sigchld);
                return Err(error);
            }
        };
        Ok(Self {
            stop,
            thread: Some(thread),
            sigchld: Some(sigchld),
            workers,
        })
    }

    /// Stops the reaper and waits for its thread; from then on adopted children are left to
    /// the caller (the end-of-run cleanup reaps them).
    pub fn stop(&mut self) {
        if let Some(id) = self.sigchld.take() {
            signal_hook::low_level::unregister(id);
        }
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

/// Waits for SIGCHLD (or stop), scans, pauses; until stopped.
fn reaper_loop(mut wake: UnixStream, stop: &OwnedFd, workers: &Workers) {
    loop {
        if !wait_readable(&wake, stop) {
            return;
        }
        // Drain every pending wake-up byte: one scan covers them all.
        let mut buffer = [0u8; 256];
        while matches!(wake.read(&mut buffer), Ok(n) if n > 0) {}
        reap_adopted(&workers.snapshot());
        // Coalesce: exits during the pause are seen by the next scan.
        if stop_within(stop, Instant::now() + REAP_PAUSE) {
            return;
        }
    }
}

/// Polls `wake` and `stop` until one is readable; false when `stop` fired.
fn wait_readable(wake: &UnixStream, stop: &OwnedFd) -> bool {
    poll_either(wake.as_raw_fd(), stop.as_raw_fd()).is_ok_and(|(_, stopped)| !stopped)
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
