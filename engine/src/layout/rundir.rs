//! A run's own folder, `.wf/runs/RUN_ID`: created with a unique id and marked in progress
//! until the run ends.

use std::io;
use std::path::{Path, PathBuf};

use super::marker::write_marker;
use super::{REPORT_FILE, RUNNING_MARKER, run_path, runs_dir, state_dir};
use crate::report::time::Timestamp;

/// A run's folder, created.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run's id: `20261129T154600Z-3f2a91c0`.
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
        // Keep run data out of version control without asking the user to. Created only if
        // nothing is there, not even a dangling link.
        let ignore = wf.join(".gitignore");
        if std::fs::symlink_metadata(&ignore).is_err() {
            use std::io::Write;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&ignore)
            {
                Ok(mut file) => file.write_all(b"*\n")?,
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        let mut salt =
            random_u64() ^ u64::from(std::process::id()) ^ started.millis().unsigned_abs();
        loop {
            salt = salt
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let run_id = format!("{}-{:08x}", started.compact(), salt >> 32);
            let path = run_path(root, &run_id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    std::fs::create_dir(path.join("logs"))?;
                    write_marker(&path, manifest)?;
                    reserve(&path.join(RESERVE_FILE));
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

    /// Frees the space reserved when the run started, for recording its end and writing its
    /// report even if its tasks filled the disk.
    pub fn release_reserve(&self) {
        let _ = std::fs::remove_file(self.path.join(RESERVE_FILE));
    }

    /// Marks the run as ended normally: it no longer needs recovery.
    pub fn mark_ended(&self) {
        let _ = std::fs::remove_file(self.path.join(RUNNING_MARKER));
    }
}

/// 64 bits seeded from the operating system's random source (through the standard library's
/// hash keys, which every platform the project builds on provides).
///
/// A run id is also the key by which wf finds a run's processes anywhere on the machine
/// (`WF_RUN_ID`, see `exec::local::sweep`), so two runs of different projects must not share
/// one even when they start in the same second: 32 random bits make that a one in four billion
/// chance per pair, where the process id and the clock alone made it one in 65,536.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Space set aside in each run folder while the run lasts (see [`RunDir::release_reserve`]).
const RESERVE_FILE: &str = ".reserve";

/// How much space a run sets aside: enough for the end of the run in the state store and a
/// report of a few hundred tasks.
const RESERVE_BYTES: i64 = 256 * 1024;

/// Allocates [`RESERVE_BYTES`] at `path`, as far as the disk allows (a disk already full when
/// the run starts has nothing to set aside).
fn reserve(path: &Path) {
    use std::os::fd::AsRawFd;
    let Ok(file) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    else {
        return;
    };
    // SAFETY: fallocate on a descriptor we own, with a valid range.
    let failed = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, RESERVE_BYTES) } != 0;
    if failed {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_different_folders_starting_together_get_different_ids() {
        // The id is the key that finds a run's processes on the whole machine: runs of two
        // projects started in the same millisecond by one process must not share it.
        let now = Timestamp::now();
        let ids: std::collections::HashSet<String> = (0..200)
            .map(|_| {
                let dir = tempfile::tempdir().expect("temp dir");
                let manifest = dir.path().join("wf.toml");
                RunDir::create(dir.path(), &manifest, now)
                    .expect("run dir")
                    .run_id
            })
            .collect();
        assert_eq!(ids.len(), 200);
        assert!(
            ids.iter()
                .all(|id| id.len() == "20261129T154600Z-3f2a91c0".len())
        );
    }

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
