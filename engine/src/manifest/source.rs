//! A manifest's text with its name, and byte offsets turned into lines and columns.
//!
//! The line starts are indexed once per source, so locating a finding is a binary search, not a
//! scan from the start of the file: a manifest with many findings is still checked in linear
//! time.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The text of one manifest and where it came from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (used in messages).
    pub path: PathBuf,
    /// The whole text.
    pub text: Arc<str>,
    /// Where each line starts, built once, when first asked for (a valid manifest never needs
    /// it: 32 MB for a million tasks), and shared by clones.
    lines: Arc<OnceLock<LineIndex>>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

/// The byte offsets where the lines of a text start, sorted, with whether each line is ASCII
/// (then a column is a byte difference and needs no counting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    starts: Vec<usize>,
    ascii: Vec<bool>,
}

impl LineIndex {
    /// Indexes the lines of `text` (one pass).
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                text.as_bytes()[start..end].is_ascii()
            })
            .collect();
        Self { starts, ascii }
    }

    /// Number of lines (a text ending with a newline has an empty last line).
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The 0-based line that contains byte `offset` (binary search).
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset) - 1
    }

    /// The byte range of 0-based line `line`, without its newline (clamped to the last line).
    pub fn line_range(&self, line: usize, text: &str) -> std::ops::Range<usize> {
        let line = line.min(self.starts.len() - 1);
        let start = self.starts[line];
        let end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |&next| next - 1);
        start..end.max(start)
    }

    /// The line and column of a byte offset of `text` (clamped to the text, snapped back to a
    /// char boundary).
    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.starts[line];
        let column = if self.ascii[line] {
            offset - start
        } else {
            text[start..offset].chars().count()
        };
        LineCol {
            line: line + 1,
            column: column + 1,
        }
    }
}

impl SourceFile {
    /// A source with this path and text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        let text = text.into();
        Self {
            path: path.into(),
            lines: Arc::new(OnceLock::new()),
            text,
        }
    }

    /// The name to show for this file.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The line index of the text, built on the first call.
    pub fn lines(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex::new(&self.text))
    }

    /// The line and column of a byte offset (clamped to the text, snapped to a char boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        self.lines().line_col(&self.text, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_lines_and_character_columns() {
        let source = SourceFile::new("wf.toml", "a = 1\nb = \"é\" x\n");
        assert_eq!(source.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(source.line_col(6), LineCol { line: 2, column: 1 });
        // `x` comes after the two-byte `é`: byte 15, character column 9.
        assert_eq!(source.line_col(15), LineCol { line: 2, column: 9 });
        assert_eq!(source.line_col(999), LineCol { line: 3, column: 1 });
        // Inside the `é`: snapped back to its start.
        assert_eq!(source.line_col(11), LineCol { line: 2, column: 6 });
    }

    #[test]
    fn the_locator_is_a_line_index_built_once() {
        let text = "x = 1\n".repeat(200_000);
        let source = SourceFile::new("wf.toml", text.as_str());
        assert_eq!(source.lines().line_count(), 200_001);
        assert_eq!(source.lines().line_of(6 * 150_000 + 2), 150_000);
        assert_eq!(source.lines().line_range(3, &source.text), 18..23);
        // A clone shares the index instead of building it again, built before or after.
        let copy = source.clone();
        let fresh = SourceFile::new("wf.toml", "a\n");
        let fresh_copy = fresh.clone();
        assert!(std::ptr::eq(fresh.lines(), fresh_copy.lines()));
        assert!(std::ptr::eq(copy.lines(), source.lines()));
        // 200,000 lookups near the end of a 1.2 MB text: a scan from the start for each would
        // read 240 GB; the index answers at once.
        let started = std::time::Instant::now();
        for i in 0..200_000 {
            let at = source.line_col(text.len() - 1 - (i % 1000));
            assert!(at.line >= 199_000);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
