//! Minimal terminal styling: ANSI colours only when colour is on.

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

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
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

    /// Bold: names.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Seconds for people: `4ms`, `0.25s`, `12.3s`, `2m05s`.
pub fn seconds(value: f64) -> String {
    if value < 0.1 {
        format!("{:.0}ms", value * 1000.0)
    } else if value < 10.0 {
        format!("{value:.2}s")
    } else if value < 60.0 {
        format!("{value:.1}s")
    } else {
        let whole = value.round() as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
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
