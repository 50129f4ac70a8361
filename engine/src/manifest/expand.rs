//! Matrix expansion and `{{ matrix.KEY }}` substitution.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::raw::RawMatrix;
use super::shell_context::{Quoting, reference};
use crate::workflow::MatrixValues;
pub use crate::workflow::matrix_variable;

/// An axis of a matrix product with its key and values each made once, the values with the
/// spans they were written at.
struct SharedAxis<'m> {
    key: Arc<str>,
    values: Vec<(Arc<str>, &'m Range<usize>)>,
}

/// The one shared copy of `text` in `table`.
fn share<'t>(table: &mut HashMap<&'t str, Arc<str>>, text: &'t str) -> Arc<str> {
    Arc::clone(table.entry(text).or_insert_with(|| Arc::from(text)))
}

/// One expansion of a matrix task: its key/value pairs in the order written, and the span of
/// the record or last value that produced it (for pointing at duplicates).
#[derive(Debug, Clone)]
pub struct Expansion {
    /// Key/value pairs, keys in the order written; each key and value is shared by every
    /// expansion that has it.
    pub values: MatrixValues,
    /// Where this combination was written.
    pub span: Range<usize>,
}

impl Expansion {
    /// The value of `key` in this expansion.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// The expanded task's name: `base[k=v,k2=v2]`, or `base` when there is no matrix.
    pub fn task_name(&self, base: &str) -> String {
        if self.values.is_empty() {
            return base.to_owned();
        }
        let mut name = String::with_capacity(
            base.len()
                + 2
                + self
                    .values
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 2)
                    .sum::<usize>(),
        );
        name.push_str(base);
        for (i, (key, value)) in self.values.iter().enumerate() {
            name.push(if i == 0 { '[' } else { ',' });
            name.push_str(key);
            name.push('=');
            name.push_str(value);
        }
        name.push(']');
        name
    }
}

/// Every combination of a matrix: the cartesian product of a table of arrays (the last key
/// varying fastest), or one per record of an array of tables. Each key and each value written
/// is made once and shared by the expansions that have it. All are made at once: the caller
/// has checked that their number ([`expansion_count`](super::limits::expansion_count)) is
/// within the limit.
pub fn expansions(matrix: &RawMatrix) -> Vec<Expansion> {
    match matrix {
        RawMatrix::Product { axes, .. } => {
            let shared: Vec<SharedAxis<'_>> = axes
                .iter()
                .map(|axis| SharedAxis {
                    key: Arc::from(axis.key.value.as_str()),
                    values: axis
                        .values
                        .iter()
                        .map(|value| (Arc::from(value.value.0.as_str()), &value.span))
                        .collect(),
                })
                .collect();
            let Some(last) = shared.len().checked_sub(1) else {
                // No axes: one combination with no values (the product of nothing).
                return vec![Expansion {
                    values: Box::default(),
                    span: 0..0,
                }];
            };
            let count = shared.iter().map(|axis| axis.values.len()).product();
            // The combinations in order, counting with one digit per axis (its value's index),
            // the last axis the least significant.
            let mut digits = vec![0usize; shared.len()];
            let mut combos = Vec::with_capacity(count);
            for _ in 0..count {
                let values = shared
                    .iter()
                    .zip(&digits)
                    .map(|(axis, &i)| (Arc::clone(&axis.key), Arc::clone(&axis.values[i].0)))
                    .collect();
                combos.push(Expansion {
                    values,
                    span: shared[last].values[digits[last]].1.clone(),
                });
                for (digit, axis) in digits.iter_mut().zip(&shared).rev() {
                    *digit += 1;
                    if *digit < axis.values.len() {
                        break;
                    }
                    *digit = 0;
                }
            }
            combos
        }
        RawMatrix::Records { records, .. } => {
            let mut keys = HashMap::new();
            let mut texts = HashMap::new();
            records
                .iter()
                .map(|record| Expansion {
                    values: record
                        .value
                        .iter()
                        .map(|(k, v)| (share(&mut keys, &k.value), share(&mut texts, &v.value.0)))
                        .collect(),
                    span: record.span.clone(),
                })
                .collect()
        }
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

/// A templated value with its placeholders found once, filled in for each expansion of its
/// task (a matrix of a million expansions would otherwise look for them a million times).
#[derive(Debug, Clone)]
pub struct Template<'t> {
    /// The value as written.
    text: &'t str,
    /// Its placeholders, in order.
    holes: Vec<Placeholder>,
}

impl<'t> Template<'t> {
    /// `text`, its placeholders found.
    pub fn new(text: &'t str) -> Self {
        Template {
            text,
            holes: placeholders(text),
        }
    }

    /// The text with each placeholder replaced by its raw value in `expansion`. Placeholders
    /// for missing keys stay as written (validation reports them).
    pub fn substitute(&self, expansion: &Expansion) -> String {
        self.fill(|placeholder| expansion.get(&placeholder.key).map(Cow::Borrowed))
    }

    /// A glob pattern with each placeholder replaced by its value, escaped so that the value
    /// matches only itself (`*`, `?` and `[` in a value are literal).
    pub fn substitute_in_glob(&self, expansion: &Expansion) -> String {
        self.fill(|placeholder| {
            expansion
                .get(&placeholder.key)
                .map(|value| Cow::Owned(glob::Pattern::escape(value)))
        })
    }

    /// The text with each placeholder replaced by what `fill` gives for it (kept as written
    /// for `None`).
    fn fill<'v>(&self, mut fill: impl FnMut(&Placeholder) -> Option<Cow<'v, str>>) -> String {
        let text = self.text;
        if self.holes.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for placeholder in &self.holes {
            out.push_str(&text[last..placeholder.range.start]);
            match fill(placeholder) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&text[placeholder.range.clone()]),
            }
            last = placeholder.range.end;
        }
        out.push_str(&text[last..]);
        out
    }
}

/// A string `run` with each placeholder replaced by a reference to its [`matrix_variable`],
/// written for the placeholder's quoting context (`contexts`, one per placeholder of `text`,
/// as [`shell_context::classify`] found them). The value itself never enters the command line.
pub fn substitute_references(text: &str, contexts: &[Quoting]) -> String {
    let mut contexts = contexts.iter();
    Template::new(text).fill(|placeholder| {
        contexts
            .next()
            .map(|&quoting| Cow::Owned(reference(&matrix_variable(&placeholder.key), quoting)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::raw::{MatrixAxis, Scalar};
    use super::super::spanned::Sp;
    use super::*;

    fn exp(pairs: &[(&str, &str)]) -> Expansion {
        Expansion {
            values: pairs
                .iter()
                .map(|&(k, v)| (Arc::from(k), Arc::from(v)))
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
            Template::new("in/{{ matrix.x }}/*.csv").substitute_in_glob(&e),
            "in/a[*][[]b[]][?]/*.csv"
        );
    }

    #[test]
    fn substitutes_raw_text_outside_shell_commands() {
        let e = exp(&[("x", "a b")]);
        assert_eq!(
            Template::new("out/{{ matrix.x }}.csv").substitute(&e),
            "out/a b.csv"
        );
        assert_eq!(
            Template::new("{{ matrix.missing }}").substitute(&e),
            "{{ matrix.missing }}"
        );
    }

    #[test]
    fn a_template_is_filled_again_for_each_expansion() {
        let template = Template::new("{{ matrix.x }}-{{matrix.y}} {{ item }} {{ matrix.missing }}");
        let filled: Vec<String> = [
            exp(&[("x", "1"), ("y", "a*")]),
            exp(&[("x", "2"), ("y", "")]),
        ]
        .iter()
        .map(|e| template.substitute(e))
        .collect();
        assert_eq!(
            filled,
            [
                "1-a* {{ item }} {{ matrix.missing }}",
                "2- {{ item }} {{ matrix.missing }}"
            ]
        );
        assert_eq!(
            template.substitute_in_glob(&exp(&[("x", "1"), ("y", "a*")])),
            "1-a[*] {{ item }} {{ matrix.missing }}"
        );
        assert_eq!(Template::new("plain").substitute(&exp(&[])), "plain");
    }

    #[test]
    fn names_expansions_in_key_order() {
        assert_eq!(
            exp(&[("lr", "0.1"), ("seed", "1")]).task_name("train"),
            "train[lr=0.1,seed=1]"
        );
        assert_eq!(exp(&[]).task_name("plain"), "plain");
    }

    fn axis(key: &str, values: &[&str], at: usize) -> MatrixAxis {
        MatrixAxis {
            key: Sp::new(key.to_owned(), 0..0),
            values: values
                .iter()
                .enumerate()
                .map(|(i, v)| Sp::new(Scalar((*v).to_owned()), at + i..at + i + 1))
                .collect(),
            span: 0..0,
        }
    }

    #[test]
    fn a_product_varies_the_last_key_fastest_and_shares_each_value() {
        let matrix = RawMatrix::Product {
            axes: vec![
                axis("a", &["1", "2"], 10),
                axis("b", &["x"], 20),
                axis("c", &["p", "q", "r"], 30),
            ],
            span: 0..0,
        };
        let combos = expansions(&matrix);
        let names: Vec<String> = combos.iter().map(|c| c.task_name("t")).collect();
        assert_eq!(
            names,
            [
                "t[a=1,b=x,c=p]",
                "t[a=1,b=x,c=q]",
                "t[a=1,b=x,c=r]",
                "t[a=2,b=x,c=p]",
                "t[a=2,b=x,c=q]",
                "t[a=2,b=x,c=r]",
            ]
        );
        // Each points at its last axis's value.
        let spans: Vec<usize> = combos.iter().map(|c| c.span.start).collect();
        assert_eq!(spans, [30, 31, 32, 30, 31, 32]);
        assert!(Arc::ptr_eq(&combos[0].values[0].1, &combos[2].values[0].1));
        assert!(Arc::ptr_eq(&combos[1].values[2].1, &combos[4].values[2].1));
        assert!(Arc::ptr_eq(&combos[0].values[1].0, &combos[5].values[1].0));

        let empty = RawMatrix::Product {
            axes: vec![axis("a", &["1"], 0), axis("b", &[], 0)],
            span: 0..0,
        };
        assert!(expansions(&empty).is_empty());
    }

    #[test]
    fn records_share_the_keys_and_values_they_repeat() {
        let record = |pairs: &[(&str, &str)], at: usize| {
            Sp::new(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        (
                            Sp::new((*k).to_owned(), 0..0),
                            Sp::new(Scalar((*v).to_owned()), 0..0),
                        )
                    })
                    .collect(),
                at..at + 1,
            )
        };
        let matrix = RawMatrix::Records {
            records: vec![
                record(&[("m", "a"), ("n", "1")], 5),
                record(&[("m", "b"), ("n", "1")], 9),
            ],
            span: 0..0,
        };
        let combos = expansions(&matrix);
        let names: Vec<String> = combos.iter().map(|c| c.task_name("t")).collect();
        assert_eq!(names, ["t[m=a,n=1]", "t[m=b,n=1]"]);
        assert_eq!((combos[0].span.start, combos[1].span.start), (5, 9));
        assert!(Arc::ptr_eq(&combos[0].values[1].1, &combos[1].values[1].1));
        assert!(Arc::ptr_eq(&combos[0].values[0].0, &combos[1].values[0].0));
    }
}
