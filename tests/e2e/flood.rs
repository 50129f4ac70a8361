//! Large task output in the default (grouped) mode reaches stdout byte for byte whatever stdout
//! is (a file, a file opened for appending, a pipe, /dev/null, a pipe closed early), and every
//! task's log is kept whole in `.wf/runs/RUN/logs/` either way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::support::{Project, stderr_of, wf_process};

/// Bytes of `data.bin`: several MB, every byte value, control characters included.
const DATA_BYTES: usize = 5 << 20;

/// `len` bytes of a fixed pseudo-random sequence (the same in every test).
fn data(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A project of four tasks run one after another: two flood stdout with binary data, one
/// prints nothing, one writes to stdout and stderr. Returns it with each task's expected
/// output, in the order they run.
fn flood_project() -> (Project, Vec<(&'static str, Vec<u8>)>) {
    let project = Project::with_manifest(
        r#"
[workflow]
jobs = 1

[tasks.a]
run = "cat data.bin"

[tasks.b]
run = "cat data.bin data.bin; printf 'no newline at the end'"
deps = ["a"]

[tasks.c]
run = "true"
deps = ["b"]

[tasks.d]
run = "echo out; echo err >&2"
deps = ["c"]
"#,
    );
    let bytes = data(DATA_BYTES);
    std::fs::write(project.path().join("data.bin"), &bytes).expect("write data");
    let twice = [&bytes[..], &bytes[..], b"no newline at the end"].concat();
    let expected = vec![
        ("a", bytes),
        ("b", twice),
        ("c", Vec::new()),
        ("d", b"out\nerr\n".to_vec()),
    ];
    (project, expected)
}

/// Splits the first line (with its newline) off `rest`.
fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |at| at + 1);
    let (line, tail) = rest.split_at(end);
    *rest = tail;
    line
}

/// Checks that `stdout` is exactly what grouped output is: the run's first line, then for each
/// task its `✓ NAME TIME` line followed by its whole output, and nothing else.
fn assert_grouped(stdout: &[u8], expected: &[(&str, Vec<u8>)]) {
    let mut rest = stdout;
    let first = String::from_utf8_lossy(take_line(&mut rest)).into_owned();
    assert!(
        first.starts_with("wf: 4 tasks on 1 slot, run "),
        "first line: {first}"
    );
    for (name, output) in expected {
        let line = String::from_utf8_lossy(take_line(&mut rest)).into_owned();
        assert!(
            line.starts_with(&format!("✓ {name} ")),
            "task line: {line:?}"
        );
        assert!(line.ends_with('\n'), "task line: {line:?}");
        assert!(
            rest.len() >= output.len() && rest[..output.len()] == output[..],
            "the output of {name} differs from what it printed"
        );
        rest = &rest[output.len()..];
    }
    assert!(
        rest.is_empty(),
        "more on stdout: {:?}",
        String::from_utf8_lossy(&rest[..rest.len().min(200)])
    );
}

/// The run folder of the project's only run.
fn run_dir(project: &Project) -> PathBuf {
    let runs = project.path().join(".wf/runs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .expect("runs folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

/// Every task that printed has its whole output in its log; a quiet one has no log.
fn assert_logs_kept(project: &Project, expected: &[(&str, Vec<u8>)]) {
    let logs = run_dir(project).join("logs");
    for (name, output) in expected {
        let path = logs.join(format!("{name}.log"));
        if output.is_empty() {
            assert!(!path.exists(), "{} exists", path.display());
        } else {
            let log = std::fs::read(&path).expect("log");
            assert!(log == *output, "{} differs", path.display());
        }
    }
}

fn run_with_stdout(dir: &Path, stdout: Stdio) -> Output {
    let output = wf_process(dir, &["run"])
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    output
}

#[test]
fn a_file_gets_every_tasks_output_byte_for_byte() {
    let (project, expected) = flood_project();
    let path = project.path().join("out.txt");
    let file = std::fs::File::create(&path).expect("create");
    run_with_stdout(project.path(), Stdio::from(file));
    assert_grouped(&std::fs::read(&path).expect("read"), &expected);
    assert_logs_kept(&project, &expected);
}

#[test]
fn a_file_opened_for_appending_gets_it_after_what_it_had() {
    let (project, expected) = flood_project();
    let path = project.path().join("out.txt");
    std::fs::write(&path, b"earlier\n").expect("write");
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    run_with_stdout(project.path(), Stdio::from(file));
    let all = std::fs::read(&path).expect("read");
    assert!(all.starts_with(b"earlier\n"));
    assert_grouped(&all[b"earlier\n".len()..], &expected);
    assert_logs_kept(&project, &expected);
}

#[test]
fn a_pipe_gets_every_tasks_output_byte_for_byte() {
    let (project, expected) = flood_project();
    let output = run_with_stdout(project.path(), Stdio::piped());
    assert_grouped(&output.stdout, &expected);
    assert_logs_kept(&project, &expected);
}

#[test]
fn dev_null_gets_nothing_and_the_logs_are_still_kept() {
    let (project, expected) = flood_project();
    let output = run_with_stdout(project.path(), Stdio::null());
    assert!(
        stderr_of(&output).contains("wf: succeeded"),
        "{}",
        stderr_of(&output)
    );
    assert_logs_kept(&project, &expected);
}

#[test]
fn a_pipe_closed_after_the_first_bytes_does_not_stop_the_run_or_lose_a_log() {
    let (project, expected) = flood_project();
    let mut child = wf_process(project.path(), &["run", "--report", "report.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wf starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).expect("read");
    drop(stdout);
    let status = child.wait().expect("wf ends");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let report: serde_json::Value =
        serde_json::from_str(&project.read("report.json")).expect("report");
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_logs_kept(&project, &expected);
}
