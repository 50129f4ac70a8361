//! Pruning old runs: automatically at the start of `wf run`, and now with `wf gc`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, Ran, Test, count, stderr_of, stdout_of, wf_process};

/// `gen` has inputs and outputs (up to date after its first run); `step` has no outputs, so
/// only `--resume` skips it.
const MANIFEST: &str = r#"
[workflow]
keep_runs = 5
[tasks.gen]
run = "echo run >> gen.count; cat in.txt > out.txt"
inputs = ["in.txt"]
outputs = ["out.txt"]
[tasks.step]
run = "echo run >> step.count"
"#;

fn project(manifest: &str) -> Project {
    let project = Project::with_manifest(manifest);
    project.write("in.txt", "data");
    project
}

fn run_ok(project: &Project, args: &[&str]) -> std::process::Output {
    let mut full = vec!["run", "--output", "quiet"];
    full.extend_from_slice(args);
    let output = project.wf(&full).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    output
}

/// `wf gc ARGS`, checked to succeed.
fn gc_ok<'p>(project: &'p Project, args: &[&str]) -> Ran<'p> {
    Test::in_project(project)
        .args(&[&["gc"], args].concat())
        .status(0)
        .run()
}

/// How many lines of `text` start with `prefix`.
fn lines_starting(text: &str, prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

/// The run folders under `.wf/runs/`, sorted.
fn folders(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.path().join(".wf/runs"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The run ids `wf history` lists, newest first.
fn history(project: &Project) -> Vec<String> {
    let output = project
        .wf(&["history", "--json", "-n", "100"])
        .output()
        .expect("wf runs");
    let runs: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    runs.as_array()
        .expect("array")
        .iter()
        .map(|r| r["run_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn thirty_runs_keep_five_and_up_to_date_and_resume_still_work() {
    let project = project(MANIFEST);
    for _ in 0..30 {
        run_ok(&project, &[]);
    }
    let kept = history(&project);
    assert_eq!(kept.len(), 5, "{kept:?}");
    let mut sorted = kept.clone();
    sorted.sort();
    assert_eq!(
        folders(&project),
        sorted,
        "the folders are those of the kept runs"
    );
    assert_eq!(
        count(&project, "gen"),
        1,
        "gen ran once, then was up to date"
    );
    assert_eq!(count(&project, "step"), 30);

    // gen's only success was in the first run, long pruned: it is still up to date.
    let output = project
        .wf(&["run", "--resume", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let report: Value = serde_json::from_str(&project.read("report.json")).expect("report is JSON");
    let reason = |name: &str| {
        report["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| (t["status"].clone(), t["reason"].clone()))
            .expect("task")
    };
    assert_eq!(reason("gen").0, "up_to_date");
    assert_eq!(reason("step").0, "up_to_date");
    assert_eq!(
        reason("step").1,
        format!("done in run {} (--resume)", kept[0]).as_str()
    );
    assert_eq!(count(&project, "gen"), 1);
    assert_eq!(count(&project, "step"), 30);
    assert_eq!(history(&project).len(), 5);
}

#[test]
fn gc_keep_one_leaves_only_the_latest_run() {
    let project = project("[tasks.step]\nrun = \"true\"\n");
    for _ in 0..4 {
        run_ok(&project, &[]);
    }
    let latest = history(&project)[0].clone();
    let gc = gc_ok(&project, &["--keep", "1"]);
    assert_eq!(
        lines_starting(&gc.stdout, "removed run "),
        3,
        "{}",
        gc.stdout
    );
    assert!(
        gc.stderr
            .starts_with("wf gc: removed 3 runs (keeping the latest 1 run of wf.toml); freed "),
        "{}",
        gc.stderr
    );
    assert_eq!(folders(&project), std::slice::from_ref(&latest));
    assert_eq!(history(&project), [latest]);

    let again = project
        .wf(&["gc", "--keep", "1"])
        .output()
        .expect("wf runs");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        stderr_of(&again),
        "wf gc: nothing to remove (keeping the latest 1 run of wf.toml)\n"
    );
}

#[test]
fn gc_dry_run_removes_nothing() {
    let project = project("[tasks.step]\nrun = \"true\"\n");
    for _ in 0..3 {
        run_ok(&project, &[]);
    }
    let before = folders(&project);
    let gc = gc_ok(&project, &["--keep", "1", "--dry-run"]);
    assert_eq!(
        lines_starting(&gc.stdout, "would remove run "),
        2,
        "{}",
        gc.stdout
    );
    assert!(gc.stderr.starts_with("wf gc: would remove 2 runs"));
    assert_eq!(folders(&project), before);
    assert_eq!(history(&project).len(), 3);
}

#[test]
fn gc_of_a_manifest_never_run_creates_nothing() {
    let project = project("[tasks.step]\nrun = \"true\"\n");
    let output = project.wf(&["gc"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stderr_of(&output),
        "wf gc: nothing to remove: wf.toml has never run\n"
    );
    assert!(!project.path().join(".wf").exists());
}

#[test]
fn gc_refuses_bad_arguments_and_unreadable_manifests() {
    let project = project("[tasks.step]\nrun = \"true\"\n");
    let zero = project
        .wf(&["gc", "--keep", "0"])
        .output()
        .expect("wf runs");
    assert_eq!(zero.status.code(), Some(2));
    let missing = project.wf(&["gc", "nope.toml"]).output().expect("wf runs");
    assert_eq!(missing.status.code(), Some(2));
    let invalid = Project::with_manifest("[workflow]\nkeep_runs = 0\n[tasks.a]\nrun = \"true\"\n");
    let output = invalid.wf(&["validate"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout_of(&output).contains("`keep_runs` must be at least 1")
            || stderr_of(&output).contains("`keep_runs` must be at least 1"),
        "{}{}",
        stdout_of(&output),
        stderr_of(&output)
    );
}

#[test]
fn gc_removes_orphan_folders_but_not_a_run_in_progress() {
    let project = project("[tasks.slow]\nrun = \"sleep 1.5\"\n[tasks.quick]\nrun = \"true\"\n");
    run_ok(&project, &["quick"]);
    run_ok(&project, &["quick"]);
    // A folder the store knows nothing about, old enough to be no starting run's.
    let orphan = project.path().join(".wf/runs/20200101T000000Z-dead");
    std::fs::create_dir_all(orphan.join("logs")).expect("orphan");
    std::fs::File::open(&orphan)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3_600)))
        .expect("age the orphan");

    let live = wf_process(project.path(), &["run", "--output", "quiet", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wf starts");
    let until = Instant::now() + Duration::from_secs(10);
    let live_id = loop {
        let running = folders(&project).into_iter().find(|f| {
            project
                .path()
                .join(".wf/runs")
                .join(f)
                .join("running")
                .exists()
        });
        if let Some(id) = running {
            break id;
        }
        assert!(Instant::now() < until, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = project
        .wf(&["gc", "--keep", "1"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains("removed folder without a record 20200101T000000Z-dead"),
        "{stdout}"
    );
    assert!(!orphan.exists());
    assert!(folders(&project).contains(&live_id));

    let finished = live.wait_with_output().expect("the run ends");
    assert_eq!(finished.status.code(), Some(0));
    assert!(
        !stderr_of(&finished).contains("could not record"),
        "the run's record was removed under it: {}",
        stderr_of(&finished)
    );
    assert_eq!(history(&project)[0], live_id);
    assert!(
        project
            .path()
            .join(".wf/runs")
            .join(&live_id)
            .join("report.json")
            .exists()
    );
}
