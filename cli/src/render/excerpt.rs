//! The part of a manifest that a finding shows, prepared for miette.
//!
//! miette is handed only the lines the labels point at (with one line of context), found with
//! the source's line index instead of a scan from the start of the file. A long line is cut to a
//! window around its labels (`…` marks what is left out), so a label at column 90,000 is shown
//! like one at column 9; control characters are escaped so they never reach the terminal. The
//! labels are moved to the same places in this text, and the line and column that miette prints
//! are still those of the real file.

use std::collections::HashMap;
use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use wf_engine::manifest::SourceFile;

use super::text::{escape_char, is_unsafe};

/// A line with more characters than this is cut to a window.
pub const LONG_LINE: usize = 240;
/// How many characters of a long line are shown.
pub const WINDOW: usize = 160;
/// How many characters before the first label of a long line are shown.
const MARGIN: usize = 40;
/// Lines of context above and below a label (miette's own setting).
const CONTEXT: usize = 1;
/// Labels whose lines are at most this many lines apart are shown in one excerpt.
const JOIN_GAP: usize = 8;

/// One line of the manifest as shown.
#[derive(Debug)]
struct ShownLine {
    /// Its number in the manifest, from 0.
    real_line: usize,
    /// Which group of adjacent lines it belongs to.
    group: usize,
    /// Where it starts in the excerpt text.
    start: usize,
    /// Where its content ends in the excerpt text (before its newline).
    end: usize,
    /// Its content in the manifest (without the line break).
    real: Range<usize>,
    /// For each shown character: its offset in the manifest and in the excerpt; the last entry
    /// is the end of the window.
    map: Vec<(usize, usize)>,
}

/// The lines of a manifest that a finding shows, as miette's source code.
#[derive(Debug)]
pub struct Excerpt {
    name: String,
    source: SourceFile,
    text: String,
    lines: Vec<ShownLine>,
    by_real: HashMap<usize, usize>,
    /// The last manifest line of each group.
    group_end: Vec<usize>,
}

impl Excerpt {
    /// The excerpt showing the byte ranges `spans` of `source`.
    pub fn new(source: &SourceFile, spans: &[Range<usize>]) -> Self {
        let text: &str = &source.text;
        let index = source.lines();
        let last_line = index.line_count() - 1;
        let clamp = |span: &Range<usize>| {
            let start = span.start.min(text.len());
            start..span.end.clamp(start, text.len())
        };
        let spans: Vec<Range<usize>> = spans.iter().map(clamp).collect();
        let mut wanted: Vec<Range<usize>> = spans
            .iter()
            .map(|span| {
                let first = index.line_of(span.start);
                let last = index.line_of(span.end.saturating_sub(1).max(span.start));
                first.saturating_sub(CONTEXT)..(last + CONTEXT).min(last_line)
            })
            .collect();
        wanted.sort_by_key(|r| r.start);
        let mut groups: Vec<Range<usize>> = Vec::new();
        for range in wanted {
            match groups.last_mut() {
                Some(group) if range.start <= group.end + JOIN_GAP + 1 => {
                    group.end = group.end.max(range.end);
                }
                _ => groups.push(range),
            }
        }
        let mut excerpt = Excerpt {
            name: source.name(),
            source: source.clone(),
            text: String::new(),
            lines: Vec::new(),
            by_real: HashMap::new(),
            group_end: groups.iter().map(|g| g.end).collect(),
        };
        for (group, range) in groups.iter().enumerate() {
            for line in range.start..=range.end {
                excerpt.push_line(line, group, &spans);
            }
        }
        excerpt
    }

    /// Adds manifest line `line` (0-based), cut to a window around `spans` if it is long.
    fn push_line(&mut self, line: usize, group: usize, spans: &[Range<usize>]) {
        let text: &str = &self.source.text;
        let index = self.source.lines();
        let mut real = index.line_range(line, text);
        if text[real.clone()].ends_with('\r') {
            real.end -= 1;
        }
        let window =
            if real.len() <= LONG_LINE || text[real.clone()].chars().nth(LONG_LINE).is_none() {
                real.clone()
            } else {
                let focus = spans
                    .iter()
                    .filter(|s| s.start <= real.end && s.end >= real.start)
                    .map(|s| s.start.max(real.start))
                    .min()
                    .unwrap_or(real.start);
                let start = text[real.start..focus]
                    .char_indices()
                    .rev()
                    .take(MARGIN)
                    .last()
                    .map_or(focus, |(i, _)| real.start + i);
                let end = text[start..real.end]
                    .char_indices()
                    .nth(WINDOW)
                    .map_or(real.end, |(i, _)| start + i);
                start..end
            };
        let start = self.text.len();
        if window.start > real.start {
            self.text.push('…');
        }
        let mut map = Vec::with_capacity(window.len() + 1);
        for (i, c) in text[window.clone()].char_indices() {
            map.push((window.start + i, self.text.len()));
            if is_unsafe(c) && c != '\t' {
                escape_char(c, &mut self.text);
            } else {
                self.text.push(c);
            }
        }
        map.push((window.end, self.text.len()));
        if window.end < real.end {
            self.text.push('…');
        }
        let end = self.text.len();
        if line + 1 < index.line_count() {
            self.text.push('\n');
        }
        self.by_real.insert(line, self.lines.len());
        self.lines.push(ShownLine {
            real_line: line,
            group,
            start,
            end,
            real,
            map,
        });
    }

    /// Where manifest offset `offset` is in the excerpt (a place left out of a long line goes to
    /// the `…` that stands for it).
    pub fn offset_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.text.len());
        let real_line = self.source.lines().line_of(offset);
        let Some(line) = self.by_real.get(&real_line).map(|&i| &self.lines[i]) else {
            return self.text.len();
        };
        let (window_start, _) = line.map[0];
        let (window_end, _) = line.map[line.map.len() - 1];
        if offset < window_start {
            line.start
        } else if offset > window_end {
            if offset <= line.real.end {
                line.end
            } else {
                // On the line break.
                (line.end + 1).min(self.text.len())
            }
        } else {
            let at = line.map.partition_point(|&(real, _)| real < offset);
            line.map[at.min(line.map.len() - 1)].1
        }
    }

    /// The excerpt span for a manifest span.
    pub fn span_of(&self, span: &Range<usize>) -> SourceSpan {
        let start = self.offset_of(span.start);
        let end = self.offset_of(span.end.max(span.start)).max(start);
        SourceSpan::new(start.into(), end - start)
    }

    /// The shown line that holds excerpt offset `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.lines
            .partition_point(|line| line.start <= offset)
            .saturating_sub(1)
    }

    /// The manifest's 0-based character column of excerpt offset `offset`.
    fn real_column(&self, offset: usize) -> usize {
        let Some(line) = self.lines.get(self.line_at(offset)) else {
            return 0;
        };
        let at = line.map.partition_point(|&(_, shown)| shown <= offset);
        let real = line.map[at.saturating_sub(1)].0;
        self.source.line_col(real).column - 1
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        if self.lines.is_empty() {
            return Err(MietteError::OutOfBounds);
        }
        let start = span.offset().min(self.text.len());
        let end = (start + span.len()).min(self.text.len());
        let first_line = self.line_at(start);
        let last_line = self.line_at(end.saturating_sub(1).max(start));
        let group = self.lines[first_line].group;
        let group_first = self.lines.partition_point(|l| l.group < group);
        let group_last = self.lines.partition_point(|l| l.group <= group) - 1;
        let first = first_line
            .saturating_sub(context_lines_before)
            .max(group_first);
        let last = (last_line + context_lines_after).min(group_last);
        let bare = context_lines_before == 0 && context_lines_after == 0;
        let data_start = if bare { start } else { self.lines[first].start };
        let mut data_end = self.lines[last].end;
        let newline = self.text[data_end..].starts_with('\n');
        if newline {
            data_end += 1;
        }
        let data_end = data_end.max(data_start);
        let line = self.lines[if bare { first_line } else { first }].real_line;
        let column = if bare { self.real_column(start) } else { 0 };
        // miette joins the excerpts of two labels when `line + line_count` reaches the second
        // one's first line, and its own sources count every line break up to the end of the
        // excerpt. Kept within a group (so labels show as they always did), and never reaching
        // the next group (whose lines are not in this one's text).
        let counted = self.lines[last].real_line + usize::from(newline);
        let line_count = counted.min(self.group_end[group] + 1 - line);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[data_start..data_end],
            SourceSpan::new(data_start.into(), data_end - data_start),
            line,
            column,
            line_count,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_around_its_label() {
        let text = format!(
            "[tasks.a]\n{}timeout = \"5\"\nrun = \"x\"\n",
            " ".repeat(70_000)
        );
        let source = SourceFile::new("wf.toml", text.as_str());
        let at = text.find("\"5\"").expect("value");
        let excerpt = Excerpt::new(&source, std::slice::from_ref(&(at..at + 3)));
        let span = excerpt.span_of(&(at..at + 3));
        assert_eq!(
            &excerpt.text[span.offset()..span.offset() + span.len()],
            "\"5\""
        );
        assert!(excerpt.text.len() < 1_000, "{}", excerpt.text.len());
        let contents = excerpt.read_span(&span, 0, 0).expect("read");
        assert_eq!(contents.line(), 1);
        assert_eq!(contents.column(), 70_010);
    }

    #[test]
    fn control_characters_are_escaped_and_labels_follow() {
        let text = "a = \"\u{1b}[31m\"\nb = 1\n";
        let source = SourceFile::new("wf.toml", text);
        let excerpt = Excerpt::new(&source, std::slice::from_ref(&(16..17)));
        assert!(excerpt.text.contains("\\x1b[31m"));
        assert!(!excerpt.text.contains('\u{1b}'));
        let span = excerpt.span_of(&(16..17));
        assert_eq!(&excerpt.text[span.offset()..span.offset() + 1], "1");
    }

    #[test]
    fn far_apart_labels_make_separate_groups_with_their_own_lines() {
        let text = "x = 1\n".repeat(1_000);
        let source = SourceFile::new("wf.toml", text.as_str());
        let excerpt = Excerpt::new(&source, &[6..7, 6 * 900..6 * 900 + 1]);
        assert_eq!(excerpt.lines.len(), 6);
        let second = excerpt.span_of(&(6 * 900..6 * 900 + 1));
        let contents = excerpt.read_span(&second, 1, 1).expect("read");
        assert_eq!(contents.line(), 899);
    }
}
