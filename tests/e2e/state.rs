//! The state store: up-to-date checks, `--resume`, `--force`, why tasks run, history.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, Test, count, stderr_of, stdout_of, wf_process};

fn run(project: &Project, args: &[&str]) -> (i32, Value) {
    let ran = Test::in_project(project)
        .args(&[&["run", "--output", "quiet"], args].concat())
        .run();
    (ran.status, ran.report)
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_owned(),
                t["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn status_of(report: &Value, name: &str) -> String {
    statuses(report)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap_or_default()
}

/// How many times a task appended to its counter file.
/// A pipeline whose tasks count their runs: a → b → c, and x on its own. `c` is the slow one,
/// so that learnt durations order the plan the same way on every machine.
const PIPELINE: &str = r#"
[tasks.a]
run = "echo run >> a.count; cat a.in > a.out"
inputs = ["a.in"]
outputs = ["a.out"]
[tasks.b]
run = "echo run >> b.count; cat a.out > b.out"
deps = ["a"]
inputs = ["a.out"]
outputs = ["b.out"]
[tasks.c]
run = "echo run >> c.count; cat b.out > c.out; sleep 0.2"
deps = ["b"]
inputs = ["b.out"]
outputs = ["c.out"]
[tasks.x]
run = "echo run >> x.count; cat x.in > x.out"
inputs = ["x.in"]
outputs = ["x.out"]
"#;

fn pipeline() -> Project {
    let project = Project::with_manifest(PIPELINE);
    project.write("a.in", "a1");
    project.write("x.in", "x1");
    project
}

/// Makes sure a rewritten file gets a new modification time even on coarse clocks.
fn rewrite(project: &Project, name: &str, text: &str) {
    std::thread::sleep(Duration::from_millis(20));
    project.write(name, text);
}

#[test]
fn a_second_run_skips_everything_up_to_date() {
    let project = pipeline();
    let (code, report) = run(&project, &[]);
    assert_eq!(code, 0);
    assert!(statuses(&report).iter().all(|(_, s)| s == "succeeded"));
    let (code, report) = run(&project, &[]);
    assert_eq!(code, 0);
    assert!(
        statuses(&report).iter().all(|(_, s)| s == "up_to_date"),
        "{report:#}"
    );
    for name in ["a", "b", "c", "x"] {
        assert_eq!(count(&project, name), 1, "{name} ran again");
    }
}

#[test]
fn a_changed_input_reruns_exactly_its_downstream() {
    let project = pipeline();
    run(&project, &[]);
    rewrite(&project, "a.in", "a2");
    let (code, report) = run(&project, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&report),
        [
            ("a", "succeeded"),
            ("b", "succeeded"),
            ("c", "succeeded"),
            ("x", "up_to_date")
        ]
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
    );
    assert_eq!(project.read("c.out"), "a2");
}

#[test]
fn a_missing_output_reruns_its_task_and_what_depends_on_it() {
    let project = pipeline();
    run(&project, &[]);
    std::fs::remove_file(project.path().join("b.out")).expect("remove");
    let (_, report) = run(&project, &[]);
    assert_eq!(status_of(&report, "a"), "up_to_date");
    assert_eq!(status_of(&report, "b"), "succeeded");
    assert_eq!(status_of(&report, "c"), "succeeded");
    assert_eq!((count(&project, "a"), count(&project, "b")), (1, 2));
}

#[test]
fn force_runs_everything() {
    let project = pipeline();
    run(&project, &[]);
    let (_, report) = run(&project, &["--force"]);
    assert!(statuses(&report).iter().all(|(_, s)| s == "succeeded"));
    assert_eq!(count(&project, "x"), 2);
}

#[test]
fn up_to_date_checks_work_per_matrix_expansion() {
    let project = Project::with_manifest(
        r#"
[tasks.convert]
run = "echo {{ matrix.n }} >> runs; cat in-{{ matrix.n }}.txt > out-{{ matrix.n }}.txt"
matrix = { n = [1, 2, 3] }
inputs = ["in-{{ matrix.n }}.txt"]
outputs = ["out-{{ matrix.n }}.txt"]
"#,
    );
    for n in 1..=3 {
        project.write(&format!("in-{n}.txt"), "v1");
    }
    // One slot, so the expansions append to `runs` in a fixed order.
    run(&project, &["-j", "1"]);
    let (_, report) = run(&project, &[]);
    assert!(statuses(&report).iter().all(|(_, s)| s == "up_to_date"));
    rewrite(&project, "in-2.txt", "v2");
    let (_, report) = run(&project, &[]);
    assert_eq!(status_of(&report, "convert[n=1]"), "up_to_date");
    assert_eq!(status_of(&report, "convert[n=2]"), "succeeded");
    assert_eq!(status_of(&report, "convert[n=3]"), "up_to_date");
    assert_eq!(project.read("runs"), "1\n2\n3\n2\n");
}

#[test]
fn resume_after_a_failed_run_skips_what_succeeded() {
    let project = Project::with_manifest(
        r#"
[tasks.a]
run = "echo run >> a.count"
[tasks.b]
run = "echo run >> b.count"
deps = ["a"]
[tasks.c]
run = "echo run >> c.count; test -e fixed"
deps = ["b"]
"#,
    );
    let (code, report) = run(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "c"), "failed");
    project.write("fixed", "");
    let (code, report) = run(&project, &["--resume"]);
    assert_eq!(code, 0);
    assert_eq!(status_of(&report, "a"), "up_to_date");
    assert_eq!(status_of(&report, "b"), "up_to_date");
    assert_eq!(status_of(&report, "c"), "succeeded");
    let reason = report["tasks"][0]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("done in run ") && reason.ends_with("(--resume)"),
        "{reason}"
    );
    assert_eq!(
        (
            count(&project, "a"),
            count(&project, "b"),
            count(&project, "c")
        ),
        (1, 1, 2)
    );
}

#[test]
fn resume_after_wf_was_killed_reruns_at_most_the_task_in_flight() {
    let project = Project::with_manifest(
        r#"
[tasks.a]
run = "echo run >> a.count"
[tasks.b]
run = "echo run >> b.count; test -e quick || sleep 30"
deps = ["a"]
[tasks.c]
run = "echo run >> c.count"
deps = ["b"]
"#,
    );
    let mut child = wf_process(project.path(), &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts");
    let until = Instant::now() + Duration::from_secs(10);
    while count(&project, "b") == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGKILL) };
    child.wait().expect("reaped");
    project.write("quick", "");
    let (code, report) = run(&project, &["--resume"]);
    assert_eq!(code, 0);
    assert_eq!(
        status_of(&report, "a"),
        "up_to_date",
        "a finished before the kill"
    );
    assert_eq!(status_of(&report, "b"), "succeeded");
    assert_eq!(
        (
            count(&project, "a"),
            count(&project, "b"),
            count(&project, "c")
        ),
        (1, 2, 1)
    );
    let history = project
        .wf(&["history", "--json"])
        .output()
        .expect("wf runs");
    let runs: Value = serde_json::from_slice(&history.stdout).expect("JSON");
    assert_eq!(
        runs[1]["status"], "cancelled",
        "the killed run is recorded as abandoned: {runs:#}"
    );
}

#[test]
fn plan_and_dry_run_say_why_each_task_runs() {
    let project = pipeline();
    let before = project.wf(&["plan", "-j", "2"]).output().expect("wf runs");
    run(&project, &[]);
    rewrite(&project, "x.in", "x2");
    std::fs::remove_file(project.path().join("c.out")).expect("remove");
    let after = project
        .wf(&["run", "-n", "-j", "2"])
        .output()
        .expect("wf runs");
    assert_eq!(after.status.code(), Some(0));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\(~\??[0-9.]+m?s", "(~[duration]");
    settings.add_filter(r"wall time: ~[0-9.]+m?s", "wall time: ~[duration]");
    settings.add_filter(r"run [0-9TZ]+-[0-9a-f]{8}", "run [run id]");
    // Learnt memory and the "auto" budget depend on the machine.
    settings.add_filter(r", ~[0-9.]+ [kMGT]?B\)", ", ~[size])");
    settings.add_filter(r"memory budget: [0-9.]+ [kMGT]?B", "memory budget: [size]");
    settings.bind(|| {
        insta::assert_snapshot!("plan_first_run", stdout_of(&before));
        insta::assert_snapshot!("plan_after_changes", stdout_of(&after));
    });
    assert!(
        !project.path().join("c.out").exists(),
        "a dry run runs nothing"
    );
}

#[test]
fn a_task_that_does_not_create_its_outputs_fails() {
    let project =
        Project::with_manifest("[tasks.lazy]\nrun = \"true\"\noutputs = [\"made.txt\"]\n");
    let (code, report) = run(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "lazy"), "failed");
    assert_eq!(
        report["tasks"][0]["reason"],
        "exited 0 but did not create made.txt"
    );
}

#[test]
fn a_corrupt_state_store_is_a_clear_error_with_a_way_out() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"touch ran\"\n");
    project.write(
        ".wf/state.db",
        "this is not a database, just some bytes that are long enough to look like one?",
    );
    let output = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("wf::state_corrupt"), "{stderr}");
    assert!(
        stderr.contains("mv .wf/state.db .wf/state.db.broken"),
        "{stderr}"
    );
    assert!(!project.path().join("ran").exists(), "nothing started");
}

#[test]
fn history_and_report_show_past_runs() {
    let project = pipeline();
    run(&project, &[]);
    run(&project, &[]);
    let history = project.wf(&["history"]).output().expect("wf runs");
    let text = stdout_of(&history);
    assert_eq!(text.lines().count(), 3, "a header and two runs:\n{text}");
    assert!(
        text.contains("4 up to date") && text.contains("4 succeeded"),
        "{text}"
    );
    let latest = project.wf(&["report", "--json"]).output().expect("wf runs");
    let report: Value = serde_json::from_slice(&latest.stdout).expect("JSON");
    assert_eq!(status_of(&report, "a"), "up_to_date");
    let summary = project.wf(&["report"]).output().expect("wf runs");
    assert_eq!(summary.status.code(), Some(0));
    assert!(
        stdout_of(&summary).contains("a up_to_date"),
        "{}",
        stdout_of(&summary)
    );
}

#[test]
fn a_second_run_schedules_better_with_learnt_durations() {
    // Declared first, the short tasks fill both slots while `long` waits; once wf has learnt
    // that `long` takes longest, it starts it first and the run ends sooner.
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 2
[tasks.short]
run = "sleep 0.25"
matrix = { n = [1, 2, 3, 4] }
[tasks.long]
run = "sleep 1"
"#,
    );
    let start_of_long = |report: &Value| {
        report["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["name"] == "long")
            .and_then(|t| t["start_s"].as_f64())
            .expect("long started")
    };
    let (_, first) = run(&project, &[]);
    assert!(
        start_of_long(&first) >= 0.2,
        "unit weights: declaration order first"
    );
    let (_, second) = run(&project, &["--force"]);
    assert!(
        start_of_long(&second) < 0.2,
        "learnt durations: the longest task first\n{second:#}"
    );
    let (first_wall, second_wall) = (
        first["duration_s"].as_f64().unwrap_or(0.0),
        second["duration_s"].as_f64().unwrap_or(0.0),
    );
    assert!(
        second_wall < first_wall,
        "second run {second_wall}s, first {first_wall}s"
    );
}

#[test]
fn resume_reruns_a_task_whose_fingerprint_changed() {
    let manifest = |command: &str| {
        format!(
            "[tasks.a]\nrun = \"{command}\"\n[tasks.b]\nrun = \"test -e fixed\"\ndeps = [\"a\"]\n"
        )
    };
    let project = Project::with_manifest(&manifest("echo run >> a.count"));
    let (code, _) = run(&project, &[]);
    assert_eq!(code, 1);
    project.write("wf.toml", &manifest("echo run2 >> a.count"));
    project.write("fixed", "");
    let (code, report) = run(&project, &["--resume"]);
    assert_eq!(code, 0);
    assert_eq!(
        status_of(&report, "a"),
        "succeeded",
        "its command changed: resume must not skip it"
    );
    assert_eq!(count(&project, "a"), 2);
}

#[test]
fn history_resume_and_report_are_scoped_to_their_manifest() {
    let project = Project::new();
    project.write("a.toml", "[tasks.a]\nrun = \"echo run >> a.count\"\n[tasks.b]\nrun = \"test -e fixed\"\ndeps = [\"a\"]\n");
    project.write("other.toml", "[tasks.a]\nrun = \"true\"\n");
    let (code, first) = run(&project, &["a.toml"]);
    assert_eq!(code, 1);
    run(&project, &["other.toml"]);
    project.write("fixed", "");
    let (code, report) = run(&project, &["a.toml", "--resume"]);
    assert_eq!(code, 0);
    assert_eq!(
        status_of(&report, "a"),
        "up_to_date",
        "the previous run of a.toml, not of other.toml"
    );
    let history = |manifest: &str| -> Value {
        let output = project
            .wf(&["history", manifest, "--json"])
            .output()
            .expect("wf runs");
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    assert_eq!(history("a.toml").as_array().map(Vec::len), Some(2));
    assert_eq!(history("other.toml").as_array().map(Vec::len), Some(1));
    let first_id = first["run_id"].as_str().expect("run id");
    let output = project
        .wf(&[
            "report",
            &first_id[..first_id.len() - 2],
            "-f",
            "a.toml",
            "--json",
        ])
        .output()
        .expect("wf runs");
    let old: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(old["run_id"], first_id);
    assert_eq!(old["status"], "failed");
}

#[test]
fn a_plan_in_a_folder_that_never_ran_still_reads_the_inputs() {
    // No state store yet: nothing to compare fingerprints with, but an input that cannot be
    // read is reported as a run reports it. (/proc/self/mem cannot be read at offset 0, even
    // by root.)
    let project = Project::with_manifest(
        "[tasks.load]\nrun = \"true\"\ninputs = [\"/proc/self/mem\"]\n[tasks.next]\nrun = \"true\"\ndeps = [\"load\"]\n",
    );
    for args in [&["plan"][..], &["run", "-n"][..]] {
        let output = project.wf(args).output().expect("wf runs");
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot read input") && stderr.contains("/proc/self/mem"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !project.path().join(".wf").exists(),
        "a preview creates no store"
    );
    project.write("wf.toml", "[tasks.load]\nrun = \"true\"\ninputs = [\"in.txt\"]\noutputs = [\"out.txt\"]\n[tasks.next]\nrun = \"true\"\ndeps = [\"load\"]\n");
    let output = project.wf(&["plan"]).output().expect("wf runs");
    let stdout = stdout_of(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stdout.contains("load") && stdout.contains("never ran"),
        "{stdout}"
    );
    assert!(stdout.contains("dependency load will run"), "{stdout}");
}
