//! `wf run`: scheduling, locks, failures, `when`, targets, dry runs, environment, reports.

use serde_json::Value;

use crate::support::{Project, Test, report_task as task, stderr_of, stdout_of};

/// Runs `wf run ARGS` in the project and returns (exit code, report JSON, stdout, stderr).
fn run(project: &Project, args: &[&str]) -> (i32, Value, String, String) {
    let ran = Test::in_project(project)
        .args(&[&["run"], args].concat())
        .run();
    (ran.status, ran.report, ran.stdout, ran.stderr)
}

/// The task names of a printed plan (`N. name  reason  (notes)`), in order.
fn planned_order(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.trim().split_once(". "))
        .filter_map(|(_, rest)| rest.split_whitespace().next())
        .collect()
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    task(report, name)["status"].as_str().expect("status")
}

/// The largest number of the given tasks whose [start_s, end_s] intervals overlap.
fn max_overlap(report: &Value, names: &[String]) -> usize {
    let mut edges: Vec<(f64, i32)> = Vec::new();
    for name in names {
        let t = task(report, name);
        edges.push((t["start_s"].as_f64().expect("start"), 1));
        edges.push((t["end_s"].as_f64().expect("end"), -1));
    }
    // Ends sort before starts at the same instant: touching intervals do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut current, mut most) = (0, 0);
    for (_, delta) in edges {
        current += delta;
        most = most.max(current);
    }
    most as usize
}

#[test]
fn a_mutex_keeps_a_read_sleep_write_counter_exact() {
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 4
[locks]
counter = 1
[tasks.setup]
run = "echo 0 > counter"
[tasks.add]
run = "n=$(cat counter); sleep 0.05; echo $((n + 1)) > counter"
matrix = { i = [1, 2, 3, 4, 5, 6, 7, 8] }
deps = ["setup"]
locks = ["counter"]
"#,
    );
    let (code, report, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(project.read("counter").trim(), "8", "every increment kept");
    let adds: Vec<String> = (1..=8).map(|i| format!("add[i={i}]")).collect();
    assert_eq!(
        max_overlap(&report, &adds),
        1,
        "never two holders of a mutex"
    );
}

#[test]
fn a_semaphore_of_two_never_has_three_holders() {
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 4
[locks]
gpu = 2
[tasks.train]
run = "sleep 0.2"
matrix = { m = ["a", "b", "c", "d", "e", "f"] }
locks = ["gpu"]
"#,
    );
    let (code, report, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|m| format!("train[m={m}]"))
        .collect();
    assert_eq!(
        max_overlap(&report, &names),
        2,
        "two holders at once, never three"
    );
    let waited = names
        .iter()
        .filter(|n| task(&report, n)["lock_wait_s"].as_f64().unwrap_or(0.0) > 0.1)
        .count();
    assert!(
        waited >= 2,
        "tasks beyond the capacity waited for the lock:\n{report:#}"
    );
}

#[test]
fn tasks_without_the_lock_are_not_held_back_by_tasks_waiting_for_it() {
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 2
[tasks.hold]
run = "sleep 1"
locks = ["db"]
priority = 10
[tasks.wait]
run = "true"
locks = ["db"]
priority = 5
[tasks.free]
run = "true"
"#,
    );
    let (code, report, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    let free_start = task(&report, "free")["start_s"]
        .as_f64()
        .expect("free started");
    let wait_start = task(&report, "wait")["start_s"]
        .as_f64()
        .expect("wait started");
    assert!(
        free_start < 0.5,
        "free started at {free_start}s, behind a lock it does not need"
    );
    assert!(
        wait_start >= 0.9,
        "wait started at {wait_start}s while db was held"
    );
}

#[test]
fn dependencies_finish_before_their_dependents_start() {
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 4
[tasks.a]
run = "sleep 0.1; echo a >> order"
[tasks.b]
run = "echo b >> order"
deps = ["a"]
[tasks.c]
run = "echo c >> order"
deps = ["b"]
[tasks.d]
run = "echo d >> order"
deps = ["a", "c"]
"#,
    );
    let (code, _, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(project.read("order"), "a\nb\nc\nd\n");
}

const CI: &str = r#"
[workflow]
jobs = 1
[tasks.lint]
run = "echo lint output; echo 'style error' >&2; exit 3"
[tasks.unit]
run = "echo unit ran > unit.txt"
[tasks.build]
run = "echo build"
deps = ["lint", "unit"]
[tasks.deploy]
run = "echo deploy"
deps = ["build"]
[tasks.notify]
run = "echo notified > notify.txt"
deps = ["deploy"]
when = "failure"
[tasks.cleanup]
run = "echo cleaned > cleanup.txt"
deps = ["deploy"]
when = "always"
"#;

#[test]
fn a_failure_stops_new_work_but_cleanup_and_notification_run() {
    let project = Project::with_manifest(CI);
    let (code, report, _, stderr) = run(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "failed");
    assert_eq!(status(&report, "lint"), "failed");
    assert_eq!(task(&report, "lint")["exit_code"], 3);
    assert_eq!(
        status(&report, "unit"),
        "not_run",
        "fail-fast: nothing new starts"
    );
    assert_eq!(status(&report, "build"), "skipped");
    assert_eq!(task(&report, "build")["reason"], "dependency `lint` failed");
    assert_eq!(status(&report, "deploy"), "skipped");
    assert_eq!(status(&report, "notify"), "succeeded");
    assert_eq!(status(&report, "cleanup"), "succeeded");
    assert!(
        project.path().join("notify.txt").exists() && project.path().join("cleanup.txt").exists()
    );
    // The summary shows the root cause with the tail of its log, not the skipped dependents.
    assert!(
        stderr.contains("✗ failed lint: exited with code 3"),
        "{stderr}"
    );
    assert!(stderr.contains("│ style error"), "{stderr}");
    assert!(!stderr.contains("✗ failed build"), "{stderr}");
}

#[test]
fn keep_going_runs_independent_tasks_after_a_failure() {
    let ran = Test::new(CI).args(&["run", "-k"]).status(1).run();
    assert_eq!(ran.task_status("unit"), "succeeded");
    assert_eq!(ran.project.read("unit.txt"), "unit ran\n");
    assert_eq!(ran.task_status("build"), "skipped");
}

#[test]
fn when_rules_and_allowed_failures() {
    let project = Project::with_manifest(
        r#"
[tasks.ok]
run = "true"
[tasks.on_failure]
run = "true"
deps = ["ok"]
when = "failure"
[tasks.flaky_lint]
run = "exit 1"
allow_failure = true
[tasks.after_lint]
run = "true"
deps = ["flaky_lint"]
"#,
    );
    let (code, report, _, _) = run(&project, &[]);
    assert_eq!(code, 0, "an allowed failure does not fail the run");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(status(&report, "on_failure"), "skipped");
    assert_eq!(status(&report, "flaky_lint"), "failed");
    assert_eq!(status(&report, "after_lint"), "succeeded");
}

#[test]
fn targets_select_tasks_and_what_they_need() {
    let project = Project::with_manifest(
        r#"
[tasks.a]
run = "touch a"
[tasks.b]
run = "touch b"
deps = ["a"]
[tasks.c]
run = "touch c"
[tasks.m]
run = "touch m{{ matrix.x }}"
matrix = { x = [1, 2] }
"#,
    );
    let (code, report, _, _) = run(&project, &["b", "m[x=2]"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b", "m[x=2]"]);
    assert!(!project.path().join("c").exists() && !project.path().join("m1").exists());
    let (code, report, _, _) = run(&project, &["wf.toml", "m"]);
    assert_eq!(code, 0);
    assert_eq!(
        report["tasks"].as_array().map(Vec::len),
        Some(2),
        "a matrix name selects every expansion"
    );
}

#[test]
fn an_unknown_target_is_a_usage_error_with_a_suggestion() {
    let ran = Test::new("[tasks.build]\nrun = \"touch built\"\n")
        .args(&["run", "biuld"])
        .status(2)
        .stderr_contains("no task named `biuld`")
        .stderr_contains("did you mean `build`?")
        .run();
    assert!(!ran.project.path().join("built").exists());
}

#[test]
fn a_long_plan_lists_every_task_once_numbered_in_order() {
    // More lines than one thread writes in one go: the pieces are printed in order.
    let tasks = 5000;
    let mut manifest = String::from("[tasks.t0]\nrun = \"true\"\n");
    for i in 1..tasks {
        manifest.push_str(&format!(
            "[tasks.t{i}]\nrun = \"true\"\ndeps = [\"t{}\"]\n",
            i - 1
        ));
    }
    let project = Project::with_manifest(&manifest);
    let output = project.wf(&["plan"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    let listed: Vec<(usize, &str)> = stdout
        .lines()
        .filter_map(|l| l.trim().split_once(". "))
        .filter_map(|(number, rest)| Some((number.parse().ok()?, rest.split_whitespace().next()?)))
        .collect();
    let expected: Vec<(usize, String)> = (0..tasks).map(|i| (i + 1, format!("t{i}"))).collect();
    let listed: Vec<(usize, String)> = listed.into_iter().map(|(n, t)| (n, t.to_owned())).collect();
    assert!(
        listed == expected,
        "a chain is listed in its order, numbered 1..{tasks}:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("plan: 5000 tasks")),
        "{stdout}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let project = Project::with_manifest(
        "[tasks.short]\nrun = \"touch short\"\n[tasks.head]\nrun = \"touch head\"\n[tasks.tail]\nrun = \"touch tail\"\ndeps = [\"head\"]\n",
    );
    let output = project
        .wf(&["run", "-n", "-j", "1"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = stdout_of(&output);
    let order = planned_order(&stdout);
    assert_eq!(
        order,
        ["head", "short", "tail"],
        "the critical path first:\n{stdout}"
    );
    for file in ["short", "head", "tail"] {
        assert!(
            !project.path().join(file).exists(),
            "{file} ran during a dry run"
        );
    }
    assert!(
        !project.path().join(".wf").exists(),
        "a dry run leaves no run folder"
    );
}

#[test]
fn an_invalid_manifest_starts_nothing_and_exits_two() {
    let ran = Test::new(
        "[tasks.a]\nrun = \"touch ran\"\n[tasks.b]\nrun = \"touch ran\"\ndeps = [\"nope\"]\n",
    )
    .args(&["run"])
    .status(2)
    .stderr_contains("wf::unknown_dependency")
    .run();
    assert!(!ran.project.path().join("ran").exists());
    assert!(!ran.project.path().join(".wf").exists());
    assert!(ran.statuses().is_empty(), "no report: nothing was started");
}

#[test]
fn environment_layers_in_order_and_wf_variables_come_last() {
    let project = Project::with_manifest(
        r#"
[workflow]
env = { LAYER = "workflow", FROM_WORKFLOW = "w" }
[tasks.show]
run = "echo $LAYER $FROM_WORKFLOW $FROM_CALLER $WF_TASK $WF_ATTEMPT ${#WF_RUN_ID} > env.txt"
env = { LAYER = "task", WF_TASK = "mine" }
"#,
    );
    let output = project
        .wf(&["run"])
        .env("FROM_CALLER", "c")
        .env("LAYER", "caller")
        .env("WF_TASK", "outer")
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(project.read("env.txt"), "task w c show 1 25\n");
}

#[test]
fn matrix_values_fill_locks_and_descriptions_and_floats_keep_their_spelling() {
    let project = Project::with_manifest(
        r#"
[tasks.train]
description = "train on GPU {{ matrix.gpu }}"
run = "true"
matrix = { gpu = [0, 1], lr = [1.0] }
locks = ["gpu-{{ matrix.gpu }}"]
"#,
    );
    let output = project.wf(&["list", "--json"]).output().expect("wf runs");
    let list: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let second = &list[0]["expansions"][1];
    assert_eq!(second["name"], "train[gpu=1,lr=1.0]");
    assert_eq!(second["locks"][0], "gpu-1");
    assert_eq!(second["description"], "train on GPU 1");
}

#[test]
fn a_task_named_like_a_file_is_still_a_task() {
    let project = Project::with_manifest("[tasks.notes]\nrun = \"touch ran\"\n");
    project.write("notes", "just a file");
    let output = project.wf(&["run", "notes"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(project.path().join("ran").exists());
}

#[test]
fn plan_and_run_refuse_a_task_wider_than_the_slots() {
    let project = Project::with_manifest("[tasks.wide]\nrun = \"true\"\ncpus = 3\n");
    for command in ["plan", "run"] {
        let output = project.wf(&[command, "-j", "2"]).output().expect("wf runs");
        assert_eq!(output.status.code(), Some(2), "{command}");
        assert!(
            stderr_of(&output).contains("needs 3 slots but the run has 2"),
            "{command}"
        );
    }
}

#[test]
fn cwd_is_relative_to_the_manifest_folder_wherever_wf_starts() {
    let project = Project::new();
    project.write(
        "sub/wf.toml",
        "[tasks.where]\nrun = \"pwd > ../where.txt\"\ncwd = \"work\"\n",
    );
    std::fs::create_dir_all(project.path().join("sub/work")).expect("mkdir");
    let output = project
        .wf(&["run", "sub/wf.toml"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let expected = project
        .path()
        .join("sub/work")
        .canonicalize()
        .expect("exists");
    assert_eq!(
        project.read("sub/where.txt").trim(),
        expected.display().to_string()
    );
    assert!(
        project.path().join("sub/.wf/runs").is_dir(),
        ".wf lives beside the manifest"
    );
}

#[test]
fn matrix_values_full_of_shell_syntax_reach_the_command_literally() {
    let project = Project::with_manifest(
        r#"
[tasks.echo]
run = "printf '%s\n' {{ matrix.v }} > out-$WF_MATRIX_N.txt"
matrix = [
  { n = 1, v = "a b; touch pwned" },
  { n = 2, v = "$(touch pwned) `touch pwned` 'q' \"d\" \\ * ~" },
  { n = 3, v = "" },
]
[tasks.argv]
run = ["sh", "-c", "printf '%s' \"$1\" > argv.txt", "sh", "{{ matrix.v }}"]
matrix = { v = ["x; touch pwned"] }
"#,
    );
    let (code, _, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(project.read("out-1.txt"), "a b; touch pwned\n");
    assert_eq!(
        project.read("out-2.txt"),
        "$(touch pwned) `touch pwned` 'q' \"d\" \\ * ~\n"
    );
    assert_eq!(project.read("out-3.txt"), "\n");
    assert_eq!(project.read("argv.txt"), "x; touch pwned");
    assert!(
        !project.path().join("pwned").exists(),
        "a matrix value injected shell syntax"
    );
}

#[test]
fn commands_that_cannot_start_are_failed_tasks_with_a_reason() {
    let project = Project::with_manifest(
        r#"
[tasks.missing]
run = ["no-such-program-wf-test"]
[tasks.not_executable]
run = ["./data.txt"]
[tasks.bad_cwd]
run = "true"
cwd = "does/not/exist"
"#,
    );
    project.write("data.txt", "not a program");
    let (code, report, _, _) = run(&project, &["-k"]);
    assert_eq!(code, 1);
    assert_eq!(
        task(&report, "missing")["reason"],
        "command not found: no-such-program-wf-test"
    );
    let not_exec = task(&report, "not_executable")["reason"]
        .as_str()
        .expect("reason");
    assert!(not_exec.contains("Permission denied"), "{not_exec}");
    let bad_cwd = task(&report, "bad_cwd")["reason"].as_str().expect("reason");
    assert!(
        bad_cwd.starts_with("cannot enter working directory"),
        "{bad_cwd}"
    );
    for name in ["missing", "not_executable", "bad_cwd"] {
        assert_eq!(status(&report, name), "failed");
        assert_eq!(task(&report, name)["exit_code"], Value::Null);
    }
}

#[test]
fn the_critical_path_starts_first_whatever_the_declaration_order() {
    let mut manifest = String::from("[workflow]\njobs = 2\n");
    // Tasks long enough that a slot cannot run two of them before the other slot starts one.
    for i in 0..4 {
        manifest.push_str(&format!("[tasks.free{i}]\nrun = \"sleep 0.2\"\n"));
    }
    for i in 0..3 {
        manifest.push_str(&format!("[tasks.chain{i}]\nrun = \"sleep 0.2\"\n"));
        if i > 0 {
            manifest.push_str(&format!("deps = [\"chain{}\"]\n", i - 1));
        }
    }
    let project = Project::with_manifest(&manifest);
    let (code, report, _, _) = run(&project, &["--output", "quiet"]);
    assert_eq!(code, 0);
    let mut starts: Vec<(f64, String)> = report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["start_s"].as_f64().expect("start"),
                t["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        starts[..2].iter().any(|(_, n)| n == "chain0"),
        "chain0 is among the first two: {starts:?}"
    );
}

#[test]
fn the_report_has_every_field_and_matches_its_schema() {
    let project = Project::with_manifest(
        "[workflow]\nname = \"demo\"\njobs = 2\n[tasks.a]\nrun = \"echo hi\"\n[tasks.b]\nrun = \"exit 4\"\ndeps = [\"a\"]\n",
    );
    let (code, report, stdout, _) = run(&project, &[]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("hi"),
        "grouped output shows the task's output: {stdout}"
    );
    let run_id = report["run_id"].as_str().expect("run id");
    let stored = project.read(&format!(".wf/runs/{run_id}/report.json"));
    assert_eq!(
        serde_json::from_str::<Value>(&stored).expect("JSON"),
        report,
        "--report is the same report"
    );
    assert_eq!(
        project.read(&format!(".wf/runs/{run_id}/logs/a.log")),
        "hi\n"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo_root().join("schemas/wf-report.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    insta::assert_json_snapshot!("report", report, {
        ".run_id" => "[run_id]",
        ".manifest" => "[manifest]",
        ".started_at" => "[time]",
        ".finished_at" => "[time]",
        ".duration_s" => "[seconds]",
        ".tasks[].start_s" => "[seconds]",
        ".tasks[].end_s" => "[seconds]",
        ".tasks[].duration_s" => "[seconds]",
        ".tasks[].lock_wait_s" => "[seconds]",
        ".tasks[].log" => "[log]",
        ".tasks[].worker" => "[worker]",
        ".tasks[].attempts_detail[].start_s" => "[seconds]",
        ".tasks[].attempts_detail[].end_s" => "[seconds]",
        ".tasks[].attempts_detail[].duration_s" => "[seconds]",
        ".tasks[].attempts_detail[].lock_wait_s" => "[seconds]",
        ".tasks[].attempts_detail[].worker" => "[worker]",
        ".tasks[].peak_rss_bytes" => "[bytes]",
        ".tasks[].user_s" => "[seconds]",
        ".tasks[].sys_s" => "[seconds]",
    });
}

#[test]
fn a_closed_output_pipe_does_not_stop_the_run_and_tasks_get_the_default_sigpipe() {
    let project = Project::with_manifest(
        r#"
[tasks.first]
run = "echo one; echo two; echo three"
[tasks.later]
run = "sleep 0.3; grep SigIgn /proc/self/status > sigign.txt"
deps = ["first"]
"#,
    );
    let wf = assert_cmd::cargo::cargo_bin("wf");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' run --report report.json | head -n 1",
            wf.display()
        ))
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("sh runs");
    assert!(output.status.success());
    let report: Value = serde_json::from_str(&project.read("report.json")).expect("report");
    assert_eq!(report["status"], "succeeded", "{report:#}");
    // Bit 13 of the ignored-signal mask is SIGPIPE: a task must not inherit wf's SIG_IGN.
    let mask = project.read("sigign.txt");
    let hex = mask.split_whitespace().last().expect("mask");
    let ignored = u64::from_str_radix(hex, 16).expect("hex");
    assert_eq!(
        ignored & (1 << 12),
        0,
        "SIGPIPE is ignored in the task: {mask}"
    );
}

#[test]
fn defaults_apply_to_every_task_and_a_tasks_own_values_win() {
    let project = Project::with_manifest(
        r#"
[defaults]
env = { A = "default", B = "default" }
retries = 1
retry_delay = "100ms"
[tasks.own]
run = "echo $A $B > own.txt; test $WF_ATTEMPT -ge 2"
env = { B = "own" }
[tasks.limited]
run = "sleep 5"
timeout = "200ms"
retries = 0
"#,
    );
    let (code, report, _, _) = run(&project, &["-k"]);
    assert_eq!(code, 1, "limited times out");
    assert_eq!(
        project.read("own.txt"),
        "default own\n",
        "env tables merge per variable"
    );
    assert_eq!(
        task(&report, "own")["attempts"],
        2,
        "retries come from [defaults]"
    );
    assert_eq!(task(&report, "own")["status"], "succeeded");
    assert_eq!(
        task(&report, "limited")["status"],
        "timed_out",
        "how it ended: {}",
        task(&report, "limited")
    );
    assert_eq!(
        task(&report, "limited")["attempts"],
        1,
        "its own retries = 0 wins"
    );
}

#[test]
fn tasks_read_nothing_from_wf_stdin() {
    let project = Project::with_manifest("[tasks.read]\nrun = \"cat > got.txt\"\n");
    let output = project
        .wf(&["run"])
        .write_stdin("typed by the user\n")
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(project.read("got.txt"), "", "stdin is /dev/null");
}

#[test]
fn a_slurm_run_without_the_slurm_tools_fails_up_front() {
    // No sbatch on PATH: the run must stop before any task, with a clear error and exit 2.
    let ran = Test::new(
        r#"
[executor]
kind = "slurm"
[tasks.a]
run = "touch ran"
"#,
    )
    .env("PATH", "/nonexistent-wf-test-path")
    .args(&["run", "--output", "quiet"])
    .status(2)
    .stderr_contains("`sbatch` was not found")
    .run();
    assert!(!ran.project.path().join("ran").exists());
    assert!(ran.report.is_null(), "no run started, no report");
}

#[test]
fn the_executor_flag_overrides_the_manifest() {
    // `--executor local` wins over `kind = "slurm"`: no Slurm tool is needed.
    let ran = Test::new(
        r#"
[executor]
kind = "slurm"
[tasks.a]
run = "true"
"#,
    )
    .args(&["run", "--output", "quiet", "--executor", "local"])
    .status(0)
    .stdout("")
    .run();
    assert_eq!(ran.report["executor"], "local");
    assert!(ran.task("a").get("job_id").is_none());
    let planned = Test::new("[tasks.a]\nrun = \"true\"\n")
        .args(&["run", "-n", "--executor", "slurm"])
        .status(0)
        .run();
    assert!(
        planned.stdout.contains("on 100 slots"),
        "a Slurm plan has 100 slots by default:\n{}",
        planned.stdout
    );
}

#[test]
fn explicit_priority_comes_before_the_critical_path() {
    let project = Project::with_manifest(
        "[tasks.chain1]\nrun = \"true\"\n[tasks.chain2]\nrun = \"true\"\ndeps = [\"chain1\"]\n[tasks.urgent]\nrun = \"true\"\npriority = 1\n",
    );
    let output = project
        .wf(&["run", "-n", "-j", "1"])
        .output()
        .expect("wf runs");
    let stdout = stdout_of(&output);
    let order = planned_order(&stdout);
    assert_eq!(order, ["urgent", "chain1", "chain2"], "{stdout}");
}

#[test]
fn a_string_command_runs_through_the_workflow_shell() {
    let strict = Project::with_manifest(
        "[workflow]\nshell = [\"sh\", \"-e\", \"-c\"]\n[tasks.t]\nrun = \"false; touch after\"\n",
    );
    let (code, report, _, _) = run(&strict, &[]);
    assert_eq!(code, 1);
    assert_eq!(task(&report, "t")["status"], "failed");
    assert!(
        !strict.path().join("after").exists(),
        "sh -e stopped at `false`"
    );
    let lax = Project::with_manifest(
        "[workflow]\nshell = [\"sh\", \"-c\"]\n[tasks.t]\nrun = \"false; touch after\"\n",
    );
    let (code, _, _, _) = run(&lax, &[]);
    assert_eq!(code, 0, "`sh -c` ignores the failing `false`");
    assert!(lax.path().join("after").exists());
}

#[test]
fn the_default_shell_stops_at_the_first_failing_line() {
    let project = Project::with_manifest(
        "[tasks.t]\nrun = \"\"\"\nfalse\ntouch after\n\"\"\"\n[tasks.then]\nrun = \"touch then\"\ndeps = [\"t\"]\n",
    );
    let (code, report, _, _) = run(&project, &[]);
    assert_eq!(code, 1, "the default shell is `sh -ec`");
    assert_eq!(task(&report, "t")["status"], "failed");
    assert_eq!(task(&report, "t")["exit_code"], 1);
    assert_eq!(task(&report, "then")["status"], "skipped");
    assert!(!project.path().join("after").exists());
}

#[test]
fn matrix_values_fill_env_and_cwd() {
    let project = Project::with_manifest(
        r#"
[tasks.t]
run = "echo $WHICH > which.txt"
matrix = { d = ["one", "two"] }
cwd = "dirs/{{ matrix.d }}"
env = { WHICH = "env-{{ matrix.d }}" }
"#,
    );
    for d in ["one", "two"] {
        std::fs::create_dir_all(project.path().join("dirs").join(d)).expect("mkdir");
    }
    let (code, _, _, stderr) = run(&project, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(project.read("dirs/one/which.txt"), "env-one\n");
    assert_eq!(project.read("dirs/two/which.txt"), "env-two\n");
}

#[test]
fn slots_come_from_the_command_line_then_the_manifest_then_the_cpus() {
    let manifest = |jobs: &str| {
        format!("{jobs}[tasks.t]\nrun = \"sleep 0.3\"\nmatrix = {{ n = [1, 2, 3] }}\n")
    };
    let names: Vec<String> = (1..=3).map(|n| format!("t[n={n}]")).collect();
    let project = Project::with_manifest(&manifest("[workflow]\njobs = 3\n"));
    let (_, report, _, _) = run(&project, &["-j", "1"]);
    assert_eq!(report["jobs"], 1);
    assert_eq!(max_overlap(&report, &names), 1);
    assert!(names.iter().all(|n| task(&report, n)["worker"] == 1));
    let (_, report, _, _) = run(&project, &[]);
    assert_eq!(report["jobs"], 3);
    let mut workers: Vec<u64> = names
        .iter()
        .filter_map(|n| task(&report, n)["worker"].as_u64())
        .collect();
    workers.sort_unstable();
    assert_eq!(workers, [1, 2, 3], "one slot each");
    let cpus = Project::with_manifest(&manifest(""));
    let (_, report, _, _) = run(&cpus, &[]);
    let available = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert_eq!(report["jobs"], available as u64);
}

#[test]
fn keep_going_can_be_set_in_the_manifest() {
    let project = Project::with_manifest(&format!(
        "[workflow]\nkeep_going = true\n{}",
        CI.replace("[workflow]\njobs = 1\n", "")
    ));
    let (code, report, _, _) = run(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "unit"), "succeeded");
}

#[test]
fn output_modes_and_the_summary() {
    let project = Project::with_manifest("[tasks.t]\nrun = \"echo out; echo err >&2\"\n");
    let streamed = project
        .wf(&["run", "--output", "stream"])
        .output()
        .expect("wf runs");
    assert!(
        stdout_of(&streamed).contains("t | out\n"),
        "{}",
        stdout_of(&streamed)
    );
    assert!(
        stderr_of(&streamed).contains("t | err\n"),
        "{}",
        stderr_of(&streamed)
    );
    let quiet = project
        .wf(&["run", "--output", "quiet"])
        .output()
        .expect("wf runs");
    assert!(
        !stdout_of(&quiet).contains("out") && !stdout_of(&quiet).contains("✓ t"),
        "{}",
        stdout_of(&quiet)
    );
    let grouped = project.wf(&["run", "-j", "2"]).output().expect("wf runs");
    assert!(stdout_of(&grouped).contains("✓ t") && stdout_of(&grouped).contains("out\nerr\n"));
    let summary = stderr_of(&grouped);
    assert!(
        summary.contains("wf: succeeded in ") && summary.contains("with 2 slots: 1 succeeded"),
        "{summary}"
    );
}
