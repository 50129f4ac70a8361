//! The exit codes of `wf`, in one place (see docs/cli.md).

/// How `wf` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every task succeeded, was up to date, or was allowed to fail; or the manifests are valid.
    Success,
    /// A task failed or timed out; or a manifest is invalid (`validate`).
    Failure,
    /// Usage error, unreadable file, or (for `run`) an invalid manifest: nothing was started.
    Usage,
    /// Interrupted by SIGINT/SIGTERM/SIGHUP: running tasks were ended, the report was written.
    Interrupted,
}

impl Exit {
    /// The process exit status.
    pub fn as_u8(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}
