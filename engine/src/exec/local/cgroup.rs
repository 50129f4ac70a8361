//! A cgroup v2 leaf per task, for tasks with a `mem_limit`: `memory.max` enforces the limit on
//! the task's whole process tree, `memory.peak` measures the tree's peak, and
//! `memory.events` tells an out-of-memory kill from any other SIGKILL.
//!
//! Only used where the machine allows it: a cgroup v2 hierarchy with the memory controller,
//! and wf's own cgroup writable. Setting one up costs a few file operations per task, so
//! tasks without a `mem_limit` never get one (their usage is measured by `wait4`).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where wf may create task cgroups, found once per process (read only).
static PARENT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The same, once the memory controller is enabled for its children.
static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The cgroup v2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        if fstype == "cgroup2" {
            Some(PathBuf::from(left.split_whitespace().nth(4)?))
        } else {
            None
        }
    })
}

/// wf's own cgroup v2 path, relative to the mount (`0::/PATH` in /proc/self/cgroup).
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|p| p.trim_start_matches('/').to_owned())
}

fn writable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

fn find_parent() -> Result<PathBuf, String> {
    let mount = cgroup2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
    let own = own_cgroup().ok_or("wf's cgroup v2 is unknown")?;
    let parent = mount.join(own);
    let controllers = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!(
            "the memory controller is not available in {}",
            parent.display()
        ));
    }
    if !writable(&parent) || !writable(&parent.join("cgroup.subtree_control")) {
        return Err(format!("{} is not writable", parent.display()));
    }
    Ok(parent)
}

/// Enables the memory controller for children of wf's cgroup, on the first task that needs a
/// limit (never while only validating).
fn enable_memory() -> Result<PathBuf, String> {
    let parent = PARENT.get_or_init(find_parent).clone()?;
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == "memory") {
        // A cgroup with processes cannot give controllers to children: move wf itself into a
        // leaf of its own first, then enable the memory controller below its old cgroup.
        let own_leaf = parent.join(format!("wf-{}", std::process::id()));
        let _ = fs::create_dir(&own_leaf);
        fs::write(own_leaf.join("cgroup.procs"), b"0")
            .and_then(|()| fs::write(parent.join("cgroup.subtree_control"), b"+memory"))
            .map_err(|e| format!("cannot enable the memory controller: {e}"))?;
    }
    Ok(parent)
}

/// `None` if task memory limits can be enforced here, else why not. Checked once per process,
/// without changing anything.
pub fn unavailable_reason() -> Option<String> {
    PARENT.get_or_init(find_parent).as_ref().err().cloned()
}

/// The cgroup of one running attempt.
pub struct TaskCgroup {
    path: PathBuf,
    /// `cgroup.procs` of the leaf, open for the child to move itself in before `exec`.
    procs: OwnedFd,
}

impl TaskCgroup {
    /// Creates a leaf named for the run and task with `memory.max = limit`. The first one may
    /// move wf itself into a leaf cgroup of its own (`wf-PID`), as cgroup v2 requires of a
    /// cgroup whose children get controllers.
    pub fn create(run_id: &str, task: usize, attempt: u32, limit: u64) -> io::Result<Self> {
        let parent = match READY.get_or_init(enable_memory) {
            Ok(parent) => parent,
            Err(why) => return Err(io::Error::other(why.clone())),
        };
        let path = parent.join(format!("wf-{run_id}-{task}-{attempt}"));
        fs::create_dir(&path)?;
        let set_up = fs::write(path.join("memory.max"), limit.to_string())
            .and_then(|()| fs::write(path.join("memory.swap.max"), b"0").or(Ok(())))
            .and_then(|()| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(path.join("cgroup.procs"))
            });
        match set_up {
            Ok(file) => Ok(Self {
                path,
                procs: file.into(),
            }),
            Err(error) => {
                let _ = fs::remove_dir(&path);
                Err(error)
            }
        }
    }

    /// The descriptor the child writes `0` to, moving itself into the cgroup before `exec`.
    pub fn procs_fd(&self) -> BorrowedFd<'_> {
        self.procs.as_fd()
    }

    /// The peak memory of the tree, in bytes (`memory.peak`, kernels ≥ 5.19).
    pub fn peak(&self) -> Option<u64> {
        read_number(&self.path.join("memory.peak"))
    }

    /// True if the kernel killed a process of the tree for going over `memory.max`.
    pub fn oom_killed(&self) -> bool {
        fs::read_to_string(self.path.join("memory.events"))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }
}

impl Drop for TaskCgroup {
    /// Removes the leaf; the task's group has been ended and reaped by then.
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}
