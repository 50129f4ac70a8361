//! A manifest's text with its name, and byte offsets turned into lines and columns.

use std::path::PathBuf;
use std::sync::Arc;

/// The text of one manifest and where it came from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (used in messages).
    pub path: PathBuf,
    /// The whole text.
    pub text: Arc<str>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl SourceFile {
    /// A source with this path and text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The name to show for this file.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The line and column of a byte offset (clamped to the text, snapped to a char boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LineCol {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
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
    }
}
