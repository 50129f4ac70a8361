//! The bridge from the parsed TOML tree to the raw manifest types.
//!
//! serde stops at the first error, but `wf validate` must report every problem of a file in one
//! pass. So each table of the manifest is walked key by key: an unknown key is a finding, a value
//! of the wrong type is a finding, and the walk goes on. Leaf values are still deserialized by
//! serde (one key at a time), so the Rust types stay the single source of truth for the parser
//! and for the JSON Schema.

use std::borrow::Cow;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::diagnostic::{Findings, ManifestError};

/// The parsed TOML value of one key, with its position in the manifest.
pub type TomlValue<'i> = Spanned<DeValue<'i>>;

/// A value read from the manifest together with the byte range it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    /// The value.
    pub value: T,
    /// Byte range of the value in the manifest text.
    pub span: Range<usize>,
}

impl<T> Sp<T> {
    /// Wraps a value with the span it came from.
    pub fn new(value: T, span: Range<usize>) -> Self {
        Self { value, span }
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Sp<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(deserializer)?;
        let span = spanned.span();
        Ok(Self::new(spanned.into_inner(), span))
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Builds a value from one node of the parsed TOML tree, reporting every problem found in it.
///
/// Returns `None` when the node is unusable; the reason is already in `findings`.
pub trait FromToml: Sized {
    /// Converts `value`, pushing a finding for each problem.
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Self>;
}

/// A leaf value as it was written, for hints on a value of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A string, with its text.
    Str(String),
    /// An integer, as written.
    Int(String),
    /// A boolean.
    Bool(bool),
    /// Anything else (float, date, array, table).
    Other,
}

impl Written {
    /// What `value` is, before serde looks at it.
    pub fn of(value: &DeValue<'_>) -> Self {
        match value {
            DeValue::String(text) => Written::Str(text.to_string()),
            DeValue::Integer(n) => Written::Int(n.as_str().to_owned()),
            DeValue::Boolean(b) => Written::Bool(*b),
            _ => Written::Other,
        }
    }
}

/// A leaf value deserialized by serde in one piece, and the finding to give when it does not fit.
pub trait TomlLeaf: DeserializeOwned {
    /// A hint for a value of the wrong type, from what was written (`"4"` for an integer:
    /// drop the quotes).
    fn hint(_written: &Written) -> Option<String> {
        None
    }

    /// The finding for a value serde rejected with `message` at `span`; `help` is [`hint`]'s.
    ///
    /// [`hint`]: TomlLeaf::hint
    fn invalid(message: String, span: Range<usize>, help: Option<String>) -> ManifestError {
        ManifestError::InvalidType {
            message: plain_words(&message),
            span: span.into(),
            help,
        }
    }
}

/// serde's messages name Rust types ("expected i64", "a sequence"); users wrote TOML.
fn plain_words(message: &str) -> String {
    message
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("expected a boolean", "expected true or false")
        .replace("sequence", "array")
        .replace("map", "table")
}

/// The hint for a string written where one of the names `variants` is expected: the nearest
/// one, and the list.
pub fn variant_hint(written: &Written, variants: &[&str]) -> Option<String> {
    let list = variants
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let near = match written {
        Written::Str(text) => {
            let lower = text.trim().to_ascii_lowercase();
            variants
                .iter()
                .find(|v| **v == lower)
                .copied()
                .or_else(|| crate::suggest::did_you_mean(&lower, variants.iter().copied()))
        }
        _ => None,
    };
    Some(match near {
        Some(near) => format!("did you mean \"{near}\"? one of {list}"),
        None => format!("one of {list}"),
    })
}

impl<T: TomlLeaf> FromToml for Sp<T> {
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Self> {
        let span = value.span();
        let written = Written::of(value.get_ref());
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(parsed) => Some(Sp::new(parsed, span)),
            Err(error) => {
                let at = error.span().unwrap_or(span);
                findings.push(T::invalid(
                    error.message().to_owned(),
                    at,
                    T::hint(&written),
                ));
                None
            }
        }
    }
}

impl TomlLeaf for String {
    fn hint(written: &Written) -> Option<String> {
        match written {
            Written::Int(text) => Some(format!("put it in quotes: \"{text}\"")),
            Written::Bool(b) => Some(format!("put it in quotes: \"{b}\"")),
            _ => None,
        }
    }
}

impl TomlLeaf for bool {
    fn hint(written: &Written) -> Option<String> {
        match written {
            Written::Str(text) if matches!(text.trim(), "true" | "false") => Some(format!(
                "drop the quotes: write {}, not \"{text}\"",
                text.trim()
            )),
            _ => Some("write true or false, without quotes".to_owned()),
        }
    }
}

impl TomlLeaf for i64 {
    fn hint(written: &Written) -> Option<String> {
        match written {
            Written::Str(text) if text.trim().parse::<i64>().is_ok() => Some(format!(
                "drop the quotes: write {}, not \"{text}\"",
                text.trim()
            )),
            _ => None,
        }
    }
}

impl TomlLeaf for Vec<Sp<String>> {
    fn hint(written: &Written) -> Option<String> {
        match written {
            Written::Str(text) => Some(format!(
                "write a list, even of one: [\"{}\"]",
                text.escape_default()
            )),
            _ => None,
        }
    }
}

impl<T: FromToml> FromToml for Box<T> {
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Self> {
        T::from_toml(value, findings).map(Box::new)
    }
}

/// A TOML table whose keys are names chosen by the user (tasks, locks, environment variables),
/// in the order they were written.
#[derive(Debug, Clone, Default)]
pub struct Named<V>(pub Vec<(Sp<String>, V)>);

impl<V> Named<V> {
    /// The entries in the order they were written.
    pub fn iter(&self) -> impl Iterator<Item = &(Sp<String>, V)> {
        self.0.iter()
    }
}

impl<V: FromToml> FromToml for Named<V> {
    fn from_toml(value: TomlValue<'_>, findings: &mut Findings) -> Option<Self> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            findings.push(ManifestError::expected_table(span));
            return None;
        };
        let mut entries = Vec::with_capacity(table.len());
        for (key, value) in table {
            let key_span = key.span();
            let key = key.into_inner().into_owned();
            if let Some(parsed) = V::from_toml(value, findings) {
                entries.push((Sp::new(key, key_span), parsed));
            }
        }
        Some(Named(entries))
    }
}

impl<V: JsonSchema> JsonSchema for Named<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Named_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }
}

/// Declares a manifest table: a struct whose fields are its keys (each optional), its JSON Schema,
/// and a [`FromToml`] walk that reports unknown keys (with a suggestion) and every bad value.
macro_rules! toml_table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($what:literal) {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, Default, schemars::JsonSchema)]
        #[schemars(deny_unknown_fields)]
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: Option<$ty>, )*
            /// Keys that were present but had an invalid value (already reported).
            #[schemars(skip)]
            pub invalid_keys: Vec<&'static str>,
        }

        impl $name {
            /// Every key this table accepts, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl $crate::manifest::spanned::FromToml for $name {
            fn from_toml(
                value: $crate::manifest::spanned::TomlValue<'_>,
                findings: &mut $crate::manifest::diagnostic::Findings,
            ) -> Option<Self> {
                let span = value.span();
                let toml::de::DeValue::Table(table) = value.into_inner() else {
                    findings.push($crate::manifest::diagnostic::ManifestError::expected_table(span));
                    return None;
                };
                let mut this = Self::default();
                for (key, value) in table {
                    match key.get_ref().as_ref() {
                        $( stringify!($field) => {
                            this.$field = <$ty as $crate::manifest::spanned::FromToml>::from_toml(
                                value, findings,
                            );
                            if this.$field.is_none() {
                                this.invalid_keys.push(stringify!($field));
                            }
                        } )*
                        other => findings.push(
                            $crate::manifest::diagnostic::ManifestError::unknown_key(
                                other, $what, key.span(), Self::KEYS,
                            ),
                        ),
                    }
                }
                Some(this)
            }
        }
    };
}

pub(crate) use toml_table;
