//! Cleaning up after a run that did not end normally (wf was SIGKILLed, the machine lost
//! power, …).
//!
//! A run writes the process group of every task it starts to `.wf/runs/RUN_ID/groups` and
//! keeps a `.wf/runs/RUN_ID/running` marker until it ends. wf's direct children die with it (the
//! parent-death signal), but their own children may not. The next run of the same manifest
//! (holding the run lock, so the crashed run is certainly not alive) finds runs still marked
//! running and ends whatever is left of their groups. A group id can be reused by an unrelated
//! process after the crash, so a group is only signalled if one of its processes carries the
//! crashed run's `WF_RUN_ID` in its environment.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::group::{ProcessInfo, processes, signal_group};
use crate::exec::Recovered;
use crate::layout::{GROUPS_FILE, RUNNING_MARKER};

/// True if the process's environment says it belongs to run `run_id`.
fn belongs_to(pid: libc::pid_t, run_id: &str) -> bool {
    let needle = format!("WF_RUN_ID={run_id}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| {
            environ
                .split(|&b| b == 0)
                .any(|entry| entry == needle.as_bytes())
        })
        .unwrap_or(false)
}

/// Ends what is left of every run of `manifest` (absolute path) under `runs_dir` that is still
/// marked running, waiting up to `grace` after SIGTERM before SIGKILL. Call only while holding
/// that manifest's run lock, so that none of those runs can be alive.
pub fn recover_crashed_runs(runs_dir: &Path, manifest: &Path, grace: Duration) -> Vec<Recovered> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let crashed: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join(RUNNING_MARKER))
                .is_ok_and(|marker| marker.lines().nth(1) == Some(&*manifest.to_string_lossy()))
        })
        .collect();
    let mut recovered = Vec::new();
    for run_dir in crashed {
        let run_id = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let groups: Vec<libc::pid_t> = std::fs::read_to_string(run_dir.join(GROUPS_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        let ended = end_groups_of_run(&groups, &run_id, grace);
        let _ = std::fs::remove_file(run_dir.join(RUNNING_MARKER));
        recovered.push(Recovered { run_id, ended });
    }
    recovered.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    recovered
}

fn end_groups_of_run(groups: &[libc::pid_t], run_id: &str, grace: Duration) -> usize {
    let live = |all: &[ProcessInfo]| -> Vec<ProcessInfo> {
        all.iter()
            .filter(|p| p.state != 'Z' && groups.contains(&p.pgid) && belongs_to(p.pid, run_id))
            .copied()
            .collect()
    };
    let found = live(&processes());
    if found.is_empty() {
        return 0;
    }
    let mut targets: Vec<libc::pid_t> = found.iter().map(|p| p.pgid).collect();
    targets.sort_unstable();
    targets.dedup();
    for &pgid in &targets {
        signal_group(pgid, libc::SIGTERM);
    }
    let until = Instant::now() + grace;
    while Instant::now() < until && !live(&processes()).is_empty() {
        // Not our children: there is nothing to wait on but the process table.
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pgid in &targets {
        signal_group(pgid, libc::SIGKILL);
    }
    found.len()
}
