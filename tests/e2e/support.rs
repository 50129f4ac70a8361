//! What the end-to-end tests share: a temporary project folder and the `wf` command.

use std::path::{Path, PathBuf};

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
