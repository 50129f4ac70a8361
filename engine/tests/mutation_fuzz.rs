//! A bounded fuzz run over parse + validate: mutations of every example manifest and invalid
//! fixture (byte flips, insertions, deletions, duplicated and dropped lines). Whatever the
//! bytes, reading them never panics, and every error finding is located inside the source.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use miette::Diagnostic;
use wf_engine::manifest::not_utf8;
use wf_engine::{Loaded, SourceFile, parse};

use common::mutate::{Rng, mutate, seeds};

/// Reads bytes the way `wf_engine::load` reads a file.
fn read(bytes: &[u8]) -> Loaded {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(SourceFile::new("wf.toml", text), Path::new("/project")),
        Err(_) => not_utf8(Path::new("wf.toml"), bytes),
    }
}

fn check(bytes: &[u8]) {
    let loaded = read(bytes);
    let text = &loaded.source.text;
    if loaded.workflow.is_none() {
        assert!(loaded.has_errors(), "rejected without an error:\n{text}");
    }
    let lines = loaded.source.lines().line_count();
    for finding in &loaded.findings {
        let labels: Vec<_> = finding.labels().into_iter().flatten().collect();
        if !finding.is_warning() {
            assert!(!labels.is_empty(), "error without a location: {finding:?}");
        }
        for label in labels {
            assert!(
                label.offset() + label.len() <= text.len(),
                "{finding:?} points outside the {} bytes of:\n{text}",
                text.len()
            );
            let at = loaded.source.line_col(label.offset());
            assert!(at.line >= 1 && at.line <= lines && at.column >= 1);
        }
    }
}

#[test]
fn mutated_manifests_never_panic_and_every_error_is_located() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = seeds(&repo);
    assert!(
        seeds.len() >= 30,
        "found only {} seed manifests",
        seeds.len()
    );
    let seed = std::env::var("WF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    let budget = Duration::from_secs(10);
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut runs = 0u64;
    while started.elapsed() < budget && runs < 20_000 {
        let base = &seeds[rng.below(seeds.len())];
        let bytes = mutate(base, &mut rng);
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        if let Err(panic) = outcome {
            let path = std::env::temp_dir().join(format!("wf-fuzz-{seed}-{runs}.toml"));
            let _ = std::fs::write(&path, &bytes);
            std::panic::resume_unwind(Box::new(format!(
                "seed {seed}, run {runs}: input saved to {}: {:?}",
                path.display(),
                panic.downcast_ref::<String>()
            )));
        }
        runs += 1;
    }
    assert!(runs >= 200, "only {runs} mutations in {budget:?}");
}
