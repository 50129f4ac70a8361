//! Process groups and stray processes: signalling a task's whole tree and making sure nothing
//! it started outlives it.
//!
//! wf makes itself a child subreaper at the start of a run: a process a task orphans (a
//! daemonised grandchild) is re-parented to wf instead of init, so wf can reap it as soon as it
//! exits (see [`super::reaper`]) and, at the end of the run, find and end those that escaped
//! their task's process group (see [`super::sweep`]).

use std::io;
use std::time::{Duration, Instant};

/// How often to look again while waiting for processes that are not our direct children to
/// disappear. Only used on the leftover path, never while a task runs normally.
const LEFTOVER_POLL: Duration = Duration::from_millis(10);

/// Sends `signal` to every process of the group; false if the group no longer exists.
pub fn signal_group(pgid: libc::pid_t, signal: i32) -> bool {
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(pgid, signal) == 0 }
}

/// True if any process (including an unreaped zombie) is still in the group.
pub fn group_exists(pgid: libc::pid_t) -> bool {
    signal_group(pgid, 0) || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reaps every exited member of the group that is our child (possible because wf is a
/// subreaper), so zombies do not keep the group alive.
pub fn reap_group(pgid: libc::pid_t) {
    loop {
        // SAFETY: siginfo_t is plain old data, for which all-zero bytes are a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out pointer owned by this frame; P_PGID restricts reaping
        // to this group.
        let rc = unsafe {
            libc::waitid(
                libc::P_PGID,
                libc::id_t::try_from(pgid).unwrap_or(0),
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        // SAFETY: si_pid is valid to read after waitid filled the struct (0 when none).
        if rc != 0 || unsafe { info.si_pid() } == 0 {
            return;
        }
    }
}

/// Ends whatever is left of a task's group after its main process exited: SIGTERM, up to
/// `grace` for it to go, then SIGKILL. `kill_now` is asked while waiting: once it says true
/// (a second Ctrl-C), SIGKILL goes at once. Returns how many processes were found.
pub fn end_leftovers(pgid: libc::pid_t, grace: Duration, kill_now: &dyn Fn() -> bool) -> u32 {
    reap_group(pgid);
    if !group_exists(pgid) {
        return 0;
    }
    let found = u32::try_from(members(pgid).len())
        .unwrap_or(u32::MAX)
        .max(1);
    signal_group(pgid, libc::SIGTERM);
    if !wait_for_group_end(pgid, grace, kill_now) {
        signal_group(pgid, libc::SIGKILL);
        wait_for_group_end(pgid, Duration::from_secs(5), &|| false);
    }
    found
}

/// Waits until the group is gone, reaping its members; false if it is still there at `limit`
/// or once `give_up` says true.
fn wait_for_group_end(pgid: libc::pid_t, limit: Duration, give_up: &dyn Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        reap_group(pgid);
        if !group_exists(pgid) {
            return true;
        }
        if Instant::now() >= until || give_up() {
            return false;
        }
        std::thread::sleep(LEFTOVER_POLL);
    }
}

/// The pids of live processes in a group (read from /proc; empty if /proc is unavailable).
pub fn members(pgid: libc::pid_t) -> Vec<libc::pid_t> {
    processes()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

/// One line of /proc/PID/stat that matters here.
#[derive(Debug, Clone, Copy)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: libc::pid_t,
    /// Parent process id.
    pub ppid: libc::pid_t,
    /// Process group id.
    pub pgid: libc::pid_t,
    /// State letter (`Z` for zombie).
    pub state: char,
}

/// Every process visible in /proc.
pub fn processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.parse::<libc::pid_t>().ok())
        })
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may contain spaces: parse after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgid = fields.next()?.parse().ok()?;
            Some(ProcessInfo {
                pid,
                ppid,
                pgid,
                state,
            })
        })
        .collect()
}

/// Makes wf the reaper of every process its tasks orphan.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes a plain integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
