//! `wf list`, `wf graph` and `wf completions`: reading a workflow without running it.

use crate::support::{Project, stderr_of, stdout_of};

const SWEEP: &str = r#"
[locks]
gpu = 2

[tasks.fetch]
description = "Download"
run = "true"

[tasks.train]
run = "train {{ matrix.lr }}"
matrix = { lr = ["0.1", "0.01"] }
deps = ["fetch"]
locks = ["gpu"]

[tasks.report]
description = "Say \"done\""
run = "true"
deps = ["train"]
"#;

#[test]
fn list_groups_matrix_expansions_under_their_task() {
    let project = Project::with_manifest(SWEEP);
    let output = project.wf(&["list"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("list_table", stdout_of(&output));
}

#[test]
fn list_json_is_machine_readable() {
    let project = Project::with_manifest(SWEEP);
    let output = project.wf(&["list", "--json"]).output().expect("wf runs");
    let entries: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(entries[1]["name"], "train");
    assert_eq!(entries[1]["expansions"][1]["name"], "train[lr=0.01]");
    assert_eq!(entries[2]["deps"][0], "train");
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let project = Project::with_manifest(SWEEP);
    let dot = project.wf(&["graph"]).output().expect("wf runs");
    insta::assert_snapshot!("graph_dot", stdout_of(&dot));
    let mermaid = project
        .wf(&["graph", "--format", "mermaid"])
        .output()
        .expect("wf runs");
    insta::assert_snapshot!("graph_mermaid", stdout_of(&mermaid));
}

#[test]
fn inspecting_an_invalid_manifest_is_a_usage_error_with_the_findings() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"x\"\ndeps = [\"nope\"]\n");
    let output = project.wf(&["list"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("wf::unknown_dependency"));
}

#[test]
fn completions_are_generated_for_bash() {
    let project = Project::new();
    let output = project
        .wf(&["completions", "bash"])
        .output()
        .expect("wf runs");
    assert!(stdout_of(&output).contains("_wf()"));
}
