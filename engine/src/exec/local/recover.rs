//! Cleaning up after a run that did not end normally (wf was SIGKILLed, the machine lost
//! power, …).
//!
//! A run keeps a `.wf/runs/RUN_ID/running` marker until it ends, naming the manifest it runs.
//! wf's direct children die with it (the parent-death signal), but their own children may not.
//! The next run of the same manifest (holding the run lock, so the crashed run is certainly not
//! alive) finds runs still marked running and ends every process that carries the crashed run's
//! `WF_RUN_ID` in its environment, wherever it is: in a task's process group, in a session of
//! its own (`setsid`), re-parented to init (see [`super::sweep`]).
//!
//! # The marker's format
//!
//! ```text
//! wf-running 2 NUL PID NUL MANIFEST-PATH-BYTES
//! ```
//!
//! A path may contain any byte but NUL (newlines, bytes that are not UTF-8), so the manifest's
//! path is stored as its raw bytes after the last NUL. Markers of older wf versions (`PID\n
//! PATH\n`) are still read.

use std::time::Duration;

use super::sweep::{RunMembership, end_run_processes};
use crate::exec::Recovered;
use crate::layout::marker::CrashedRun;

/// Ends every process still alive of the `crashed` runs, waiting up to `grace` after SIGTERM
/// before SIGKILL. Call only while holding the manifest's run lock, so that none of those runs
/// can be alive.
pub fn recover_crashed_runs(crashed: &[CrashedRun], grace: Duration) -> Vec<Recovered> {
    crashed
        .iter()
        .map(|run| {
            let membership = RunMembership {
                run_id: &run.run_id,
                adopted: false,
            };
            Recovered {
                run_id: run.run_id.clone(),
                processes: end_run_processes(&membership, grace, &mut || false),
                jobs: 0,
            }
        })
        .collect()
}
