//! Process lifecycle with real processes: timeouts, retries, Ctrl-C, leftovers, a killed wf,
//! output floods.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::processes::{
    env_marker, none_left_with_env, report, signal, spawn_wf, wait_for_file, wait_until,
    with_env_marker,
};
use crate::support::{Project, Ran, Test, report_task as task, stderr_of, wf_process};

#[test]
fn a_timeout_ends_the_whole_tree_even_a_grandchild_that_ignores_sigterm() {
    let mark = env_marker("timeout");
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
grace = "1s"
[tasks.stubborn]
run = "sh -c 'trap \"\" TERM; sleep 60' & sleep 60"
timeout = "1s"
env = {{ WF_TEST_MARKER = "{mark}" }}
"#
    ));
    let started = Instant::now();
    let output = project
        .wf(&["run", "--report", "report.json"])
        .output()
        .expect("wf runs");
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    assert!(
        took < Duration::from_secs(6),
        "timeout 1s + grace 1s took {took:?}"
    );
    assert!(
        none_left_with_env(&mark, Duration::from_secs(2)),
        "processes of the task survived"
    );
    let report = report(project.path());
    let stubborn = task(&report, "stubborn");
    assert_eq!(stubborn["status"], "timed_out");
    assert_eq!(
        stubborn["signal"], "SIGTERM",
        "the main process obeyed SIGTERM"
    );
    assert_eq!(
        stubborn["leftover_processes"], 0,
        "wf ended the whole group itself: nothing counts as left behind"
    );
}

#[test]
fn a_flaky_task_succeeds_on_its_third_attempt_after_doubling_delays() {
    let project = Project::with_manifest(
        r#"
[tasks.flaky]
run = "date +%s.%N >> attempts; echo attempt $WF_ATTEMPT; test $WF_ATTEMPT -ge 3"
retries = 3
retry_delay = "300ms"
"#,
    );
    let output = project
        .wf(&["run", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let times: Vec<f64> = project
        .read("attempts")
        .lines()
        .map(|l| l.parse().expect("time"))
        .collect();
    assert_eq!(times.len(), 3);
    let (first_gap, second_gap) = (times[1] - times[0], times[2] - times[1]);
    assert!(first_gap >= 0.3, "first retry after {first_gap}s");
    assert!(
        second_gap >= 0.6,
        "second retry after {second_gap}s (doubled)"
    );
    let report = report(project.path());
    assert_eq!(task(&report, "flaky")["attempts"], 3);
    let log = project.read(task(&report, "flaky")["log"].as_str().expect("log"));
    assert_eq!(
        log.matches("──── wf: attempt").count(),
        3,
        "a header per attempt:\n{log}"
    );
    assert!(log.contains("attempt 1\n") && log.contains("attempt 3\n"));
}

#[test]
fn sigint_ends_running_tasks_within_the_grace_period_and_writes_the_report() {
    let mark = env_marker("sigint");
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
jobs = 2
grace = "2s"
[tasks.long]
run = "sleep 60 & sleep 60"
matrix = {{ n = [1, 2] }}
env = {{ WF_TEST_MARKER = "{mark}" }}
[tasks.later]
run = "true"
deps = ["long"]
[tasks.queued]
run = "true"
matrix = {{ n = [1, 2, 3] }}
"#
    ));
    let mut child = spawn_wf(project.path(), &["run", "--report", "report.json"]);
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        with_env_marker(&mark).len() >= 4
    });
    let interrupted = Instant::now();
    signal(&child, libc::SIGINT);
    let status = child.wait().expect("wf ends");
    let took = interrupted.elapsed();
    assert_eq!(status.code(), Some(130));
    assert!(
        took < Duration::from_secs(2) + Duration::from_millis(1500),
        "took {took:?}"
    );
    assert!(
        none_left_with_env(&mark, Duration::from_secs(1)),
        "processes of the run survived Ctrl-C"
    );
    let report = report(project.path());
    assert_eq!(report["status"], "cancelled");
    assert_eq!(task(&report, "long[n=1]")["status"], "cancelled");
    assert_eq!(task(&report, "queued[n=3]")["status"], "not_run");
    assert_eq!(task(&report, "later")["status"], "skipped");
}

#[test]
fn a_second_sigint_kills_at_once() {
    let mark = env_marker("second-sigint");
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
grace = "30s"
[tasks.ignores_term]
run = "trap '' TERM; sleep 60"
env = {{ WF_TEST_MARKER = "{mark}" }}
"#
    ));
    let mut child = spawn_wf(project.path(), &["run", "--report", "report.json"]);
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        with_env_marker(&mark).len() >= 2
    });
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    signal(&child, libc::SIGINT);
    let status = child.wait().expect("wf ends");
    assert_eq!(status.code(), Some(130));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "the 30s grace was not cut short"
    );
    assert!(none_left_with_env(&mark, Duration::from_secs(1)));
    assert_eq!(
        task(&report(project.path()), "ignores_term")["signal"],
        "SIGKILL"
    );
}

/// Runs task `name` (`run = command`, grace 1s) with its processes marked by a fresh
/// `WF_TEST_MARKER`, checks that the run succeeded and returns the marker and the run.
fn run_marked(name: &str, command: &str) -> (String, Ran<'static>) {
    let mark = env_marker(name);
    let ran = Test::new(&format!(
        r#"
[workflow]
grace = "1s"
[tasks.{name}]
run = "{command}"
env = {{ WF_TEST_MARKER = "{mark}" }}
"#
    ))
    .args(&["run"])
    .status(0)
    .run();
    (mark, ran)
}

#[test]
fn a_task_that_daemonises_children_leaves_nothing_behind() {
    let (mark, ran) = run_marked(
        "daemonise",
        "setsid sleep 60 & sleep 60 & sleep 0.3; echo started",
    );
    assert!(
        none_left_with_env(&mark, Duration::from_secs(1)),
        "a daemonised child survived the run"
    );
    let report = &ran.report;
    // `sleep 60 &` stayed in the task's process group; `setsid sleep 60` left it.
    assert_eq!(
        task(report, "daemonise")["leftover_processes"],
        1,
        "{report:#}"
    );
    assert_eq!(report["stray_processes"], 1, "{report:#}");
    assert!(ran.stderr.contains("processes that tasks left running"));
}

#[test]
fn a_killed_wf_takes_its_children_and_the_next_run_ends_the_rest() {
    let mark = env_marker("sigkill");
    let project = Project::with_manifest(&format!(
        r#"
[tasks.long]
run = "sleep 60 & sleep 60"
env = {{ WF_TEST_MARKER = "{mark}" }}
[tasks.quick]
run = "true"
"#
    ));
    let mut child = spawn_wf(project.path(), &["run", "long"]);
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        with_env_marker(&mark).len() >= 3
    });
    let before = with_env_marker(&mark);
    signal(&child, libc::SIGKILL);
    child.wait().expect("reaped");
    // The task's main process dies with wf (parent-death signal); its background child does not.
    std::thread::sleep(Duration::from_millis(300));
    let after = with_env_marker(&mark);
    assert!(
        after.len() < before.len(),
        "the direct child should have died with wf: {before:?} → {after:?}"
    );
    assert!(
        !after.is_empty(),
        "a grandchild outlives a SIGKILLed wf until the next run"
    );
    let output = project.wf(&["run", "quick"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stderr_of(&output).contains("did not end normally; ended"),
        "{}",
        stderr_of(&output)
    );
    assert!(
        none_left_with_env(&mark, Duration::from_secs(2)),
        "the next run did not end the crashed run's processes"
    );
}

#[test]
fn a_second_concurrent_run_is_refused() {
    let project = Project::with_manifest("[tasks.slow]\nrun = \"sleep 3\"\n");
    let mut first = spawn_wf(project.path(), &["run"]);
    wait_for_file(
        &project.path().join(".wf/lock.wf.toml"),
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(200));
    let second = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr_of(&second).contains("another `wf run` of this workflow is in progress"),
        "{}",
        stderr_of(&second)
    );
    signal(&first, libc::SIGINT);
    first.wait().expect("ends");
}

/// Runs wf and returns its exit code and peak resident memory in MiB, read from its own
/// VmHWM while it runs (rusage would also count the test process's memory when the child was
/// forked from it).
fn run_measuring_memory(project: &Project, args: &[&str]) -> (i32, f64) {
    let mut child = spawn_wf_quiet(project, args);
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code().unwrap_or(-1), peak_kib as f64 / 1024.0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_wf_quiet(project: &Project, args: &[&str]) -> Child {
    wf_process(project.path(), args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts")
}

#[test]
fn a_flood_of_400_mb_passes_in_flat_memory_in_every_output_mode() {
    let project = Project::with_manifest(
        r#"
[tasks.flood]
run = "head -c 200000000 /dev/zero | tr '\\0' 'x'; head -c 200000000 /dev/zero | tr '\\0' 'y' >&2"
"#,
    );
    for mode in ["grouped", "stream", "quiet"] {
        let (code, peak_mib) = run_measuring_memory(&project, &["run", "--output", mode]);
        assert_eq!(code, 0, "{mode}");
        assert!(peak_mib < 100.0, "{mode}: wf peaked at {peak_mib:.0} MiB");
        let log = std::fs::read_dir(project.path().join(".wf/runs"))
            .expect("runs")
            .filter_map(Result::ok)
            .map(|run| run.path().join("logs/flood.log"))
            .find(|log| log.exists())
            .expect("the flood's log");
        assert_eq!(
            log.metadata().expect("log").len(),
            400_000_000,
            "{mode}: every byte kept"
        );
        std::fs::remove_dir_all(project.path().join(".wf/runs")).expect("clean up 400 MB");
    }
}

#[test]
fn a_timed_out_attempt_is_retried_with_a_fresh_timeout() {
    let project = Project::with_manifest(
        r#"
[tasks.slow_first]
run = "if [ $WF_ATTEMPT -ge 2 ]; then sleep 0.2; else sleep 10; fi"
timeout = "500ms"
retries = 1
retry_delay = "100ms"
"#,
    );
    let output = project
        .wf(&["run", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let report = report(project.path());
    let t = task(&report, "slow_first");
    assert_eq!(t["status"], "succeeded");
    assert_eq!(t["attempts"], 2);
}

#[test]
fn the_grace_flag_overrides_the_manifest() {
    let mark = env_marker("grace-flag");
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
grace = "30s"
[tasks.stubborn]
run = "trap '' TERM; sleep 60"
timeout = "200ms"
env = {{ WF_TEST_MARKER = "{mark}" }}
"#
    ));
    let started = Instant::now();
    let output = project
        .wf(&["run", "--grace", "500ms", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 30s grace of the manifest was used"
    );
    let report = report(project.path());
    assert_eq!(task(&report, "stubborn")["status"], "timed_out");
    assert_eq!(task(&report, "stubborn")["signal"], "SIGKILL");
    assert!(none_left_with_env(&mark, Duration::from_secs(1)));
}

#[test]
fn sigterm_and_sighup_cancel_like_sigint_and_the_store_records_it() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mark = env_marker("term-hup");
        let project = Project::with_manifest(&format!(
            "[workflow]\ngrace = \"1s\"\n[tasks.long]\nrun = \"sleep 60\"\nenv = {{ WF_TEST_MARKER = \"{mark}\" }}\n"
        ));
        let mut child = spawn_wf(project.path(), &["run", "--report", "report.json"]);
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            with_env_marker(&mark).len() >= 2
        });
        signal(&child, sig);
        assert_eq!(
            child.wait().expect("wf ends").code(),
            Some(130),
            "signal {sig}"
        );
        assert_eq!(report(project.path())["status"], "cancelled");
        assert!(none_left_with_env(&mark, Duration::from_secs(1)));
        let history = wf_process(project.path(), &["history", "--json"])
            .output()
            .expect("wf runs");
        let runs: Value = serde_json::from_slice(&history.stdout).expect("JSON");
        assert_eq!(
            runs[0]["status"], "cancelled",
            "recorded by the run itself: {runs:#}"
        );
    }
}

/// The log line about leftovers is the one docs/cli.md quotes, in the singular for one.
#[test]
fn the_leftover_line_in_the_log_is_the_documented_one() {
    let (mark, ran) = run_marked("bg", "sleep 60 & echo started");
    assert!(none_left_with_env(&mark, Duration::from_secs(2)));
    let bg = ran.task("bg");
    assert_eq!(bg["leftover_processes"], 1);
    let log = ran.project.read(bg["log"].as_str().expect("log path"));
    let line = "wf: 1 process of this task was still running after it ended; wf ended it";
    assert!(log.contains(line), "{log}");
    let docs =
        std::fs::read_to_string(crate::support::repo_root().join("docs/cli.md")).expect("docs");
    assert!(
        docs.contains(&format!("`{line}`")),
        "docs/cli.md lacks {line:?}"
    );
}
