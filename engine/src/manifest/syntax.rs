//! TOML syntax errors made useful: a duplicate key points at its first definition, and the
//! findings that only follow from a syntax error in the same table are left out.
//!
//! Only used when the parser reported syntax errors; the table headers are found by a line scan
//! (a line whose first non-blank character is `[`), which is what a person reading the file
//! sees as the table's start.

use std::ops::Range;

use super::diagnostic::{Findings, ManifestError};

/// One `[table]` or `[[array]]` header line.
#[derive(Debug)]
struct Header {
    /// The whole line, without its line break.
    line: Range<usize>,
    /// The name between the brackets, without blanks around dots (`tasks.a`); `None` when the
    /// header is not closed.
    name: Option<String>,
    /// The name's span (or the line's, for an unclosed header).
    name_span: Range<usize>,
    /// `[[…]]`: each header adds an element, so repeating it is no duplicate.
    array: bool,
}

/// The headers of `text`, in order.
fn headers(text: &str) -> Vec<Header> {
    let mut found = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        let trimmed = body.trim_start();
        if trimmed.starts_with('[') {
            let array = trimmed.starts_with("[[");
            let open = if array { 2 } else { 1 };
            let close = if array { "]]" } else { "]" };
            let inner_start = start + indent + open;
            let name = trimmed[open..].find(close).map(|end| {
                (
                    trimmed[open..open + end]
                        .split('.')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join("."),
                    end,
                )
            });
            found.push(Header {
                line: start..start + body.len(),
                name_span: match &name {
                    Some((_, end)) => inner_start..inner_start + end,
                    None => start + indent..start + body.len(),
                },
                name: name.map(|(name, _)| name),
                array,
            });
        }
        start += line.len();
    }
    found
}

/// The index of the header whose table holds `offset` (the last header starting at or before
/// it), `None` before the first header.
fn section_of(headers: &[Header], offset: usize) -> Option<usize> {
    headers
        .partition_point(|h| h.line.start <= offset)
        .checked_sub(1)
}

/// The section's end: the next header's start, or the end of the text.
fn section_end(headers: &[Header], index: usize, len: usize) -> usize {
    headers.get(index + 1).map_or(len, |h| h.line.start)
}

/// The earlier header with the same name as header `index`, if any.
fn first_definition(headers: &[Header], index: usize) -> Option<&Header> {
    let header = &headers[index];
    let name = header.name.as_ref()?;
    if header.array {
        return None;
    }
    headers[..index]
        .iter()
        .find(|h| !h.array && h.name.as_ref() == Some(name))
}

/// The byte range of `key = …`'s key on an earlier line of the section `within`.
fn earlier_key(text: &str, within: Range<usize>, key: &str) -> Option<Range<usize>> {
    let mut start = within.start;
    for line in text[within.clone()].split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let rest = &line[indent..];
        if let Some(after) = rest.strip_prefix(key) {
            if after.trim_start().starts_with('=') {
                return Some(start + indent..start + indent + key.len());
            }
        }
        start += line.len();
    }
    None
}

/// Rewrites the parser's findings (`syntax`: its errors as [`ManifestError::TomlSyntax`]) and
/// filters the others (`rest`) for `text`:
///
/// - a `duplicate key` on a table header becomes a [`ManifestError::DuplicateKey`] with a second
///   label at the first definition; one on a key inside a repeated table is left out (it follows
///   from the repeated header); one on a key becomes a `DuplicateKey` with the key's first line;
/// - every other finding inside a table that has a syntax error (from its header to the next
///   header) is left out: it most likely follows from the parser's recovery.
pub fn refine(text: &str, syntax: Findings, rest: Findings) -> Findings {
    if syntax.is_empty() {
        return rest;
    }
    let headers = headers(text);
    let mut repeated = Vec::new();
    let mut poisoned: Vec<Range<usize>> = Vec::new();
    let mut out = Findings::with_capacity(syntax.len() + rest.len());
    for finding in syntax {
        let ManifestError::TomlSyntax { message, span } = &finding else {
            out.push(finding);
            continue;
        };
        let offset = span.offset();
        let section = section_of(&headers, offset);
        let section_range = section.map_or(
            0..headers.first().map_or(text.len(), |h| h.line.start),
            |i| headers[i].line.start..section_end(&headers, i, text.len()),
        );
        poisoned.push(section_range.clone());
        if message != "duplicate key" {
            out.push(finding);
            continue;
        }
        let on_header = section.filter(|&i| headers[i].line.contains(&offset));
        if let Some(index) = on_header {
            let header = &headers[index];
            if let Some(first) = first_definition(&headers, index) {
                repeated.push(index);
                out.push(ManifestError::DuplicateKey {
                    message: format!(
                        "table `[{}]` is defined twice",
                        header.name.as_deref().unwrap_or_default()
                    ),
                    span: header.name_span.clone().into(),
                    first_span: first.name_span.clone().into(),
                });
                continue;
            }
            out.push(finding);
            continue;
        }
        if section.is_some_and(|i| repeated.contains(&i)) {
            continue;
        }
        let key = text
            .get(offset..offset + span.len())
            .unwrap_or_default()
            .trim()
            .to_owned();
        let search = section_range.start..offset.min(text.len());
        match earlier_key(text, search, &key).filter(|_| !key.is_empty()) {
            Some(first) => out.push(ManifestError::DuplicateKey {
                message: format!(
                    "key `{key}` is defined twice in {}",
                    section
                        .and_then(|i| headers[i].name.as_deref())
                        .map_or_else(
                            || "the top of the manifest".to_owned(),
                            |name| format!("`[{name}]`")
                        )
                ),
                span: *span,
                first_span: first.into(),
            }),
            None => out.push(finding),
        }
    }
    out.extend(rest.into_iter().filter(|finding| {
        let at = finding.offset();
        !poisoned.iter().any(|range| range.contains(&at))
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(message: &str, span: Range<usize>) -> ManifestError {
        ManifestError::TomlSyntax {
            message: message.to_owned(),
            span: span.into(),
        }
    }

    /// The message and the first definition's offset of the first finding, which must be a
    /// duplicate key.
    fn first_duplicate(found: &[ManifestError]) -> (&str, usize) {
        let ManifestError::DuplicateKey {
            message,
            first_span,
            ..
        } = &found[0]
        else {
            panic!("{found:?}");
        };
        (message, first_span.offset())
    }

    #[test]
    fn a_repeated_table_points_at_its_first_header_and_its_keys_are_not_repeated() {
        let text = "[tasks.a]\nrun = \"true\"\n\n[tasks . a]\nrun = \"false\"\n";
        let second = text.rfind("a]").expect("second header");
        let run = text.rfind("run").expect("second run");
        let found = refine(
            text,
            vec![
                syntax("duplicate key", second..second + 1),
                syntax("duplicate key", run..run + 3),
            ],
            Vec::new(),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let (message, first) = first_duplicate(&found);
        assert_eq!(message, "table `[tasks.a]` is defined twice");
        assert_eq!(first, 1);
    }

    #[test]
    fn a_repeated_key_points_at_its_first_line() {
        let text = "[workflow]\njobs = 1\njobs = 2\n";
        let second = text.rfind("jobs").expect("second");
        let found = refine(
            text,
            vec![syntax("duplicate key", second..second + 4)],
            Vec::new(),
        );
        let (message, first) = first_duplicate(&found);
        assert_eq!(message, "key `jobs` is defined twice in `[workflow]`");
        assert_eq!(first, 11);
    }

    #[test]
    fn findings_in_a_table_with_a_syntax_error_are_left_out() {
        let text =
            "[tasks.a]\nrun = \"true\"\n[tasks.b\nrun = \"x\"\ndeps = [\"a\"]\n[tasks.c]\nx = 1\n";
        let header = text.find("[tasks.b").expect("b");
        let deps = text.find("deps").expect("deps");
        let x = text.rfind("x =").expect("x");
        let unknown = |at: usize| ManifestError::unknown_key("k", "a task", at..at + 1, &["run"]);
        let found = refine(
            text,
            vec![syntax(
                "unclosed table, expected `]`",
                header + 8..header + 8,
            )],
            vec![unknown(deps), unknown(x)],
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(found[0], ManifestError::TomlSyntax { .. }));
        assert_eq!(found[1].offset(), x);
    }
}
