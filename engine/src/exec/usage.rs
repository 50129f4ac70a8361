//! What an attempt used: peak memory and CPU time of its process tree.

use std::time::Duration;

/// Resources one attempt used, as measured when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResourceUsage {
    /// Peak resident memory in bytes: the tree's total when a cgroup measured it, else the
    /// largest single process of the tree (the task's main process or a descendant it waited
    /// for).
    pub peak_rss_bytes: u64,
    /// CPU time in user mode, the task and the descendants it waited for.
    pub user: Duration,
    /// CPU time in kernel mode, likewise.
    pub sys: Duration,
}

impl ResourceUsage {
    /// From the `rusage` that `wait4` returned for the task's main process.
    pub fn from_rusage(usage: &libc::rusage) -> Self {
        let time = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        Self {
            // Linux reports ru_maxrss in KiB.
            peak_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
            user: time(usage.ru_utime),
            sys: time(usage.ru_stime),
        }
    }
}
