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

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sweep::{RunMembership, end_run_processes};

/// Name of the marker file that exists while a run is in progress.
pub const RUNNING_MARKER: &str = "running";

/// The first field of the current marker format.
const MARKER_MAGIC: &[u8] = b"wf-running 2";

/// What was found of a crashed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The crashed run's id.
    pub run_id: String,
    /// Processes of its tasks that were still alive and were ended.
    pub ended: usize,
}

/// The contents of a `running` marker for run process `pid` of `manifest` (absolute path).
pub fn marker_contents(pid: u32, manifest: &Path) -> Vec<u8> {
    let mut bytes = MARKER_MAGIC.to_vec();
    bytes.push(0);
    bytes.extend_from_slice(pid.to_string().as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(manifest.as_os_str().as_bytes());
    bytes
}

/// Writes the `running` marker into `run_dir`.
pub fn write_marker(run_dir: &Path, manifest: &Path) -> io::Result<()> {
    std::fs::write(
        run_dir.join(RUNNING_MARKER),
        marker_contents(std::process::id(), manifest),
    )
}

/// The manifest path a marker names, in either format; `None` if it is unreadable.
pub fn marker_manifest(contents: &[u8]) -> Option<PathBuf> {
    if let Some(rest) = contents
        .strip_prefix(MARKER_MAGIC)
        .and_then(|r| r.strip_prefix(b"\0"))
    {
        let (_pid, path) = rest.split_at(rest.iter().position(|&b| b == 0)?);
        return Some(PathBuf::from(OsStr::from_bytes(&path[1..])));
    }
    // The old format: `PID\nPATH\n` (a path holding a newline could not be written in it).
    let mut lines = contents.split(|&b| b == b'\n');
    let _pid = lines.next()?;
    let path = lines.next().filter(|p| !p.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(path)))
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
            std::fs::read(p.join(RUNNING_MARKER))
                .ok()
                .and_then(|marker| marker_manifest(&marker))
                .is_some_and(|named| named == manifest)
        })
        .collect();
    let mut recovered = Vec::new();
    for run_dir in crashed {
        let run_id = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let membership = RunMembership {
            run_id: &run_id,
            adopted: false,
        };
        let ended = end_run_processes(&membership, grace, &mut || false);
        let _ = std::fs::remove_file(run_dir.join(RUNNING_MARKER));
        recovered.push(Recovered { run_id, ended });
    }
    recovered.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    recovered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_any_path_and_old_markers_are_read() {
        let odd = PathBuf::from(OsStr::from_bytes(b"/tmp/a\nb\xff c/wf.toml"));
        let marker = marker_contents(42, &odd);
        assert_eq!(marker_manifest(&marker), Some(odd));
        assert_eq!(
            marker_manifest(b"42\n/home/me/project/wf.toml\n"),
            Some(PathBuf::from("/home/me/project/wf.toml"))
        );
        assert_eq!(marker_manifest(b""), None);
        assert_eq!(marker_manifest(b"wf-running 2\x0042"), None);
    }
}
