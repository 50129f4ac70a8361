//! One run of a manifest at a time: an exclusive lock on `.wf/lock.MANIFEST` (the manifest's
//! file name) held for the whole run. Different manifests in one folder share `.wf/` but may
//! run at the same time.
//!
//! `flock` locks are released by the kernel when the process dies, however it dies, so a
//! crashed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

/// Why the run lock could not be taken.
#[derive(Debug, Error, Diagnostic)]
pub enum LockError {
    /// Another wf run of this manifest is in progress.
    #[error("another `wf run` of this workflow is in progress{}", holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default())]
    #[diagnostic(
        code(wf::run_in_progress),
        help("wait for it to finish, or stop it (Ctrl-C, or `kill {}`); runs of one workflow share `.wf/` and must not overlap", holder.map_or("PID".to_owned(), |p| p.to_string()))
    )]
    Busy {
        /// The pid written by the holder, if readable.
        holder: Option<u32>,
    },
    /// The lock file could not be opened.
    #[error("cannot open the run lock {}", path.display())]
    #[diagnostic(code(wf::run_lock))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The held run lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the run lock of `manifest` (whose `.wf` folder is `state_dir`) without waiting.
    pub fn acquire(state_dir: &Path, manifest: &Path) -> Result<Self, LockError> {
        let name = manifest
            .file_name()
            .map_or_else(|| "wf.toml".into(), |n| n.to_string_lossy());
        let path = state_dir.join(format!("lock.{name}"));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Busy {
                holder: text.trim().parse().ok(),
            });
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file })
    }
}

/// What a probe of a manifest's run lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    /// No run of the manifest is in progress.
    Free,
    /// A run holds the lock: it is in progress.
    Held {
        /// The pid the holder wrote, if readable.
        holder: Option<u32>,
    },
}

/// Whether a run of `manifest` (whose `.wf` folder is `state_dir`) holds its run lock now,
/// without waiting and without creating anything: a shared lock is tried and let go at once.
pub fn probe(state_dir: &Path, manifest: &Path) -> LockProbe {
    let name = manifest
        .file_name()
        .map_or_else(|| "wf.toml".into(), |n| n.to_string_lossy());
    let Ok(mut file) = File::open(state_dir.join(format!("lock.{name}"))) else {
        return LockProbe::Free;
    };
    // SAFETY: flock on a descriptor we own; the lock goes with the descriptor when `file` drops.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        return LockProbe::Free;
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    LockProbe::Held {
        holder: text.trim().parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join("wf.toml");
        let first = RunLock::acquire(dir.path(), &manifest).expect("free");
        RunLock::acquire(dir.path(), &dir.path().join("other.toml")).expect("another manifest");
        match RunLock::acquire(dir.path(), &manifest) {
            Err(LockError::Busy { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(dir.path(), &manifest).expect("free again");
    }

    #[test]
    fn a_probe_sees_the_holder_and_takes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join("wf.toml");
        assert_eq!(probe(dir.path(), &manifest), LockProbe::Free);
        let held = RunLock::acquire(dir.path(), &manifest).expect("free");
        assert_eq!(
            probe(dir.path(), &manifest),
            LockProbe::Held {
                holder: Some(std::process::id())
            }
        );
        drop(held);
        assert_eq!(probe(dir.path(), &manifest), LockProbe::Free);
        RunLock::acquire(dir.path(), &manifest).expect("the probe left it free");
    }
}
