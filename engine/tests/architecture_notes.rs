//! `engine/src/ARCHITECTURE.md` names every source file of the engine, so that a newcomer
//! finds each one there (a test file `*_tests.rs` is covered by its `*_tests.rs` line).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("engine/src is readable") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_is_named_in_the_architecture_notes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let notes = std::fs::read_to_string(src.join("ARCHITECTURE.md")).expect("the notes");
    let words: Vec<&str> = notes
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '`' | '(' | ')'))
        .collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let named = words.contains(&name)
                || (name.ends_with("_tests.rs") && words.contains(&"*_tests.rs"));
            (!named).then(|| {
                path.strip_prefix(&src)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not named in engine/src/ARCHITECTURE.md: {missing:?}"
    );
}
