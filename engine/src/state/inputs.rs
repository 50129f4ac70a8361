//! A task's `inputs` → the files they name, and the content digest of a file.
//!
//! - A glob (`*`, `?`, `[`) matches regular files only, sorted; like a shell, `*` does not match
//!   a leading dot. A folder a glob matches is left out: write `dir/**/*` for its files.
//! - A literal path names a file, or a folder standing for every file under it (symbolic links
//!   to folders are not followed, so a link cycle cannot loop).
//! - A pattern that matches nothing, or a literal path that does not exist, is kept as a
//!   missing entry, so that the file appearing later changes the fingerprint.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::FingerprintError;
use super::file_cache::{CachedDigest, FileCache, stamp};
use crate::paths::{is_glob, normalize, shown};
use crate::workflow::Task;

/// One entry of a task's resolved inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An existing regular file.
    File {
        /// Absolute, normalized path.
        path: PathBuf,
        /// The path relative to the manifest's folder (absolute if outside it).
        shown: String,
    },
    /// A pattern that matched nothing, or a literal path that does not exist.
    Missing {
        /// The pattern or path relative to the manifest's folder.
        shown: String,
    },
}

/// The files `task`'s `inputs` name, in the order written; `root` is the normalized manifest
/// folder.
pub fn resolve(task: &Task, root: &Path) -> Result<Vec<Resolved>, FingerprintError> {
    let mut resolved = Vec::new();
    for pattern in &task.inputs {
        let before = resolved.len();
        let literal = normalize(&task.cwd.join(pattern));
        if is_glob(pattern) {
            glob_files(task, pattern, root, &mut resolved)?;
        } else {
            literal_files(task, &literal, root, &mut resolved)?;
        }
        if resolved.len() == before {
            resolved.push(Resolved::Missing {
                shown: shown(&literal, root),
            });
        }
    }
    Ok(resolved)
}

fn glob_files(
    task: &Task,
    pattern: &str,
    root: &Path,
    out: &mut Vec<Resolved>,
) -> Result<(), FingerprintError> {
    // The cwd is a path, not a pattern: a folder named `[x]` must match itself.
    let cwd = glob::Pattern::escape(&task.cwd.to_string_lossy());
    let full = format!("{}/{pattern}", cwd.trim_end_matches('/'));
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths =
        glob::glob_with(&full, options).map_err(|error| FingerprintError::InvalidPattern {
            task: task.name.clone(),
            pattern: pattern.to_owned(),
            message: error.msg.to_owned(),
        })?;
    let mut files = Vec::new();
    for entry in paths {
        let path = entry.map_err(|error| FingerprintError::InputUnreadable {
            task: task.name.clone(),
            path: error.path().to_path_buf(),
            source: error.into(),
        })?;
        // A matched path that vanished or cannot be examined is left out here and shows up
        // as unreadable or missing when hashed, if it matters.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(normalize(&path));
        }
    }
    files.sort();
    out.extend(files.into_iter().map(|path| Resolved::File {
        shown: shown(&path, root),
        path,
    }));
    Ok(())
}

fn literal_files(
    task: &Task,
    path: &Path,
    root: &Path,
    out: &mut Vec<Resolved>,
) -> Result<(), FingerprintError> {
    let unreadable = |path: &Path, source: io::Error| FingerprintError::InputUnreadable {
        task: task.name.clone(),
        path: path.to_path_buf(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(unreadable(path, error)),
    };
    if metadata.is_file() {
        out.push(Resolved::File {
            path: path.to_path_buf(),
            shown: shown(path, root),
        });
    } else if metadata.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files).map_err(|(at, error)| unreadable(&at, error))?;
        files.sort();
        out.extend(files.into_iter().map(|path| Resolved::File {
            shown: shown(&path, root),
            path,
        }));
    }
    Ok(())
}

/// Every regular file under `dir`, following links to files but not to folders.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), (PathBuf, io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_path_buf(), e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

/// A file's digest, and the cache entry to record for it if it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// blake3 of the content, hex.
    pub digest: String,
    /// True if it came from the cache.
    pub from_cache: bool,
    /// Bytes read to compute it (0 on a cache hit).
    pub bytes_read: u64,
    /// A new cache entry; `None` on a cache hit or when the file may still be changing.
    pub entry: Option<CachedDigest>,
}

/// How close to "now" a modification time must be for the file to count as possibly still
/// being written.
///
/// Modification times have a granularity (a clock tick on Linux, a second or two on some
/// network and FAT file systems). A file hashed in the same tick as it was last written could
/// be written again without its mtime changing, and a cached digest would then be stale
/// forever. Such a file is hashed but not cached, so it is hashed again next time.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// The digest of the file at `path`, read in a stream (never whole into memory), or taken
/// from `cache` if its size and mtime are unchanged. `Ok(None)` if it no longer exists.
pub fn hash_file(path: &Path, cache: &FileCache) -> io::Result<Option<FileDigest>> {
    let gone = |error: io::Error| match error.kind() {
        io::ErrorKind::NotFound => Ok(None),
        _ => Err(error),
    };
    // A `stat` is enough for a cache hit; the file is opened only to be read.
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return gone(error),
    };
    if !metadata.is_file() {
        return Ok(None);
    }
    let (size, mtime_ns) = stamp(&metadata);
    if let Some(digest) = cache.get(path, size, mtime_ns) {
        return Ok(Some(FileDigest {
            digest: digest.to_owned(),
            from_cache: true,
            bytes_read: 0,
            entry: None,
        }));
    }
    // Memory-mapping is avoided on purpose: a file truncated by a running task while it is
    // mapped kills the reader with SIGBUS.
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return gone(error),
    };
    // Stamp what was opened, which may have been replaced since the `stat`.
    let (size, mtime_ns) = stamp(&file.metadata()?);
    let (digest, bytes_read) = hash_stream(&file)?;
    let after = stamp(&file.metadata()?);
    let settled = after == (size, mtime_ns) && bytes_read == size && !is_recent(mtime_ns);
    let entry = settled.then(|| CachedDigest {
        size,
        mtime_ns,
        digest: digest.clone(),
    });
    Ok(Some(FileDigest {
        digest,
        from_cache: false,
        bytes_read,
        entry,
    }))
}

/// Read size: large enough for blake3 to hash several 1 KiB chunks at once with SIMD, small
/// enough to stay in cache.
const READ_BUFFER: usize = 128 * 1024;

/// blake3 (hex) of everything `reader` yields, and the number of bytes.
fn hash_stream(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; READ_BUFFER];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                total += n as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok((hasher.finalize().to_hex().to_string(), total))
}

fn is_recent(mtime_ns: i64) -> bool {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let window = i64::try_from(RACY_WINDOW.as_nanos()).unwrap_or(i64::MAX);
    mtime_ns > now_ns.saturating_sub(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_blake3_and_skips_recent_files_in_the_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").expect("write");
        let cache = FileCache::new();
        let digest = hash_file(&path, &cache).expect("hash").expect("exists");
        assert_eq!(digest.digest, blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(digest.bytes_read, 5);
        assert_eq!(digest.entry, None, "just written: racy");
        assert_eq!(
            hash_file(&dir.path().join("nope"), &cache).expect("ok"),
            None
        );
    }

    #[test]
    fn caches_settled_files_and_trusts_the_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").expect("write");
        let old = SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let mut cache = FileCache::new();
        let first = hash_file(&path, &cache).expect("hash").expect("exists");
        let entry = first.entry.expect("settled file is cached");
        cache.insert(
            path.clone(),
            CachedDigest {
                digest: "cached".to_owned(),
                ..entry
            },
        );
        let second = hash_file(&path, &cache).expect("hash").expect("exists");
        assert_eq!(second.digest, "cached");
        assert_eq!(second.bytes_read, 0);
    }
}
