//! Minimal terminal styling: ANSI colours only when colour is on.

use std::fmt;

/// Colours for status words and marks.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Styling with colour on or off.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(self, code: &'static str, text: &str) -> String {
        self.painted(code, text).to_string()
    }

    fn painted<'a>(self, code: &'static str, text: &'a str) -> Painted<'a> {
        Painted {
            code: self.color.then_some(code),
            text,
        }
    }

    /// Green: success.
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Red: failure.
    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Yellow: skipped, not run, cancelled.
    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Dim: secondary information.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Dim, written where it is formatted (no `String` made): for output of many lines.
    pub fn dimmed(self, text: &str) -> Painted<'_> {
        self.painted("2", text)
    }

    /// Bold: names.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Text with its colour (if colour is on), displayed as the escape codes around the text.
pub struct Painted<'a> {
    code: Option<&'static str>,
    text: &'a str,
}

impl fmt::Display for Painted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "\u{1b}[{code}m{}\u{1b}[0m", self.text),
            None => f.write_str(self.text),
        }
    }
}

/// Seconds for people: `4ms`, `0.25s`, `12.3s`, `2m05s`.
pub fn seconds(value: f64) -> String {
    Seconds(value).to_string()
}

/// A number of seconds displayed as [`seconds`] shows it, written where it is formatted.
pub struct Seconds(pub f64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value < 0.1 {
            write!(f, "{:.0}ms", value * 1000.0)
        } else if value < 10.0 {
            write!(f, "{value:.2}s")
        } else if value < 60.0 {
            write!(f, "{value:.1}s")
        } else {
            let whole = value.round() as u64;
            write!(f, "{}m{:02}s", whole / 60, whole % 60)
        }
    }
}

/// `1 task`, `2 tasks`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') {
        format!("{count} {noun}es")
    } else {
        format!("{count} {noun}s")
    }
}

/// Status counts as words: `3 succeeded, 1 up to date`.
pub fn counts<'a>(counts: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    counts
        .into_iter()
        .map(|(status, n)| format!("{n} {}", status.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}
