//! Where wf keeps its files: `.wf/` beside the manifest. Every path under `.wf/` is named
//! here and nowhere else.
//!
//! ```text
//! .wf/state.db                    the state store
//! .wf/lock.<manifest file>        the run lock of one manifest
//! .wf/runs/RUN_ID/report.json     the run report
//! .wf/runs/RUN_ID/logs/TASK.log   stdout and stderr of every attempt
//! .wf/runs/RUN_ID/running         present while the run is in progress
//! .wf/runs/RUN_ID/.reserve        space set aside while the run lasts (see `rundir`)
//! ```

pub mod marker;
pub mod rundir;
pub mod runlock;

use std::path::{Path, PathBuf};

pub use rundir::RunDir;

/// Name of the state store's file inside `.wf/`.
pub const STATE_FILE: &str = "state.db";
/// Name of the marker file that exists while a run is in progress.
pub const RUNNING_MARKER: &str = "running";
/// The Slurm job ids a run submitted, one per line (in the run's folder), so that the next
/// run can cancel what a crashed run left in the queue.
pub const JOBS_FILE: &str = "jobs";

/// The name of a run's JSON report inside its folder.
pub const REPORT_FILE: &str = "report.json";

/// The folder a manifest lives in (where its `.wf/` is), absolute.
pub fn manifest_root(manifest: &Path) -> PathBuf {
    std::path::absolute(manifest)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A manifest's absolute path, the key of its runs in `.wf/`, given its folder `root`.
pub fn manifest_key(root: &Path, manifest: &Path) -> PathBuf {
    root.join(manifest.file_name().unwrap_or_else(|| "wf.toml".as_ref()))
}

/// The `.wf` folder of a workflow whose manifest is in `root`.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".wf")
}

/// The state store of the workflow whose manifest is in `root`.
pub fn store_path(root: &Path) -> PathBuf {
    state_dir(root).join(STATE_FILE)
}

/// The folder holding every run's folder.
pub fn runs_dir(root: &Path) -> PathBuf {
    state_dir(root).join("runs")
}

/// The folder of an earlier run.
pub fn run_path(root: &Path, run_id: &str) -> PathBuf {
    runs_dir(root).join(run_id)
}
