//! Where jobs are: one batched squeue call per poll, scontrol and sacct for jobs squeue no
//! longer lists, and an adaptive interval between polls.

use std::collections::HashMap;
use std::time::Duration;

use super::error::SlurmError;
use super::state::{ExitCode, JobEnd, JobState};
use super::{JobId, SlurmClient};

/// What Slurm says about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Its exit code, once Slurm knows one.
    pub exit: Option<ExitCode>,
    /// The node(s) it runs or ran on.
    pub nodes: Option<String>,
    /// When it started, in the cluster's local time (`2024-05-01T10:00:00`).
    pub start: Option<String>,
    /// When it ended (or is expected to), in the cluster's local time.
    pub end: Option<String>,
    /// Slurm's reason for its state (`Priority`, `Resources`, `NonZeroExitCode`, …).
    pub reason: Option<String>,
}

impl JobInfo {
    /// A job Slurm does not know.
    pub fn unknown(id: JobId) -> Self {
        Self {
            id,
            state: JobState::Unknown,
            exit: None,
            nodes: None,
            start: None,
            end: None,
            reason: None,
        }
    }

    /// How the job ended; `None` while it has not.
    pub fn job_end(&self) -> Option<JobEnd> {
        JobEnd::from_state(&self.state, self.exit, self.nodes.is_some())
    }

    /// How long it ran by Slurm's clock (start to end), once both are known.
    pub fn run_time(&self) -> Option<Duration> {
        let start = seconds_of(self.start.as_deref()?)?;
        let end = seconds_of(self.end.as_deref()?)?;
        u64::try_from(end - start).ok().map(Duration::from_secs)
    }
}

/// Seconds since an arbitrary epoch of Slurm's `YYYY-MM-DDTHH:MM:SS` (differences only).
fn seconds_of(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (y, m, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':').map(str::parse::<i64>);
    let (hh, mm, ss) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A field value, or `None` for Slurm's ways of saying "nothing".
fn present(value: &str) -> Option<String> {
    let value = value.trim();
    match value {
        "" | "(null)" | "N/A" | "None" | "Unknown" | "None assigned" => None,
        _ => Some(value.to_owned()),
    }
}

/// The `squeue -O` fields this client reads, each ended by `|`.
pub const SQUEUE_FORMAT: &str =
    "JobID:|,State:|,exit_code:|,NodeList:|,StartTime:|,EndTime:|,Reason:|";

/// Most job ids given to one squeue call; more are split over several calls.
pub const SQUEUE_BATCH: usize = 1000;

/// Reads squeue's output in [`SQUEUE_FORMAT`]; lines it cannot read are skipped.
pub fn parse_squeue(stdout: &str) -> Vec<JobInfo> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            if fields.len() < 7 {
                return None;
            }
            Some(JobInfo {
                id: JobId(fields[0].trim().parse().ok()?),
                state: JobState::parse(fields[1]),
                exit: ExitCode::parse_wait_status(fields[2]),
                nodes: present(fields[3]),
                start: present(fields[4]),
                end: present(fields[5]),
                reason: present(fields[6]),
            })
        })
        .collect()
}

/// Reads `scontrol show job -o` output (one job per line, `Key=Value` words).
pub fn parse_scontrol(stdout: &str) -> Vec<JobInfo> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields: HashMap<&str, String> = HashMap::new();
            let mut last: Option<&str> = None;
            for word in line.split(' ').filter(|w| !w.is_empty()) {
                match word.split_once('=') {
                    Some((key, value))
                        if !key.is_empty()
                            && key
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"_:/-".contains(&b)) =>
                    {
                        fields.insert(key, value.to_owned());
                        last = Some(key);
                    }
                    // A value with spaces (Reason, Command, WorkDir) continues.
                    _ => {
                        if let Some(value) = last.and_then(|key| fields.get_mut(key)) {
                            value.push(' ');
                            value.push_str(word);
                        }
                    }
                }
            }
            let field = |key: &str| fields.get(key).and_then(|v| present(v));
            Some(JobInfo {
                id: JobId(fields.get("JobId")?.parse().ok()?),
                state: JobState::parse(fields.get("JobState")?),
                exit: fields.get("ExitCode").and_then(|v| ExitCode::parse_pair(v)),
                nodes: field("NodeList"),
                start: field("StartTime"),
                end: field("EndTime"),
                reason: field("Reason"),
            })
        })
        .collect()
}

/// The `sacct` fields this client reads.
pub const SACCT_FORMAT: &str = "JobIDRaw,State,ExitCode,NodeList,Start,End";

/// Reads `sacct -n -P -X -o` [`SACCT_FORMAT`] output.
pub fn parse_sacct(stdout: &str) -> Vec<JobInfo> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            if fields.len() < 6 {
                return None;
            }
            Some(JobInfo {
                id: JobId(fields[0].trim().parse().ok()?),
                state: JobState::parse(fields[1]),
                exit: ExitCode::parse_pair(fields[2]),
                nodes: present(fields[3]).filter(|n| n != "None assigned"),
                start: present(fields[4]),
                end: present(fields[5]),
                reason: None,
            })
        })
        .collect()
}

/// Above this many jobs missing from squeue, one `scontrol show job` of every job is cheaper
/// than one call per job.
const SCONTROL_ONE_BY_ONE: usize = 8;

/// True for the message squeue and scontrol print when no requested job exists.
fn is_invalid_job_id(stderr: &str) -> bool {
    stderr.contains("Invalid job id")
}

fn id_list(ids: &[JobId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl SlurmClient {
    /// The state of each of `ids`, in the same order: one squeue call (per
    /// [`SQUEUE_BATCH`] ids); jobs it does not list are looked up with scontrol, then sacct (if
    /// accounting is on); a job none of them knows comes back as [`JobState::Unknown`], which is
    /// final. Used both for jobs in flight and for the jobs of a run that crashed.
    pub fn poll(&self, ids: &[JobId]) -> Result<Vec<JobInfo>, SlurmError> {
        let mut known: HashMap<JobId, JobInfo> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(SQUEUE_BATCH) {
            let args = vec![
                "-h".to_owned(),
                "-t".to_owned(),
                "all".to_owned(),
                "-j".to_owned(),
                id_list(chunk),
                "-O".to_owned(),
                SQUEUE_FORMAT.to_owned(),
            ];
            self.count(|c| &c.squeue);
            let output = self.tools.run("squeue", &args, None)?;
            if output.status != 0 && is_invalid_job_id(&output.stderr) {
                continue;
            }
            let stdout = output.into_success("squeue")?;
            known.extend(parse_squeue(&stdout).into_iter().map(|i| (i.id, i)));
        }
        let missing: Vec<JobId> = ids
            .iter()
            .copied()
            .filter(|id| !known.contains_key(id))
            .collect();
        if !missing.is_empty() {
            for info in self.scontrol_jobs(&missing)? {
                if missing.contains(&info.id) {
                    known.insert(info.id, info);
                }
            }
        }
        let missing: Vec<JobId> = ids
            .iter()
            .copied()
            .filter(|id| !known.contains_key(id))
            .collect();
        if !missing.is_empty() {
            for info in self.sacct_jobs(&missing) {
                if missing.contains(&info.id) {
                    known.insert(info.id, info);
                }
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                known
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| JobInfo::unknown(*id))
            })
            .collect())
    }

    /// scontrol's view of `ids`: one call per job for a few (scontrol takes one id), one call
    /// listing every job the controller remembers for many.
    fn scontrol_jobs(&self, ids: &[JobId]) -> Result<Vec<JobInfo>, SlurmError> {
        let calls: Vec<Vec<String>> = if ids.len() > SCONTROL_ONE_BY_ONE {
            vec![vec!["show".into(), "job".into(), "-o".into()]]
        } else {
            ids.iter()
                .map(|id| vec!["show".into(), "job".into(), "-o".into(), id.to_string()])
                .collect()
        };
        let mut found = Vec::new();
        for args in calls {
            self.count(|c| &c.scontrol);
            let output = self.tools.run("scontrol", &args, None)?;
            if output.status != 0 && is_invalid_job_id(&output.stderr) {
                continue;
            }
            found.extend(parse_scontrol(&output.into_success("scontrol")?));
        }
        Ok(found)
    }

    /// sacct's view of `ids`, empty when accounting is off or sacct fails: it is only the last
    /// resort for jobs the controller has forgotten.
    fn sacct_jobs(&self, ids: &[JobId]) -> Vec<JobInfo> {
        let args = vec![
            "-n".to_owned(),
            "-P".to_owned(),
            "-X".to_owned(),
            "-j".to_owned(),
            id_list(ids),
            "-o".to_owned(),
            SACCT_FORMAT.to_owned(),
        ];
        self.count(|c| &c.sacct);
        match self.tools.run("sacct", &args, None) {
            Ok(output) if output.status == 0 => parse_sacct(&output.stdout),
            _ => Vec::new(),
        }
    }
}

/// The wait between polls: short while jobs start and finish, growing while nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInterval {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Default for PollInterval {
    /// From 100 ms to 2 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(2))
    }
}

impl PollInterval {
    /// An interval that starts at `min` and grows to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The wait before the next poll.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Back to the shortest wait (a job was submitted, started or ended).
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// Records a poll, `changed` if any job changed state; returns the wait before the next:
    /// the shortest after a change, else half as long again as before, up to the cap.
    pub fn after_poll(&mut self, changed: bool) -> Duration {
        self.current = if changed {
            self.min
        } else {
            (self.current + self.current / 2).min(self.max)
        };
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_are_read() {
        let out = "23|CANCELLED|15|localhost|2026-12-01T01:07:05|2026-12-01T01:07:06|None|\n\
                   21|FAILED|768|localhost|2026-12-01T01:07:05|2026-12-01T01:07:05|NonZeroExitCode|\n\
                   30|PENDING|0||N/A|N/A|Priority|\n\
                   garbage\n\
                   x|RUNNING|0|||||\n";
        let jobs = parse_squeue(out);
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].id, JobId(23));
        assert_eq!(jobs[0].job_end(), Some(JobEnd::Cancelled(Some(15))));
        assert_eq!(jobs[0].run_time(), Some(Duration::from_secs(1)));
        assert_eq!(jobs[1].job_end(), Some(JobEnd::Exited(3)));
        assert_eq!(jobs[1].reason.as_deref(), Some("NonZeroExitCode"));
        assert_eq!(
            jobs[2],
            JobInfo {
                id: JobId(30),
                state: JobState::Pending,
                exit: Some(ExitCode::default()),
                nodes: None,
                start: None,
                end: None,
                reason: Some("Priority".into()),
            }
        );
        assert_eq!(jobs[2].job_end(), None);
    }

    #[test]
    fn scontrol_lines_are_read() {
        let out = "JobId=22 JobName=wf:w:t UserId=root(0) JobState=FAILED Reason=JobLaunchFailure \
                   Dependency=(null) ExitCode=0:9 RunTime=00:00:01 StartTime=2026-12-01T23:59:59 \
                   EndTime=2026-12-02T00:00:01 Partition=debug NodeList=localhost \
                   Command=(null) WorkDir=/tmp/a b c StdOut=/x\n\
                   JobId=24 JobState=CANCELLED Reason=None ExitCode=0:0 NodeList=(null) \
                   StartTime=2026-12-01T01:07:06 EndTime=2026-12-01T01:07:06\n";
        let jobs = parse_scontrol(out);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].id, JobId(22));
        assert_eq!(jobs[0].state, JobState::Failed);
        assert_eq!(jobs[0].nodes.as_deref(), Some("localhost"));
        assert_eq!(jobs[0].job_end(), Some(JobEnd::Signalled(9)));
        assert_eq!(jobs[0].run_time(), Some(Duration::from_secs(2)));
        assert_eq!(jobs[1].job_end(), Some(JobEnd::Cancelled(None)));
        assert!(parse_scontrol("slurm_load_jobs error: Invalid job id specified\n").is_empty());
    }

    #[test]
    fn sacct_lines_are_read() {
        let out = "5|CANCELLED by 0|0:15|node1|2024-01-01T00:00:00|2024-01-01T00:01:00\n\
                   6|NODE_FAIL|0:0|None assigned|Unknown|Unknown\n";
        let jobs = parse_sacct(out);
        assert_eq!(jobs[0].job_end(), Some(JobEnd::Cancelled(Some(15))));
        assert_eq!(jobs[0].run_time(), Some(Duration::from_secs(60)));
        assert!(matches!(jobs[1].job_end(), Some(JobEnd::NodeFailed(_))));
        assert_eq!(jobs[1].nodes, None);
    }

    #[test]
    fn unknown_jobs_end_as_failures() {
        let info = JobInfo::unknown(JobId(9));
        assert!(info.state.is_final());
        assert!(matches!(info.job_end(), Some(JobEnd::Failed(m)) if m.contains("no longer knows")));
    }

    #[test]
    fn the_poll_interval_adapts() {
        let mut interval = PollInterval::default();
        assert_eq!(interval.current(), Duration::from_millis(100));
        assert_eq!(interval.after_poll(false), Duration::from_millis(150));
        assert_eq!(interval.after_poll(false), Duration::from_millis(225));
        for _ in 0..20 {
            interval.after_poll(false);
        }
        assert_eq!(interval.current(), Duration::from_secs(2));
        assert_eq!(interval.after_poll(true), Duration::from_millis(100));
        interval.after_poll(false);
        interval.reset();
        assert_eq!(interval.current(), Duration::from_millis(100));
    }
}
