//! Memory and counted resources: what each attempt used, the memory budget, learnt needs,
//! counted resources never over capacity.

use serde_json::Value;

use crate::support::{Project, stdout_of};

/// A task that really allocates and touches 200 MiB, then holds it for a second.
const ALLOC: &str = "python3 -c \"b=bytearray(200*1024*1024); import time; time.sleep(1)\"";
const MIB_200: f64 = 200.0 * 1024.0 * 1024.0;

fn report(project: &Project) -> Value {
    let runs = project.path().join(".wf/runs");
    let mut ids: Vec<String> = std::fs::read_dir(&runs)
        .expect("runs folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    let last = ids.last().expect("a run");
    let text = std::fs::read_to_string(runs.join(last).join("report.json")).expect("report");
    serde_json::from_str(&text).expect("JSON report")
}

/// The most tasks whose name starts with `prefix` that ran at the same time, by the report's
/// start and end offsets.
fn most_at_once(report: &Value, prefix: &str) -> usize {
    let spans: Vec<(f64, f64)> = report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .map(|t| {
            (
                t["start_s"].as_f64().expect("started"),
                t["end_s"].as_f64().expect("ended"),
            )
        })
        .collect();
    spans
        .iter()
        .map(|&(start, _)| {
            spans
                .iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn all_succeeded(report: &Value) {
    for task in report["tasks"].as_array().expect("tasks") {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
}

#[test]
fn a_memory_budget_runs_at_most_what_fits_and_reports_each_peak() {
    let project = Project::with_manifest(&format!(
        "[workflow]\njobs = 8\nmemory = \"500M\"\n\n[tasks.alloc]\nrun = '''{ALLOC}'''\n\
         matrix = {{ n = [1, 2, 3, 4, 5] }}\nmem = \"220M\"\n"
    ));
    project.wf(&["run", "--output", "quiet"]).assert().success();
    let report = report(&project);
    all_succeeded(&report);
    assert_eq!(most_at_once(&report, "alloc"), 2, "500M fits two of 220M");
    for task in report["tasks"].as_array().expect("tasks") {
        let peak = task["peak_rss_bytes"].as_f64().expect("measured");
        assert!(
            (peak - MIB_200).abs() < 0.2 * MIB_200,
            "peak {peak} not within 20% of 200 MiB"
        );
        assert!(task["user_s"].as_f64().is_some() && task["sys_s"].as_f64().is_some());
    }
}

#[test]
fn a_second_run_uses_the_learnt_needs_and_respects_the_budget() {
    let project = Project::with_manifest(&format!(
        "[workflow]\njobs = 8\nmemory = \"600M\"\n\n[tasks.alloc]\nrun = '''{ALLOC}'''\n\
         matrix = {{ n = [1, 2, 3, 4] }}\n"
    ));
    project.wf(&["run", "--output", "quiet"]).assert().success();
    let first = report(&project);
    all_succeeded(&first);
    assert_eq!(
        most_at_once(&first, "alloc"),
        4,
        "nothing known yet: all at once"
    );
    let plan = project.wf(&["plan"]).output().expect("wf runs");
    let plan = stdout_of(&plan);
    assert!(
        plan.contains("~2"),
        "learnt need shown in the plan:\n{plan}"
    );
    assert!(plan.contains("memory budget: 600 MB"), "{plan}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    project.wf(&["run", "--output", "quiet"]).assert().success();
    let second = report(&project);
    all_succeeded(&second);
    // Each needs ~200 MiB + 20%: two fit in 600 MB, three do not.
    assert_eq!(most_at_once(&second, "alloc"), 2);
    let history = project
        .wf(&["history", "--json"])
        .output()
        .expect("wf runs");
    let runs: Value = serde_json::from_slice(&history.stdout).expect("JSON");
    assert!(
        runs[0]["peak_rss_bytes"]
            .as_f64()
            .is_some_and(|p| p > 0.8 * MIB_200)
    );
}

#[test]
fn counted_resources_are_never_over_capacity() {
    let project = Project::with_manifest(
        "[workflow]\njobs = 8\n\n[resources]\ngpu = 2\n\n[tasks.one]\n\
         run = \"sleep 0.3\"\nmatrix = { n = [1, 2, 3, 4] }\nresources = { gpu = 1 }\n\n\
         [tasks.two]\nrun = \"sleep 0.3\"\nmatrix = [{ g = 2, i = 1 }, { g = 2, i = 2 }]\n\
         resources = { gpu = \"{{ matrix.g }}\" }\n",
    );
    project.wf(&["run", "--output", "quiet"]).assert().success();
    let report = report(&project);
    all_succeeded(&report);
    let tasks = report["tasks"].as_array().expect("tasks");
    let units = |t: &Value| {
        if t["name"].as_str().is_some_and(|n| n.starts_with("two")) {
            2
        } else {
            1
        }
    };
    for task in tasks {
        let at = task["start_s"].as_f64().expect("started");
        let held: u32 = tasks
            .iter()
            .filter(|t| {
                t["start_s"].as_f64().is_some_and(|s| s <= at)
                    && t["end_s"].as_f64().is_some_and(|e| at < e)
            })
            .map(units)
            .sum();
        assert!(held <= 2, "{held} gpu units held at {at}");
    }
    assert!(report["duration_s"].as_f64().expect("wall") >= 0.3 * 4.0 * 0.9);
}

#[test]
fn a_memory_limit_is_enforced_or_the_machine_says_it_cannot_be() {
    let project = Project::with_manifest(
        "[tasks.greedy]\nrun = \"python3 -c 'b = bytearray(300 * 1024 * 1024)'\"\nmem_limit = \"100M\"\n",
    );
    let validate = project
        .wf(&["validate", "--strict"])
        .output()
        .expect("wf runs");
    let findings = String::from_utf8_lossy(&validate.stderr).into_owned()
        + &String::from_utf8_lossy(&validate.stdout);
    let unenforced = findings.contains("wf::mem_limit_unenforced");
    let run = project
        .wf(&["run", "--output", "quiet"])
        .output()
        .expect("wf runs");
    let report = report(&project);
    let status = report["tasks"][0]["status"].as_str().expect("status");
    if unenforced {
        assert_eq!(validate.status.code(), Some(1), "a warning fails --strict");
        assert_eq!(
            status, "succeeded",
            "no limit here: the task runs unlimited"
        );
    } else {
        assert_eq!(run.status.code(), Some(1));
        assert_eq!(status, "out_of_memory");
        assert_eq!(report["tasks"][0]["signal"], "SIGKILL");
    }
}
