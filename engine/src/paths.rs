//! Paths as wf compares and shows them: lexically normalized, and relative to the manifest's
//! folder when inside it.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` and `..` resolved lexically (no file system access).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// True if `pattern` has glob characters (`*`, `?`, `[`), false for a plain path.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// `path` relative to `root` for display and storage, or as it is when outside it.
pub fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_lexically() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn shows_paths_inside_the_root_relative_to_it() {
        assert_eq!(
            shown(Path::new("/p/data/a.csv"), Path::new("/p")),
            "data/a.csv"
        );
        assert_eq!(
            shown(Path::new("/elsewhere/a.csv"), Path::new("/p")),
            "/elsewhere/a.csv"
        );
    }
}
