//! Matrix expansion and `{{ matrix.KEY }}` substitution.

use std::borrow::Cow;
use std::ops::Range;

use super::raw::RawMatrix;
use super::shell_context::{Quoting, reference};

/// One expansion of a matrix task: its key/value pairs in the order written, and the span of
/// the record or last value that produced it (for pointing at duplicates).
#[derive(Debug, Clone)]
pub struct Expansion {
    /// Key/value pairs, keys in the order written.
    pub values: Vec<(String, String)>,
    /// Where this combination was written.
    pub span: Range<usize>,
}

impl Expansion {
    /// The value of `key` in this expansion.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The expanded task's name: `base[k=v,k2=v2]`, or `base` when there is no matrix.
    pub fn task_name(&self, base: &str) -> String {
        if self.values.is_empty() {
            return base.to_owned();
        }
        let pairs: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{base}[{}]", pairs.join(","))
    }
}

/// Every combination of a matrix: the cartesian product of a table of arrays (the last key
/// varying fastest), or one per record of an array of tables.
pub fn expansions(matrix: &RawMatrix) -> Vec<Expansion> {
    match matrix {
        RawMatrix::Product { axes, .. } => {
            let mut combos = vec![Expansion {
                values: Vec::new(),
                span: 0..0,
            }];
            for axis in axes {
                let mut next = Vec::with_capacity(combos.len() * axis.values.len());
                for combo in &combos {
                    for value in &axis.values {
                        let mut values = combo.values.clone();
                        values.push((axis.key.value.clone(), value.value.0.clone()));
                        next.push(Expansion {
                            values,
                            span: value.span.clone(),
                        });
                    }
                }
                combos = next;
            }
            combos
        }
        RawMatrix::Records { records, .. } => records
            .iter()
            .map(|record| Expansion {
                values: record
                    .value
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.0.clone()))
                    .collect(),
                span: record.span.clone(),
            })
            .collect(),
    }
}

/// A `{{ matrix.KEY }}` placeholder found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte range of the whole placeholder in the text.
    pub range: Range<usize>,
    /// The key it names.
    pub key: String,
}

/// Every `{{ matrix.KEY }}` in `text`. Other `{{ … }}` are left alone: they are the command's.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let Some(close) = text[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        let inner = text[open + 2..close].trim();
        if let Some(key) = inner.strip_prefix("matrix.") {
            found.push(Placeholder {
                range: open..close + 2,
                key: key.trim().to_owned(),
            });
            from = close + 2;
        } else {
            from = open + 2;
        }
    }
    found
}

/// `text` with each placeholder replaced by its raw value in `expansion`. Placeholders for
/// missing keys stay as written (validation reports them).
pub fn substitute(text: &str, expansion: &Expansion) -> String {
    substitute_with(text, |placeholder| {
        expansion.get(&placeholder.key).map(Cow::Borrowed)
    })
}

/// A glob pattern with each placeholder replaced by its value, escaped so that the value
/// matches only itself (`*`, `?` and `[` in a value are literal).
pub fn substitute_in_glob(text: &str, expansion: &Expansion) -> String {
    substitute_with(text, |placeholder| {
        expansion
            .get(&placeholder.key)
            .map(|value| Cow::Owned(glob::Pattern::escape(value)))
    })
}

/// The environment variable that carries a matrix key's value: `WF_MATRIX_<KEY>`.
pub fn matrix_variable(key: &str) -> String {
    format!("WF_MATRIX_{}", key.to_ascii_uppercase())
}

/// A string `run` with each placeholder replaced by a reference to its [`matrix_variable`],
/// written for the placeholder's quoting context (`contexts`, one per placeholder of `text`,
/// as [`shell_context::classify`] found them). The value itself never enters the command line.
pub fn substitute_references(text: &str, contexts: &[Quoting]) -> String {
    let mut contexts = contexts.iter();
    substitute_with(text, |placeholder| {
        contexts
            .next()
            .map(|&quoting| Cow::Owned(reference(&matrix_variable(&placeholder.key), quoting)))
    })
}

/// `text` with each placeholder replaced by what `fill` gives for it (kept as written for
/// `None`).
fn substitute_with<'v>(
    text: &str,
    mut fill: impl FnMut(&Placeholder) -> Option<Cow<'v, str>>,
) -> String {
    let found = placeholders(text);
    if found.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for placeholder in found {
        out.push_str(&text[last..placeholder.range.start]);
        match fill(&placeholder) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&text[placeholder.range.clone()]),
        }
        last = placeholder.range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(pairs: &[(&str, &str)]) -> Expansion {
        Expansion {
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            span: 0..0,
        }
    }

    #[test]
    fn finds_placeholders_with_any_spacing_and_ignores_others() {
        let found = placeholders("a {{matrix.x}} {{ other }} {{  matrix.y  }}");
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(found[0].range, 2..14);
    }

    #[test]
    fn shell_commands_get_references_fitted_to_their_context() {
        let line = "echo {{ matrix.x }} \"v={{ matrix.x }}\" 'w={{matrix.y}}'";
        assert_eq!(
            substitute_references(line, &[Quoting::Unquoted, Quoting::Double, Quoting::Single]),
            r#"echo "${WF_MATRIX_X}" "v=${WF_MATRIX_X}" 'w='"${WF_MATRIX_Y}"''"#
        );
    }

    #[test]
    fn glob_values_match_only_themselves() {
        let e = exp(&[("x", "a*[b]?")]);
        assert_eq!(
            substitute_in_glob("in/{{ matrix.x }}/*.csv", &e),
            "in/a[*][[]b[]][?]/*.csv"
        );
    }

    #[test]
    fn substitutes_raw_text_outside_shell_commands() {
        let e = exp(&[("x", "a b")]);
        assert_eq!(substitute("out/{{ matrix.x }}.csv", &e), "out/a b.csv");
        assert_eq!(
            substitute("{{ matrix.missing }}", &e),
            "{{ matrix.missing }}"
        );
    }

    #[test]
    fn names_expansions_in_key_order() {
        assert_eq!(
            exp(&[("lr", "0.1"), ("seed", "1")]).task_name("train"),
            "train[lr=0.1,seed=1]"
        );
        assert_eq!(exp(&[]).task_name("plain"), "plain");
    }
}
