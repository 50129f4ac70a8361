//! The Slurm executor end to end, through the `wf` binary, against a real cluster
//! (`scripts/slurm-up.sh` starts one on this machine). Without a cluster that answers `sinfo`,
//! each test says loudly that it is skipped; with `WF_REQUIRE_SLURM=1` that is a failure.
//!
//! Tests run in parallel on the same cluster: each works in its own project, and every check
//! of the queue looks only at the job ids its own run recorded in `.wf/runs/RUN_ID/jobs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Project, Test, repo_root, wf_process};

/// True if a cluster answers; otherwise says so (or fails with `WF_REQUIRE_SLURM=1`).
fn cluster() -> bool {
    static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        match std::process::Command::new("sinfo")
            .args(["-h", "-o", "%P"])
            .output()
        {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            Err(err) => Err(format!("sinfo: {err}")),
        }
    });
    match answer {
        Ok(()) => true,
        Err(err) if std::env::var("WF_REQUIRE_SLURM").as_deref() == Ok("1") => {
            panic!("WF_REQUIRE_SLURM=1 but no Slurm cluster answers: {err}")
        }
        Err(err) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: no Slurm cluster ({err}); run scripts/slurm-up.sh, \
                 or set WF_REQUIRE_SLURM=1 to make this a failure ***\n"
            );
            false
        }
    }
}

/// The run folders of a project, oldest first.
fn run_dirs(project: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(project.join(".wf/runs"))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The job ids a run recorded.
fn jobs_of(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("jobs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Those of `ids` that are still queued or running.
fn active(ids: &[String]) -> Vec<String> {
    if ids.is_empty() {
        return Vec::new();
    }
    let out = std::process::Command::new("squeue")
        .args([
            "-h",
            "-t",
            "PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED",
            "-o",
            "%i",
            "-j",
            &ids.join(","),
        ])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Waits until `ready` holds (at most `limit`).
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_pipeline_example_runs_on_slurm() {
    if !cluster() {
        return;
    }
    let project = Project::new();
    let example =
        std::fs::read_to_string(repo_root().join("manifests/pipeline.toml")).expect("the example");
    project.write("pipeline.toml", &example);
    let ran = Test::in_project(&project)
        .args(&[
            "run",
            "pipeline.toml",
            "--executor",
            "slurm",
            "--output",
            "quiet",
        ])
        .status(0)
        .run();
    assert_eq!(ran.report["executor"], "slurm");
    assert_eq!(ran.report["jobs"], 100);
    for task in ["fetch", "clean", "stats", "report"] {
        assert_eq!(ran.task_status(task), "succeeded");
        assert!(ran.task(task)["job_id"].as_u64().is_some(), "{task}");
        assert!(ran.task(task)["queue_wait_s"].as_f64().is_some(), "{task}");
        assert_eq!(ran.task(task)["node"], "localhost");
    }
    assert_eq!(project.read("data/stats.txt"), "rows: 3\n");
    let runs = run_dirs(project.path());
    assert_eq!(jobs_of(&runs[0]).len(), 4);
    // Up to date the second time: nothing is submitted.
    let again = Test::in_project(&project)
        .args(&["run", "pipeline.toml", "--executor", "slurm"])
        .status(0)
        .run();
    assert_eq!(again.task_status("fetch"), "up_to_date");
}

#[test]
fn a_mutex_holds_across_jobs_and_dependencies_order_them() {
    if !cluster() {
        return;
    }
    let mut manifest = String::from(
        "[workflow]\nname = \"slurm-mutex\"\n[executor]\nkind = \"slurm\"\n[locks]\ncounter = 1\n",
    );
    for n in 0..5 {
        manifest.push_str(&format!(
            "[tasks.add{n}]\nrun = \"n=$(cat counter); sleep 0.3; echo $((n + 1)) > counter\"\n\
             locks = [\"counter\"]\n"
        ));
    }
    manifest.push_str(
        "[tasks.first]\nrun = \"echo first >> order\"\n\
         [tasks.second]\nrun = \"echo second >> order\"\ndeps = [\"first\"]\n\
         [tasks.third]\nrun = [\"sh\", \"-c\", \"echo third >> order\"]\ndeps = [\"second\"]\n",
    );
    let ran = Test::new(&manifest)
        .file("counter", "0\n")
        .args(&["run", "--output", "quiet"])
        .status(0)
        .run();
    assert_eq!(ran.project.read("counter"), "5\n");
    assert_eq!(ran.project.read("order"), "first\nsecond\nthird\n");
    let second = ran.task("second")["start_s"].as_f64().expect("start");
    let first = ran.task("first")["end_s"].as_f64().expect("end");
    // Slurm gives start times in whole seconds: allow that much.
    assert!(
        second + 1.0 >= first,
        "second started before first ended: {second} < {first}"
    );
}

#[test]
fn a_failure_with_keep_going_runs_the_independent_tasks() {
    if !cluster() {
        return;
    }
    let ran = Test::new(
        "[executor]\nkind = \"slurm\"\n\
         [tasks.bad]\nrun = \"echo broken >&2; exit 3\"\n\
         [tasks.after]\nrun = \"true\"\ndeps = [\"bad\"]\n\
         [tasks.other]\nrun = \"echo fine\"\n",
    )
    .args(&["run", "-k", "--output", "quiet"])
    .status(1)
    .run();
    assert_eq!(ran.task_status("bad"), "failed");
    assert_eq!(ran.task("bad")["exit_code"], 3);
    assert_eq!(ran.task_status("after"), "skipped");
    assert_eq!(ran.task_status("other"), "succeeded");
    let log = ran.task("bad")["log"].as_str().expect("a log");
    assert!(ran.project.read(log).contains("broken"));
}

#[test]
fn a_timeout_is_enforced_by_wf_not_by_slurm() {
    if !cluster() {
        return;
    }
    let started = Instant::now();
    let ran = Test::new(
        "[executor]\nkind = \"slurm\"\n\
         [tasks.slow]\nrun = \"sleep 300\"\ntimeout = \"1s\"\n",
    )
    .args(&["run", "--grace", "1s", "--output", "quiet"])
    .status(1)
    .run();
    let took = started.elapsed();
    assert_eq!(ran.task_status("slow"), "timed_out");
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let runs = run_dirs(ran.project.path());
    assert_eq!(active(&jobs_of(&runs[0])), Vec::<String>::new());
}

#[test]
fn a_flaky_task_is_retried() {
    if !cluster() {
        return;
    }
    let ran = Test::new(
        "[executor]\nkind = \"slurm\"\n\
         [tasks.flaky]\n\
         run = \"n=$(cat tries 2>/dev/null || echo 0); echo $((n + 1)) > tries; echo attempt $WF_ATTEMPT; [ $n -ge 1 ]\"\n\
         retries = 2\nretry_delay = \"100ms\"\n",
    )
    .args(&["run", "--output", "quiet"])
    .status(0)
    .run();
    assert_eq!(ran.task_status("flaky"), "succeeded");
    assert_eq!(ran.task("flaky")["attempts"], 2);
    let log = ran
        .project
        .read(ran.task("flaky")["log"].as_str().expect("log"));
    assert!(
        log.contains("attempt 1") && log.contains("attempt 2"),
        "{log}"
    );
}

#[test]
fn hostile_matrix_values_do_not_inject() {
    if !cluster() {
        return;
    }
    let ran = Test::new(
        r#"[executor]
kind = "slurm"
[tasks.echo]
run = "printf '%s\n' {{ matrix.v }} > out-$WF_MATRIX_N.txt"
matrix = [{ n = "0", v = "$(touch PWNED)" }, { n = "1", v = "a'b\"c`touch PWNED2`" }, { n = "2", v = "x; touch PWNED3" }]
[tasks.argv]
run = ["sh", "-c", "printf '%s\n' \"$1\" > argv-$WF_MATRIX_N.txt", "sh", "{{ matrix.v }}"]
matrix = [{ n = "0", v = "$(touch PWNED4)" }]
"#,
    )
    .args(&["run", "--output", "quiet"])
    .status(0)
    .run();
    let dir = ran.project.path();
    for pwned in ["PWNED", "PWNED2", "PWNED3", "PWNED4"] {
        assert!(!dir.join(pwned).exists(), "{pwned} was created");
    }
    assert_eq!(ran.project.read("out-0.txt"), "$(touch PWNED)\n");
    assert_eq!(ran.project.read("out-1.txt"), "a'b\"c`touch PWNED2`\n");
    assert_eq!(ran.project.read("out-2.txt"), "x; touch PWNED3\n");
    assert_eq!(ran.project.read("argv-0.txt"), "$(touch PWNED4)\n");
}

#[test]
fn an_invalid_partition_fails_the_task_with_slurms_reason() {
    if !cluster() {
        return;
    }
    let ran = Test::new(
        "[executor]\nkind = \"slurm\"\n\
         [tasks.lost]\nrun = \"true\"\nslurm = { partition = \"nosuch\" }\n\
         [tasks.fine]\nrun = \"true\"\nslurm = { partition = \"other\", extra = [\"--comment=a b; $(touch PWNED)\"] }\n",
    )
    .args(&["run", "-k", "--output", "quiet"])
    .status(1)
    .run();
    assert_eq!(ran.task_status("lost"), "failed");
    let reason = ran.task("lost")["reason"].as_str().expect("a reason");
    assert!(reason.contains("invalid partition"), "{reason}");
    let log = ran
        .project
        .read(ran.task("lost")["log"].as_str().expect("log"));
    assert!(log.contains("invalid partition"), "{log}");
    assert_eq!(ran.task_status("fine"), "succeeded");
    assert!(!ran.project.path().join("PWNED").exists());
}

/// A manifest with a job that runs until it is ended and a job held in the queue.
const RUNNING_AND_QUEUED: &str = "[executor]\nkind = \"slurm\"\n\
    [tasks.quick]\nrun = \"true\"\n\
    [tasks.running]\nrun = \"touch started; sleep 300\"\n\
    [tasks.queued]\nrun = \"touch ran\"\nslurm = { extra = [\"--hold\"] }\n";

/// Starts `wf run` with `args` and waits until both its jobs are submitted and `running` runs.
fn start_both(project: &Project, args: &[&str]) -> std::process::Child {
    let child = wf_process(project.path(), args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts");
    // Three jobs submitted, `running` started, and `quick` already out of the queue (on a
    // loaded machine it may still be completing when `running` starts).
    wait_for("the job to start", Duration::from_secs(60), || {
        project.path().join("started").exists()
            && run_dirs(project.path()).first().is_some_and(|run| {
                let ids = jobs_of(run);
                ids.len() >= 3 && active(&ids).len() == 2
            })
    });
    child
}

#[test]
fn ctrl_c_cancels_queued_and_running_jobs() {
    if !cluster() {
        return;
    }
    let project = Project::with_manifest(RUNNING_AND_QUEUED);
    let mut child = start_both(&project, &["run", "--output", "quiet", "--grace", "1s"]);
    let run = run_dirs(project.path()).remove(0);
    assert_eq!(active(&jobs_of(&run)).len(), 2, "one running, one held");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = Instant::now();
    let status = child.wait().expect("wf ends");
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(active(&jobs_of(&run)), Vec::<String>::new());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(
        crate::support::report_task(&report, "running")["status"],
        "cancelled"
    );
    assert_eq!(
        crate::support::report_task(&report, "queued")["status"],
        "not_run"
    );
    assert!(!project.path().join("ran").exists());
}

#[test]
fn the_next_run_cancels_the_jobs_of_a_killed_run() {
    if !cluster() {
        return;
    }
    let project = Project::with_manifest(RUNNING_AND_QUEUED);
    let mut child = start_both(&project, &["run", "--output", "quiet"]);
    let run = run_dirs(project.path()).remove(0);
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait();
    let ids = jobs_of(&run);
    assert_eq!(
        active(&ids).len(),
        2,
        "the killed run's jobs are still there"
    );
    // The next run uses the local executor: the Slurm jobs are cleaned up all the same.
    Test::in_project(&project)
        .args(&[
            "run",
            "quick",
            "--executor",
            "local",
            "--grace",
            "1s",
            "--output",
            "quiet",
        ])
        .status(0)
        .stderr_contains("did not end normally; cancelled")
        .stderr_contains("job")
        .run();
    assert_eq!(active(&ids), Vec::<String>::new());
    assert!(!run.join("running").exists());
}
