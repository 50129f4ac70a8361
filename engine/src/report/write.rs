//! Writing a report file: a reader never sees half of it, a link planted beside or at the
//! path never redirects it, and streams (`/dev/stdout`, pipes) get it directly.

use std::fs::{OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A report file that could not be written: which file, and the OS's reason.
#[derive(Debug, Error)]
#[error("failed to write {}: {source}", .path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Writes `bytes` to `path`.
///
/// - A path that is not a regular file (a pipe, a character device such as `/dev/stdout` on a
///   terminal or pipe, a socket) is written directly: there is nothing to replace.
/// - Otherwise the bytes go to a new file with an unpredictable name in the same folder,
///   created exclusively (a planted file or link there makes the creation fail, never
///   redirects it), which is then renamed over `path`; on failure it is removed.
/// - A symbolic link at `path` is replaced, not followed, unless its folder is writable only by
///   its owner (like `/dev`): such a link was not planted, and the file it names is replaced.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_with(path, |out| out.write_all(bytes))
}

/// Like [`write_file`], but the content is written by `write` straight into the file, through
/// a buffer: a large report is never held in memory as a whole.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::metadata(path) {
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_dir() {
            let stream = OpenOptions::new().write(true).open(path).map_err(fail)?;
            return write_buffered(stream, write).map_err(fail);
        }
    }
    let target = trusted_link_target(path).unwrap_or_else(|| path.to_path_buf());
    replace(&target, write).map_err(fail)
}

/// Runs `write` on `file` through a buffer and flushes it.
fn write_buffered(
    file: std::fs::File,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, file);
    write(&mut out)?;
    out.flush()
}

/// The file a symbolic link at `path` names, if the link sits in a folder that only its owner
/// can write to.
fn trusted_link_target(path: &Path) -> Option<PathBuf> {
    let link = std::fs::symlink_metadata(path).ok()?;
    if !link.file_type().is_symlink() {
        return None;
    }
    let folder = parent_of(path);
    let mode = std::fs::metadata(folder).ok()?.mode();
    if mode & 0o022 != 0 {
        return None;
    }
    std::fs::canonicalize(path).ok()
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// Writes a temporary file beside `path` and renames it over `path`.
fn replace(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let folder = parent_of(path);
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map_or_else(|| "report".to_owned(), |n| n.to_string_lossy().into_owned());
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(folder)?;
    // Through the plain file: the temporary file's own error would name itself, not `path`.
    write_buffered(file.as_file().try_clone()?, write)?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial"))
            .collect()
    }

    #[test]
    fn writes_a_new_file_and_replaces_an_old_one_without_leaving_partials() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/report.json");
        write_file(&path, b"one").expect("written");
        write_file(&path, b"two").expect("replaced");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert!(leftovers(&dir.path().join("sub")).is_empty());
    }

    #[test]
    fn a_link_planted_at_the_old_partial_name_is_left_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").expect("victim");
        let path = dir.path().join("report.json");
        std::os::unix::fs::symlink(&victim, dir.path().join("report.json.partial")).expect("plant");
        write_file(&path, b"report").expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep");
        assert_eq!(std::fs::read(&path).expect("report"), b"report");
    }

    #[test]
    fn a_link_in_a_folder_others_can_write_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o1777)).expect("chmod");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").expect("victim");
        let path = dir.path().join("report.json");
        std::os::unix::fs::symlink(&victim, &path).expect("plant");
        write_file(&path, b"report").expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep");
        assert!(!std::fs::symlink_metadata(&path).expect("meta").is_symlink());
    }

    #[test]
    fn a_link_in_a_private_folder_is_followed() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).expect("chmod");
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        std::fs::write(&real, "old").expect("real");
        write_file(&link, b"new").expect("written");
        assert!(std::fs::symlink_metadata(&link).expect("meta").is_symlink());
        assert_eq!(std::fs::read(&real).expect("real"), b"new");
    }

    #[test]
    fn a_character_device_is_written_directly() {
        write_file(Path::new("/dev/null"), b"report").expect("written");
        assert!(
            std::fs::metadata("/dev/null")
                .expect("meta")
                .file_type()
                .is_file()
                .eq(&false)
        );
        let error = write_file(Path::new("/dev/full"), b"report").expect_err("full");
        assert_eq!(error.path, Path::new("/dev/full"));
        assert!(error.to_string().starts_with("failed to write /dev/full: "));
    }

    #[test]
    fn an_unwritable_folder_fails_with_the_path_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("report.json").join("inside-a-file");
        std::fs::write(dir.path().join("report.json"), "a file").expect("file");
        let error = write_file(&path, b"x").expect_err("not a folder");
        assert_eq!(error.path, path);
        assert!(leftovers(dir.path()).is_empty());
    }
}
