//! What a newcomer meets in the first hour: reports of runs that are going on or were killed,
//! the plan after a failure, command-line errors, the order of failures in the summary.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Project, Test, in_terminal, stderr_of, stdout_of, terminal_lines, wf_process,
};

/// Runs `wf ARGS` in `project` until its stdout contains `text` (or `limit` passes); returns
/// the last stdout.
fn wait_for_stdout(project: &Project, args: &[&str], text: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let output = project.wf(args).output().expect("wf runs");
        let stdout = stdout_of(&output);
        if stdout.contains(text) || Instant::now() > deadline {
            return stdout;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_run(project: &Project) -> Child {
    wf_process(project.path(), &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts")
}

const FAST_AND_SLOW: &str = "[workflow]\njobs = 2\n[tasks.fast]\nrun = \"true\"\n\
                             [tasks.slow]\nrun = \"sleep 30\"\n";

#[test]
fn report_of_a_run_in_progress_says_it_is_running_and_what_is_done() {
    let project = Project::with_manifest(FAST_AND_SLOW);
    let mut child = start_run(&project);
    let stdout = wait_for_stdout(
        &project,
        &["report"],
        "done so far: 1 succeeded",
        Duration::from_secs(20),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(stdout.contains(" is still running (pid "), "{stdout}");
    assert!(!stdout.contains("did not finish normally"), "{stdout}");
    assert!(stdout.contains("\ndone so far: 1 succeeded\n"), "{stdout}");
    // A quiet task has no log and no record yet: its processes name it.
    assert!(stdout.contains("\nrunning: slow\n"), "{stdout}");
}

#[test]
fn a_killed_run_shows_what_was_recorded_in_history_and_report() {
    let project = Project::with_manifest(FAST_AND_SLOW);
    let mut child = start_run(&project);
    wait_for_stdout(
        &project,
        &["report"],
        "done so far: 1 succeeded",
        Duration::from_secs(20),
    );
    child.kill().expect("SIGKILL wf");
    child.wait().expect("reaped");
    let history = stdout_of(&project.wf(&["history"]).output().expect("wf runs"));
    let row = history.lines().nth(1).expect("one run");
    assert!(row.contains("stopped"), "{history}");
    assert!(row.ends_with("1 succeeded"), "{history}");
    let report = stdout_of(&project.wf(&["report"]).output().expect("wf runs"));
    assert!(report.contains("did not finish normally"), "{report}");
    assert!(
        report.contains("\nrecorded before it stopped: 1 succeeded\n"),
        "{report}"
    );
}

#[test]
fn an_invalid_manifest_is_not_sent_to_validate_again() {
    let ran = Test::new("[tasks.a]\nrun = \"true\"\ndeps = [\"b\"]\n")
        .args(&["run"])
        .status(2)
        .run();
    assert!(!ran.stderr.contains("wf validate"), "{}", ran.stderr);
    insta::assert_snapshot!("invalid_manifest_run", ran.stderr);
}

#[test]
fn plan_says_a_task_failed_in_the_last_run() {
    let project = Project::with_manifest("[tasks.a]\nrun = \"exit 1\"\n");
    Test::in_project(&project).args(&["run"]).status(1).run();
    let ran = Test::in_project(&project).args(&["plan"]).status(0).run();
    assert!(
        ran.stdout.contains("failed in the last run"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("never ran"), "{}", ran.stdout);
}

#[test]
fn report_takes_the_manifest_path_as_history_does() {
    let project = Project::new();
    project.write("x.toml", "[tasks.a]\nrun = \"true\"\n");
    Test::in_project(&project)
        .args(&["run", "x.toml"])
        .status(0)
        .run();
    let ran = Test::in_project(&project)
        .args(&["report", "x.toml"])
        .status(0)
        .run();
    assert!(ran.stdout.contains("✓ a succeeded"), "{}", ran.stdout);
    let latest = Test::in_project(&project)
        .args(&["report", "x.toml", "latest"])
        .status(0)
        .run();
    assert_eq!(latest.stdout, ran.stdout);
}

#[test]
fn resume_with_force_is_one_clean_error() {
    for command in ["run", "plan"] {
        let ran = Test::new("[tasks.a]\nrun = \"true\"\n")
            .args(&[command, "--resume", "--force"])
            .status(2)
            .run();
        assert_eq!(
            ran.stderr,
            "error: `--resume` and `--force` cannot be used together: `--force` runs every \
             selected task, `--resume` skips what the previous run finished; give one of them\n"
        );
    }
}

/// Failures are listed in the order they ended; a task that could not start ended when it
/// was tried, before a task that failed later.
#[test]
fn failures_are_summarised_in_the_order_they_ended() {
    let ran = Test::new(
        "[workflow]\njobs = 2\nkeep_going = true\n\
         [tasks.late]\nrun = \"sleep 0.5; exit 3\"\n\
         [tasks.nostart]\nrun = [\"./no-such-program\"]\n",
    )
    .args(&["run"])
    .status(1)
    .run();
    let late = ran.stderr.find("✗ failed late").expect("late listed");
    let nostart = ran.stderr.find("✗ failed nostart").expect("nostart listed");
    assert!(nostart < late, "{}", ran.stderr);
}

#[test]
fn a_dependency_without_outputs_is_a_warning_in_plan() {
    let ran = Test::new(
        "[tasks.mkout]\nrun = \"true\"\n[tasks.compile]\nrun = \"touch app\"\n\
         deps = [\"mkout\"]\noutputs = [\"app\"]\n",
    )
    .args(&["plan"])
    .status(0)
    .run();
    assert_eq!(
        ran.stderr
            .matches(
                "`compile` reruns every time because its dependency `mkout` declares no outputs"
            )
            .count(),
        1,
        "{}",
        ran.stderr
    );
    let strict = Test::in_project(&ran.project)
        .args(&["validate", "--strict"])
        .status(1)
        .run();
    assert!(strict.stderr.contains("wf::dependency_without_outputs"));
}

#[test]
fn an_unknown_placeholder_fails_strict_and_does_not_run_literally() {
    let ran = Test::new(
        "[tasks.train]\nrun = \"echo {{ matrx.lr }} > out.txt\"\nmatrix = { lr = [1, 2] }\n",
    )
    .args(&["run"])
    .status(2)
    .stderr_contains("did you mean `{{ matrix.lr }}`?")
    .run();
    assert!(!ran.project.path().join("out.txt").exists());
    let awk = Test::new("[tasks.t]\nrun = \"echo '1 2' | awk '{{print $2}}' > out.txt\"\n")
        .args(&["run"])
        .status(0)
        .run();
    assert_eq!(awk.project.read("out.txt"), "2\n");
}

#[test]
fn the_undefined_key_help_lists_each_key_once_in_every_format() {
    let project = Project::with_manifest(
        "[tasks.t]\nrun = \"t {{ matrix.lr }} {{ matrix.seed }} {{ matrix.bs }}\"\n\
         matrix = { lr = [1, 2], seed = [1, 2, 3] }\n",
    );
    for format in ["human", "json", "github"] {
        let output = project
            .wf(&["validate", "--format", format])
            .output()
            .expect("wf runs");
        let text = format!("{}{}", stdout_of(&output), stderr_of(&output));
        assert!(text.contains("the matrix defines: lr, seed"), "{text}");
        assert!(!text.contains("lr, seed, lr"), "{text}");
    }
}

/// The README's showcase manifest is valid and creates the folder it writes into.
#[test]
fn the_readme_showcase_is_valid_and_creates_its_data_folder() {
    let readme =
        std::fs::read_to_string(crate::support::repo_root().join("README.md")).expect("README");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let manifest = &readme[start..start + readme[start..].find("```").expect("block end")];
    assert!(manifest.contains("mkdir -p data && curl"), "{manifest}");
    let project = Project::with_manifest(manifest);
    let output = project.wf(&["validate"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

/// The `wf report` lines for runs without a report, as docs/cli.md shows them, are the ones
/// the tests above see wf print.
#[test]
fn the_documented_report_of_unfinished_runs_matches_the_output() {
    let docs =
        std::fs::read_to_string(crate::support::repo_root().join("docs/cli.md")).expect("docs");
    for line in [
        "of wf is still running (pid 4242): no report yet\ndone so far: 1 succeeded\nlogs: .wf/runs/",
        "of wf did not finish normally (wf was killed or the machine stopped): cancelled\nrecorded before it stopped: 1 succeeded\nlogs: .wf/runs/",
        "`failed in the last run`",
        "`wf report x.toml`",
    ] {
        assert!(docs.contains(line), "docs/cli.md lacks {line:?}");
    }
}

/// Expansion rows are aligned with the table; a matrix task's row shows no one expansion's
/// description when each has its own.
#[test]
fn list_aligns_expansions_and_keeps_their_own_descriptions() {
    Test::new(
        "[tasks.train]\nrun = \"t {{ matrix.lr }}\"\ndescription = \"lr {{ matrix.lr }}\"\n\
         matrix = { lr = [\"0.1\", \"0.01\"] }\nlocks = [\"gpu{{ matrix.lr }}\"]\n",
    )
    .args(&["list"])
    .status(0)
    .stdout(
        "TASK              DEPS  LOCKS    DESCRIPTION\n\
         train (×2)        -\n\
         \x20 train[lr=0.1]         gpu0.1   lr 0.1\n\
         \x20 train[lr=0.01]        gpu0.01  lr 0.01\n",
    )
    .run();
}

#[test]
fn stream_prefixes_are_padded_to_the_longest_name() {
    let ran = Test::new(
        "[workflow]\njobs = 1\n[tasks.a]\nrun = \"echo one\"\n\
         [tasks.longer_name]\nrun = \"echo two\"\ndeps = [\"a\"]\n",
    )
    .args(&["run", "--output", "stream"])
    .status(0)
    .run();
    assert!(ran.stdout.contains("a           | one\n"), "{}", ran.stdout);
    assert!(ran.stdout.contains("longer_name | two\n"), "{}", ran.stdout);
    assert!(!ran.stdout.contains('\u{1b}'), "no colour off a terminal");
}

#[test]
fn on_a_terminal_grouped_output_sits_behind_a_gutter_and_stream_names_are_coloured() {
    if !crate::support::tool("script") {
        return;
    }
    let project =
        Project::with_manifest("[workflow]\njobs = 1\n[tasks.a]\nrun = \"echo from-the-task\"\n");
    let grouped = in_terminal(&project, "run --color never --output grouped");
    assert!(grouped.contains("│ from-the-task"), "{grouped:?}");
    let stream = in_terminal(&project, "run --color always --output stream");
    assert!(
        stream.contains("\u{1b}[31ma\u{1b}[0m | from-the-task"),
        "{stream:?}"
    );
    // Off a terminal the log is copied byte for byte.
    let piped = Test::in_project(&project).args(&["run"]).status(0).run();
    assert!(
        piped.stdout.contains("\nfrom-the-task\n"),
        "{}",
        piped.stdout
    );
}

#[test]
fn on_a_terminal_stream_lines_scroll_above_the_status_line() {
    if !crate::support::tool("script") {
        return;
    }
    let project = Project::with_manifest(
        "[workflow]\njobs = 1\n[tasks.a]\nrun = \"echo start; sleep 0.8; echo end\"\n",
    );
    let text = in_terminal(&project, "run --color never --output stream");
    assert!(
        text.contains("1 running: a"),
        "a status line is drawn: {text:?}"
    );
    // Every task line is whole once the status line's clearing is taken off.
    let lines = terminal_lines(&text);
    assert!(lines.contains(&"a | start"), "{lines:?}");
    assert!(lines.contains(&"a | end"), "{lines:?}");
}
