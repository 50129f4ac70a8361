//! Where a run leaves its files: `.wf/` beside the manifest, one folder per run.
//!
//! ```text
//! .wf/state.db                    the state store
//! .wf/runs/RUN_ID/report.json     the run report
//! .wf/runs/RUN_ID/logs/TASK.log   stdout and stderr of every attempt
//! ```

use std::io;
use std::path::{Path, PathBuf};

use crate::exec::recover::{RUNNING_MARKER, write_marker};
use crate::report::time::Timestamp;

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

/// A run's folder, created.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run's id: `20261129T154600Z-3f2a`.
    pub run_id: String,
    /// `.wf/runs/RUN_ID`.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `.wf/runs/RUN_ID/logs` under `root` with a new, unique run id, marked as a
    /// run of `manifest` (absolute path) in progress.
    pub fn create(root: &Path, manifest: &Path, started: Timestamp) -> io::Result<Self> {
        let wf = state_dir(root);
        std::fs::create_dir_all(runs_dir(root))?;
        let ignore = wf.join(".gitignore");
        if !ignore.exists() {
            // Keep run data out of version control without asking the user to.
            std::fs::write(&ignore, "*\n")?;
        }
        let mut salt = u64::from(std::process::id()) ^ started.millis().unsigned_abs();
        loop {
            salt = salt
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let run_id = format!("{}-{:04x}", started.compact(), (salt >> 48) & 0xffff);
            let path = run_path(root, &run_id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    std::fs::create_dir(path.join("logs"))?;
                    write_marker(&path, manifest)?;
                    return Ok(Self { run_id, path });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// The run's report file.
    pub fn report_path(&self) -> PathBuf {
        self.path.join(REPORT_FILE)
    }

    /// Marks the run as ended normally: it no longer needs recovery.
    pub fn mark_ended(&self) {
        let _ = std::fs::remove_file(self.path.join(RUNNING_MARKER));
    }
}

/// The folder holding every run's folder.
pub fn runs_dir(root: &Path) -> PathBuf {
    state_dir(root).join("runs")
}

/// The folder of an earlier run.
pub fn run_path(root: &Path, run_id: &str) -> PathBuf {
    runs_dir(root).join(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_within_a_second() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = Timestamp::now();
        let manifest = dir.path().join("wf.toml");
        let a = RunDir::create(dir.path(), &manifest, now).expect("first");
        let b = RunDir::create(dir.path(), &manifest, now).expect("second");
        assert_ne!(a.run_id, b.run_id);
        assert!(a.path.join("logs").is_dir());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".wf/.gitignore")).expect("ignore"),
            "*\n"
        );
    }
}
