//! The `running` marker: present in `.wf/runs/RUN_ID` while a run is in progress, naming the
//! manifest it runs. A run whose marker outlived it was killed; the next run of the same
//! manifest finds it here and has its executors end what it left.
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

use super::RUNNING_MARKER;

/// The first field of the current marker format.
const MARKER_MAGIC: &[u8] = b"wf-running 2";

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

/// A run that did not end normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashedRun {
    /// Its id.
    pub run_id: String,
    /// Its folder, `.wf/runs/RUN_ID`.
    pub dir: PathBuf,
}

/// The runs of `manifest` (absolute path) under `runs_dir` still marked running, oldest first.
/// Their markers are removed: call only while holding that manifest's run lock (so none of
/// them can be alive), and end what they left.
pub fn crashed_runs(runs_dir: &Path, manifest: &Path) -> Vec<CrashedRun> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let mut crashed: Vec<CrashedRun> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read(p.join(RUNNING_MARKER))
                .ok()
                .and_then(|marker| marker_manifest(&marker))
                .is_some_and(|named| named == manifest)
        })
        .map(|dir| CrashedRun {
            run_id: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir,
        })
        .collect();
    for run in &crashed {
        let _ = std::fs::remove_file(run.dir.join(RUNNING_MARKER));
    }
    crashed.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    crashed
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

    #[test]
    fn crashed_runs_of_the_manifest_are_found_once_and_unmarked() {
        let runs = tempfile::tempdir().expect("temp dir");
        let manifest = Path::new("/p/wf.toml");
        let make = |name: &str, marker: Option<Vec<u8>>| {
            let dir = runs.path().join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            if let Some(marker) = marker {
                std::fs::write(dir.join(RUNNING_MARKER), marker).expect("marker");
            }
        };
        make("b-crashed", Some(marker_contents(1, manifest)));
        make("a-crashed-old-format", Some(b"7\n/p/wf.toml\n".to_vec()));
        make(
            "other-manifest",
            Some(marker_contents(1, Path::new("/p/other.toml"))),
        );
        make("ended", None);
        let found: Vec<String> = crashed_runs(runs.path(), manifest)
            .into_iter()
            .map(|run| run.run_id)
            .collect();
        assert_eq!(found, ["a-crashed-old-format", "b-crashed"]);
        assert!(
            crashed_runs(runs.path(), manifest).is_empty(),
            "markers removed"
        );
        assert!(
            runs.path()
                .join("other-manifest")
                .join(RUNNING_MARKER)
                .exists()
        );
    }
}
