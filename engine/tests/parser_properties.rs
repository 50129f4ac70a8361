//! Property tests: whatever bytes the parser is fed, it never panics, and a manifest that is not
//! accepted always comes with at least one error whose spans lie inside the text.

use std::path::Path;

use miette::Diagnostic;
use proptest::prelude::*;
use wf_engine::{SourceFile, parse};

const SEED_MANIFESTS: &[&str] = &[
    include_str!("../../manifests/ci.toml"),
    include_str!("../../manifests/matrix.toml"),
    include_str!("../../manifests/locks.toml"),
    include_str!("../../manifests/pipeline.toml"),
    include_str!("../../manifests/pool-map.toml"),
];

/// Fragments that are meaningful to TOML or to wf, so mutations reach deep into the checks.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "=",
    ",",
    "\n",
    "#",
    "[[tasks.x]]",
    "[tasks.a]",
    "deps = [\"a\"]",
    "matrix = { k = [1, 2] }",
    "{{ matrix.k }}",
    "{{ matrix.",
    "}}",
    "when = \"always\"",
    "cpus = 99",
    "jobs = 0",
    "timeout = \"1h30\"",
    "locks = [\"l\"]",
    "outputs = [\"o\"]",
    "inputs = [\"*\"]",
    "run = []",
    "run = \"\"",
    "\\u0000",
    "\u{1F600}",
    "é",
    "1979-05-27T07:32:00Z",
    "inf",
    "nan",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let loaded = parse(SourceFile::new("wf.toml", text), Path::new("/project"));
    if loaded.workflow.is_none() {
        prop_assert!(
            loaded.has_errors(),
            "rejected without an error finding:\n{text}"
        );
    }
    for finding in &loaded.findings {
        prop_assert!(finding.code().is_some());
        for label in finding.labels().into_iter().flatten() {
            prop_assert!(
                label.offset() + label.len() <= text.len(),
                "span {}+{} outside a text of {} bytes for {finding}",
                label.offset(),
                label.len(),
                text.len()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutation: &Mutation) -> String {
    match *mutation {
        Mutation::Delete(at, len) => {
            let start = boundary(text, at);
            let end = boundary(text, start + len.min(text.len() - start));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        Mutation::Insert(at, token) => {
            let at = boundary(text, at);
            format!("{}{}{}", &text[..at], TOKENS[token], &text[at..])
        }
        Mutation::DuplicateLine(line) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn mutated_manifests_never_panic_and_always_explain(
        seed in 0..SEED_MANIFESTS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = SEED_MANIFESTS[seed].to_owned();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text)?;
    }
}

#[test]
fn every_seed_manifest_is_accepted() {
    for text in SEED_MANIFESTS {
        let loaded = parse(SourceFile::new("wf.toml", *text), Path::new("/project"));
        assert!(loaded.workflow.is_some(), "{:?}", loaded.findings);
    }
}
