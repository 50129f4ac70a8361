//! Waiting for a task's process without polling: one `poll` on the process's pidfd, the run's
//! cancel and kill eventfds, and the next deadline (timeout or end of grace). The worker thread
//! sleeps in the kernel until one of them fires, so a finished process is noticed at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::group::signal_group;
use crate::exec::{AttemptEnd, ResourceUsage};

/// The run-wide stop signals every worker listens to. Written once, never drained, so every
/// worker polling them sees them.
pub struct StopSignals {
    cancel: OwnedFd,
    kill: OwnedFd,
    cancelled: AtomicBool,
    killed: AtomicBool,
}

pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn notify(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
    unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
}

/// Blocks until `fd` or `stop` has an event (readable, hung up, in error), retrying when a
/// signal interrupts the wait; returns whether each has one, `(fd, stop)`.
pub(crate) fn poll_either(fd: RawFd, stop: RawFd) -> io::Result<(bool, bool)> {
    loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        return Ok((fds[0].revents != 0, fds[1].revents != 0));
    }
}

impl StopSignals {
    /// Fresh, unsignalled stop signals.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            cancel: eventfd()?,
            kill: eventfd()?,
            cancelled: AtomicBool::new(false),
            killed: AtomicBool::new(false),
        })
    }

    /// Asks every running attempt to end: SIGTERM now, SIGKILL after the grace period.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        notify(&self.cancel);
    }

    /// Kills every running attempt at once.
    pub fn kill(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.killed.store(true, Ordering::SeqCst);
        notify(&self.cancel);
        notify(&self.kill);
    }

    /// Undoes [`StopSignals::cancel`] when no attempt is being supervised: attempts start
    /// again and are not ended at once. A kill is never undone.
    pub fn reopen(&self) {
        if self.is_killed() {
            return;
        }
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from an eventfd we own; the descriptor is
        // non-blocking, so an unsignalled eventfd returns EAGAIN at once.
        unsafe { libc::read(self.cancel.as_raw_fd(), (&raw mut count).cast(), 8) };
        self.cancelled.store(false, Ordering::SeqCst);
    }

    /// True once [`StopSignals::kill`] was called (a second Ctrl-C).
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// True once [`StopSignals::cancel`] or [`StopSignals::kill`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Why wf is ending a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Timeout,
    Cancel,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Running,
    /// SIGTERM sent; SIGKILL at `kill_at`.
    Terminating {
        reason: Reason,
        kill_at: Instant,
    },
    /// SIGKILL sent; waiting for the exit.
    Killed {
        reason: Reason,
    },
}

fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: a freshly created descriptor we own.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn millis_until(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            // Round up so we never wake just before the deadline and spin.
            i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        }
    }
}

/// Waits for `pid` (leader of its own group) to exit, ending its group on timeout or
/// cancellation, and reaps it; returns how it ended and what it used (from `wait4`: no extra
/// system call, so measuring costs nothing).
pub fn supervise(
    pid: libc::pid_t,
    timeout: Option<Duration>,
    grace: Duration,
    stop: &StopSignals,
) -> (AttemptEnd, Option<ResourceUsage>) {
    let started = Instant::now();
    let pidfd = pidfd_open(pid);
    let mut phase = Phase::Running;
    let mut cancel_seen = false;
    let mut kill_seen = false;
    loop {
        let deadline = match phase {
            Phase::Running => timeout.map(|t| started + t),
            Phase::Terminating { kill_at, .. } => Some(kill_at),
            Phase::Killed { .. } => None,
        };
        let mut fds = Vec::with_capacity(3);
        if let Some(fd) = &pidfd {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if !cancel_seen {
            fds.push(libc::pollfd {
                fd: stop.cancel.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if !kill_seen {
            fds.push(libc::pollfd {
                fd: stop.kill.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // Without a pidfd (kernels before 5.3) fall back to checking every 20 ms.
        let wait = if pidfd.is_some() {
            millis_until(deadline)
        } else {
            millis_until(deadline).clamp(0, 20)
        };
        // SAFETY: fds is a valid array of pollfd of the given length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
        let fired = |fd: RawFd| fds.iter().any(|p| p.fd == fd && p.revents != 0);
        if pidfd.as_ref().is_some_and(|fd| fired(fd.as_raw_fd())) {
            break;
        }
        if pidfd.is_none() && exited_without_reaping(pid) {
            break;
        }
        let now = Instant::now();
        if !kill_seen && (fired(stop.kill.as_raw_fd()) || stop.killed.load(Ordering::SeqCst)) {
            kill_seen = true;
            cancel_seen = true;
            signal_group(pid, libc::SIGKILL);
            phase = Phase::Killed {
                reason: Reason::Cancel,
            };
            continue;
        }
        if !cancel_seen && fired(stop.cancel.as_raw_fd()) {
            cancel_seen = true;
            if let Phase::Running = phase {
                signal_group(pid, libc::SIGTERM);
                phase = Phase::Terminating {
                    reason: Reason::Cancel,
                    kill_at: now + grace,
                };
            }
            continue;
        }
        if deadline.is_some_and(|d| now >= d) {
            phase = match phase {
                Phase::Running => {
                    signal_group(pid, libc::SIGTERM);
                    Phase::Terminating {
                        reason: Reason::Timeout,
                        kill_at: now + grace,
                    }
                }
                Phase::Terminating { reason, .. } => {
                    signal_group(pid, libc::SIGKILL);
                    Phase::Killed { reason }
                }
                killed @ Phase::Killed { .. } => killed,
            };
        }
    }
    let (status, usage) = reap(pid);
    let exit = if libc::WIFEXITED(status) {
        AttemptEnd::Exited(libc::WEXITSTATUS(status))
    } else {
        AttemptEnd::Signalled(libc::WTERMSIG(status))
    };
    // An exit code after wf's SIGTERM still counts as wf having ended the task.
    let wf_signal = |default: i32| match exit {
        AttemptEnd::Signalled(signal) => signal,
        _ => default,
    };
    let end = match phase {
        Phase::Running => exit,
        Phase::Terminating { reason, .. } | Phase::Killed { reason } => {
            let default = if matches!(phase, Phase::Killed { .. }) {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            match reason {
                Reason::Timeout => AttemptEnd::TimedOut {
                    signal: wf_signal(default),
                },
                Reason::Cancel => AttemptEnd::Cancelled {
                    signal: Some(wf_signal(default)),
                },
            }
        }
    };
    (end, usage)
}

/// True if the child has exited (leaving it unreaped), for the no-pidfd fallback.
fn exited_without_reaping(pid: libc::pid_t) -> bool {
    // SAFETY: siginfo_t is plain old data, for which all-zero bytes are a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out pointer owned by this frame; WNOWAIT leaves the child
    // waitable.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            libc::id_t::try_from(pid).unwrap_or(0),
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read once waitid returned.
    rc == 0 && unsafe { info.si_pid() } != 0
}

/// Reaps the child and returns its raw wait status and its resource usage (its own and that
/// of the descendants it waited for).
fn reap(pid: libc::pid_t) -> (i32, Option<ResourceUsage>) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child; status and usage are valid out pointers.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return (status, Some(ResourceUsage::from_rusage(&usage)));
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return (status, None);
        }
    }
}
