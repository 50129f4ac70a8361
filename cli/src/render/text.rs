//! Manifest-derived text made safe and short for a terminal: control characters escaped, long
//! names elided in the middle. JSON output never goes through here: it stays exact.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most characters a task name takes in a table or summary line; longer names are shown
/// with their middle replaced by `…` (the full name is in `--json` output and in reports).
pub const MAX_NAME_WIDTH: usize = 80;

/// True for characters that must not reach a terminal as they are: C0 and C1 controls, DEL, and
/// the bidirectional overrides and isolates that reorder what is displayed.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How one unsafe character is written: `\n`, `\r`, `\t`, `\0`, `\x1b`, `\u{202e}`.
pub fn escape_char(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` with every control character escaped (see [`escape_char`]); borrowed when there is
/// none, which is almost always.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if is_plain_ascii(text) || !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            escape_char(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Printable ASCII only: nothing to escape, one character per byte.
fn is_plain_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// `text` cut to at most `max` characters by replacing its middle with `…`, so that both the
/// start and the end (often a matrix value) stay readable.
pub fn elide(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let count = text.chars().count();
    if count <= max || max < 3 {
        return Cow::Borrowed(text);
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    Cow::Owned(format!("{start}…{end}"))
}

/// A task (or other manifest) name as people see it: control characters escaped, at most
/// [`MAX_NAME_WIDTH`] characters.
pub fn shown_name(name: &str) -> String {
    shown(name).into_owned()
}

/// [`shown_name`], borrowed when nothing is escaped or elided (almost always).
pub fn shown(name: &str) -> Cow<'_, str> {
    match escape_control(name) {
        Cow::Borrowed(plain) => elide(plain, MAX_NAME_WIDTH),
        Cow::Owned(escaped) => Cow::Owned(elide(&escaped, MAX_NAME_WIDTH).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_keeps_the_rest() {
        assert_eq!(escape_control("plain é ✓"), "plain é ✓");
        assert!(matches!(escape_control("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_control("a\u{1b}[31mred\n\t\0\u{7f}\u{9b}\u{202e}"),
            "a\\x1b[31mred\\n\\t\\0\\x7f\\u{9b}\\u{202e}"
        );
    }

    #[test]
    fn a_shown_name_is_borrowed_unless_escaped_or_elided() {
        assert!(matches!(
            shown("build[os=linux]"),
            Cow::Borrowed("build[os=linux]")
        ));
        assert_eq!(shown("a\nb"), "a\\nb");
        let long = "z".repeat(MAX_NAME_WIDTH + 1);
        assert!(matches!(shown(&long), Cow::Owned(_)));
        assert_eq!(shown(&long), shown_name(&long));
    }

    #[test]
    fn elides_long_names_in_the_middle() {
        let long = format!("start{}end", "x".repeat(70_000));
        let shown = shown_name(&long);
        assert_eq!(shown.chars().count(), MAX_NAME_WIDTH);
        assert!(shown.starts_with("startxx") && shown.ends_with("xxend"));
        assert!(shown.contains('…'));
        assert_eq!(shown_name("short[k=v]"), "short[k=v]");
        let exact = "y".repeat(MAX_NAME_WIDTH);
        assert_eq!(shown_name(&exact), exact);
    }
}
