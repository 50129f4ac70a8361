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

/// What a `{{` in a templated value turned out to be, when it looks like an attempt at a
/// placeholder. Anything else after `{{` (`awk '{{print}}'`, `{{ .Go.template }}`,
/// `{{ item.name }}`) belongs to the command and is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// `{{ matrix.KEY }}`: a placeholder.
    Placeholder(Placeholder),
    /// `{{ NAME.KEY }}` where `NAME` is not `matrix` but close to it (`matrx`, `Matrix`,
    /// `matrices`): a misspelt placeholder.
    Misspelt {
        /// Byte range of the whole `{{ … }}`.
        range: Range<usize>,
        /// The dotted name as written (`matrx.lr`).
        name: String,
        /// The key after the dot (`lr`).
        key: String,
    },
    /// `{{ KEY }}`: a bare identifier; a misspelt placeholder if `KEY` is a matrix key.
    Bare {
        /// Byte range of the whole `{{ … }}`.
        range: Range<usize>,
        /// The identifier.
        key: String,
    },
    /// `{{ matrix.KEY` (or a misspelt namespace) not followed by `}}`: `{{ matrix.bs }`.
    Unclosed {
        /// From `{{` to the end of the name, with a lone `}` after it if there is one.
        range: Range<usize>,
        /// The dotted name as written (`matrix.bs`).
        name: String,
    },
}

/// The length of the identifier (`[A-Za-z_][A-Za-z0-9_]*`) at the start of `text`, 0 if none.
fn identifier(text: &str) -> usize {
    let bytes = text.as_bytes();
    if !bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count()
}

/// The length of the spaces and tabs at the start of `text`.
fn blanks(text: &str) -> usize {
    text.bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count()
}

/// True if `name` is `matrix` or a likely misspelling of it.
fn near_matrix(name: &str) -> bool {
    name == "matrix"
        || crate::suggest::did_you_mean(&name.to_ascii_lowercase(), ["matrix"].into_iter())
            .is_some()
}

/// Every placeholder attempt in `text`, in order.
///
/// An attempt is `{{`, optional blanks, then either a dotted name `NAME.KEY` whose `NAME` is
/// `matrix` or close to it, or a bare identifier followed by optional blanks and `}}`. A dotted
/// attempt is closed by optional blanks and `}}`; without them it is [`Attempt::Unclosed`].
/// `{{ matrix. }}` (no key) is a placeholder with an empty key (reported as undefined).
pub fn attempts(text: &str) -> Vec<Attempt> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let mut at = open + 2;
        at += blanks(&text[at..]);
        let name_len = identifier(&text[at..]);
        let name = &text[at..at + name_len];
        at += name_len;
        if name_len == 0 {
            from = open + 1;
            continue;
        }
        let dotted = text[at..].starts_with('.') && near_matrix(name);
        let key = if dotted {
            at += 1;
            let key_len = identifier(&text[at..]);
            let key = &text[at..at + key_len];
            at += key_len;
            Some(key)
        } else {
            None
        };
        let close = at + blanks(&text[at..]);
        let closed = text[close..].starts_with("}}");
        match key {
            Some(key) if closed => {
                let range = open..close + 2;
                found.push(if name == "matrix" {
                    Attempt::Placeholder(Placeholder {
                        range,
                        key: key.to_owned(),
                    })
                } else {
                    Attempt::Misspelt {
                        range,
                        name: format!("{name}.{key}"),
                        key: key.to_owned(),
                    }
                });
                from = close + 2;
            }
            Some(key) => {
                let end = if text[close..].starts_with('}') {
                    close + 1
                } else {
                    at
                };
                found.push(Attempt::Unclosed {
                    range: open..end,
                    name: format!("{name}.{key}"),
                });
                from = end.max(open + 2);
            }
            None if closed => {
                found.push(Attempt::Bare {
                    range: open..close + 2,
                    key: name.to_owned(),
                });
                from = close + 2;
            }
            None => from = open + 1,
        }
    }
    found
}

/// Every `{{ matrix.KEY }}` in `text` (see [`attempts`] for what else a `{{` may be). Other
/// `{{ … }}` are left alone: they are the command's.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    attempts(text)
        .into_iter()
        .filter_map(|attempt| match attempt {
            Attempt::Placeholder(placeholder) => Some(placeholder),
            _ => None,
        })
        .collect()
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
    fn a_placeholder_with_one_closing_brace_is_unclosed_and_hides_nothing() {
        let text = "train --bs {{ matrix.bs } --seed {{ matrix.seed }}";
        let found = attempts(text);
        assert_eq!(
            found[0],
            Attempt::Unclosed {
                range: 11..25,
                name: "matrix.bs".to_owned()
            }
        );
        assert_eq!(&text[11..25], "{{ matrix.bs }");
        assert_eq!(placeholders(text)[0].key, "seed");
    }

    #[test]
    fn misspelt_namespaces_and_bare_keys_are_attempts_other_braces_are_not() {
        let found = attempts("{{ matrx.lr }} {{Matrix.x}} {{ lr }} {{ item.name }} {{ .Go }}");
        assert_eq!(
            found,
            [
                Attempt::Misspelt {
                    range: 0..14,
                    name: "matrx.lr".to_owned(),
                    key: "lr".to_owned()
                },
                Attempt::Misspelt {
                    range: 15..27,
                    name: "Matrix.x".to_owned(),
                    key: "x".to_owned()
                },
                Attempt::Bare {
                    range: 28..36,
                    key: "lr".to_owned()
                },
            ]
        );
        assert!(attempts("awk '{{print}}' | awk '{ {print} }' {{{ x").len() == 1);
        assert!(attempts("awk '{print $1}' ${{x}} {{ 1.2 }} {{").len() == 1);
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
