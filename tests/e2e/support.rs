//! What the end-to-end tests share: a temporary project folder and the `wf` command.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate lives in the workspace")
        .to_path_buf()
}

/// A `wf` command with a clean, colourless environment.
pub fn wf() -> Command {
    let mut cmd = Command::cargo_bin("wf").expect("the wf binary is built");
    cmd.env("NO_COLOR", "1").env_remove("CLICOLOR_FORCE");
    cmd
}

/// A plain `std` command for the `wf` binary, for tests that need the child process itself
/// (to signal it or read its resource usage).
pub fn wf_process(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wf"));
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1");
    cmd
}

/// A temporary folder holding a manifest, removed when dropped.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// An empty project folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A project whose `wf.toml` is `manifest`.
    pub fn with_manifest(manifest: &str) -> Self {
        let project = Self::new();
        project.write("wf.toml", manifest);
        project
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders) relative to the project.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(path, text).expect("write file");
    }

    /// Reads a file relative to the project.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// `wf ARGS…` run inside the project folder.
    pub fn wf(&self, args: &[&str]) -> Command {
        let mut cmd = wf();
        cmd.current_dir(self.path()).args(args);
        cmd
    }
}

/// How many times a task appended a line to its counter file `NAME.count` in the project.
pub fn count(project: &Project, name: &str) -> usize {
    std::fs::read_to_string(project.path().join(format!("{name}.count")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The standard output of a finished command as text.
pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The standard error of a finished command as text.
pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The entry of task `name` in a JSON run report.
pub fn report_task<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {report:#}"))
}

/// One end-to-end check in the style of a builder: a manifest (and files) in, a `wf` command,
/// then the expected exit code and output checked, and the run report read back.
///
/// ```ignore
/// let ran = Test::new("[tasks.a]\nrun = \"echo hi\"\n").args(&["run"]).status(0).run();
/// assert_eq!(ran.task_status("a"), "succeeded");
/// ```
pub struct Test<'p> {
    project: Place<'p>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    status: Option<i32>,
    stdout: Option<String>,
    stderr_contains: Vec<String>,
}

/// The project a [`Test`] runs in: its own, or one the caller keeps for more commands.
pub enum Place<'p> {
    /// Made for the test and removed with it.
    Owned(Project),
    /// The caller's.
    Borrowed(&'p Project),
}

impl std::ops::Deref for Place<'_> {
    type Target = Project;

    fn deref(&self) -> &Project {
        match self {
            Place::Owned(project) => project,
            Place::Borrowed(project) => project,
        }
    }
}

/// What a [`Test`] observed.
pub struct Ran<'p> {
    /// The project folder (still there, for more commands).
    pub project: Place<'p>,
    /// The exit code (-1 if ended by a signal).
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The JSON run report of a `wf run` (null for other commands or when none was written).
    pub report: serde_json::Value,
}

impl<'p> Test<'p> {
    /// A test whose project's `wf.toml` is `manifest`.
    pub fn new(manifest: &str) -> Self {
        Self::with(Place::Owned(Project::with_manifest(manifest)))
    }

    /// A test in the caller's project folder.
    pub fn in_project(project: &'p Project) -> Self {
        Self::with(Place::Borrowed(project))
    }

    fn with(project: Place<'p>) -> Self {
        Self {
            project,
            args: Vec::new(),
            env: Vec::new(),
            status: None,
            stdout: None,
            stderr_contains: Vec::new(),
        }
    }

    /// Writes another file into the project first.
    pub fn file(self, name: &str, text: &str) -> Self {
        self.project.write(name, text);
        self
    }

    /// The `wf` arguments. For `run`, `--report report.json` is added so the report can be
    /// read back.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|&a| a.to_owned()).collect();
        self
    }

    /// An environment variable for `wf`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The exit code `wf` must end with.
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// The exact standard output `wf` must print.
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout = Some(text.to_owned());
        self
    }

    /// Text that standard error must contain.
    pub fn stderr_contains(mut self, text: &str) -> Self {
        self.stderr_contains.push(text.to_owned());
        self
    }

    /// Runs `wf`, checks what was expected and returns what was observed.
    pub fn run(self) -> Ran<'p> {
        let mut args = self.args.clone();
        let is_run = args.first().is_some_and(|a| a == "run");
        let report_path = self.project.path().join("report.json");
        if is_run && !args.iter().any(|a| a == "--report") {
            args.insert(1, "--report".into());
            args.insert(2, "report.json".into());
            let _ = std::fs::remove_file(&report_path);
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.project.wf(&arg_refs);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let output = cmd.output().expect("wf runs");
        let ran = Ran {
            status: output.status.code().unwrap_or(-1),
            stdout: stdout_of(&output),
            stderr: stderr_of(&output),
            report: std::fs::read_to_string(&report_path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(serde_json::Value::Null),
            project: self.project,
        };
        if let Some(code) = self.status {
            assert_eq!(
                ran.status, code,
                "wf {args:?} exit code\nstdout:\n{}\nstderr:\n{}",
                ran.stdout, ran.stderr
            );
        }
        if let Some(expected) = &self.stdout {
            assert_eq!(&ran.stdout, expected, "wf {args:?} stdout");
        }
        for text in &self.stderr_contains {
            assert!(
                ran.stderr.contains(text.as_str()),
                "wf {args:?} stderr lacks {text:?}:\n{}",
                ran.stderr
            );
        }
        ran
    }
}

impl Ran<'_> {
    /// The report entry of task `name`.
    pub fn task(&self, name: &str) -> &serde_json::Value {
        report_task(&self.report, name)
    }

    /// The reported status of task `name`.
    pub fn task_status(&self, name: &str) -> &str {
        self.task(name)["status"].as_str().expect("status")
    }

    /// Every task's name and status, in report order.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.report["tasks"]
            .as_array()
            .map(|tasks| {
                tasks
                    .iter()
                    .map(|t| {
                        (
                            t["name"].as_str().unwrap_or("").to_owned(),
                            t["status"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// True if `tool` can be run. When it cannot: a failure in CI, else a loud note (and the
/// caller skips its test).
pub fn tool(tool: &str) -> bool {
    let found = Process::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        return true;
    }
    let message =
        format!("`{tool}` is not installed; run scripts/ci-deps.sh to install what tests need");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true: this test must not be skipped)"
    );
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    false
}

/// The output of `wf ARGS` (one string, as a shell splits it) run on a pseudo-terminal by
/// `script -qfec`, in `project`, with `TERM=xterm` and without NO_COLOR (each caller says
/// `--color`). Checks that it succeeded. The caller checks first that `script` is installed.
pub fn in_terminal(project: &Project, args: &str) -> String {
    let wf = assert_cmd::cargo::cargo_bin("wf");
    let output = Process::new("script")
        .args(["-qfec", &format!("{} {args}", wf.display()), "/dev/null"])
        .current_dir(project.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
        .expect("script runs");
    assert!(output.status.success(), "{output:?}");
    stdout_of(&output)
}

/// The lines of a terminal's output, each with the status line's clearing (and what it
/// cleared) taken off: what is printed over a cleared status line is a whole line.
pub fn terminal_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|line| {
            line.rsplit("\u{1b}[2K")
                .next()
                .unwrap_or(line)
                .trim_end_matches('\r')
        })
        .collect()
}
