//! Cleaning up after a Slurm run that did not end normally (wf was SIGKILLed, the login node
//! rebooted, …): its jobs may still be queued or running.
//!
//! A run appends the id of every job it submits to `.wf/runs/RUN_ID/jobs` and keeps the
//! `running` marker until it ends. The next run of the same manifest (holding the run lock, so
//! the crashed run is certainly not alive) cancels the jobs of runs still marked running that
//! are not final yet. The marker itself is left for the local recovery, which runs after this
//! one whatever the executor (see `run::recovery`) and removes it.

use std::path::Path;
use std::time::Duration;

use super::executor::end_and_wait;
use super::{JobId, SlurmClient, Tools};
use crate::exec::Recovered;
use crate::layout::JOBS_FILE;
use crate::layout::marker::CrashedRun;

/// The job ids listed in a run folder's `jobs` file (lines that are not ids are skipped).
pub fn recorded_jobs(run_dir: &Path) -> Vec<JobId> {
    std::fs::read_to_string(run_dir.join(JOBS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok().map(JobId))
        .collect()
}

/// Cancels the jobs still queued or running of the `crashed` runs that submitted any (their
/// `jobs` file), waiting `grace` before SIGKILL. A cluster that does not answer is skipped: its
/// jobs cannot be reached from here.
pub fn recover_crashed_jobs(crashed: &[CrashedRun], grace: Duration) -> Vec<Recovered> {
    let runs: Vec<&CrashedRun> = crashed
        .iter()
        .filter(|run| run.dir.join(JOBS_FILE).is_file())
        .collect();
    if runs.is_empty() {
        return Vec::new();
    }
    let client = SlurmClient::new(Tools::default());
    let mut recovered = Vec::new();
    for run in runs {
        let ids = recorded_jobs(&run.dir);
        if ids.is_empty() {
            continue;
        }
        let Ok(infos) = client.poll(&ids) else {
            continue;
        };
        let active: Vec<JobId> = infos
            .into_iter()
            .filter(|info| !info.state.is_final())
            .map(|info| info.id)
            .collect();
        if !active.is_empty() {
            end_and_wait(&client, &active, grace);
        }
        recovered.push(Recovered {
            run_id: run.run_id.clone(),
            processes: 0,
            jobs: active.len(),
        });
    }
    recovered
}
