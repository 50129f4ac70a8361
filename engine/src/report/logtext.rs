//! A task's log as report text: its tail, bounded, cleaned so that any XML or HTML document
//! can hold it whatever bytes the task printed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// The tail of a log, ready to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The text: valid UTF-8 without terminal escapes or characters XML forbids, starting with
    /// a marker line when the beginning was cut.
    pub text: String,
    /// True if only the end of the log is here.
    pub cut: bool,
}

/// Reads at most the last `max_bytes` of the log at `path`. When the log is longer, the text
/// starts at the first whole line in that window, after a marker saying how much was left out.
pub fn read_tail(path: &Path, max_bytes: u64) -> io::Result<LogTail> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
    file.take(max_bytes).read_to_end(&mut bytes)?;
    if start == 0 {
        return Ok(LogTail {
            text: clean(&bytes),
            cut: false,
        });
    }
    // Start at a line boundary when there is one close enough; else in the middle of a line.
    let from = bytes
        .iter()
        .take(4096)
        .position(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let left_out = start + from as u64;
    Ok(LogTail {
        text: format!(
            "[wf: the first {left_out} bytes of this log are cut; the full log is in the run's logs folder]\n{}",
            clean(&bytes[from..])
        ),
        cut: true,
    })
}

/// Bytes as text any XML 1.0 or HTML document can hold: invalid UTF-8 becomes U+FFFD, terminal
/// escape sequences (colours, cursor moves) are removed, and every other character XML
/// forbids (control characters but tab, newline and carriage return; U+FFFE, U+FFFF) becomes
/// U+FFFD.
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().all(|c| c != '\u{1b}' && allowed_in_xml(c)) {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(if allowed_in_xml(c) { c } else { '\u{fffd}' });
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates up to a final byte (`ESC [ 3 1 m`).
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // OSC and other strings: up to BEL or the string terminator `ESC \\`.
            Some(']' | 'P' | '_' | '^') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // Two-character sequences (`ESC 7`, `ESC (B` takes one more).
            Some('(' | ')' | '*' | '+') => {
                chars.next();
            }
            Some(_) | None => {}
        }
    }
    out
}

/// True for the characters of the XML 1.0 `Char` production.
pub fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_replaces_what_xml_cannot_hold() {
        let bytes = b"ok\x00nul \x1b[31mred\x1b[0m \xff\xfe bad \x07bell\ttab\n\xef\xbf\xbe\x1b]0;title\x07!";
        let text = clean(bytes);
        assert_eq!(
            text,
            "ok\u{fffd}nul red \u{fffd}\u{fffd} bad \u{fffd}bell\ttab\n\u{fffd}!"
        );
        assert!(text.chars().all(allowed_in_xml));
    }

    #[test]
    fn a_long_log_is_cut_at_a_line_with_a_marker() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.log");
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("line {i}\n"));
        }
        std::fs::write(&path, &text).expect("write");
        let tail = read_tail(&path, 100).expect("read");
        assert!(tail.cut);
        let mut lines = tail.text.lines();
        assert!(lines.next().expect("marker").starts_with("[wf: the first "));
        assert!(lines.next().expect("a line").starts_with("line "));
        assert!(tail.text.ends_with("line 999\n"));
        assert!(tail.text.len() < 100 + 120);
        let whole = read_tail(&path, 1 << 20).expect("read");
        assert!(!whole.cut);
        assert_eq!(whole.text, text);
    }
}
