//! Cleaning up after a Slurm run that did not end normally (wf was SIGKILLed, the login node
//! rebooted, …): its jobs may still be queued or running.
//!
//! A run appends the id of every job it submits to `.wf/runs/RUN_ID/jobs` and keeps the
//! `running` marker until it ends. The next run of the same manifest (holding the run lock, so
//! the crashed run is certainly not alive) cancels the jobs of runs still marked running that
//! are not final yet. The marker itself is left for the local recovery, which runs after this
//! one whatever the executor (see `run::recovery`) and removes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::executor::end_and_wait;
use super::{JobId, SlurmClient, Tools};
use crate::exec::Recovered;
use crate::layout::{JOBS_FILE, RUNNING_MARKER};

/// The job ids listed in a run folder's `jobs` file (lines that are not ids are skipped).
pub fn recorded_jobs(run_dir: &Path) -> Vec<JobId> {
    std::fs::read_to_string(run_dir.join(JOBS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok().map(JobId))
        .collect()
}

/// The folders under `runs_dir` of runs of `manifest` still marked running that submitted jobs.
fn crashed_runs_with_jobs(runs_dir: &Path, manifest: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let manifest = manifest.to_string_lossy();
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|dir| dir.join(JOBS_FILE).is_file())
        .filter(|dir| {
            std::fs::read_to_string(dir.join(RUNNING_MARKER))
                .is_ok_and(|marker| marker.lines().nth(1) == Some(&*manifest))
        })
        .collect();
    found.sort();
    found
}

/// Cancels the jobs still queued or running of every crashed run of `manifest` under
/// `runs_dir`, waiting `grace` before SIGKILL. A cluster that does not answer is skipped: its
/// jobs cannot be reached from here.
pub fn recover_crashed_jobs(runs_dir: &Path, manifest: &Path, grace: Duration) -> Vec<Recovered> {
    let runs = crashed_runs_with_jobs(runs_dir, manifest);
    if runs.is_empty() {
        return Vec::new();
    }
    let client = SlurmClient::new(Tools::default());
    let mut recovered = Vec::new();
    for run_dir in runs {
        let ids = recorded_jobs(&run_dir);
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
        let run_id = run_dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        recovered.push(Recovered {
            run_id,
            ended: active.len(),
        });
    }
    recovered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_crashed_runs_of_the_manifest_with_jobs_are_found() {
        let runs = tempfile::tempdir().expect("tempdir");
        let manifest = Path::new("/p/wf.toml");
        let make = |name: &str, marker: Option<&str>, jobs: Option<&str>| {
            let dir = runs.path().join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            if let Some(marker) = marker {
                std::fs::write(dir.join(RUNNING_MARKER), marker).expect("marker");
            }
            if let Some(jobs) = jobs {
                std::fs::write(dir.join(JOBS_FILE), jobs).expect("jobs");
            }
        };
        make("a", Some("1\n/p/wf.toml\n"), Some("12\n13\nnot-a-job\n"));
        make("b", Some("1\n/p/other.toml\n"), Some("14\n"));
        make("c", None, Some("15\n"));
        make("d", Some("1\n/p/wf.toml\n"), None);
        let found = crashed_runs_with_jobs(runs.path(), manifest);
        assert_eq!(found, [runs.path().join("a")]);
        assert_eq!(recorded_jobs(&found[0]), [JobId(12), JobId(13)]);
    }
}
