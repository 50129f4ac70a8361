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
        // The figures are the ones `{:.N}` gives, without its general decimal conversion (a
        // plan prints one per task).
        if value < 0.1 {
            match rounded(value * 1000.0, 1) {
                Some(ms) => write!(f, "{ms}ms"),
                None => write!(f, "{:.0}ms", value * 1000.0),
            }
        } else if value < 10.0 {
            match rounded(value, 100) {
                Some(hundredths) => write!(f, "{}.{:02}s", hundredths / 100, hundredths % 100),
                None => write!(f, "{value:.2}s"),
            }
        } else if value < 60.0 {
            match rounded(value, 10) {
                Some(tenths) => write!(f, "{}.{}s", tenths / 10, tenths % 10),
                None => write!(f, "{value:.1}s"),
            }
        } else {
            let whole = value.round() as u64;
            write!(f, "{}m{:02}s", whole / 60, whole % 60)
        }
    }
}

/// `value × scale` rounded to a whole number as `{:.0}` rounds it: from the exact binary
/// value, ties to even. `None` for a negative (or negative zero), non-finite or huge `value`.
fn rounded(value: f64, scale: u64) -> Option<u64> {
    const MANTISSA_BITS: u32 = 52;
    let bits = value.to_bits();
    let biased = ((bits >> MANTISSA_BITS) & 0x7ff) as i32;
    if bits >> 63 != 0 || biased == 0x7ff || value >= 1e15 {
        return None;
    }
    let fraction = bits & ((1 << MANTISSA_BITS) - 1);
    // value = mantissa × 2^exponent, exactly.
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << MANTISSA_BITS), biased - 1075)
    };
    let product = u128::from(mantissa) * u128::from(scale);
    if exponent >= 0 {
        return u64::try_from(product << exponent).ok();
    }
    let shift = exponent.unsigned_abs();
    if shift >= 127 {
        // product < 2^64 ≤ half of one unit: rounds to zero.
        return Some(0);
    }
    let whole = product >> shift;
    let rest = product & ((1 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let up = rest > half || (rest == half && whole % 2 == 1);
    u64::try_from(whole + u128::from(up)).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the general decimal conversion gives, which `Seconds` must match.
    fn formatted(value: f64) -> String {
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

    #[test]
    fn seconds_are_rounded_as_the_decimal_conversion_rounds_them() {
        let mut values = vec![
            0.0,
            -0.0,
            5e-324,
            1e-9,
            0.0005,
            0.0015,
            0.0025,
            0.0125,
            0.099_999,
            0.1,
            0.125,
            0.375,
            0.625,
            1.0,
            1.005,
            1.015,
            2.675,
            9.995,
            9.999,
            10.0,
            10.05,
            10.25,
            10.75,
            59.95,
            59.99,
            60.0,
            125.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
        ];
        // Many values of each range, ties (k / 2^n) included, from a fixed sequence.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            values.push(unit * 0.1);
            values.push(0.1 + unit * 9.9);
            values.push(10.0 + unit * 50.0);
            values.push((state % 4096) as f64 / 1024.0);
            values.push((state % 65536) as f64 / 8192.0);
        }
        for value in values {
            assert_eq!(Seconds(value).to_string(), formatted(value), "{value:e}");
        }
    }
}
