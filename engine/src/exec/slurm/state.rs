//! Slurm job states, and how a finished job's state and exit code say its attempt ended.

use std::fmt;

use crate::exec::AttemptEnd;

/// A job's state as squeue, scontrol and sacct name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for resources or priority.
    Pending,
    /// Nodes are being prepared.
    Configuring,
    /// Running.
    Running,
    /// Ended; Slurm is still cleaning up (epilog).
    Completing,
    /// Suspended by an administrator or gang scheduling.
    Suspended,
    /// Being requeued (or held after a requeue).
    Requeued,
    /// Ended with exit code 0.
    Completed,
    /// Ended with a non-zero exit code or a signal, or could not be launched.
    Failed,
    /// Cancelled by a user or an administrator (`scancel`).
    Cancelled,
    /// Ran past its `--time` limit.
    Timeout,
    /// Ended because its node failed.
    NodeFail,
    /// Its node could not boot.
    BootFail,
    /// Killed for running out of memory.
    OutOfMemory,
    /// Preempted by a job of higher priority.
    Preempted,
    /// Missed its `--deadline`.
    Deadline,
    /// Not known to Slurm (any more): purged from the controller and not in accounting.
    Unknown,
    /// Any other state, by name: never final, so that the job keeps being watched.
    Other(String),
}

impl JobState {
    /// Reads a state name (`COMPLETED`, `CANCELLED by 0`, `CA`, …).
    pub fn parse(text: &str) -> Self {
        let word = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('+')
            .to_ascii_uppercase();
        match word.as_str() {
            "PENDING" | "PD" => Self::Pending,
            "CONFIGURING" | "CF" => Self::Configuring,
            "RUNNING" | "R" => Self::Running,
            "COMPLETING" | "CG" => Self::Completing,
            "SUSPENDED" | "S" => Self::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_HOLD" | "RH" | "REQUEUE_FED" | "RF" => Self::Requeued,
            "COMPLETED" | "CD" => Self::Completed,
            "FAILED" | "F" => Self::Failed,
            "CANCELLED" | "CA" => Self::Cancelled,
            "TIMEOUT" | "TO" => Self::Timeout,
            "NODE_FAIL" | "NF" => Self::NodeFail,
            "BOOT_FAIL" | "BF" => Self::BootFail,
            "OUT_OF_MEMORY" | "OOM" => Self::OutOfMemory,
            "PREEMPTED" | "PR" => Self::Preempted,
            "DEADLINE" | "DL" => Self::Deadline,
            _ => Self::Other(word),
        }
    }

    /// True once the job will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed
                | Self::Cancelled
                | Self::Timeout
                | Self::NodeFail
                | Self::BootFail
                | Self::OutOfMemory
                | Self::Preempted
                | Self::Deadline
                | Self::Unknown
        )
    }

    /// True while the job's program runs (or is being ended).
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running | Self::Completing)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Pending => "PENDING",
            Self::Configuring => "CONFIGURING",
            Self::Running => "RUNNING",
            Self::Completing => "COMPLETING",
            Self::Suspended => "SUSPENDED",
            Self::Requeued => "REQUEUED",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Timeout => "TIMEOUT",
            Self::NodeFail => "NODE_FAIL",
            Self::BootFail => "BOOT_FAIL",
            Self::OutOfMemory => "OUT_OF_MEMORY",
            Self::Preempted => "PREEMPTED",
            Self::Deadline => "DEADLINE",
            Self::Unknown => "UNKNOWN",
            Self::Other(name) => name,
        };
        f.write_str(name)
    }
}

/// A job's `ExitCode`: the batch script's exit status and the signal that ended it (0 if none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitCode {
    /// The exit status (0–255).
    pub status: i32,
    /// The signal that ended it, 0 if none.
    pub signal: i32,
}

impl ExitCode {
    /// Reads scontrol's and sacct's `EXIT:SIGNAL`.
    pub fn parse_pair(text: &str) -> Option<Self> {
        let (status, signal) = text.trim().split_once(':')?;
        Some(Self {
            status: status.parse().ok()?,
            signal: signal.parse().ok()?,
        })
    }

    /// Reads squeue's `exit_code` field: a raw wait status (`768` is exit 3, `9` is SIGKILL).
    pub fn parse_wait_status(text: &str) -> Option<Self> {
        let raw: i32 = text.trim().parse().ok()?;
        Some(Self {
            status: (raw >> 8) & 0xff,
            signal: raw & 0x7f,
        })
    }
}

/// How a finished job ended, from wf's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// The command exited with this status.
    Exited(i32),
    /// The command was killed by this signal (not by Slurm's limits nor by a cancel).
    Signalled(i32),
    /// Cancelled with `scancel`; the signal that ended it, `None` if it never started.
    Cancelled(Option<i32>),
    /// Slurm ended it at its `--time` limit.
    TimedOut,
    /// Slurm killed it for exceeding its memory.
    OutOfMemory,
    /// Its node failed or could not boot, or it was preempted: worth running again.
    NodeFailed(String),
    /// Slurm could not run it, or lost track of it; the reason.
    Failed(String),
}

impl JobEnd {
    /// How a job in a final `state` with `exit` ended; `None` while the state is not final.
    pub fn from_state(state: &JobState, exit: Option<ExitCode>, started: bool) -> Option<Self> {
        let exit = exit.unwrap_or_default();
        let end = match state {
            JobState::Completed => Self::Exited(exit.status),
            JobState::Failed if exit.signal != 0 => Self::Signalled(exit.signal),
            JobState::Failed if exit.status != 0 => Self::Exited(exit.status),
            JobState::Failed => Self::Failed("Slurm could not launch the job".into()),
            JobState::Cancelled => Self::Cancelled(started.then_some(if exit.signal != 0 {
                exit.signal
            } else {
                libc::SIGTERM
            })),
            JobState::Timeout => Self::TimedOut,
            JobState::OutOfMemory => Self::OutOfMemory,
            JobState::NodeFail => Self::NodeFailed("its node failed".into()),
            JobState::BootFail => Self::NodeFailed("its node failed to boot".into()),
            JobState::Preempted => Self::NodeFailed("it was preempted".into()),
            JobState::Deadline => Self::Failed("it missed its deadline".into()),
            JobState::Unknown => {
                Self::Failed("Slurm no longer knows the job (purged before wf saw it end)".into())
            }
            _ => return None,
        };
        Some(end)
    }

    /// True when running the attempt again may succeed without any change: node failures and
    /// preemption.
    pub fn is_retryable_infrastructure_failure(&self) -> bool {
        matches!(self, Self::NodeFailed(_))
    }

    /// The engine's [`AttemptEnd`] for this ending. Slurm's timeout counts as a timeout ended
    /// by SIGTERM, an out-of-memory kill as SIGKILL, node failures and other Slurm failures as
    /// attempts that did not start.
    pub fn attempt_end(&self) -> AttemptEnd {
        match self {
            Self::Exited(status) => AttemptEnd::Exited(*status),
            Self::Signalled(signal) => AttemptEnd::Signalled(*signal),
            Self::Cancelled(signal) => AttemptEnd::Cancelled { signal: *signal },
            Self::TimedOut => AttemptEnd::TimedOut {
                signal: libc::SIGTERM,
            },
            Self::OutOfMemory => AttemptEnd::Signalled(libc::SIGKILL),
            Self::NodeFailed(reason) => AttemptEnd::NotStarted(format!("Slurm: {reason}")),
            Self::Failed(reason) => AttemptEnd::NotStarted(format!("Slurm: {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_of_every_tool_are_read() {
        assert_eq!(JobState::parse("COMPLETED"), JobState::Completed);
        assert_eq!(JobState::parse("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(JobState::parse("CANCELLED+"), JobState::Cancelled);
        assert_eq!(JobState::parse("out_of_memory"), JobState::OutOfMemory);
        assert_eq!(JobState::parse("CG"), JobState::Completing);
        assert_eq!(
            JobState::parse("RESIZING"),
            JobState::Other("RESIZING".into())
        );
        assert!(!JobState::parse("RESIZING").is_final());
        assert!(!JobState::Completing.is_final());
        assert!(JobState::NodeFail.is_final());
        for state in ["PENDING", "RUNNING", "TIMEOUT", "NODE_FAIL", "DEADLINE"] {
            assert_eq!(JobState::parse(state).to_string(), state);
        }
    }

    #[test]
    fn exit_codes_are_read_in_both_forms() {
        assert_eq!(
            ExitCode::parse_pair("3:0"),
            Some(ExitCode {
                status: 3,
                signal: 0
            })
        );
        assert_eq!(
            ExitCode::parse_wait_status("768"),
            ExitCode::parse_pair("3:0")
        );
        assert_eq!(
            ExitCode::parse_wait_status("9"),
            ExitCode::parse_pair("0:9")
        );
        assert_eq!(ExitCode::parse_pair("N/A"), None);
        assert_eq!(ExitCode::parse_wait_status(""), None);
    }

    #[test]
    fn final_states_map_to_attempt_endings() {
        let code = |status, signal| Some(ExitCode { status, signal });
        let end = |state: JobState, exit, started| JobEnd::from_state(&state, exit, started);
        assert_eq!(
            end(JobState::Completed, code(0, 0), true),
            Some(JobEnd::Exited(0))
        );
        assert_eq!(
            end(JobState::Failed, code(3, 0), true),
            Some(JobEnd::Exited(3))
        );
        assert_eq!(
            end(JobState::Failed, code(0, 9), true),
            Some(JobEnd::Signalled(9))
        );
        assert!(matches!(
            end(JobState::Failed, code(0, 0), false),
            Some(JobEnd::Failed(_))
        ));
        assert_eq!(
            end(JobState::Cancelled, code(0, 15), true),
            Some(JobEnd::Cancelled(Some(15)))
        );
        assert_eq!(
            end(JobState::Cancelled, code(0, 0), false),
            Some(JobEnd::Cancelled(None))
        );
        assert_eq!(
            end(JobState::Timeout, code(0, 0), true),
            Some(JobEnd::TimedOut)
        );
        let node = end(JobState::NodeFail, None, true).expect("final");
        assert!(node.is_retryable_infrastructure_failure());
        assert!(
            matches!(node.attempt_end(), AttemptEnd::NotStarted(m) if m.contains("node failed"))
        );
        assert!(
            end(JobState::Preempted, None, true)
                .expect("final")
                .is_retryable_infrastructure_failure()
        );
        assert_eq!(end(JobState::Running, None, true), None);
        assert_eq!(end(JobState::Pending, None, false), None);
        assert_eq!(
            JobEnd::TimedOut.attempt_end(),
            AttemptEnd::TimedOut {
                signal: libc::SIGTERM
            }
        );
        assert_eq!(
            JobEnd::OutOfMemory.attempt_end(),
            AttemptEnd::Signalled(libc::SIGKILL)
        );
        assert!(matches!(
            end(JobState::Unknown, None, false)
                .expect("final")
                .attempt_end(),
            AttemptEnd::NotStarted(_)
        ));
    }
}
