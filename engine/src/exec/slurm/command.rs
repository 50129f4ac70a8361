//! Running one Slurm tool: bounded in time, stdin fed, stdout and stderr captured.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::error::SlurmError;

/// Where the Slurm tools are and how long any one call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// Folder holding `sbatch`, `squeue`, `scontrol`, `scancel` and `sinfo`; `None` searches
    /// PATH.
    pub bin_dir: Option<PathBuf>,
    /// Longest time one call may take before it is killed and reported as timed out.
    pub timeout: Duration,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            bin_dir: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What a finished tool printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    /// Its exit status; -1 when a signal ended it.
    pub status: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Stdout if the tool succeeded, else the classified error.
    pub fn into_success(self, program: &str) -> Result<String, SlurmError> {
        if self.status == 0 {
            Ok(self.stdout)
        } else {
            Err(SlurmError::from_failure(program, self.status, &self.stderr))
        }
    }
}

impl Tools {
    /// The path to run for `program`.
    fn program(&self, program: &str) -> OsString {
        match &self.bin_dir {
            Some(dir) => dir.join(program).into_os_string(),
            None => OsString::from(program),
        }
    }

    /// Runs `program args…`, writing `stdin` to it, and waits at most [`Tools::timeout`].
    /// A non-zero exit status is returned as an [`Output`], not as an error.
    pub(crate) fn run(
        &self,
        program: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<Output, SlurmError> {
        let mut command = Command::new(self.program(program));
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Variables of an outer wf run must not reach jobs through sbatch's environment.
        for (name, _) in std::env::vars_os() {
            let bytes = name.as_encoded_bytes();
            if matches!(bytes, b"WF_TASK" | b"WF_RUN_ID" | b"WF_ATTEMPT")
                || bytes.starts_with(b"WF_MATRIX_")
            {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => SlurmError::NotInstalled {
                program: program.to_owned(),
            },
            _ => SlurmError::Spawn {
                program: program.to_owned(),
                reason: err.to_string(),
            },
        })?;
        let writer = match (stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => {
                let bytes = bytes.to_vec();
                // A tool that exits without reading its input makes this fail; its own exit
                // status then says why, so the write error itself is not interesting.
                Some(thread::spawn(move || {
                    let _ = pipe.write_all(&bytes);
                }))
            }
            _ => None,
        };
        let stdout = child.stdout.take().map(reader);
        let stderr = child.stderr.take().map(reader);
        let Some(status) = wait_bounded(&mut child, self.timeout) else {
            // The pipe threads are left to finish on their own: a grandchild may hold the pipes.
            return Err(SlurmError::TimedOut {
                command: std::iter::once(program)
                    .chain(args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                timeout: self.timeout,
            });
        };
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let collect = |handle: Option<thread::JoinHandle<Vec<u8>>>| {
            handle
                .and_then(|h| h.join().ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default()
        };
        Ok(Output {
            status,
            stdout: collect(stdout),
            stderr: collect(stderr),
        })
    }
}

/// Reads a pipe to its end on a thread of its own, so that a chatty tool never blocks.
fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` until `timeout`; kills and reaps it past that and returns `None`.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.code().unwrap_or(-1)),
            Ok(None) => {}
            Err(_) => return Some(-1),
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(timeout_ms: u64) -> Tools {
        Tools {
            bin_dir: None,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn captures_output_status_and_stdin() {
        let out = tools(5000)
            .run(
                "sh",
                &["-c".into(), "cat; echo err >&2; exit 3".into()],
                Some(b"in"),
            )
            .expect("sh runs");
        assert_eq!(
            out,
            Output {
                status: 3,
                stdout: "in".into(),
                stderr: "err\n".into()
            }
        );
    }

    #[test]
    fn a_hanging_tool_is_killed_at_the_timeout() {
        let started = Instant::now();
        let err = tools(200)
            .run("sleep", &["10".into()], None)
            .expect_err("times out");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, SlurmError::TimedOut { ref command, .. } if command == "sleep 10"));
    }

    #[test]
    fn a_missing_tool_is_reported_as_not_installed() {
        let err = tools(1000)
            .run("wf-no-such-sbatch", &[], None)
            .expect_err("missing");
        assert_eq!(
            err,
            SlurmError::NotInstalled {
                program: "wf-no-such-sbatch".into()
            }
        );
    }
}
