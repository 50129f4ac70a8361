//! The file-hash cache: a file whose size and modification time have not changed since it was
//! hashed is not read again.
//!
//! Like make and git, this trusts modification times: a tool that rewrites a file keeping its
//! size and restoring its mtime defeats it.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the cache knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDigest {
    /// Size in bytes when it was hashed.
    pub size: u64,
    /// Modification time when it was hashed, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Its content digest (blake3, hex).
    pub digest: String,
}

/// Absolute path → size, mtime and digest; remembers which entries changed since it was
/// loaded so that saving writes only those.
#[derive(Debug, Clone, Default)]
pub struct FileCache {
    entries: HashMap<PathBuf, CachedDigest>,
    changed: HashSet<PathBuf>,
}

impl FileCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The digest of `path` if it was hashed at this size and modification time.
    pub fn get(&self, path: &Path, size: u64, mtime_ns: i64) -> Option<&str> {
        self.entries
            .get(path)
            .filter(|entry| entry.size == size && entry.mtime_ns == mtime_ns)
            .map(|entry| entry.digest.as_str())
    }

    /// Everything known about `path`.
    #[cfg(test)]
    pub fn entry(&self, path: &Path) -> Option<&CachedDigest> {
        self.entries.get(path)
    }

    /// Records a digest; the entry counts as changed unless it was already known as is.
    pub fn insert(&mut self, path: PathBuf, entry: CachedDigest) {
        if self.entries.get(&path) != Some(&entry) {
            self.changed.insert(path.clone());
            self.entries.insert(path, entry);
        }
    }

    /// Records an entry as loaded from the store: it does not count as a change.
    pub fn insert_saved(&mut self, path: PathBuf, entry: CachedDigest) {
        self.entries.insert(path, entry);
    }

    /// Number of files known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no file is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries added or updated since the cache was loaded or last saved.
    pub fn changed(&self) -> impl Iterator<Item = (&Path, &CachedDigest)> + '_ {
        self.changed
            .iter()
            .filter_map(|path| self.entries.get(path).map(|entry| (path.as_path(), entry)))
    }

    /// Number of changed entries.
    pub fn changed_count(&self) -> usize {
        self.changed.len()
    }

    /// Forgets which entries changed, once they are saved.
    pub fn mark_saved(&mut self) {
        self.changed.clear();
    }
}

/// A file's size and modification time (nanoseconds since the epoch), as the cache keys them.
pub fn stamp(metadata: &Metadata) -> (u64, i64) {
    let mtime_ns = metadata
        .mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(metadata.mtime_nsec());
    (metadata.size(), mtime_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64, mtime_ns: i64, digest: &str) -> CachedDigest {
        CachedDigest {
            size,
            mtime_ns,
            digest: digest.to_owned(),
        }
    }

    #[test]
    fn hits_only_on_the_same_size_and_mtime() {
        let mut cache = FileCache::new();
        cache.insert(PathBuf::from("/a"), entry(3, 10, "d"));
        assert_eq!(cache.get(Path::new("/a"), 3, 10), Some("d"));
        assert_eq!(cache.get(Path::new("/a"), 4, 10), None);
        assert_eq!(cache.get(Path::new("/a"), 3, 11), None);
        assert_eq!(cache.get(Path::new("/b"), 3, 10), None);
    }

    #[test]
    fn tracks_changes_until_saved() {
        let mut cache = FileCache::new();
        cache.insert_saved(PathBuf::from("/a"), entry(1, 1, "x"));
        cache.insert(PathBuf::from("/a"), entry(1, 1, "x"));
        assert_eq!(cache.changed_count(), 0);
        cache.insert(PathBuf::from("/a"), entry(2, 2, "y"));
        cache.insert(PathBuf::from("/b"), entry(1, 1, "z"));
        assert_eq!(cache.changed_count(), 2);
        cache.mark_saved();
        assert_eq!(cache.changed().count(), 0);
        assert_eq!(cache.len(), 2);
    }
}
