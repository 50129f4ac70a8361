//! Ctrl-C and other interrupts through the binary: `when = "always"` tasks run after a
//! cancellation (a second interrupt cancels them), and one interrupt delivered twice (to wf and
//! to its process group, as `timeout -s INT` does) takes the graceful path.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::processes::{pid, report, signal_pid, wait_for_file};
use crate::support::{Project, report_task as task, wf_process};

/// `wf ARGS` in the project, in a process group of its own (as a CI runner or `timeout` starts
/// it), its output piped.
fn spawn_in_own_group(project: &Project, args: &[&str]) -> Child {
    let mut command = wf_process(project.path(), args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setpgid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setpgid(0, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.spawn().expect("wf starts")
}

fn stderr(child: Child) -> (Option<i32>, String) {
    let output = child.wait_with_output().expect("wf ends");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const CLEANUP_WORKFLOW: &str = r#"
[workflow]
grace = "2s"
[tasks.work]
run = "touch started; sleep 60"
[tasks.next]
run = "touch next"
deps = ["work"]
[tasks.notify]
run = "touch notified"
deps = ["work"]
when = "failure"
[tasks.cleanup]
run = "test -f started; touch cleaning; sleep $CLEANUP_SLEEP; touch cleaned"
deps = ["work"]
when = "always"
[tasks.after_cleanup]
run = "touch after_cleanup"
deps = ["cleanup"]
when = "always"
"#;

#[test]
fn sigint_ends_running_tasks_then_runs_the_always_tasks() {
    let project = Project::with_manifest(CLEANUP_WORKFLOW);
    let child = spawn_with_cleanup_sleep(&project, "0");
    assert!(wait_for_file(
        &project.path().join("started"),
        Duration::from_secs(10)
    ));
    signal_pid(pid(&child), libc::SIGINT);
    let (code, stderr) = stderr(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("starting the `when = \"always\"` tasks"),
        "{stderr}"
    );
    assert!(project.path().join("cleaned").exists(), "{stderr}");
    assert!(project.path().join("after_cleanup").exists(), "{stderr}");
    assert!(!project.path().join("next").exists());
    assert!(!project.path().join("notified").exists());
    let report = report(project.path());
    assert_eq!(report["status"], "cancelled");
    assert_eq!(task(&report, "work")["status"], "cancelled");
    assert_eq!(task(&report, "cleanup")["status"], "succeeded");
    assert_eq!(task(&report, "after_cleanup")["status"], "succeeded");
    assert_eq!(task(&report, "next")["status"], "skipped");
    assert_eq!(task(&report, "notify")["status"], "not_run");
}

/// `wf run --report report.json` with `CLEANUP_SLEEP` set, its output piped.
fn spawn_with_cleanup_sleep(project: &Project, cleanup_sleep: &str) -> Child {
    let mut command = wf_process(project.path(), &["run", "--report", "report.json"]);
    command
        .env("CLEANUP_SLEEP", cleanup_sleep)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("wf starts")
}

#[test]
fn a_second_sigint_cancels_the_always_tasks() {
    let project = Project::with_manifest(CLEANUP_WORKFLOW);
    let child = spawn_with_cleanup_sleep(&project, "60");
    assert!(wait_for_file(
        &project.path().join("started"),
        Duration::from_secs(10)
    ));
    signal_pid(pid(&child), libc::SIGINT);
    assert!(wait_for_file(
        &project.path().join("cleaning"),
        Duration::from_secs(10)
    ));
    // Later than the window within which signals count as one.
    std::thread::sleep(Duration::from_millis(400));
    let second = Instant::now();
    signal_pid(pid(&child), libc::SIGINT);
    let (code, stderr) = stderr(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(second.elapsed() < Duration::from_secs(5), "{stderr}");
    assert!(!project.path().join("cleaned").exists());
    assert!(!project.path().join("after_cleanup").exists());
    let report = report(project.path());
    assert_eq!(task(&report, "cleanup")["status"], "cancelled");
    assert_eq!(task(&report, "cleanup")["signal"], "SIGKILL");
    assert_eq!(task(&report, "after_cleanup")["status"], "not_run");
}

/// A task that, on SIGTERM, takes half a second to write `graceful` and exit: it is written
/// only if wf gives it its grace period instead of killing it at once.
const GRACEFUL_TASK: &str = r#"
[workflow]
grace = "5s"
[tasks.slow_to_stop]
run = "trap 'sleep 0.5; touch graceful; exit 0' TERM; touch started; sleep 60 & wait"
"#;

#[test]
fn an_interrupt_sent_to_wf_and_its_process_group_is_one_interrupt() {
    let project = Project::with_manifest(GRACEFUL_TASK);
    let child = spawn_in_own_group(&project, &["run", "--report", "report.json"]);
    assert!(wait_for_file(
        &project.path().join("started"),
        Duration::from_secs(10)
    ));
    std::thread::sleep(Duration::from_millis(100));
    // What GNU `timeout -s INT` does: the child first, then the child's process group.
    signal_pid(pid(&child), libc::SIGINT);
    signal_pid(-pid(&child), libc::SIGINT);
    let (code, stderr) = stderr(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        project.path().join("graceful").exists(),
        "the task was killed without its grace period: {stderr}"
    );
    assert!(
        !stderr.contains("killing every running task now"),
        "{stderr}"
    );
}

#[test]
fn gnu_timeout_with_sigint_takes_the_graceful_path() {
    let project = Project::with_manifest(GRACEFUL_TASK);
    let wf = assert_cmd::cargo::cargo_bin("wf");
    let output = Command::new("timeout")
        .args(["--preserve-status", "-s", "INT", "2"])
        .arg(wf)
        .args(["run", "--report", "report.json"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("timeout (GNU coreutils) runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(project.path().join("started").exists(), "{stderr}");
    assert!(
        project.path().join("graceful").exists(),
        "the task was killed without its grace period: {stderr}"
    );
}
