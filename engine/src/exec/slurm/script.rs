//! The batch script of one attempt: the task's environment exported, its working directory
//! entered and its command `exec`ed, every value quoted so that the shell running the script
//! takes it literally.

use std::path::Path;

use crate::workflow::{Task, Workflow};

/// Why a batch script could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ScriptError {
    /// The command has no program.
    #[error("the command is empty")]
    #[diagnostic(code(wf::slurm::script::empty_command))]
    EmptyCommand,
    /// An environment variable name a POSIX shell cannot export.
    #[error(
        "`{0}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)"
    )]
    #[diagnostic(code(wf::slurm::script::env_name))]
    InvalidEnvName(String),
    /// A value with a NUL byte, which no process argument or variable can hold.
    #[error("the {0} contains a NUL byte")]
    #[diagnostic(code(wf::slurm::script::nul))]
    NulByte(&'static str),
    /// A working directory that is not valid UTF-8.
    #[error("the working directory {0:?} is not valid UTF-8")]
    #[diagnostic(code(wf::slurm::script::cwd))]
    NonUtf8Cwd(std::path::PathBuf),
}

/// Exit status of the script when it cannot enter the task's working directory (as a shell
/// reports a command it cannot execute).
pub const CWD_FAILED_STATUS: i32 = 126;

/// A batch script, ready for `sbatch`'s standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchScript {
    text: String,
}

impl BatchScript {
    /// The script that runs `argv` (program first, executed without a shell) in `cwd` with
    /// `env` exported on top of what the job inherits. Later entries of `env` win.
    pub fn new(argv: &[String], cwd: &Path, env: &[(String, String)]) -> Result<Self, ScriptError> {
        if argv.is_empty() {
            return Err(ScriptError::EmptyCommand);
        }
        if argv.iter().any(|arg| arg.contains('\0')) {
            return Err(ScriptError::NulByte("command"));
        }
        let cwd = cwd
            .to_str()
            .ok_or_else(|| ScriptError::NonUtf8Cwd(cwd.to_owned()))?;
        if cwd.contains('\0') {
            return Err(ScriptError::NulByte("working directory"));
        }
        let mut text = String::from(
            "#!/bin/sh\n# Batch script written by wf for one task attempt.\nwf_cr=$(printf '\\r')\n",
        );
        for (index, (name, value)) in env.iter().enumerate() {
            if !is_env_name(name) {
                return Err(ScriptError::InvalidEnvName(name.clone()));
            }
            if value.contains('\0') {
                return Err(ScriptError::NulByte("environment"));
            }
            if env[index + 1..].iter().any(|(later, _)| later == name) {
                continue;
            }
            text.push_str(&format!("export {name}={}\n", quote(value)));
        }
        text.push_str(&format!(
            "cd -- {} || exit {CWD_FAILED_STATUS}\nexec",
            quote(cwd)
        ));
        for arg in argv {
            text.push(' ');
            text.push_str(&quote(arg));
        }
        text.push('\n');
        Ok(Self { text })
    }

    /// The script of one attempt of `task`: its command as the local executor runs it (a
    /// string through the workflow's shell, an array directly), in its `cwd`, with the
    /// workflow's and the task's environment and `WF_TASK`, `WF_RUN_ID`, `WF_ATTEMPT` (the
    /// task's `WF_MATRIX_*` come with its [`Task::environment`]).
    pub fn for_attempt(
        workflow: &Workflow,
        task: &Task,
        run_id: &str,
        attempt: u32,
    ) -> Result<Self, ScriptError> {
        Self::new(
            &task.command.argv(&workflow.shell),
            &task.cwd,
            &attempt_env(workflow, task, run_id, attempt),
        )
    }

    /// The script's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The variables an attempt's script exports, in order (later entries win): the workflow's
/// `env`, the task's [`Task::environment`] (its `env`, then its `WF_MATRIX_*`), then wf's own
/// `WF_TASK`, `WF_RUN_ID` and `WF_ATTEMPT`.
pub fn attempt_env(
    workflow: &Workflow,
    task: &Task,
    run_id: &str,
    attempt: u32,
) -> Vec<(String, String)> {
    workflow
        .env
        .iter()
        .cloned()
        .chain(
            task.environment()
                .map(|(name, value)| (name.into_owned(), value.to_owned())),
        )
        .chain([
            ("WF_TASK".to_owned(), task.name.clone()),
            ("WF_RUN_ID".to_owned(), run_id.to_owned()),
            ("WF_ATTEMPT".to_owned(), attempt.to_string()),
        ])
        .collect()
}

/// True for a name a POSIX shell can export: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value` as one word of a POSIX shell, taken literally: single-quoted, each `'` written
/// `'\''`. A carriage return is written `'"$wf_cr"'` (the script defines `wf_cr`), because
/// sbatch refuses scripts that contain a CR LF line break.
pub fn quote(value: &str) -> String {
    let mut word = String::with_capacity(value.len() + 2);
    word.push('\'');
    for c in value.chars() {
        match c {
            '\'' => word.push_str(r"'\''"),
            '\r' => word.push_str("'\"$wf_cr\"'"),
            c => word.push(c),
        }
    }
    word.push('\'');
    word
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// Runs a script with `sh` in the current directory and returns its stdout and status.
    fn run(script: &BatchScript) -> (Vec<u8>, i32) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script.as_str())
            .output()
            .expect("sh runs");
        (out.stdout, out.status.code().unwrap_or(-1))
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_script_exports_enters_and_execs() {
        let script = BatchScript::new(
            &strings(&["sh", "-c", "echo \"$A\" it's"]),
            Path::new("/tmp/a b"),
            &[("A".into(), "1".into()), ("B".into(), "x'y".into())],
        )
        .expect("valid");
        assert_eq!(
            script.as_str(),
            "#!/bin/sh\n# Batch script written by wf for one task attempt.\nwf_cr=$(printf '\\r')\n\
             export A='1'\nexport B='x'\\''y'\ncd -- '/tmp/a b' || exit 126\n\
             exec 'sh' '-c' 'echo \"$A\" it'\\''s'\n"
        );
    }

    #[test]
    fn the_exit_status_is_the_commands() {
        let script =
            BatchScript::new(&strings(&["sh", "-c", "exit 7"]), Path::new("/"), &[]).expect("ok");
        assert_eq!(run(&script).1, 7);
        let missing_cwd =
            BatchScript::new(&strings(&["true"]), Path::new("/nonexistent/wf-cwd"), &[])
                .expect("ok");
        assert_eq!(run(&missing_cwd).1, CWD_FAILED_STATUS);
    }

    #[test]
    fn later_variables_win_and_bad_names_are_refused() {
        let script = BatchScript::new(
            &strings(&["sh", "-c", "printf %s \"$V\""]),
            Path::new("/"),
            &[("V".into(), "first".into()), ("V".into(), "last".into())],
        )
        .expect("ok");
        assert_eq!(run(&script).0, b"last");
        assert_eq!(script.as_str().matches("export V=").count(), 1);
        for bad in ["", "1A", "A-B", "A B", "A=B", "$(x)", "Ä"] {
            assert_eq!(
                BatchScript::new(
                    &strings(&["true"]),
                    Path::new("/"),
                    &[(bad.into(), "v".into())]
                ),
                Err(ScriptError::InvalidEnvName(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            BatchScript::new(&[], Path::new("/"), &[]),
            Err(ScriptError::EmptyCommand)
        );
        assert_eq!(
            BatchScript::new(&strings(&["a\0b"]), Path::new("/"), &[]),
            Err(ScriptError::NulByte("command"))
        );
    }

    #[test]
    fn hostile_values_do_not_run_anything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let hostile = [
            "$(touch PWNED)",
            "`touch PWNED`",
            "'; touch PWNED; '",
            "\n touch PWNED\n",
            "x\r\ntouch PWNED",
            "\"$(touch PWNED)\"",
            "$HOME ${PATH} \\ \\' *",
        ];
        for value in hostile {
            let script = BatchScript::new(
                &strings(&["sh", "-c", "printf '%s|%s' \"$1\" \"$V\"", "sh", value]),
                dir.path(),
                &[("V".into(), value.into())],
            )
            .expect("valid");
            assert!(!script.as_str().contains('\r'), "{value:?}");
            let (out, status) = run(&script);
            assert_eq!(status, 0);
            assert_eq!(String::from_utf8_lossy(&out), format!("{value}|{value}"));
            assert!(!dir.path().join("PWNED").exists(), "{value:?} injected");
        }
    }

    fn hostile_string() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "'",
            "\"",
            "\\",
            "$",
            "`",
            "$(",
            ")",
            "\n",
            "\r",
            "\r\n",
            ";",
            "&",
            "|",
            "*",
            "?",
            "~",
            "#",
            " ",
            "\t",
            "{",
            "}",
            "!",
            "a",
            "é",
            "#SBATCH --x",
            "'\\''",
        ]);
        prop_oneof![
            "[^\u{0}]{0,24}",
            prop::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arguments_and_variables_round_trip_through_sh(
            args in prop::collection::vec(hostile_string(), 1..4),
            value in hostile_string(),
        ) {
            let mut argv = strings(&["printf", "%s\\000"]);
            argv.extend(args.iter().cloned());
            argv.extend(strings(&["$WFV", "x"]));
            let script = BatchScript::new(&argv, Path::new("/"), &[("WFV".into(), value.clone())])
                .expect("valid");
            prop_assert!(!script.as_str().contains('\r'));
            let (out, status) = run(&script);
            prop_assert_eq!(status, 0);
            let mut expected = Vec::new();
            for arg in args.iter().map(String::as_str).chain(["$WFV", "x"]) {
                expected.extend_from_slice(arg.as_bytes());
                expected.push(0);
            }
            prop_assert_eq!(out, expected);

            let echo = BatchScript::new(
                &strings(&["sh", "-c", "printf %s \"$WFV\""]),
                Path::new("/"),
                &[("WFV".into(), value.clone())],
            ).expect("valid");
            prop_assert_eq!(run(&echo).0, value.into_bytes());
        }
    }
}
