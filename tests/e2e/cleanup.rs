//! Nothing of a run is left behind, and the cleanup obeys signals: orphans reaped during the
//! run, processes that left their session, a killed wf's daemons, markers in odd folders, and
//! Ctrl-C while wf ends what tasks left running.
//!
//! Every long-lived process these tests start is a `sleep` whose duration is a unique number
//! (its marker argument), so it can be found in /proc whatever its environment; a guard kills
//! whatever still carries the marker when the test ends, even if it failed.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::processes::{
    Cleanup, none_left, report, signal, sleep_marker, spawn_wf, wait_for, wait_for_file,
};
use crate::support::{Project, report_task, stderr_of, wf_process};

#[test]
fn orphans_are_reaped_during_the_run_and_the_task_keeps_its_exit_code() {
    // `count` samples, while `forks` runs, how many children of wf are zombies.
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 2
[tasks.forks]
run = "for i in $(seq 3000); do (true &); done; touch forked; exit 7"
[tasks.count]
timeout = "60s"
run = '''
max=0; samples=0
while [ ! -e forked ]; do
  n=$(cat /proc/$PPID/task/*/children | tr ' ' '\n' | while read p; do
        [ -n "$p" ] && cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null; done | grep -c Z || true)
  [ "$n" -gt "$max" ] && max=$n
  samples=$((samples + 1))
  sleep 0.05
done
echo "max=$max samples=$samples"
'''
"#,
    );
    let output = project
        .wf(&["run", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let report = report(project.path());
    let forks = report_task(&report, "forks");
    assert_eq!(forks["status"], "failed", "{report:#}");
    assert_eq!(
        forks["exit_code"], 7,
        "the task's own exit code: {report:#}"
    );
    let log = project.read(report_task(&report, "count")["log"].as_str().expect("log"));
    let field = |name: &str| -> u32 {
        log.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {log}"))
    };
    assert!(
        field("samples=") >= 3,
        "the zombies were not sampled while forks ran: {log}"
    );
    assert!(
        field("max=") < 300,
        "zombies piled up during the run: {log}"
    );
}

#[test]
fn processes_that_left_the_session_twice_do_not_survive_the_run() {
    let (outer, inner) = (sleep_marker(), sleep_marker());
    let _cleanup = Cleanup::new(&[&outer, &inner]);
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
grace = "1s"
[tasks.detach]
run = "setsid sh -c 'setsid sh -c \"sleep {inner}\" & sleep {outer}' & sleep 0.5"
"#
    ));
    let output = project
        .wf(&["run", "--report", "report.json"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        none_left(&inner, Duration::from_secs(2)) && none_left(&outer, Duration::from_secs(1)),
        "a process of the run survived it"
    );
    let strays = report(project.path())["stray_processes"]
        .as_u64()
        .expect("stray_processes");
    assert!(strays >= 2, "both sleeps were ended by wf: {strays}");
}

#[test]
fn the_next_run_ends_a_setsid_daemon_of_a_killed_run() {
    let (daemon, main) = (sleep_marker(), sleep_marker());
    let mut cleanup = Cleanup::new(&[&daemon, &main]);
    let project = Project::with_manifest(&format!(
        r#"
[tasks.long]
run = "setsid sh -c 'sleep {daemon}; true' & sleep {main}"
[tasks.quick]
run = "true"
"#
    ));
    cleanup.wf = Some(spawn_wf(project.path(), &["run", "long"]));
    assert!(
        wait_for(&daemon, 1, Duration::from_secs(10)) && wait_for(&main, 1, Duration::from_secs(5))
    );
    cleanup.kill_wf();
    assert!(
        wait_for(&daemon, 1, Duration::ZERO),
        "the daemon outlives the killed wf until the next run"
    );
    next_run_recovers(
        project.path(),
        &daemon,
        "the next run left the crashed run's daemon running",
    );
}

#[test]
fn a_killed_run_in_a_folder_named_with_a_newline_is_recovered() {
    let (left, main) = (sleep_marker(), sleep_marker());
    let mut cleanup = Cleanup::new(&[&left, &main]);
    let project = Project::new();
    // A non-UTF-8 byte too, where the file system allows it.
    let odd = [b"odd\nname\xff".as_slice(), b"odd\nname".as_slice()]
        .into_iter()
        .map(|name| project.path().join(std::ffi::OsStr::from_bytes(name)))
        .find(|dir| std::fs::create_dir(dir).is_ok())
        .expect("a folder whose name holds a newline");
    std::fs::write(
        odd.join("wf.toml"),
        format!(
            "[tasks.long]\nrun = \"sleep {left} & sleep {main}\"\n[tasks.quick]\nrun = \"true\"\n"
        ),
    )
    .expect("manifest");
    cleanup.wf = Some(spawn_wf(&odd, &["run", "long"]));
    assert!(
        wait_for(&left, 1, Duration::from_secs(10)) && wait_for(&main, 1, Duration::from_secs(5))
    );
    cleanup.kill_wf();
    next_run_recovers(
        &odd,
        &left,
        "the crashed run's leftover survived its recovery",
    );
}

/// Runs task `quick` of the manifest in `dir` after its wf was killed: the run succeeds, says
/// it ended what the killed run left, and no process carrying `survivor` is left (`why`).
fn next_run_recovers(dir: &Path, survivor: &str, why: &str) {
    let output = wf_process(dir, &["run", "quick"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("did not end normally; ended"),
        "{}",
        stderr_of(&output)
    );
    assert!(none_left(survivor, Duration::from_secs(2)), "{why}");
}

/// Starts `wf run` (grace 20s) on task `name`, which starts `sleep MARKER` deaf to SIGTERM
/// through `launcher` (`setsid sh -c` or `sh -c`) and ends half a second later; returns once
/// the task has ended and wf waits the grace period for that leftover.
fn waiting_for_a_stubborn_leftover(name: &str, launcher: &str) -> (String, Cleanup, Project) {
    let stubborn = sleep_marker();
    let mut cleanup = Cleanup::new(&[&stubborn]);
    let project = Project::with_manifest(&format!(
        r#"
[workflow]
grace = "20s"
[tasks.{name}]
run = "{launcher} 'trap \"\" TERM; sleep {stubborn}; true' & sleep 0.5; touch ended"
"#
    ));
    cleanup.wf = Some(spawn_wf(
        project.path(),
        &["run", "--report", "report.json"],
    ));
    if !wait_for_file(&project.path().join("ended"), Duration::from_secs(30)) {
        panic!("task {name} did not run: {}", cleanup.wf_account());
    }
    assert!(wait_for(&stubborn, 1, Duration::from_secs(5)));
    // The task has ended: wf is waiting the grace period for the stubborn leftover.
    std::thread::sleep(Duration::from_millis(500));
    (stubborn, cleanup, project)
}

#[test]
fn a_signal_during_the_final_cleanup_kills_what_is_left_at_once() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let (stubborn, mut cleanup, project) =
            waiting_for_a_stubborn_leftover("detach", "setsid sh -c");
        signal(cleanup.wf.as_ref().expect("wf"), sig);
        let code = cleanup.wait_within(Duration::from_secs(6));
        assert_eq!(
            code,
            Some(130),
            "signal {sig}: the 20s grace was not cut short"
        );
        assert!(
            none_left(&stubborn, Duration::from_secs(1)),
            "signal {sig}: the leftover survived"
        );
        let report = report(project.path());
        assert_eq!(report["status"], "cancelled", "signal {sig}");
        assert_eq!(report_task(&report, "detach")["status"], "succeeded");
    }
}

#[test]
fn a_second_sigint_while_leftovers_have_their_grace_kills_them_at_once() {
    let (stubborn, mut cleanup, project) = waiting_for_a_stubborn_leftover("leaves", "sh -c");
    signal(cleanup.wf.as_ref().expect("wf"), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(cleanup.wf.as_ref().expect("wf"), libc::SIGINT);
    let code = cleanup.wait_within(Duration::from_secs(6));
    assert_eq!(code, Some(130), "the second SIGINT did not kill at once");
    assert!(none_left(&stubborn, Duration::from_secs(1)));
    assert_eq!(report(project.path())["status"], "cancelled");
}

#[test]
fn a_sigint_as_the_last_task_ends_is_not_lost() {
    // Deterministic: a process the task left behind sends SIGINT to wf when wf's end-of-run
    // cleanup asks it to go (SIGTERM), i.e. just after the last task ended.
    let marker = sleep_marker();
    let _cleanup = Cleanup::new(&[&marker]);
    let project = Project::with_manifest(&format!(
        r#"
[tasks.last]
run = '''w=$PPID; setsid sh -c "trap 'kill -INT $w; exit 0' TERM; sleep {marker} & wait" & sleep 0.3'''
"#
    ));
    let output = project
        .wf(&["run", "--report", "report.json"])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(130), "{}", stderr_of(&output));
    assert_eq!(report(project.path())["status"], "cancelled");
    assert!(none_left(&marker, Duration::from_secs(1)));
    // Racy by nature: the task signals wf and exits at once, so the signal reaches wf just
    // before or just after the task's end. Either way the run counts as interrupted.
    for round in 0..5 {
        let project = Project::with_manifest("[tasks.last]\nrun = \"kill -INT $PPID; exit 0\"\n");
        let output = project
            .wf(&["run", "--report", "report.json"])
            .timeout(Duration::from_secs(30))
            .output()
            .expect("wf runs");
        assert_eq!(
            output.status.code(),
            Some(130),
            "round {round}: {}",
            stderr_of(&output)
        );
        assert_eq!(
            report(project.path())["status"],
            "cancelled",
            "round {round}"
        );
    }
}
