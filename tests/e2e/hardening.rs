//! Manifests built to break the command line: a finding past column 65,535, a one-line manifest
//! of 91 KB, a 70,000-character task name, a 30,000-task chain (the 1,000,000-task chain is tested on the graph itself), terminal escapes in values, and
//! random mutations of every example. None of them may panic (exit code 101) or overflow.

use std::fmt::Write as _;
use std::process::Output;

use crate::support::{Project, repo_root, stderr_of, stdout_of, wf};

#[path = "../../engine/tests/common/mutate.rs"]
mod mutate;

/// Runs `wf ARGS` in the project and checks that it did not panic or abort.
fn run(project: &Project, args: &[&str]) -> Output {
    let output = project.wf(args).output().expect("wf runs");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "wf {args:?} ended with {:?}\n{}",
        output.status,
        stderr_of(&output)
    );
    output
}

#[test]
fn a_finding_past_column_65535_is_shown_with_its_real_position() {
    let manifest = format!(
        "[tasks.a]\nrun = \"true\"\n{}timeout = \"5\"\n",
        " ".repeat(70_000)
    );
    let project = Project::with_manifest(&manifest);
    let output = run(&project, &["validate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("wf::invalid_duration"), "{stderr}");
    assert!(stderr.contains("[wf.toml:3:70011]"), "{stderr}");
    assert!(stderr.contains("…"), "the line is cut: {stderr}");
    assert!(stderr.len() < 2_000, "{} bytes", stderr.len());

    let output = run(&project, &["validate", "--format", "json"]);
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(findings[0]["line"], 3);
    assert_eq!(findings[0]["column"], 70_011);
    assert_eq!(findings[0]["end_column"], 70_014);
}

#[test]
fn a_one_line_manifest_of_two_thousand_tasks_with_a_warning_runs() {
    let mut manifest = String::from("tasks = { ");
    for i in 0..2_000 {
        let _ = write!(
            manifest,
            "t{i} = {{ run = \"true\", outputs = [\"o{i}.txt\"] }}, "
        );
    }
    manifest.push_str("reader = { run = \"true\", inputs = [\"o1999.txt\"] } }\n");
    assert!(manifest.len() > 90_000 && manifest.lines().count() == 1);
    let project = Project::with_manifest(&manifest);

    let output = run(&project, &["validate"]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("wf::undeclared_input_dependency"),
        "{stderr}"
    );
    assert!(stderr.contains("[wf.toml:1:"), "{stderr}");
    assert!(stderr.len() < 3_000, "{} bytes", stderr.len());

    let output = run(&project, &["run", "-n"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("2001 tasks to run"));
}

#[test]
fn a_seventy_thousand_character_task_name_is_elided_in_tables() {
    let name = format!("start{}end", "x".repeat(70_000));
    let project = Project::with_manifest(&format!("[tasks.{name}]\nrun = \"true\"\n"));
    for args in [&["list"][..], &["plan"], &["run", "-n"], &["validate"]] {
        let output = run(&project, args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let stdout = stdout_of(&output);
        assert!(
            stdout.lines().all(|line| line.chars().count() < 300),
            "{args:?}: a line of {} characters",
            stdout.lines().map(|l| l.chars().count()).max().unwrap_or(0)
        );
        if args[0] != "validate" {
            assert!(
                stdout.contains("startxx") && stdout.contains("xxend"),
                "{stdout}"
            );
        }
    }
    let output = run(&project, &["list", "--json"]);
    assert!(
        stdout_of(&output).contains(&name),
        "JSON keeps the whole name"
    );
}

#[test]
fn a_chain_of_thirty_thousand_tasks_goes_through_every_command() {
    let mut manifest = String::from("[tasks.t0]\nrun = \"true\"\n");
    for i in 1..30_000 {
        let _ = write!(
            manifest,
            "[tasks.t{i}]\nrun = \"true\"\ndeps = [\"t{}\"]\n",
            i - 1
        );
    }
    let project = Project::with_manifest(&manifest);
    for args in [
        &["validate"][..],
        &["list"],
        &["plan"],
        &["graph"],
        &["graph", "--format", "mermaid"],
        &["run", "-n"],
    ] {
        let output = run(&project, args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr_of(&output)
        );
    }
}

#[test]
fn terminal_escapes_in_manifest_values_are_escaped_for_people_only() {
    let manifest = "[tasks.paint]\nrun = \"true\"\ndescription = \"\\u001b[2J{{ matrix.c }}\"\nmatrix = { c = [\"\\u001b[31mred\", \"line\\nbreak\"] }\n\n[tasks.bad]\nrun = \"true\"\ndeps = [\"\\u001b]0;owned\\u0007\"]\n";
    let project = Project::with_manifest(manifest);
    let output = run(&project, &["validate"]);
    let stderr = stderr_of(&output);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\x1b]0;owned\\x07"), "{stderr}");

    let fixed = manifest.replace("deps = [\"\\u001b]0;owned\\u0007\"]\n", "");
    let project = Project::with_manifest(&fixed);
    for args in [
        &["list"][..],
        &["plan"],
        &["graph"],
        &["graph", "--format", "mermaid"],
    ] {
        let output = run(&project, args);
        let stdout = stdout_of(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!stdout.contains('\u{1b}'), "{args:?}: {stdout:?}");
        assert!(stdout.contains("\\x1b[31mred"), "{args:?}: {stdout}");
    }
    let output = run(&project, &["list", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        entries[0]["expansions"][0]["name"], "paint[c=\u{1b}[31mred]",
        "JSON keeps the exact name"
    );
}

#[test]
fn mutated_examples_validate_with_a_documented_exit_code() {
    let seeds = mutate::seeds(&repo_root());
    let mut rng = mutate::Rng::new(0x0e2e_2026);
    let project = Project::new();
    let mut names = Vec::new();
    for i in 0..120 {
        let base = &seeds[rng.below(seeds.len())];
        let name = format!("m{i}.toml");
        std::fs::write(project.path().join(&name), mutate::mutate(base, &mut rng)).expect("write");
        names.push(name);
    }
    for batch in names.chunks(30) {
        let mut args = vec!["validate", "--format", "json"];
        args.extend(batch.iter().map(String::as_str));
        let output = wf()
            .current_dir(project.path())
            .args(&args)
            .output()
            .expect("wf runs");
        assert!(
            matches!(output.status.code(), Some(0..=2)),
            "{:?} on {batch:?}: {}",
            output.status,
            stderr_of(&output)
        );
        let findings: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        for finding in findings.as_array().expect("an array") {
            if finding["severity"] == "error" {
                assert!(
                    finding["line"].is_u64() && finding["column"].is_u64(),
                    "{finding}"
                );
            }
        }
        let human = wf()
            .current_dir(project.path())
            .arg("validate")
            .args(batch)
            .output()
            .expect("wf runs");
        assert!(
            matches!(human.status.code(), Some(0..=2)),
            "{:?}",
            human.status
        );
    }
}
