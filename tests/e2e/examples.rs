//! The example manifests in `manifests/`: each is valid for `wf validate` and for the schema.

use crate::support::{repo_root, stdout_of, wf};

fn example_manifests() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(repo_root().join("manifests"))
        .expect("manifests folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 7, "expected the seven example manifests");
    paths
}

#[test]
fn every_example_is_valid() {
    for path in example_manifests() {
        let output = wf()
            .arg("validate")
            .arg("--strict")
            .arg(&path)
            .output()
            .expect("wf runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout_of(&output).starts_with('✓'));
    }
}

#[test]
fn every_example_declares_and_satisfies_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/wf-manifest.schema.json"))
            .expect("schema file"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    for path in example_manifests() {
        let text = std::fs::read_to_string(&path).expect("example");
        assert!(
            text.starts_with("#:schema ../schemas/wf-manifest.schema.json"),
            "{} must start with a #:schema line",
            path.display()
        );
        let document: toml::Value = toml::from_str(&text).expect("example is TOML");
        let instance = serde_json::to_value(document).expect("TOML converts to JSON");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn schema_rejects_what_validate_rejects() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/wf-manifest.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    for bad in [
        "[tasks.a]\nrun = \"x\"\ntimout = \"5m\"\n",
        "[workflow]\njobs = 0\n",
        "[tasks.a]\nrun = \"x\"\nwhen = \"sometimes\"\n",
        "[tasks.a]\nrun = \"x\"\ntimeout = \"10\"\n",
        "[locks]\ndb = 0\n",
        "[tasks.a]\nrun = \"x\"\nmatrix = { x = [] }\n",
        "[tasks.\"a b\"]\nrun = \"x\"\n",
    ] {
        let document: toml::Value = toml::from_str(bad).expect("TOML");
        let instance = serde_json::to_value(document).expect("JSON");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{bad}");
    }
}

#[test]
fn committed_schemas_match_the_generated_ones() {
    for (kind, file) in [
        ("manifest", "wf-manifest.schema.json"),
        ("report", "wf-report.schema.json"),
    ] {
        let committed =
            std::fs::read_to_string(repo_root().join("schemas").join(file)).expect("schema file");
        let output = wf().args(["schema", kind]).output().expect("wf runs");
        assert_eq!(
            stdout_of(&output),
            committed,
            "schemas/{file} is stale: run `cargo run -p wf-cli -- schema {kind} > schemas/{file}`"
        );
    }
}

#[test]
fn the_runnable_examples_run() {
    for name in [
        "hello", "queue", "pool-map", "locks", "pipeline", "ci", "matrix",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join(format!("{name}.toml"));
        std::fs::copy(
            repo_root().join("manifests").join(format!("{name}.toml")),
            &manifest,
        )
        .expect("copy");
        let output = wf()
            .arg("run")
            .arg(&manifest)
            .arg("--output")
            .arg("quiet")
            .output()
            .expect("wf runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
