//! The manifest read in pieces ([`super::chunks`]) gives exactly what the whole document gives:
//! the same workflow, the same findings in the same order with the same spans. Checked on every
//! example manifest and invalid fixture, on tricky hand-written inputs, and on seeded mutations
//! of all of them.

use std::path::Path;

use super::{Loaded, Reading, SourceFile, parse_with};

#[allow(dead_code)]
#[path = "../../tests/common/mutate.rs"]
mod mutate;

/// Everything a reader sees of `loaded`.
fn shown(loaded: &Loaded) -> String {
    format!("{:#?}\n{:#?}", loaded.workflow, loaded.findings)
}

/// Reads `text` both ways and asserts they agree; true if the pieces were used.
fn agree(text: &str) -> bool {
    let root = Path::new("/project");
    let whole = parse_with(SourceFile::new("wf.toml", text), root, Reading::Whole);
    let chunked = parse_with(SourceFile::new("wf.toml", text), root, Reading::Chunked);
    assert_eq!(
        shown(&whole),
        shown(&chunked),
        "the two readings differ on:\n{text}"
    );
    let origin = super::validate::Origin {
        path: Path::new("wf.toml"),
        root,
        text,
    };
    super::chunks::build(&origin).is_some()
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_manifest_and_fixture_reads_the_same_in_pieces() {
    let mut read = 0;
    let mut in_pieces = 0;
    for folder in ["manifests", "tests/fixtures/invalid"] {
        let mut paths: Vec<_> = std::fs::read_dir(repo().join(folder))
            .expect("folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            read += 1;
            in_pieces += usize::from(agree(&text));
        }
    }
    assert!(read >= 50, "read only {read} manifests");
    assert!(in_pieces >= 30, "only {in_pieces} of {read} read in pieces");
}

/// Inputs written to trip a splitter up.
const TRICKY: &[&str] = &[
    // Strings and comments that look like headers.
    "[tasks.a]\nrun = \"\"\"\n[tasks.b]\nrun = 1\n\"\"\"\n[tasks.c]\nrun = \"x\"\n",
    "[tasks.a]\nrun = '''\n[tasks.a]\n'''\n# [tasks.a]\n[tasks.b]\nrun = \"x\"\ndeps = [\"a\"]\n",
    "[tasks.a]\nrun = [\n  \"x\",\n[\"nested\"],\n]\n[tasks.b]\nrun = \"y\"\n",
    "[tasks.a]\nrun = \"y\"\nenv = {\n  A = \"[tasks.z]\",\n}\n",
    // CRLF, blanks in headers, quoted names.
    "[workflow]\r\nname = \"w\"\r\n\r\n[ tasks . a ]\r\nrun = \"x\"\r\n[tasks.\"b.c\"]\r\nrun = 'y'\r\ndeps = [\"a\"]\r\n",
    "[tasks.'lit']\nrun = \"x\"\n[tasks.\"lit\"]\nrun = \"y\"\n",
    "[tasks.a]\nrun = \"x\"\n[tasks.\"a\"]\nrun = \"y\"\n",
    // Tables around and between tasks; top-level keys.
    "jobs = 3\n[workflow]\njobs = 2\n[tasks.a]\nrun = \"x\"\n[locks]\ndb = 1\n[tasks.b]\nrun = \"y\"\nlocks = [\"db\"]\n[defaults]\ntimeout = \"1m\"\n[executor]\nkind = \"local\"\n",
    "[defaults]\nretries = 2\ncwd = \"sub\"\n[defaults.env]\nA = \"1\"\n[tasks.a]\nrun = \"x\"\n[tasks.a.env]\nB = \"2\"\n[resources]\ngpu = 2\n",
    // Matrices, arrays of tables.
    "[tasks.m]\nrun = \"echo {{ matrix.x }}\"\n[tasks.m.matrix]\nx = [1, 2.0, \"three\", true]\n[tasks.n]\nrun = \"y\"\ndeps = [\"m\"]\n",
    "[tasks.m]\nrun = \"echo {{ matrix.x }}\"\n[[tasks.m.matrix]]\nx = 1\n[[tasks.m.matrix]]\nx = 2\n[tasks.n]\nrun = \"y\"\n",
    "[[tasks.m]]\nrun = \"x\"\n",
    // Duplicates, non-adjacent tables of one task.
    "[tasks.a]\nrun = \"x\"\n[tasks.a]\nrun = \"y\"\n",
    "[tasks.a]\nrun = \"x\"\n[tasks.b]\nrun = \"y\"\n[tasks.a.env]\nA = \"1\"\n",
    "[tasks.a]\nrun = \"x\"\n[workflow]\n[tasks.a.env]\nA = \"1\"\n",
    "[tasks.a]\nrun = \"x\"\nrun = \"y\"\n",
    // `tasks` written other ways.
    "[tasks]\na.run = \"x\"\n",
    "tasks.a.run = \"x\"\n[tasks.b]\nrun = \"y\"\n",
    "tasks = { a = { run = \"x\" } }\n",
    "tasks = 3\n",
    "[tasks.a]\nrun = \"x\"\n[tasks]\n",
    "[workflow]\n[tasks.a]\nrun = \"x\"\n[tasks.a.env]\nA = 1\n",
    // Unknown keys, type errors, bad values, references.
    "[tasks.a]\nrn = \"x\"\ncpus = \"2\"\nretries = true\ntimeout = 5\nwhen = \"sucess\"\n[tasks.b]\nrun = \"y\"\ndeps = \"a\"\n",
    "[workflow]\njobs = \"2\"\nbogus = 1\n[tasks.a]\nrun = \"x\"\ndeps = [\"nope\", \"a\"]\n",
    "[tasks.a]\nrun = \"x\"\ndeps = [\"b\"]\n[tasks.b]\nrun = \"y\"\ndeps = [\"a\"]\n",
    "[tasks.a]\nrun = \"x\"\noutputs = [\"o\"]\n[tasks.b]\nrun = \"y\"\noutputs = [\"o\"]\n",
    "[tasks.a]\nrun = \"x\"\nslurm = { partition = 1, extra = [\"--x\"] }\nresources = { gpu = 1 }\n",
    "[tasks.a.slurm]\npartition = \"p\"\n[tasks.a]\nrun = \"x\"\n",
    // Syntax errors in a task, in the rest, at the end.
    "[tasks.a]\nrun = \"x\n[tasks.b]\nrun = \"y\"\n",
    "[workflow\n[tasks.a]\nrun = \"x\"\n",
    "[tasks.a]\nrun = \"x\"\n[tasks.b]\nrun = ",
    "[tasks.a]\nrun = \"x\" [tasks.b]\n",
    // No tasks; empty; only comments; no final line break.
    "",
    "# nothing\n",
    "[workflow]\nname = \"w\"",
    "[tasks.a]\nrun = \"x\"",
    // Non-ASCII, multi-line strings ending in quotes, escapes.
    "[tasks.\"é\"]\nrun = \"ü\"\n[tasks.b]\nrun = \"\"\"x\"\"\"\"\"\ndescription = \"a \\\" [tasks.c]\"\n",
    "[tasks.a]\nrun = '''x'''''\n[tasks.b]\nrun = \"\\\\\"\n",
];

#[test]
fn tricky_inputs_read_the_same_in_pieces() {
    for text in TRICKY {
        agree(text);
    }
}

#[test]
fn mutated_manifests_read_the_same_in_pieces() {
    let mut seeds = mutate::seeds(&repo());
    seeds.extend(TRICKY.iter().map(|t| t.as_bytes().to_vec()));
    let mut rng = mutate::Rng::new(0x0c4a_2026);
    for seed in &seeds {
        for _ in 0..40 {
            let bytes = mutate::mutate(seed, &mut rng);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agree(text);
            }
        }
    }
}

/// A generated manifest of many tasks in several batches, with tables between them.
#[test]
fn a_large_manifest_reads_the_same_in_pieces() {
    let mut text = String::from("[workflow]\nname = \"big\"\njobs = 2\n\n");
    for i in 0..3000 {
        text.push_str(&format!("[tasks.t{i}]\nrun = [\"true\"]\n"));
        if i > 0 {
            text.push_str(&format!("deps = [\"t{}\", \"t{}\"]\n", i - 1, i / 2));
        }
        if i % 97 == 0 {
            text.push_str(&format!("[tasks.t{i}.env]\nN = \"{i}\"\n"));
        }
        if i == 1500 {
            text.push_str("[locks]\ndb = 1\n");
        }
        if i % 500 == 7 {
            text.push_str("bogus = 1\n");
        }
    }
    assert!(agree(&text));
}

/// A syntax error in one of the last batches, after many were parsed and built: the pieces are
/// given up and the whole document read, with the same findings.
#[test]
fn a_syntax_error_in_a_late_batch_falls_back_to_the_whole_document() {
    let mut text = String::from("[workflow]\nname = \"big\"\n\n");
    for i in 0..40_000 {
        text.push_str(&format!("[tasks.t{i}]\nrun = [\"true\"]\n"));
        if i == 39_000 {
            text.push_str("deps = [\"t1\"] oops\n");
        }
    }
    assert!(
        text.len() > 10 * 64 * 1024,
        "spans more than a group of batches"
    );
    assert!(!agree(&text), "read in pieces despite the syntax error");
}
