//! Output that cannot be written (a full disk, a closed pipe) never panics and never stops a
//! run; report files are written safely and their failures come after the summary.

use std::io::Read;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{Project, stderr_of, stdout_of, wf_process};

/// A manifest of `count` tasks, each touching `done-N`, each with a race warning (it reads
/// what another task writes without depending on it).
fn noisy_manifest(count: usize) -> String {
    let mut text = String::new();
    for n in 0..count {
        text.push_str(&format!(
            "[tasks.w{n}]\nrun = \"echo x > f{n}\"\noutputs = [\"f{n}\"]\n\n\
             [tasks.r{n}]\nrun = \"touch done-{n}\"\ninputs = [\"f{n}\"]\n\n"
        ));
    }
    text
}

fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
}

#[test]
fn a_full_stdout_fails_each_printing_command_with_exit_2_and_a_message() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    let ran = wf_process(project.path(), &["run"])
        .output()
        .expect("wf runs");
    assert_eq!(ran.status.code(), Some(0));
    for args in [
        &["validate"][..],
        &["list"],
        &["plan"],
        &["history"],
        &["report"],
        &["report", "--json"],
        &["schema"],
        &["graph"],
        &["completions", "bash"],
        &["run", "-n"],
    ] {
        let output = wf_process(project.path(), args)
            .stdout(dev_full())
            .output()
            .expect("wf runs");
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "wf {args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output: No space left on device"),
            "wf {args:?}: {stderr}"
        );
    }
}

#[test]
fn a_full_stderr_never_panics() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    let unknown = wf_process(project.path(), &["run", "nosuchtask"])
        .stderr(dev_full())
        .output()
        .expect("wf runs");
    assert_eq!(unknown.status.code(), Some(2));
    let invalid = Project::with_manifest("[tasks.a]\nrun = 1\n");
    let output = wf_process(invalid.path(), &["validate"])
        .stderr(dev_full())
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_run_with_full_stdout_and_stderr_runs_every_task_and_exits_by_their_result() {
    let project = Project::with_manifest(&noisy_manifest(20));
    let output = wf_process(project.path(), &["run", "--output", "stream"])
        .stdout(dev_full())
        .stderr(dev_full())
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    for n in 0..20 {
        assert!(
            project.path().join(format!("done-{n}")).exists(),
            "task r{n}"
        );
    }
}

#[test]
fn two_hundred_warnings_into_a_closed_pipe_do_not_stop_the_run() {
    let project = Project::with_manifest(&noisy_manifest(200));
    let mut child = wf_process(project.path(), &["run", "--report", "report.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wf starts");
    // Read five lines' worth of stderr, then close both pipes: what `2>&1 | head -n 5` does.
    let mut stderr = child.stderr.take().expect("stderr");
    let mut first = [0u8; 64];
    let _ = stderr.read(&mut first).expect("read");
    drop(stderr);
    drop(child.stdout.take());
    let status = child.wait().expect("wf ends");
    assert_eq!(status.code(), Some(0), "{status:?}");
    for n in 0..200 {
        assert!(
            project.path().join(format!("done-{n}")).exists(),
            "task r{n}"
        );
    }
    let report: Value = serde_json::from_str(&project.read("report.json")).expect("report");
    assert_eq!(report["tasks"].as_array().expect("tasks").len(), 400);
}

#[test]
fn a_reader_that_goes_away_ends_a_listing_quietly() {
    let project = Project::with_manifest(&noisy_manifest(300));
    let mut child = wf_process(project.path(), &["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts");
    drop(child.stdout.take());
    let status = child.wait().expect("wf ends");
    // Ended by SIGPIPE (no code), like `cat`; never a panic (101).
    assert_ne!(status.code(), Some(101), "{status:?}");
}

/// The runs `wf history` shows, as (run id, status) pairs.
fn history(project: &Project) -> Vec<(String, String)> {
    let output = project.wf(&["history"]).output().expect("wf runs");
    stdout_of(&output)
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0].to_owned(), fields[4].to_owned())
        })
        .collect()
}

#[test]
fn an_unwritable_report_is_reported_after_the_summary_and_loses_nothing_else() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"echo hi\"\n");
    let output = project
        .wf(&["run", "--report", "/dev/full"])
        .output()
        .expect("wf runs");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let summary = stderr.find("wf: succeeded").expect("summary printed");
    let error = stderr
        .find("failed to write /dev/full: No space left on device")
        .expect("error names the file and the reason");
    assert!(summary < error, "{stderr}");
    let runs = history(&project);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1, "succeeded");
    let report = project.read(&format!(".wf/runs/{}/report.json", runs[0].0));
    assert!(report.contains("\"status\": \"succeeded\""));
}

#[test]
fn a_link_planted_at_the_old_temporary_name_is_never_followed() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    project.write("victim.txt", "keep me");
    std::os::unix::fs::symlink(
        project.path().join("victim.txt"),
        project.path().join("out.json.partial"),
    )
    .expect("plant");
    let output = project
        .wf(&["run", "--report", "out.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(project.read("victim.txt"), "keep me");
    assert!(project.read("out.json").contains("\"run_id\""));
    let leftovers: Vec<_> = std::fs::read_dir(project.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") && n != "out.json.partial")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_report_to_dev_stdout_goes_into_the_pipe_and_keeps_the_device_link() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"true\"\n");
    let output = project
        .wf(&["run", "--output", "quiet", "--report", "/dev/stdout"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let report: Value = serde_json::from_str(&stdout_of(&output)).expect("the report on stdout");
    assert_eq!(report["status"], "succeeded");
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .expect("/dev/stdout")
            .file_type()
            .is_symlink()
    );
}

/// Mounts a tmpfs of `size` on a new folder, or says loudly why not and returns `None`.
fn tiny_tmpfs(size: &str) -> Option<(tempfile::TempDir, TmpfsGuard)> {
    let dir = tempfile::tempdir().expect("folder");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root); the disk-full test did not run");
        return None;
    }
    let guard = TmpfsGuard(dir.path().to_path_buf());
    Some((dir, guard))
}

/// Unmounts the tmpfs when dropped.
struct TmpfsGuard(std::path::PathBuf);

impl Drop for TmpfsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_run_that_fills_the_disk_still_prints_its_summary_and_records_its_end() {
    let Some((dir, _guard)) = tiny_tmpfs("1m") else {
        return;
    };
    std::fs::write(
        dir.path().join("wf.toml"),
        "[tasks.a]\nrun = \"echo hi\"\n[tasks.fill]\n\
         run = \"head -c 4000000 /dev/zero > big || true\"\ndeps = [\"a\"]\n",
    )
    .expect("manifest");
    let output = wf_process(dir.path(), &["run"]).output().expect("wf runs");
    let stderr = stderr_of(&output);
    assert!(stderr.contains("wf: succeeded"), "no summary: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let history = wf_process(dir.path(), &["history"])
        .output()
        .expect("wf runs");
    let listed = stdout_of(&history);
    assert!(listed.contains("succeeded"), "{listed}");
    assert!(!listed.contains("running"), "{listed}");
    let runs = dir.path().join(".wf/runs");
    for run in std::fs::read_dir(&runs).expect("runs") {
        let run = run.expect("run").path();
        assert!(run.join("report.json").exists());
        for file in std::fs::read_dir(&run).expect("run folder") {
            let name = file.expect("file").file_name();
            let name = name.to_string_lossy();
            assert!(
                !name.ends_with(".partial") && name != ".reserve",
                "left behind: {name}"
            );
        }
    }
}

/// A run of many failing tasks ends with a bounded summary: the first failures in detail, the
/// rest counted; and a run of many up-to-date tasks lists only the first of them.
#[test]
fn the_summary_of_a_large_run_stays_bounded() {
    let mut manifest = String::from("[workflow]\nkeep_going = true\njobs = 2\n");
    for i in 0..30 {
        manifest.push_str(&format!("[tasks.bad{i}]\nrun = [\"false\"]\n"));
    }
    let ran = crate::support::Test::new(&manifest)
        .args(&["run", "--output", "grouped"])
        .status(1)
        .stderr_contains("✗ 10 more tasks failed")
        .run();
    assert_eq!(ran.stderr.matches("✗ failed").count(), 20, "{}", ran.stderr);

    let mut manifest = String::from("[workflow]\njobs = 2\n");
    for i in 0..60 {
        manifest.push_str(&format!(
            "[tasks.t{i}]\nrun = \"touch out{i}\"\noutputs = [\"out{i}\"]\n"
        ));
    }
    let project = Project::with_manifest(&manifest);
    crate::support::Test::in_project(&project)
        .args(&["run", "--output", "grouped"])
        .status(0)
        .run();
    // By default they are one count line; listed, only the first of them get a line each.
    let collapsed = crate::support::Test::in_project(&project)
        .args(&["run", "--output", "grouped"])
        .status(0)
        .run();
    assert!(
        collapsed.stdout.contains("✓ 60 tasks up to date"),
        "{}",
        collapsed.stdout
    );
    let again = crate::support::Test::in_project(&project)
        .args(&["run", "--output", "grouped", "--show-up-to-date"])
        .status(0)
        .run();
    assert_eq!(
        again.stdout.matches(" up to date").count(),
        50,
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("more tasks that do not run"),
        "{}",
        again.stdout
    );
}
