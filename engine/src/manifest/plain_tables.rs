//! Task tables written the plain way, read without the TOML parser's document machinery.
//!
//! Generated manifests repeat one shape a million times: a `[tasks.NAME]` header, then lines of
//! `key = value`, the values mostly strings and arrays of strings. [`read`] turns such text
//! straight into the tree the parser would give (the same values, the same spans), building the
//! strings and arrays itself and handing any other value on its line to the parser's value
//! reader. It is strict: anything else (a sub-table, a dotted or quoted key, a value spanning
//! lines, a comment after a value, a carriage return, a key written twice) makes it give up,
//! and [`parsed`] reads the text as a document, with the parser, which then reports any problem
//! as usual.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::spanned::TomlValue;

/// A task's name (with its span) and its table.
pub type PlainTask<'i> = (Spanned<Cow<'i, str>>, TomlValue<'i>);

/// The task tables in `text[range]`, spans counted from the start of `text`; `None` if the text
/// is not entirely plain task tables.
pub fn read(text: &str, range: Range<usize>) -> Option<Vec<PlainTask<'_>>> {
    let piece = text.get(range.clone())?;
    if piece.contains('\r') {
        return None;
    }
    let mut tasks: Vec<PlainTask<'_>> = Vec::new();
    let mut start = range.start;
    for line in piece.split_inclusive('\n') {
        let at = start;
        start += line.len();
        let line = line.strip_suffix('\n').unwrap_or(line);
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        match body.as_bytes().first() {
            None => {}
            Some(b'#') if body.bytes().all(|b| b == b'\t' || !is_control(b)) => {}
            Some(b'[') => {
                let (name, span) = header(line, at)?;
                if tasks.last().is_some_and(|(last, _)| last.get_ref() == name) {
                    return None;
                }
                let table = Spanned::new(span, DeValue::Table(DeTable::new()));
                let name = Spanned::new(at + 7..at + 7 + name.len(), Cow::Borrowed(name));
                tasks.push((name, table));
            }
            Some(_) => {
                let (_, table) = tasks.last_mut()?;
                let DeValue::Table(table) = table.get_mut() else {
                    return None;
                };
                let (key, value) = key_value(body, at + indent)?;
                if table.contains_key(key.get_ref().as_ref()) {
                    return None;
                }
                table.insert(key, value);
            }
        }
    }
    Some(tasks)
}

/// The task tables in `text[range]` as the TOML parser reads them (the way for any text
/// [`read`] leaves alone), spans counted from the start of `text`; `None` on a syntax error
/// or anything but task tables.
pub fn parsed(text: &str, range: Range<usize>) -> Option<Vec<PlainTask<'_>>> {
    let (document, errors) = DeTable::parse_recoverable(text.get(range.clone())?);
    if !errors.is_empty() {
        return None;
    }
    let mut top = document.into_inner().into_iter();
    let (key, tasks) = top.next()?;
    if key.get_ref() != "tasks" || top.next().is_some() {
        return None;
    }
    let DeValue::Table(tasks) = tasks.into_inner() else {
        return None;
    };
    let by = range.start;
    Some(
        tasks
            .into_iter()
            .map(|(name, value)| {
                let span = shifted(name.span(), by);
                (Spanned::new(span, name.into_inner()), shift(value, by))
            })
            .collect(),
    )
}

/// The name in a header line `[tasks.NAME]` (trailing blanks allowed) and the header's span.
fn header(line: &str, at: usize) -> Option<(&str, Range<usize>)> {
    let inner = line.strip_prefix("[tasks.")?;
    let close = inner.find(']')?;
    let name = &inner[..close];
    let after = &inner[close + 1..];
    if !is_bare_key(name) || !after.bytes().all(is_blank) {
        return None;
    }
    let end = at + "[tasks.".len() + close + 1;
    Some((name, at..end))
}

/// `key = value` (the line without its indent, which starts at `at`).
fn key_value(body: &str, at: usize) -> Option<(Spanned<Cow<'_, str>>, TomlValue<'_>)> {
    let key_end = body
        .bytes()
        .position(|b| !is_bare_key_byte(b))
        .unwrap_or(body.len());
    let key = &body[..key_end];
    if key.is_empty() {
        return None;
    }
    let after_key = body[key_end..].trim_start_matches([' ', '\t']);
    let after_equals = after_key.strip_prefix('=')?;
    let value = after_equals.trim_start_matches([' ', '\t']);
    let value_at = at + body.len() - value.len();
    let value = value.trim_end_matches([' ', '\t']);
    let key = Spanned::new(at..at + key.len(), Cow::Borrowed(key));
    Some((key, parsed_value(value, value_at)?))
}

/// The value written as `text` (a whole value, no blanks around it) at offset `at`.
fn parsed_value(text: &str, at: usize) -> Option<TomlValue<'_>> {
    if let Some((string, end)) = plain_string(text, 0)
        && end == text.len()
    {
        return Some(Spanned::new(at..at + end, string));
    }
    if let Some(array) = plain_array(text, at) {
        return Some(array);
    }
    // Anything else on the line (numbers, booleans, inline tables, other strings) is the
    // parser's: read on its own, its spans moved to where it is.
    let value = DeValue::parse(text).ok()?;
    Some(shift(value, at))
}

/// A basic string without escapes or control characters starting at `from` in `text`: the
/// string and the offset just past its closing quote.
fn plain_string(text: &str, from: usize) -> Option<(DeValue<'_>, usize)> {
    let rest = text.get(from..)?.strip_prefix('"')?;
    let close = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || is_control(b))?;
    if rest.as_bytes()[close] != b'"' {
        return None;
    }
    let string = DeValue::String(Cow::Borrowed(&rest[..close]));
    Some((string, from + 1 + close + 1))
}

/// An array of plain strings on one line (`["a", "b"]`, a trailing comma allowed) that is all
/// of `text`, which starts at `at`.
fn plain_array(text: &str, at: usize) -> Option<TomlValue<'_>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') || bytes.last() != Some(&b']') {
        return None;
    }
    let blanks = |mut i: usize| {
        while bytes.get(i).copied().is_some_and(is_blank) {
            i += 1;
        }
        i
    };
    let mut array = DeArray::new();
    let mut i = blanks(1);
    loop {
        if bytes.get(i) == Some(&b']') {
            break;
        }
        let (string, end) = plain_string(text, i)?;
        array.push(Spanned::new(at + i..at + end, string));
        i = blanks(end);
        match bytes.get(i) {
            Some(b',') => i = blanks(i + 1),
            Some(b']') => break,
            _ => return None,
        }
    }
    (i + 1 == text.len()).then(|| Spanned::new(at..at + text.len(), DeValue::Array(array)))
}

/// `span` moved `by` bytes later.
fn shifted(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

/// `value` with every span in it (keys', values', elements') moved `by` bytes later.
fn shift(value: TomlValue<'_>, by: usize) -> TomlValue<'_> {
    let span = shifted(value.span(), by);
    let mut inner = value.into_inner();
    match &mut inner {
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                let taken = std::mem::replace(item, Spanned::new(0..0, DeValue::Boolean(false)));
                *item = shift(taken, by);
            }
        }
        DeValue::Table(table) => {
            let mut moved = DeTable::with_capacity(table.len());
            for (key, value) in std::mem::take(table) {
                let key_span = shifted(key.span(), by);
                moved.insert(Spanned::new(key_span, key.into_inner()), shift(value, by));
            }
            *table = moved;
        }
        DeValue::String(_)
        | DeValue::Integer(_)
        | DeValue::Float(_)
        | DeValue::Boolean(_)
        | DeValue::Datetime(_) => {}
    }
    Spanned::new(span, inner)
}

/// TOML's blank: a space or a tab.
fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// A control character (tab included): never in a plain string, only a tab in a comment.
fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// A character of a bare key: `A-Z a-z 0-9 _ -`.
fn is_bare_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// A non-empty bare key.
fn is_bare_key(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_bare_key_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree written out with every span, to compare two trees exactly.
    fn dump(value: &TomlValue<'_>, out: &mut String) {
        use std::fmt::Write as _;
        let span = value.span();
        match value.get_ref() {
            DeValue::Table(table) => {
                let _ = write!(out, "{{{span:?}");
                for (key, value) in table.iter() {
                    let _ = write!(out, " {:?}@{:?}=", key.get_ref(), key.span());
                    dump(value, out);
                }
                out.push('}');
            }
            DeValue::Array(items) => {
                let _ = write!(out, "[{span:?}");
                for item in items.iter() {
                    out.push(' ');
                    dump(item, out);
                }
                out.push(']');
            }
            other => {
                let _ = write!(out, "{other:?}@{span:?}");
            }
        }
    }

    fn dump_tasks(tasks: Vec<PlainTask<'_>>) -> String {
        let mut out = String::new();
        for (name, table) in tasks {
            out.push_str(&format!("{:?}@{:?}: ", name.get_ref(), name.span()));
            dump(&table, &mut out);
            out.push('\n');
        }
        out
    }

    /// Reads `tables` after some other text; returns whether the plain reading applied, and
    /// asserts that it then gives exactly the parser's tree.
    fn agrees(tables: &str) -> bool {
        let text = format!("name = \"x\"\n\n{tables}");
        let from = text.len() - tables.len();
        let Some(plain) = read(&text, from..text.len()) else {
            return false;
        };
        let expected =
            parsed(&text, from..text.len()).expect("the plain reading accepted an error");
        assert_eq!(dump_tasks(plain), dump_tasks(expected), "on:\n{tables}");
        true
    }

    #[test]
    fn plain_tables_read_as_the_parser_reads_them() {
        for tables in [
            "[tasks.a]\nrun = [\"true\"]\ndeps = [\"x\", \"y\"]\n\n[tasks.b-c]\nrun = \"echo hi\"\n",
            "[tasks.a]   \n  run = [ \"true\" , \"x\", ]  \n# a comment\ndeps = []\n",
            "[tasks.a]\nenv = { A = \"1\", B = \"x y\" }\nretries = 3\nok = true\n",
            "[tasks.a]\nrun = 'literal'\ntimeout = \"10s\"\nrun2 = \"\"\"multi\"\"\"\n",
            "[tasks.a]\nrun = \"é ü → 名\"\nx = 1.5\nwhen = \"always\"\n[tasks.b]\n[tasks.c]\n",
            "[tasks.a]\nrun = [\"a\",\"b\",\"c\"]\n\t# tab\tcomment\nkey\t=\t\"v\"\t\n",
            "[tasks.0]\nrun = [ ]\n[tasks.A_b-9]\nrun = [\"\"]\n",
            "[tasks.a]\nrun = \"x\"",
            "[tasks.a]\nrun = \"a\\tb \\\"q\\\"\"\ndeps = [\"a\\u0041\", 'b']\n",
        ] {
            assert!(agrees(tables), "not read plainly:\n{tables}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for tables in [
            "[tasks.a]\nrun = \"x\" # a comment after a value\n",
            "[tasks.a]\nrun = [\n  \"x\",\n]\n",
            "[tasks.a]\nenv.A = \"1\"\n",
            "[tasks.a]\n\"run\" = \"x\"\n",
            "[tasks.a]\nrun = \"x\"\nrun = \"y\"\n",
            "[tasks.a]\r\nrun = \"x\"\r\n",
            "[tasks.a]\n[tasks.a]\n",
            "[tasks.a]\n[tasks.a.env]\nA = \"1\"\n",
            "[tasks.\"a b\"]\nrun = \"x\"\n",
            "[ tasks.a ]\nrun = \"x\"\n",
            "  [tasks.a]\nrun = \"x\"\n",
            "[tasks.a] # header comment\nrun = \"x\"\n",
            "run = \"x\"\n[tasks.a]\n",
            "[tasks.a]\nrun =\n",
            "[tasks.a]\nrun = \"unclosed\n",
            "[tasks.a]\nrun = \"x\" \"y\"\n",
            "[tasks.a]\n# a \u{7f} comment\n",
            "[[tasks.a]]\nrun = \"x\"\n",
        ] {
            assert!(!agrees(tables), "read plainly:\n{tables}");
        }
    }

    #[test]
    fn spans_are_shifted_everywhere() {
        let text = "[tasks.a]\nrun = [\"x\"]\nenv = { A = \"1\" }\n";
        let (document, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        let value = Spanned::new(document.span(), DeValue::Table(document.into_inner()));
        let moved = shift(value, 100);
        let DeValue::Table(top) = moved.get_ref() else {
            panic!("table");
        };
        let (key, tasks) = top.iter().next().expect("tasks");
        assert_eq!(key.span(), 101..106);
        let a = tasks.get_ref().get("a").expect("a");
        let run = a.get_ref().get("run").expect("run");
        let x = run.get_ref().get(0).expect("x");
        assert_eq!(&text[x.span().start - 100..x.span().end - 100], "\"x\"");
    }
}
