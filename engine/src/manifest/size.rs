//! Memory sizes as the manifest writes them (`"512M"`, `"2G"`, `"1.5GiB"`), the workflow's
//! memory budget (`"auto"`, `"off"`, a size) and resource amounts (an integer or a matrix
//! placeholder that renders to one).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use super::diagnostic::ManifestError;
use super::spanned::TomlLeaf;

/// Parses a size: a number (a fractional part allowed) and a unit. `K`, `M`, `G`, `T` (also
/// `KB`, `MB`, … and their lower-case forms) are powers of 1000; `KiB`, `MiB`, `GiB`, `TiB`
/// powers of 1024; `B` or no unit means bytes. The result must be at least one byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    let bad = || {
        format!(
            "invalid size `{text}`: write a number and a unit, e.g. \"512M\", \"2G\", \"1.5GiB\""
        )
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let factor: f64 = match unit {
        "" | "B" | "b" => 1.0,
        "K" | "k" | "KB" | "kB" | "kb" => 1e3,
        "M" | "m" | "MB" | "mb" => 1e6,
        "G" | "g" | "GB" | "gb" => 1e9,
        "T" | "t" | "TB" | "tb" => 1e12,
        "KiB" | "Ki" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "invalid size `{text}`: unknown unit `{unit}` (use K, M, G, T or KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let bytes = (value * factor).round();
    if bytes < 1.0 {
        return Err(format!("invalid size `{text}`: must be at least one byte"));
    }
    if bytes >= u64::MAX as f64 {
        return Err(format!("invalid size `{text}`: too large"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count for people: `350 MB`, `1.2 GB`, `800 kB`.
pub fn format_size(bytes: u64) -> String {
    let b = bytes as f64;
    let (value, unit) = if b >= 1e12 {
        (b / 1e12, "TB")
    } else if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else if b >= 1e3 {
        (b / 1e3, "kB")
    } else {
        return format!("{bytes} B");
    };
    if value >= 10.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A size in bytes, as `mem` and `mem_limit` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeValue(pub u64);

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_size(&text)
            .map(SizeValue)
            .map_err(serde::de::Error::custom)
    }
}

const SIZE_PATTERN: &str = "^[0-9]+(\\.[0-9]+)?([KMGTkmgt][Bb]?|[KMGT]i(B)?|[Bb])?$";

impl JsonSchema for SizeValue {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A memory size: a number and a unit, K/M/G/T (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024), e.g. \"512M\", \"2G\", \"1.5GiB\".",
            "type": "string",
            "pattern": SIZE_PATTERN,
        })
    }
}

impl TomlLeaf for SizeValue {
    fn invalid(message: String, span: std::ops::Range<usize>, _: Option<String>) -> ManifestError {
        invalid_size(message, span)
    }
}

/// The finding of a size (or a memory budget) serde rejected. It has its own help (how sizes
/// are written), so the type hint of [`TomlLeaf::invalid`] is not used.
fn invalid_size(message: String, span: std::ops::Range<usize>) -> ManifestError {
    ManifestError::InvalidSize {
        message,
        span: span.into(),
    }
}

/// `[workflow].memory` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryValue {
    /// The machine's available memory minus a reserve, read when a run or plan starts.
    Auto,
    /// No memory budget: memory never holds a task back.
    Off,
    /// A fixed budget in bytes.
    Fixed(u64),
}

impl<'de> Deserialize<'de> for MemoryValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "auto" => Ok(MemoryValue::Auto),
            "off" => Ok(MemoryValue::Off),
            other => parse_size(other)
                .map(MemoryValue::Fixed)
                .map_err(|e| serde::de::Error::custom(format!("{e}, or \"auto\" or \"off\""))),
        }
    }
}

impl JsonSchema for MemoryValue {
    fn schema_name() -> Cow<'static, str> {
        "MemoryBudget".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The memory budget of a run: \"auto\" (available memory minus a reserve, the default), \"off\", or a size such as \"16G\".",
            "type": "string",
            "anyOf": [
                { "enum": ["auto", "off"] },
                { "pattern": SIZE_PATTERN },
            ],
        })
    }
}

impl TomlLeaf for MemoryValue {
    fn invalid(message: String, span: std::ops::Range<usize>, _: Option<String>) -> ManifestError {
        invalid_size(message, span)
    }
}

/// An amount in a task's `resources`: an integer, or a string holding a matrix placeholder
/// (`"{{ matrix.g }}"`) whose value must be an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountValue {
    /// Written as an integer.
    Number(i64),
    /// Written as a string, rendered per matrix expansion.
    Template(String),
}

impl<'de> Deserialize<'de> for AmountValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl serde::de::Visitor<'_> for AmountVisitor {
            type Value = AmountValue;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or a \"{{ matrix.KEY }}\" placeholder")
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<AmountValue, E> {
                Ok(AmountValue::Number(n))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<AmountValue, E> {
                Ok(AmountValue::Number(i64::try_from(n).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<AmountValue, E> {
                Ok(AmountValue::Template(text.to_owned()))
            }
        }
        deserializer.deserialize_any(AmountVisitor)
    }
}

impl JsonSchema for AmountValue {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "How many units of the resource the task holds: an integer ≥ 1, or a \"{{ matrix.KEY }}\" placeholder whose values are integers.",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string" },
            ],
        })
    }
}

impl TomlLeaf for AmountValue {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_binary_units() {
        assert_eq!(parse_size("2G"), Ok(2_000_000_000));
        assert_eq!(parse_size("512M"), Ok(512_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("3T"), Ok(3_000_000_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
    }

    #[test]
    fn rejects_bad_sizes_with_a_reason() {
        for bad in [
            "", "G", "2X", "-1G", "1.G", ".5G", "0", "0M", "2 G x", "1e3M", "2 gigs",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            parse_size("2X")
                .expect_err("an unknown unit")
                .contains("unknown unit `X`")
        );
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_size(350_000_000), "350 MB");
        assert_eq!(format_size(1_234_000_000), "1.2 GB");
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(45_600_000), "46 MB");
    }
}
