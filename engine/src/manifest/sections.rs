//! The table headers of TOML text, found by a scan that builds no tree.
//!
//! The scan knows just enough TOML to tell a header line from everything else: strings (basic,
//! literal, and both multi-line kinds, so a `[tasks.x]` inside a string is no header), comments,
//! and arrays and inline tables spanning lines (a line starting with `[` inside one is a value).
//! It is strict: whatever it does not fully understand (an unclosed string or bracket, a header
//! with an escape in a quoted key, text after a header) makes it give up, and the caller reads
//! the file the ordinary way, which then reports the problem.

use std::ops::Range;

/// Who a section of the manifest belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The text before the first header, and every table that is not under `tasks`.
    Rest,
    /// A table under `tasks.NAME` (the task's own table, its `env`, its `matrix` …).
    Task(&'a str),
}

/// One header and the lines it governs: from the start of its line to the start of the next
/// header's line (or the end of the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// Who the table belongs to.
    pub owner: Owner<'a>,
    /// The byte range of the header line and of the lines after it, up to the next header.
    pub range: Range<usize>,
}

/// The sections of `text`, in order, after the text before the first header (which is
/// `0..sections[0].range.start`). `None` when the scan cannot be sure of the headers, or when a
/// header is one the caller should not split at (`[tasks]` itself).
pub fn sections(text: &str) -> Option<Vec<Section<'_>>> {
    let mut scan = Scan {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut found: Vec<Section<'_>> = Vec::new();
    let mut open: Vec<u8> = Vec::new();
    let mut line_start = 0;
    // Only blanks since the start of the line, and outside any array or inline table.
    let mut at_line_start = true;
    while let Some(&byte) = scan.bytes.get(scan.at) {
        match byte {
            b'\n' => {
                scan.at += 1;
                line_start = scan.at;
                at_line_start = open.is_empty();
            }
            b' ' | b'\t' | b'\r' => scan.at += 1,
            b'#' => scan.skip_comment(),
            b'"' | b'\'' => {
                scan.skip_string(byte)?;
                at_line_start = false;
            }
            b'[' if at_line_start => {
                let owner = scan.header()?;
                if let Some(last) = found.last_mut() {
                    last.range.end = line_start;
                }
                found.push(Section {
                    owner,
                    range: line_start..text.len(),
                });
                line_start = scan.at;
            }
            b'[' | b'{' => {
                open.push(byte);
                scan.at += 1;
                at_line_start = false;
            }
            b']' | b'}' => {
                let expected = if byte == b']' { b'[' } else { b'{' };
                if open.pop() != Some(expected) {
                    return None;
                }
                scan.at += 1;
            }
            _ => {
                scan.at += 1;
                at_line_start = false;
            }
        }
    }
    open.is_empty().then_some(found)
}

/// A cursor over the text.
struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    /// Moves to the end of the comment's line (the line break stays).
    fn skip_comment(&mut self) {
        self.at = memchr_newline(self.bytes, self.at);
    }

    /// Moves past the string starting at the cursor (`quote` is `"` or `'`). `None` if it is
    /// not closed where TOML says it must be.
    fn skip_string(&mut self, quote: u8) -> Option<()> {
        let rest = &self.bytes[self.at..];
        let triple = rest.len() >= 3 && rest[1] == quote && rest[2] == quote;
        if triple {
            self.at += 3;
            loop {
                let &byte = self.bytes.get(self.at)?;
                if byte == b'\\' && quote == b'"' {
                    self.at += 2;
                } else if byte == quote && self.bytes[self.at..].starts_with(&[quote; 3]) {
                    self.at += 3;
                    // Up to two more quotes belong to the content, right before the closing ones.
                    for _ in 0..2 {
                        if self.bytes.get(self.at) == Some(&quote) {
                            self.at += 1;
                        }
                    }
                    return Some(());
                } else {
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        loop {
            let &byte = self.bytes.get(self.at)?;
            match byte {
                b'\n' | b'\r' => return None,
                b'\\' if quote == b'"' => self.at += 2,
                _ if byte == quote => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    /// Reads the header at the cursor (on its `[`) up to and including its line break, and
    /// says whose it is. `None` for anything but a plain, well-formed header line, and for
    /// `[tasks]` itself.
    fn header(&mut self) -> Option<Owner<'a>> {
        let array = self.bytes.get(self.at + 1) == Some(&b'[');
        self.at += if array { 2 } else { 1 };
        let mut keys: [Option<&'a str>; 2] = [None, None];
        let mut count = 0;
        loop {
            self.skip_blanks();
            let key = self.key()?;
            if count < 2 {
                keys[count] = Some(key);
            }
            count += 1;
            self.skip_blanks();
            match self.bytes.get(self.at) {
                Some(b'.') => self.at += 1,
                Some(b']') => break,
                _ => return None,
            }
        }
        let close: &[u8] = if array { b"]]" } else { b"]" };
        if !self.bytes[self.at..].starts_with(close) {
            return None;
        }
        self.at += close.len();
        self.skip_blanks();
        match self.bytes.get(self.at) {
            Some(b'#') => self.skip_comment(),
            Some(b'\r') if self.bytes.get(self.at + 1) == Some(&b'\n') => self.at += 1,
            Some(b'\n') | None => {}
            Some(_) => return None,
        }
        if self.at < self.bytes.len() {
            // The line break.
            self.at += 1;
        }
        match keys {
            [Some("tasks"), Some(name)] => Some(Owner::Task(name)),
            [Some("tasks"), None] => None,
            _ => Some(Owner::Rest),
        }
    }

    /// Skips spaces and tabs.
    fn skip_blanks(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// One key of a header: bare, or quoted without escapes. Returns the key's value.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.at;
        match self.bytes.get(self.at)? {
            &quote @ (b'"' | b'\'') => {
                let body = start + 1;
                let len = self.bytes[body..]
                    .iter()
                    .position(|&b| b == quote || b == b'\n' || b == b'\r' || b == b'\\')?;
                if self.bytes[body + len] != quote || len == 0 {
                    return None;
                }
                self.at = body + len + 1;
                Some(&self.text[body..body + len])
            }
            _ => {
                while matches!(self.bytes.get(self.at),
                    Some(b) if b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                {
                    self.at += 1;
                }
                (self.at > start).then(|| &self.text[start..self.at])
            }
        }
    }
}

/// The offset of the next `\n` at or after `from`, or the text's length.
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |at| from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(text: &str) -> Option<Vec<(Owner<'_>, &str)>> {
        Some(
            sections(text)?
                .into_iter()
                .map(|s| (s.owner, &text[s.range]))
                .collect(),
        )
    }

    #[test]
    fn headers_split_the_text_into_whole_lines() {
        let text = "jobs = 1\n[workflow]\nname = \"x\"\n\n[tasks.a]\nrun = \"true\"\n[tasks.a.env]\nX = \"1\"\n[[tasks.b.matrix]]\nk = 1\n";
        let found = owners(text).expect("plain headers");
        assert_eq!(
            found,
            vec![
                (Owner::Rest, "[workflow]\nname = \"x\"\n\n"),
                (Owner::Task("a"), "[tasks.a]\nrun = \"true\"\n"),
                (Owner::Task("a"), "[tasks.a.env]\nX = \"1\"\n"),
                (Owner::Task("b"), "[[tasks.b.matrix]]\nk = 1\n"),
            ]
        );
    }

    #[test]
    fn brackets_inside_strings_comments_and_arrays_are_no_headers() {
        let text = concat!(
            "[tasks.a]\n",
            "run = \"\"\"\n[tasks.x]\n\"\"\"\n",
            "description = '''\n[tasks.y]'''\n",
            "# [tasks.z]\n",
            "deps = [\n[\"b\"],\n]\n",
            "env = { A = \"[tasks.w]\" }\n",
            "cwd = \"say \\\"[tasks.v]\\\"\"\n",
            "[tasks . \"b.c\" ] # comment\r\n",
            "run = 'x'\r\n",
        );
        let found = owners(text).expect("valid TOML");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, Owner::Task("a"));
        assert_eq!(found[1].0, Owner::Task("b.c"));
        assert!(found[1].1.starts_with("[tasks . \"b.c\" ]"));
    }

    #[test]
    fn multi_line_strings_may_end_in_quotes() {
        let text = "[tasks.a]\nrun = \"\"\"x\"\"\"\"\"\n[tasks.b]\nrun = '''y'''''\n";
        let found = owners(text).expect("valid TOML");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].0, Owner::Task("b"));
    }

    #[test]
    fn anything_unusual_gives_up() {
        for text in [
            "[tasks]\na.run = \"x\"\n",
            "[tasks.a]\nrun = \"unclosed\n",
            "[tasks.a]\nrun = [\"x\"\n",
            "[tasks.a] run = 1\n",
            "[tasks.\"a\\u0041\"]\n",
            "[tasks.a\n",
            "[]\n",
            "[tasks.a]\nrun = '''never closed\n",
            "[tasks.a]\nrun = ]\n",
        ] {
            assert_eq!(sections(text), None, "{text:?}");
        }
    }

    #[test]
    fn other_tables_are_the_rest() {
        let found = owners("[workflow.env]\n[locks]\n[defaults.slurm]\n[taskss.a]\n").expect("ok");
        assert!(found.iter().all(|(owner, _)| *owner == Owner::Rest));
    }
}
