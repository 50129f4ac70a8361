//! Ending jobs: `scancel` for many ids at once, SIGKILL when asked, and a bounded wait until
//! they reach a final state.

use std::time::{Duration, Instant};

use super::error::SlurmError;
use super::poll::{JobInfo, PollInterval};
use super::{JobId, SlurmClient};

impl SlurmClient {
    /// Cancels `ids` with one `scancel` (Slurm sends SIGTERM, then SIGKILL after its
    /// `KillWait`). Jobs that already ended are not an error.
    pub fn cancel(&self, ids: &[JobId]) -> Result<(), SlurmError> {
        self.scancel(&[], ids)
    }

    /// Ends `ids` at once with SIGKILL to their batch step (the task's command, which the
    /// script `exec`s), with one `scancel --batch --signal=KILL`; Slurm then ends what is left
    /// of the job. (`--full --signal=KILL` would wait for `KillWait` like a plain cancel.)
    pub fn kill(&self, ids: &[JobId]) -> Result<(), SlurmError> {
        self.scancel(&["--batch".into(), "--signal=KILL".into()], ids)
    }

    fn scancel(&self, flags: &[String], ids: &[JobId]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut args = flags.to_vec();
        args.extend(ids.iter().map(ToString::to_string));
        self.count(|c| &c.scancel);
        let output = self.tools.run("scancel", &args, None)?;
        let stderr = output.stderr.to_ascii_lowercase();
        if output.status != 0
            && (stderr.contains("already completing or completed")
                || stderr.contains("invalid job id"))
        {
            return Ok(());
        }
        output.into_success("scancel").map(drop)
    }

    /// Polls `ids` (one batched poll each time, short waits growing to 1 s) until every one is
    /// in a final state, for at most `timeout`; returns their final states in the order given.
    pub fn wait_final(&self, ids: &[JobId], timeout: Duration) -> Result<Vec<JobInfo>, SlurmError> {
        let deadline = Instant::now() + timeout;
        let mut interval = PollInterval::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            let infos = self.poll(ids)?;
            let active: Vec<JobId> = infos
                .iter()
                .filter(|info| !info.state.is_final())
                .map(|info| info.id)
                .collect();
            if active.is_empty() {
                return Ok(infos);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SlurmError::NotFinished {
                    ids: active,
                    waited: timeout,
                });
            }
            std::thread::sleep(interval.after_poll(false).min(deadline - now));
        }
    }
}
