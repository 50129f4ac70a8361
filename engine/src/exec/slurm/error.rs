//! The errors of the Slurm client: one type, each variant carrying what Slurm said.

use std::time::Duration;

/// Why a Slurm command failed. Every variant that comes from a Slurm tool carries its stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum SlurmError {
    /// The tool is not installed or not on PATH.
    #[error("`{program}` was not found: is Slurm installed and on PATH?")]
    #[diagnostic(
        code(wf::slurm::not_installed),
        help(
            "run wf where the Slurm client tools (sbatch, squeue, scontrol, scancel) are installed, e.g. on a login node"
        )
    )]
    NotInstalled {
        /// The program that was looked for.
        program: String,
    },
    /// The tool could not be started for another reason (permissions, resources).
    #[error("could not run `{program}`: {reason}")]
    #[diagnostic(code(wf::slurm::spawn))]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's message.
        reason: String,
    },
    /// The tool did not finish in time and was killed.
    #[error("`{command}` did not answer within {}s and was killed", timeout.as_secs_f64())]
    #[diagnostic(
        code(wf::slurm::timeout),
        help("the Slurm controller may be down or overloaded; `sinfo` shows whether it answers")
    )]
    TimedOut {
        /// The command line, for the message.
        command: String,
        /// The limit it ran past.
        timeout: Duration,
    },
    /// The controller could not be reached.
    #[error("the Slurm controller is not reachable: {stderr}")]
    #[diagnostic(
        code(wf::slurm::controller_down),
        help("check that slurmctld runs and that this machine can reach it (`sinfo`)")
    )]
    ControllerDown {
        /// What the tool printed.
        stderr: String,
    },
    /// sbatch refused the partition.
    #[error("Slurm rejected the partition: {stderr}")]
    #[diagnostic(
        code(wf::slurm::invalid_partition),
        help(
            "`sinfo -s` lists the partitions; set `partition` in the task's `slurm` table or in `[defaults]`"
        )
    )]
    InvalidPartition {
        /// What sbatch printed.
        stderr: String,
    },
    /// sbatch refused the account or QOS.
    #[error("Slurm rejected the account or QOS: {stderr}")]
    #[diagnostic(
        code(wf::slurm::invalid_account),
        help("`sacctmgr show assoc user=$USER` lists the accounts and QOS you may use")
    )]
    InvalidAccount {
        /// What sbatch printed.
        stderr: String,
    },
    /// sbatch refused the job for another reason (bad option, resources that cannot exist, …).
    #[error("sbatch refused the job (exit status {status}): {stderr}")]
    #[diagnostic(code(wf::slurm::rejected))]
    Rejected {
        /// sbatch's exit status.
        status: i32,
        /// What sbatch printed.
        stderr: String,
    },
    /// A tool failed in a way not covered above.
    #[error("`{command}` failed (exit status {status}): {stderr}")]
    #[diagnostic(code(wf::slurm::command_failed))]
    CommandFailed {
        /// The command line, for the message.
        command: String,
        /// Its exit status (-1 if it was killed by a signal).
        status: i32,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A tool answered something this client cannot read.
    #[error("unexpected output from `{command}`: {output:?}")]
    #[diagnostic(code(wf::slurm::unexpected_output))]
    UnexpectedOutput {
        /// The command line, for the message.
        command: String,
        /// The output that could not be read.
        output: String,
    },
    /// Jobs still not in a final state when a bounded wait ran out.
    #[error("{} job(s) had not ended after {}s: {}", ids.len(), waited.as_secs_f64(), ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    #[diagnostic(code(wf::slurm::not_finished))]
    NotFinished {
        /// The jobs still active.
        ids: Vec<super::JobId>,
        /// How long was waited.
        waited: Duration,
    },
    /// The batch script could not be written for this attempt.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Script(#[from] super::script::ScriptError),
}

impl SlurmError {
    /// Classifies a failed Slurm tool by what it printed. `command` is the program's name.
    pub(crate) fn from_failure(command: &str, status: i32, stderr: &str) -> Self {
        let stderr = stderr.trim().to_owned();
        let lower = stderr.to_ascii_lowercase();
        let controller_down = [
            "unable to contact slurm controller",
            "connection refused",
            "socket timed out",
            "slurm_persist_conn_open",
            "zero bytes were transmitted or received",
            "unable to establish a connection",
        ];
        if controller_down.iter().any(|m| lower.contains(m)) {
            return Self::ControllerDown { stderr };
        }
        if lower.contains("invalid partition") {
            return Self::InvalidPartition { stderr };
        }
        if lower.contains("invalid account")
            || lower.contains("invalid qos")
            || lower.contains("invalid association")
        {
            return Self::InvalidAccount { stderr };
        }
        if command.starts_with("sbatch") {
            return Self::Rejected { status, stderr };
        }
        Self::CommandFailed {
            command: command.to_owned(),
            status,
            stderr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_slurms_message() {
        let partition = SlurmError::from_failure(
            "sbatch",
            1,
            "sbatch: error: invalid partition specified: nosuch\nsbatch: error: Batch job submission failed: Invalid partition name specified\n",
        );
        assert!(
            matches!(&partition, SlurmError::InvalidPartition { stderr } if stderr.contains("nosuch"))
        );
        let down = SlurmError::from_failure(
            "squeue",
            1,
            "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        );
        assert!(matches!(down, SlurmError::ControllerDown { .. }));
        let account = SlurmError::from_failure(
            "sbatch",
            1,
            "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified",
        );
        assert!(matches!(account, SlurmError::InvalidAccount { .. }));
        let other = SlurmError::from_failure("sbatch", 1, "sbatch: error: invalid --mem");
        assert_eq!(
            other,
            SlurmError::Rejected {
                status: 1,
                stderr: "sbatch: error: invalid --mem".into()
            }
        );
        let tool = SlurmError::from_failure("scancel", 1, "scancel: error: boom");
        assert!(matches!(tool, SlurmError::CommandFailed { status: 1, .. }));
    }
}
