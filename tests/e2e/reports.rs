//! The report files (`--junit`, `--html`) and live progress: JUnit XML checked against an
//! XSD with xmllint and parsed back, the HTML timeline loaded in headless Chromium, the
//! status line in a pseudo-terminal, the heartbeat without one, and JSON, JUnit and HTML
//! compared on one mixed run.
//!
//! xmllint (`libxml2-utils`), chromium and script (`bsdutils`) are installed by
//! `scripts/ci-deps.sh`. A test whose tool is missing says so loudly and passes, except in CI
//! (`CI=true`), where it fails.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::Value;

use crate::support::{Project, in_terminal, repo_root, stdout_of, terminal_lines, tool};

/// Log bytes no XML or HTML may carry raw: NUL, escapes, invalid UTF-8, a CDATA end, markup
/// that would run script.
const NASTY_LOG: &[u8] = b"nul\x00 esc\x1b[31m red\x1b[0m ]]> <script>document.documentElement.setAttribute('data-pwned','log')</script> <img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\"> \xff\xfe\xc3 end\n";

/// Success, failure (with a retry), timeout, retry that succeeds, skip by a failed
/// dependency, skip by `when`, lock wait, allowed failure, and (on a second run) up to date.
const MIXED: &str = r#"
[workflow]
name = "mixed"
jobs = 3

[locks]
db = 1

[tasks.hold]
run = "sleep 0.4"
locks = ["db"]
priority = 10

[tasks.wait]
run = "echo waited"
locks = ["db"]
priority = 10

[tasks.ok]
run = "echo hello"
description = "says \"hi\" </script><script>document.documentElement.setAttribute('data-pwned','description')</script>"

[tasks.make]
run = "echo made > made.txt"
outputs = ["made.txt"]

[tasks.flaky]
run = "if [ \"$WF_ATTEMPT\" = 1 ]; then echo first; exit 3; fi; echo second"
retries = 2
retry_delay = "100ms"

[tasks.bad]
run = "cat nasty.bin; exit 2"
deps = ["ok"]
retries = 1
retry_delay = "50ms"

[tasks.slow]
run = "sleep 5"
timeout = "300ms"

[tasks.allowed]
run = "exit 7"
allow_failure = true

[tasks.after]
run = "true"
deps = ["bad"]

[tasks.notify]
run = "echo only on failure"
deps = ["ok"]
when = "failure"

[tasks.quoted]
run = "true"
matrix = { q = ["\"q\" </script><script>document.documentElement.setAttribute('data-pwned','name')</script>"] }
"#;

/// A project with the mixed workflow, run twice (the second run finds `make` up to date),
/// each run writing JUnit and HTML; returns the project and the second run's report.
fn mixed_run() -> (Project, Value) {
    let project = Project::with_manifest(MIXED);
    std::fs::write(project.path().join("nasty.bin"), NASTY_LOG).expect("write payload");
    for _ in 0..2 {
        let output = project
            .wf(&[
                "run",
                "-k",
                "--grace",
                "200ms",
                "--report",
                "out/report.json",
                "--junit",
                "out/junit.xml",
                "--html",
                "out/timeline.html",
            ])
            .output()
            .expect("wf runs");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
    }
    let report = serde_json::from_str(&project.read("out/report.json")).expect("JSON report");
    (project, report)
}

fn tasks(report: &Value) -> &Vec<Value> {
    report["tasks"].as_array().expect("tasks")
}

fn find<'a>(report: &'a Value, name: &str) -> &'a Value {
    tasks(report)
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

/// The JSON embedded in a timeline page.
fn page_data(html: &str) -> Value {
    let open = r#"<script type="application/json" id="wf-data">"#;
    let start = html.find(open).expect("data script") + open.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end]).expect("page data is JSON")
}

#[test]
fn the_mixed_run_reports_every_kind_of_outcome_per_attempt() {
    let (_project, report) = mixed_run();
    let status = |name: &str| find(&report, name)["status"].as_str().map(str::to_owned);
    assert_eq!(status("make").as_deref(), Some("up_to_date"));
    assert_eq!(status("flaky").as_deref(), Some("succeeded"));
    assert_eq!(status("bad").as_deref(), Some("failed"));
    assert_eq!(status("slow").as_deref(), Some("timed_out"));
    assert_eq!(status("after").as_deref(), Some("skipped"));
    assert_eq!(status("notify").as_deref(), Some("skipped"));
    assert_eq!(status("allowed").as_deref(), Some("failed"));
    let flaky = &find(&report, "flaky")["attempts_detail"];
    assert_eq!(flaky.as_array().map(Vec::len), Some(2));
    assert_eq!(flaky[0]["status"], "failed");
    assert_eq!(flaky[0]["exit_code"], 3);
    assert_eq!(flaky[1]["status"], "succeeded");
    assert_eq!(flaky[1]["retry_delay_s"], 0.1);
    assert!(
        flaky[1]["start_s"].as_f64() >= flaky[0]["end_s"].as_f64().map(|end| end + 0.09),
        "the retry starts after its delay: {flaky}"
    );
    let wait = &find(&report, "wait")["attempts_detail"][0];
    assert!(
        wait["lock_wait_s"].as_f64().is_some_and(|w| w >= 0.3),
        "`wait` waited for `hold`'s lock: {wait}"
    );
    assert_eq!(
        find(&report, "wait")["lock_wait_s"],
        wait["lock_wait_s"],
        "one attempt has all the task's lock wait"
    );
    let slow = &find(&report, "slow")["attempts_detail"][0];
    assert_eq!(slow["status"], "timed_out");
    assert_eq!(slow["signal"], "SIGTERM");
    assert!(
        slow["worker"]
            .as_u64()
            .is_some_and(|w| (1..=3).contains(&w))
    );
    assert_eq!(find(&report, "ok")["command"], "echo hello");
}

#[test]
fn junit_validates_against_the_xsd_and_parses_back_whatever_the_logs_hold() {
    let (project, report) = mixed_run();
    let junit = project.path().join("out/junit.xml");
    let xml = std::fs::read(&junit).expect("junit written");
    let text = String::from_utf8(xml).expect("the XML is UTF-8");
    for raw in ['\u{0}', '\u{1b}'] {
        assert!(!text.contains(raw), "raw {raw:?} in the XML");
    }
    assert!(
        !text.contains("<script>") && !text.contains("]]>"),
        "markup from a log is escaped"
    );
    assert!(
        text.contains("&lt;script&gt;") && text.contains('\u{fffd}'),
        "the log is there, escaped and with invalid UTF-8 replaced"
    );
    let back = Report::deserialize_from_str(&text).expect("quick-junit reads it back");
    assert_eq!(back.test_suites.len(), 1);
    assert_eq!(back.test_suites[0].test_cases.len(), tasks(&report).len());
    if tool("xmllint") {
        let xsd = repo_root().join("tests/fixtures/junit.xsd");
        let check = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(&junit)
            .output()
            .expect("xmllint runs");
        assert!(
            check.status.success(),
            "xmllint rejects the JUnit XML: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        // The XSD is not a rubber stamp: it rejects a malformed count.
        let broken = project.path().join("out/broken.xml");
        std::fs::write(
            &broken,
            text.replacen(r#"tests="11""#, r#"tests="eleven""#, 1),
        )
        .expect("write");
        let rejected = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(&broken)
            .output()
            .expect("xmllint runs");
        assert!(
            !rejected.status.success(),
            "the XSD accepts tests=\"eleven\""
        );
    }
}

/// The JUnit outcome the JSON report implies for a task: (kind, type).
fn expected_case(task: &Value) -> (&'static str, String) {
    let allowed = task["allow_failure"] == true;
    match task["status"].as_str().expect("status") {
        "succeeded" => ("success", String::new()),
        "failed" | "timed_out" if allowed => ("skipped", "allowed_failure".to_owned()),
        "timed_out" => ("failure", "timeout".to_owned()),
        "failed" if task["signal"].is_string() => ("failure", "signal".to_owned()),
        "failed" => ("failure", "exit_code".to_owned()),
        other => ("skipped", other.to_owned()),
    }
}

#[test]
fn json_junit_and_html_tell_the_same_run() {
    let (project, report) = mixed_run();
    let junit = Report::deserialize_from_str(&project.read("out/junit.xml")).expect("JUnit parses");
    let suite = &junit.test_suites[0];
    let page = page_data(&project.read("out/timeline.html"));
    assert_eq!(
        suite.name.as_str(),
        report["workflow"].as_str().expect("name")
    );
    assert_eq!(page["workflow"], report["workflow"]);
    assert_eq!(page["run_id"], report["run_id"]);
    assert_eq!(page["status"], report["status"]);
    assert_eq!(page["critical_path"], report["critical_path"]);
    let failing = tasks(&report)
        .iter()
        .filter(|t| expected_case(t).0 == "failure")
        .count();
    assert_eq!(suite.failures, failing);
    assert_eq!(suite.tests, tasks(&report).len());
    assert_eq!(
        suite.skipped,
        tasks(&report)
            .iter()
            .filter(|t| expected_case(t).0 == "skipped")
            .count()
    );
    let page_tasks = page["tasks"].as_array().expect("page tasks");
    assert_eq!(page_tasks.len(), tasks(&report).len());
    for (task, shown) in tasks(&report).iter().zip(page_tasks) {
        let name = task["name"].as_str().expect("name");
        // HTML: the same task, status, attempts and per-attempt detail.
        assert_eq!(shown["name"], task["name"]);
        assert_eq!(shown["status"], task["status"], "{name}");
        assert_eq!(shown["attempts"], task["attempts"], "{name}");
        assert_eq!(shown["detail"], task["attempts_detail"], "{name}");
        assert_eq!(shown["lock_wait_s"], task["lock_wait_s"], "{name}");
        // JUnit: one test case per task with the implied outcome, time and retries.
        let case = suite
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no test case {name}"));
        let duration = task["duration_s"].as_f64().unwrap_or(0.0);
        let time = case.time.map_or(0.0, |t| t.as_secs_f64());
        assert!(
            (time - duration).abs() < 0.0015,
            "{name}: {time} vs {duration}"
        );
        let attempts = task["attempts"].as_u64().expect("attempts") as usize;
        let (kind, ty) = expected_case(task);
        match &case.status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(kind, "success", "{name}");
                assert_eq!(flaky_runs.len(), attempts.saturating_sub(1), "{name}");
            }
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                ty: got,
                reruns,
                message,
                ..
            } => {
                assert_eq!(kind, "failure", "{name}");
                assert_eq!(got.as_deref(), Some(ty.as_str()), "{name}");
                assert_eq!(reruns.runs.len(), attempts.saturating_sub(1), "{name}");
                assert_eq!(message.as_deref(), task["reason"].as_str(), "{name}");
            }
            TestCaseStatus::Skipped { ty: got, .. } => {
                assert_eq!(kind, "skipped", "{name}");
                assert_eq!(got.as_deref(), Some(ty.as_str()), "{name}");
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn report_writes_junit_and_html_for_a_past_run() {
    let (project, report) = mixed_run();
    let run_id = report["run_id"].as_str().expect("run id");
    let output = project
        .wf(&[
            "report",
            run_id,
            "--junit",
            "again/junit.xml",
            "--html",
            "again/timeline.html",
        ])
        .output()
        .expect("wf report runs");
    assert!(output.status.success(), "{output:?}");
    // Made from the same report.json and logs, the files are the same as the run's.
    assert_eq!(
        project.read("again/junit.xml"),
        project.read("out/junit.xml")
    );
    assert_eq!(
        project.read("again/timeline.html"),
        project.read("out/timeline.html")
    );
}

/// Loads `page` (with `fragment`) in headless Chromium and returns the DOM after its scripts
/// ran, and how long Chromium took.
fn chromium_dom(page: &Path, fragment: &str) -> (String, Duration) {
    let started = Instant::now();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1280,900",
            "--dump-dom",
        ])
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout_of(&output), started.elapsed())
}

/// The `<html>` element's opening tag in a dumped DOM (where the page's markers are).
fn html_tag(dom: &str) -> &str {
    let start = dom.find("<html").expect("html element");
    &dom[start..start + dom[start..].find('>').expect("tag end")]
}

#[test]
fn the_timeline_renders_in_chromium_and_nothing_from_a_task_runs_as_script() {
    let (project, _report) = mixed_run();
    let page = project.path().join("out/timeline.html");
    let html = project.read("out/timeline.html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from the network"
    );
    if !tool("chromium") {
        return;
    }
    let (dom, _) = chromium_dom(&page, "#task=bad");
    let tag = html_tag(&dom);
    assert!(
        tag.contains(r#"data-wf-rendered="ok""#),
        "the page did not finish drawing: {tag}"
    );
    assert!(!tag.contains("data-wf-error"), "script error: {tag}");
    assert!(
        !dom.contains(r#"data-pwned=""#),
        "a task's text ran as script: {tag}"
    );
    for name in [
        "hold", "wait", "ok", "make", "flaky", "bad", "slow", "allowed", "after", "notify",
    ] {
        assert!(
            dom.contains(&format!(r#"<td class="name">{name}</td>"#)),
            "the task table shows {name}"
        );
    }
    assert!(
        dom.contains("<td class=\"name\">quoted[q=\"q\" &lt;/script&gt;&lt;script&gt;"),
        "a name with markup is shown as text"
    );
    // `#task=bad` opened its details: the end of its log, as text.
    let details = &dom[dom.find(r#"id="details""#).expect("details")..];
    assert!(
        details.contains(r#"data-task="bad""#),
        "details of bad: {details:.300}"
    );
    assert!(
        details.contains("&lt;script&gt;document.documentElement"),
        "the log shows markup as text"
    );
}

/// A report of `count` tasks on 8 slots, each with one attempt, as a past run.
fn big_report(count: usize) -> Value {
    let slots = 8;
    let tasks: Vec<Value> = (0..count)
        .map(|i| {
            let start = (i / slots) as f64 * 0.05;
            let status = if i % 97 == 0 { "failed" } else { "succeeded" };
            serde_json::json!({
                "name": format!("t{i:05}"),
                "status": status,
                "attempts": 1,
                "exit_code": if status == "failed" { 1 } else { 0 },
                "signal": null,
                "start_s": start,
                "end_s": start + 0.04,
                "duration_s": 0.04,
                "lock_wait_s": 0.0,
                "worker": i % slots + 1,
                "log": null,
                "reason": if status == "failed" { Value::from("exited with code 1") } else { Value::Null },
                "command": format!("run-step --index {i}"),
                "attempts_detail": [{
                    "number": 1, "start_s": start, "end_s": start + 0.04, "duration_s": 0.04,
                    "worker": i % slots + 1, "exit_code": if status == "failed" { 1 } else { 0 },
                    "signal": null, "status": status,
                    "reason": if status == "failed" { Value::from("exited with code 1") } else { Value::Null },
                    "lock_wait_s": 0.0, "retry_delay_s": 0.0
                }]
            })
        })
        .collect();
    let duration = (count / slots) as f64 * 0.05 + 0.05;
    serde_json::json!({
        "run_id": "20260101T000000Z-b16b",
        "manifest": "wf.toml",
        "workflow": "big",
        "status": "failed",
        "jobs": slots,
        "executor": "local",
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-01T00:01:03.000Z",
        "duration_s": duration,
        "tasks": tasks,
        "critical_path": ["t00000", "t00008"],
        "stray_processes": 0
    })
}

#[test]
fn a_timeline_of_ten_thousand_tasks_renders_within_bounds() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    project.write(
        ".wf/runs/20260101T000000Z-b16b/report.json",
        &big_report(10_000).to_string(),
    );
    let output = project
        .wf(&[
            "report", "latest", "--html", "big.html", "--junit", "big.xml",
        ])
        .output()
        .expect("wf report runs");
    assert!(output.status.success(), "{output:?}");
    let junit = Report::deserialize_from_str(&project.read("big.xml")).expect("JUnit parses");
    assert_eq!(junit.tests, 10_000);
    assert_eq!(junit.failures, 104);
    if !tool("chromium") {
        return;
    }
    let (dom, took) = chromium_dom(&project.path().join("big.html"), "");
    let tag = html_tag(&dom);
    assert!(tag.contains(r#"data-wf-rendered="ok""#), "{tag}");
    assert!(!tag.contains("data-wf-error"), "{tag}");
    let render_ms: f64 = tag
        .split(r#"data-wf-render-ms=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|ms| ms.parse().ok())
        .expect("render time marker");
    eprintln!(
        "10,000-task timeline: drawn in {render_ms:.0} ms by its script; chromium took {:.2} s in all",
        took.as_secs_f64()
    );
    assert!(render_ms < 20_000.0, "drawing took {render_ms} ms");
    assert!(took < Duration::from_secs(20), "chromium took {took:?}");
    // The table is built a page at a time.
    assert!(dom.contains(r#"<td class="name">t00099</td>"#));
    assert!(!dom.contains(r#"<td class="name">t00100</td>"#));
    assert!(dom.contains("1–100 of 10000"));
}

const SLOWISH: &str = r#"
[workflow]
name = "slowish"
jobs = 2

[tasks.a]
run = "sleep 1.2; echo a-done"

[tasks.b]
run = "sleep 0.5; echo b-done"

[tasks.c]
run = "sleep 0.5; echo c-done"
deps = ["b"]
"#;

#[test]
fn on_a_terminal_a_status_line_is_redrawn_below_intact_lines() {
    if !tool("script") {
        return;
    }
    let project = Project::with_manifest(SLOWISH);
    let text = in_terminal(&project, "run --color never");
    assert!(
        text.contains("\r\u{1b}[2K"),
        "the status line is redrawn in place: {text:?}"
    );
    assert!(
        text.contains("[0/3] 2 running: "),
        "the status line names what runs: {text:?}"
    );
    assert!(text.contains("[1/3]"), "{text:?}");
    assert!(
        !text.contains("\u{1b}[3"),
        "--color never: no colour: {text:?}"
    );
    // What is printed over a cleared status line is a whole line.
    let lines = terminal_lines(&text);
    // (on a terminal a task's output sits behind a gutter)
    for expected in ["│ b-done", "│ c-done", "│ a-done"] {
        assert!(lines.contains(&expected), "{expected} intact in {lines:?}");
    }
    for task in ["a", "b", "c"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("✓ {task} "))),
            "✓ {task} intact in {lines:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("wf: succeeded in ")),
        "{lines:?}"
    );
}

#[test]
fn without_a_terminal_a_heartbeat_tells_what_runs_during_silence() {
    let project = Project::with_manifest(
        "[workflow]\njobs = 2\n[tasks.sleepy]\nrun = \"sleep 1.3; echo awake\"\n[tasks.quick]\nrun = \"echo quick\"\n",
    );
    let output = project
        .wf(&["run"])
        .env("WF_HEARTBEAT_SECS", "0.3")
        .output()
        .expect("wf runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = stdout_of(&output);
    assert!(!stdout.contains('\r'), "no redraws without a terminal");
    let beats: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("wf: [1/2] 1 running: sleepy "))
        .collect();
    assert!(
        (2..=6).contains(&beats.len()),
        "about one heartbeat per 0.3 s of silence: {stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let done = lines
        .iter()
        .position(|l| l.starts_with("✓ sleepy "))
        .expect("sleepy's line");
    assert_eq!(lines[done + 1], "awake", "a task's output follows its line");
    // Without the variable, the heartbeat waits 30 s: none in a short run.
    let quiet = project.wf(&["run"]).output().expect("wf runs");
    assert!(!stdout_of(&quiet).contains("running:"));
}
