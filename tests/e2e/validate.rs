//! `wf validate`: every kind of finding, the three output formats, exit codes.

use crate::support::{Project, repo_root, stderr_of, stdout_of, wf};

fn fixtures() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/invalid")
}

/// Every fixture is one kind of finding; its rendered diagnostic is pinned, so a change in any
/// message, label, span or hint shows up in review.
#[test]
fn every_finding_kind_renders_with_code_span_label_and_help() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 25,
        "expected a fixture per finding kind, found {}",
        names.len()
    );
    for name in names {
        let output = wf()
            .current_dir(fixtures())
            .args(["validate", &name])
            .output()
            .expect("wf runs");
        let stem = name.trim_end_matches(".toml");
        let code = format!("wf::{}", stem.split("__").next().unwrap_or(stem));
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains(&code),
            "{name}: expected {code} in:\n{stderr}"
        );
        insta::assert_snapshot!(stem, stderr);
    }
}

#[test]
fn valid_manifest_exits_zero_and_says_so() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    let output = project.wf(&["validate"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_of(&output), "✓ wf.toml: valid, 1 task\n");
}

#[test]
fn invalid_manifest_exits_one() {
    let project = Project::with_manifest("[tasks.a]\ndeps = [\"b\"]\n");
    project.wf(&["validate"]).assert().code(1);
}

#[test]
fn missing_file_is_a_usage_error() {
    let project = Project::new();
    let output = project
        .wf(&["validate", "nope.toml"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("cannot read manifest `nope.toml`"));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    wf().args(["validate", "--frobnicate"]).assert().code(2);
}

#[test]
fn warnings_pass_unless_strict() {
    let manifest = std::fs::read_to_string(fixtures().join("undeclared_input_dependency.toml"))
        .expect("fixture");
    let project = Project::with_manifest(&manifest);
    project.wf(&["validate"]).assert().code(0);
    project.wf(&["validate", "--strict"]).assert().code(1);
}

#[test]
fn json_format_lists_every_finding_with_positions() {
    let output = wf()
        .current_dir(fixtures())
        .args([
            "validate",
            "--format",
            "json",
            "unknown_dependency.toml",
            "self_dependency.toml",
        ])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
    let findings: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    insta::assert_json_snapshot!("json_format", findings);
}

#[test]
fn github_format_prints_workflow_commands() {
    let output = wf()
        .current_dir(fixtures())
        .args([
            "validate",
            "--format",
            "github",
            "dependency_cycle.toml",
            "undeclared_input_dependency.toml",
        ])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("github_format", stdout_of(&output));
}

#[test]
fn json_format_reports_unreadable_files_and_exits_two() {
    let output = wf()
        .current_dir(fixtures())
        .args([
            "validate",
            "--format",
            "json",
            "self_dependency.toml",
            "missing.toml",
        ])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(2));
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let codes: Vec<&str> = findings
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert_eq!(codes, ["wf::self_dependency", "wf::unreadable_manifest"]);
}

#[test]
fn several_manifests_are_reported_in_the_order_given() {
    let output = wf()
        .current_dir(fixtures())
        .args([
            "validate",
            "self_dependency.toml",
            "missing_run.toml",
            "self_dependency.toml",
        ])
        .output()
        .expect("wf runs");
    let stderr = stderr_of(&output);
    let first = stderr
        .find("✗ self_dependency.toml")
        .expect("first summary");
    let second = stderr.find("✗ missing_run.toml").expect("second summary");
    assert!(first < second);
    assert_eq!(stderr.matches("✗ self_dependency.toml").count(), 2);
}

#[test]
fn color_is_off_with_no_color_and_on_when_forced() {
    let project = Project::with_manifest("[tasks.a]\nrun = 1\n");
    let plain = project.wf(&["validate"]).output().expect("wf runs");
    assert!(!stderr_of(&plain).contains('\u{1b}'));
    let forced = project
        .wf(&["validate", "--color", "always"])
        .output()
        .expect("wf runs");
    assert!(stderr_of(&forced).contains('\u{1b}'));
}

/// Every finding code that a fixture shows is documented in docs/validation.md's table.
#[test]
fn every_finding_code_is_documented() {
    let docs = std::fs::read_to_string(repo_root().join("docs/validation.md")).expect("docs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".toml") else {
            continue;
        };
        let code = stem.split("__").next().unwrap_or(stem);
        if !docs.contains(&format!("| `wf::{code}` |")) {
            missing.push(code.to_owned());
        }
    }
    assert!(missing.is_empty(), "undocumented codes: {missing:?}");
}
