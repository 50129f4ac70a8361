//! Submitting one attempt: the `sbatch --parsable` command line, the call, and its answer.

use std::path::Path;

use super::error::SlurmError;
use super::script::BatchScript;
use super::{JobId, SlurmClient};
use crate::workflow::SlurmOptions;

/// The Slurm options of one job, as `[defaults].slurm` and a task's `slurm` table give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`, in Slurm's format (`"1:00:00"`).
    pub time: Option<String>,
    /// `--mem` (`"4G"`).
    pub mem: Option<String>,
    /// `--gres` (`"gpu:1"`).
    pub gres: Option<String>,
    /// `--gpus`.
    pub gpus: Option<String>,
    /// `--constraint`.
    pub constraint: Option<String>,
    /// Further `sbatch` arguments, appended as they are.
    pub extra: Vec<String>,
}

impl From<&SlurmOptions> for JobOptions {
    fn from(options: &SlurmOptions) -> Self {
        Self {
            partition: options.partition.clone(),
            account: options.account.clone(),
            qos: options.qos.clone(),
            time: options.time.clone(),
            mem: options.mem.clone(),
            gres: options.gres.clone(),
            gpus: options.gpus.clone(),
            constraint: options.constraint.clone(),
            extra: options.extra.clone(),
        }
    }
}

/// Which of the submitting environment a job sees, besides what its script exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Export {
    /// `--export=ALL` (Slurm's default): the environment wf was started in, as the local
    /// executor gives it to tasks.
    #[default]
    All,
    /// `--export=NONE`: only `SLURM_*` and what the script exports (not even `PATH`).
    None,
}

/// Everything `sbatch` needs for one attempt.
#[derive(Debug, Clone)]
pub struct SubmitRequest<'a> {
    /// `--job-name`; see [`job_name`].
    pub job_name: String,
    /// `--chdir`: the task's working directory.
    pub cwd: &'a Path,
    /// `--output` and `--error`, opened for appending: the task's log.
    pub log: &'a Path,
    /// `--cpus-per-task`.
    pub cpus: u32,
    /// `--export`.
    pub export: Export,
    /// The task's Slurm options.
    pub options: &'a JobOptions,
    /// The script, given to sbatch on its standard input.
    pub script: &'a BatchScript,
}

/// What `sbatch --parsable` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The new job's id.
    pub id: JobId,
    /// The cluster, when Slurm names one (federations and `--clusters`).
    pub cluster: Option<String>,
}

/// Longest job name produced by [`job_name`], in bytes.
const MAX_JOB_NAME: usize = 100;

/// A job name for squeue listings: `wf:WORKFLOW:TASK`, each byte that is not a letter, digit or
/// one of `_ . - = , [ ] :` replaced by `_`, cut to 100 bytes.
pub fn job_name(workflow: &str, task: &str) -> String {
    let name: String = format!("wf:{workflow}:{task}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-=,[]:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(MAX_JOB_NAME).collect()
}

/// The `sbatch` arguments for `request` (the program name not included). The script is read
/// from standard input, so nothing here passes through a shell.
pub fn sbatch_args(request: &SubmitRequest<'_>) -> Vec<String> {
    let log = request.log.display();
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", request.job_name),
        format!("--chdir={}", request.cwd.display()),
        format!("--output={log}"),
        format!("--error={log}"),
        "--open-mode=append".to_owned(),
        format!(
            "--export={}",
            match request.export {
                Export::All => "ALL",
                Export::None => "NONE",
            }
        ),
        format!("--cpus-per-task={}", request.cpus.max(1)),
    ];
    let options = request.options;
    for (flag, value) in [
        ("partition", &options.partition),
        ("account", &options.account),
        ("qos", &options.qos),
        ("time", &options.time),
        ("mem", &options.mem),
        ("gres", &options.gres),
        ("gpus", &options.gpus),
        ("constraint", &options.constraint),
    ] {
        if let Some(value) = value {
            args.push(format!("--{flag}={value}"));
        }
    }
    args.extend(options.extra.iter().cloned());
    args
}

/// Reads `sbatch --parsable`'s answer: `ID` or `ID;CLUSTER` on the last non-empty line (sbatch
/// may print warnings before it).
pub fn parse_parsable(stdout: &str) -> Option<Submission> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let (id, cluster) = match line.split_once(';') {
        Some((id, cluster)) => (id, Some(cluster.trim().to_owned())),
        None => (line, None),
    };
    Some(Submission {
        id: JobId(id.trim().parse().ok()?),
        cluster: cluster.filter(|c| !c.is_empty()),
    })
}

impl SlurmClient {
    /// Submits one attempt with `sbatch`; its stderr is in the error if Slurm refuses it.
    pub fn submit(&self, request: &SubmitRequest<'_>) -> Result<Submission, SlurmError> {
        let args = sbatch_args(request);
        self.count(|c| &c.sbatch);
        let output = self
            .tools
            .run("sbatch", &args, Some(request.script.as_str().as_bytes()))?;
        let stdout = output.into_success("sbatch")?;
        parse_parsable(&stdout).ok_or(SlurmError::UnexpectedOutput {
            command: "sbatch --parsable".into(),
            output: stdout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsable_answers_are_read() {
        assert_eq!(
            parse_parsable("42\n"),
            Some(Submission {
                id: JobId(42),
                cluster: None
            })
        );
        assert_eq!(
            parse_parsable("sbatch: warning: something\n7;cluster1\n"),
            Some(Submission {
                id: JobId(7),
                cluster: Some("cluster1".into())
            })
        );
        assert_eq!(parse_parsable(""), None);
        assert_eq!(parse_parsable("Submitted batch job 5\n"), None);
        assert_eq!(parse_parsable("-1\n"), None);
    }

    #[test]
    fn job_names_are_sanitised_and_bounded() {
        assert_eq!(job_name("demo", "train[lr=0.1]"), "wf:demo:train[lr=0.1]");
        assert_eq!(job_name("my flow", "a/b $(x)\n"), "wf:my_flow:a_b___x__");
        assert_eq!(job_name("w", &"é".repeat(300)).len(), MAX_JOB_NAME);
    }

    #[test]
    fn the_argv_carries_every_option_and_extra_args_verbatim() {
        let script =
            BatchScript::new(&["true".to_owned()], Path::new("/"), &[]).expect("valid script");
        let options = JobOptions {
            partition: Some("gpu".into()),
            account: Some("proj".into()),
            qos: Some("low".into()),
            time: Some("1:00:00".into()),
            mem: Some("4G".into()),
            gres: Some("gpu:1".into()),
            gpus: Some("2".into()),
            constraint: Some("a100&ib".into()),
            extra: vec!["--nice=5".into(), "--comment=a b; $(x)".into()],
        };
        let request = SubmitRequest {
            job_name: job_name("w", "t"),
            cwd: Path::new("/work dir"),
            log: Path::new("/logs/t.log"),
            cpus: 4,
            export: Export::None,
            options: &options,
            script: &script,
        };
        assert_eq!(
            sbatch_args(&request),
            [
                "--parsable",
                "--job-name=wf:w:t",
                "--chdir=/work dir",
                "--output=/logs/t.log",
                "--error=/logs/t.log",
                "--open-mode=append",
                "--export=NONE",
                "--cpus-per-task=4",
                "--partition=gpu",
                "--account=proj",
                "--qos=low",
                "--time=1:00:00",
                "--mem=4G",
                "--gres=gpu:1",
                "--gpus=2",
                "--constraint=a100&ib",
                "--nice=5",
                "--comment=a b; $(x)",
            ]
        );
        let plain = JobOptions::from(&SlurmOptions {
            partition: Some("p".into()),
            ..SlurmOptions::default()
        });
        let request = SubmitRequest {
            options: &plain,
            export: Export::All,
            cpus: 0,
            ..request
        };
        let args = sbatch_args(&request);
        assert!(args.contains(&"--export=ALL".to_owned()));
        assert!(args.contains(&"--cpus-per-task=1".to_owned()));
        assert_eq!(args.last().map(String::as_str), Some("--partition=p"));
    }
}
