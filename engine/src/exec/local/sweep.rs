//! Finding and ending every process of a run, wherever it went.
//!
//! Every task process gets `WF_RUN_ID=RUN_ID` in its environment and passes it on to whatever
//! it starts, including processes that left the task's process group or session (`setsid`,
//! daemons) and were re-parented to init or to another subreaper. A process belongs to a run
//! if and only if `/proc/PID/environ` holds exactly that entry, or (at the end of a run, when
//! wf sweeps its own run) if it is an unreaped child of wf: wf is a subreaper, so everything a
//! task orphaned inside wf's own tree is re-parented to it.
//!
//! The sweep repeats until nothing of the run is left: a process of the run may start new
//! ones while it is being ended. SIGTERM goes once to each process when first seen; after the
//! grace period (or at once if the caller says so) SIGKILL goes to everything still found, for
//! a bounded time.
//!
//! # Never signalling someone else's process
//!
//! A pid can be reused as soon as its process has been reaped. Each signal is therefore sent
//! through a pidfd: the pidfd is opened first, then the process is checked (environment, or
//! parenthood), then the signal is sent to the pidfd. If the pid was reused between the scan and
//! the pidfd, the check sees the new process and rejects it; if the process exits after the
//! check, the pidfd still names it and the signal fails harmlessly instead of reaching a
//! successor.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::group::{ProcessInfo, processes, signal_group};

/// How often the process table is read again while waiting for the run's processes to end.
const SWEEP_POLL: Duration = Duration::from_millis(10);

/// How long SIGKILL keeps being sent to processes of the run that keep appearing (a fork bomb
/// racing the sweep) before wf gives up on them.
const KILL_ROUNDS_LIMIT: Duration = Duration::from_secs(5);

/// Which processes belong to the run being swept.
#[derive(Debug, Clone, Copy)]
pub struct RunMembership<'a> {
    /// The run's id: processes whose environment holds `WF_RUN_ID=` this.
    pub run_id: &'a str,
    /// Also every live child of this process (the run's own wf, a subreaper): only for the
    /// run's own end, never when recovering another run.
    pub adopted: bool,
}

impl RunMembership<'_> {
    fn needle(&self) -> Vec<u8> {
        format!("WF_RUN_ID={}", self.run_id).into_bytes()
    }

    /// True if the process now at `pid` belongs to the run.
    fn owns(&self, pid: libc::pid_t, needle: &[u8], me: libc::pid_t) -> bool {
        if pid == me {
            return false;
        }
        if self.adopted && parent_of(pid) == Some(me) {
            return true;
        }
        carries(pid, needle)
    }
}

/// True if the environment of `pid` holds exactly the entry `needle` (`WF_RUN_ID=…`).
pub fn carries(pid: libc::pid_t, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|&b| b == 0).any(|entry| entry == needle))
}

/// The tasks (`WF_TASK`) of the processes alive now that carry `WF_RUN_ID=run_id`: what a run
/// in progress (or a killed run not yet recovered) is running on this machine, sorted.
pub fn running_tasks(run_id: &str) -> Vec<String> {
    let needle = format!("WF_RUN_ID={run_id}").into_bytes();
    let mut tasks: Vec<String> = processes()
        .into_iter()
        .filter(|p| p.state != 'Z')
        .filter_map(|p| std::fs::read(format!("/proc/{}/environ", p.pid)).ok())
        .filter(|environ| environ.split(|&b| b == 0).any(|entry| entry == needle))
        .filter_map(|environ| {
            environ
                .split(|&b| b == 0)
                .find_map(|entry| entry.strip_prefix(b"WF_TASK="))
                .map(|task| String::from_utf8_lossy(task).into_owned())
        })
        .collect();
    tasks.sort();
    tasks.dedup();
    tasks
}

/// The parent of `pid`, from /proc/PID/stat.
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Live (non-zombie) processes of the run, from one pass over /proc.
pub fn find(membership: &RunMembership<'_>) -> Vec<ProcessInfo> {
    let needle = membership.needle();
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    processes()
        .into_iter()
        .filter(|p| p.state != 'Z' && p.pid != me)
        .filter(|p| (membership.adopted && p.ppid == me) || carries(p.pid, &needle))
        .collect()
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    match RawFd::try_from(fd) {
        Ok(fd) if fd >= 0 => {
            // SAFETY: a freshly created descriptor we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sends `signal` to the process at `pid` if, checked through a pidfd, it belongs to the run.
/// Returns true if the signal was delivered.
fn signal_if_owned(
    pid: libc::pid_t,
    signal: i32,
    membership: &RunMembership<'_>,
    needle: &[u8],
    me: libc::pid_t,
) -> bool {
    match pidfd_open(pid) {
        Ok(pidfd) => {
            if !membership.owns(pid, needle, me) {
                return false;
            }
            // SAFETY: the syscall takes a pidfd we own, a signal number, a null siginfo and
            // flags 0.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            rc == 0
        }
        // Kernels before 5.3: check, then kill (a far narrower window than none at all).
        Err(error) if error.raw_os_error() == Some(libc::ENOSYS) => {
            // SAFETY: kill has no memory-safety preconditions.
            membership.owns(pid, needle, me) && unsafe { libc::kill(pid, signal) } == 0
        }
        Err(_) => false,
    }
}

/// Reaps every exited child (at the end of a run, when no task's main process is left to be
/// waited for by a worker).
pub fn reap_all_exited_children() {
    loop {
        // SAFETY: siginfo_t is plain data, for which all-zero bytes are a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out pointer; WNOHANG never blocks.
        let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG) };
        // SAFETY: si_pid is valid to read once waitid returned 0.
        if rc != 0 || unsafe { info.si_pid() } == 0 {
            return;
        }
    }
}

/// Ends every process of the run: SIGTERM to each, up to `grace` for them to go, then SIGKILL
/// to whatever is still found, repeated (bounded) until none is left. `cut_short` is asked on
/// every round; once it says true, the grace period ends at once (SIGKILL follows).
///
/// With `membership.adopted`, only call this when no worker is waiting for a task's main
/// process: it reaps every exited child of wf. Returns how many distinct processes were
/// signalled.
pub fn end_run_processes(
    membership: &RunMembership<'_>,
    grace: Duration,
    cut_short: &mut dyn FnMut() -> bool,
) -> usize {
    let needle = membership.needle();
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    // Processes are told apart by pid and start time: a pid may be reused during the sweep.
    let mut signalled: HashSet<(libc::pid_t, u64)> = HashSet::new();
    let polite_until = Instant::now() + grace;
    let mut kill_until: Option<Instant> = None;
    loop {
        if membership.adopted {
            reap_all_exited_children();
        }
        let found = find(membership);
        if found.is_empty() {
            break;
        }
        let now = Instant::now();
        if kill_until.is_none() && (now >= polite_until || cut_short()) {
            kill_until = Some(now + KILL_ROUNDS_LIMIT);
        }
        for process in &found {
            let key = (process.pid, start_time(process.pid).unwrap_or(0));
            let first_time = !signalled.contains(&key);
            let signal = match kill_until {
                Some(_) => libc::SIGKILL,
                None if first_time => libc::SIGTERM,
                None => continue,
            };
            if signal_if_owned(process.pid, signal, membership, &needle, me) {
                signalled.insert(key);
                // An adopted child that leads its own group (a `setsid` daemon): its group goes
                // too, in case a member dropped WF_RUN_ID from its environment. The leader is
                // our unreaped child, so its group id cannot have been reused.
                if membership.adopted && process.ppid == me && process.pgid == process.pid {
                    signal_group(process.pgid, signal);
                }
            }
        }
        if kill_until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        std::thread::sleep(SWEEP_POLL);
    }
    if membership.adopted {
        reap_all_exited_children();
    }
    signalled.len()
}

/// The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    // After the command: state is field 3; starttime is field 22, i.e. the 20th from here.
    rest.split_whitespace().nth(19)?.parse().ok()
}
