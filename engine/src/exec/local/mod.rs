//! Running one attempt on this machine: prepare it, spawn it into its own process group with
//! output straight into its log, wait for it in the kernel, and clean up what it left.
//!
//! A [`LocalExecutor`] is shared by the run's worker threads (one per job slot); each worker
//! owns a [`WorkerKit`] so that spawning needs no locks and spawns on different slots overlap.
//!
//! Logs are created lazily: a task without retries writes into its worker's scratch file,
//! which is renamed to `logs/TASK.log` only if the task wrote something. A run of many quiet
//! tasks therefore creates no file per task (creating thousands of files is a large part of
//! the cost of a tiny task on some file systems), and every task that printed has its log.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) mod cgroup;
pub(crate) mod group;
pub(crate) mod launch;
pub mod reaper;
pub mod recover;
pub(crate) mod spawn;
pub(crate) mod stream;
pub(crate) mod supervise;
pub mod sweep;

use self::group::end_leftovers;
use self::launch::{AttemptIdentity, BaseEnv, ProgramResolver, prepare};
use self::reaper::{Reaper, Workers};
use self::spawn::{SpawnError, SpawnRequest, SpawnStage, Spawner};
use self::stream::{Pipe, Sink, drain};
use self::supervise::{StopSignals, eventfd, notify, supervise};
use self::sweep::{RunMembership, end_run_processes};
use crate::exec::logs::{log_path, open_log, write_attempt_header};
use crate::exec::{
    AttemptEnd, AttemptRequest, AttemptResult, Executor, LineSink, Placement, Recovered,
    ResourceUsage, RunContext, Stream, TaskOutput,
};
use crate::layout::marker::CrashedRun;
use crate::report::time::Timestamp;
use crate::workflow::ExecutorKind;
use crate::workflow::Workflow;

/// The local executor: attempts run as process groups on this machine. Everything the
/// workers of one run share to run attempts locally.
pub struct LocalExecutor {
    workflow: Arc<Workflow>,
    run_id: String,
    run_dir: PathBuf,
    grace: Duration,
    own_process: bool,
    /// Where `--output stream` lines go (`None`: wf's stdout and stderr).
    lines: Option<Arc<dyn LineSink>>,
    /// Reaps the orphans tasks leave while the run lasts (when the run owns the process).
    reaper: Mutex<Option<Reaper>>,
    /// The worker threads, whose children the reaper leaves alone.
    workers: Option<Arc<Workers>>,
    output: TaskOutput,
    base_env: BaseEnv,
    stop: StopSignals,
}

/// A worker thread's own tools: the spawner's stack, the PATH cache, /dev/null, and its
/// scratch output file.
pub struct WorkerKit {
    spawner: Spawner,
    resolver: ProgramResolver,
    null: Option<File>,
    scratch_path: PathBuf,
    scratch: Option<File>,
}

impl WorkerKit {
    /// The scratch file, empty, ready to receive a task's output.
    fn take_scratch(&mut self) -> std::io::Result<File> {
        match self.scratch.take() {
            Some(file) => Ok(file),
            None => open_log(&self.scratch_path),
        }
    }
}

impl Drop for WorkerKit {
    fn drop(&mut self) {
        if self.scratch.take().is_some() {
            let _ = std::fs::remove_file(&self.scratch_path);
        }
    }
}

impl Executor for LocalExecutor {
    type Slot = WorkerKit;

    const KIND: ExecutorKind = ExecutorKind::Local;

    fn start(context: RunContext) -> std::io::Result<Self> {
        // Orphans of tasks come to us, so they can be reaped as they die and ended at the end
        // (see `group` and `reaper`). Without a reaper (no socket could be made) they are
        // reaped by the end-of-run clean-up, as zombies until then.
        let reaper = if context.own_process {
            let _ = group::become_subreaper();
            Reaper::start().ok()
        } else {
            None
        };
        Ok(Self {
            workers: reaper.as_ref().map(|r| Arc::clone(&r.workers)),
            reaper: Mutex::new(reaper),
            output: context.output,
            base_env: BaseEnv::new(&context.workflow),
            workflow: context.workflow,
            run_id: context.run_id,
            run_dir: context.run_dir,
            grace: context.grace,
            own_process: context.own_process,
            lines: context.lines,
            stop: StopSignals::new()?,
        })
    }

    fn recover_crashed(crashed: &[CrashedRun], grace: Duration) -> Vec<Recovered> {
        recover::recover_crashed_runs(crashed, grace)
    }

    /// Make slots after installing signal handlers: the spawner resets the handlers that
    /// exist when it is made.
    fn slot(&self, worker: usize) -> WorkerKit {
        // Before this worker's first spawn: the reaper must never touch its children.
        if let Some(workers) = &self.workers {
            workers.register_current_thread();
        }
        WorkerKit {
            spawner: Spawner::new(),
            resolver: ProgramResolver::default(),
            null: File::open("/dev/null").ok(),
            scratch_path: self
                .run_dir
                .join("logs")
                .join(format!(".slot-{}.out", worker + 1)),
            scratch: None,
        }
    }

    fn cancel_all(&self, force: bool) {
        if force {
            self.stop.kill();
        } else {
            self.stop.cancel();
        }
    }

    fn reopen(&self) {
        self.stop.reopen();
    }

    /// After the last attempt, when no worker waits for a process any more: ends every
    /// process of the run still alive (those that escaped their task's group: `setsid`,
    /// daemons, wherever they were re-parented) and, when the run owns the process, reaps
    /// wf's adopted children. `cut_short` is asked while waiting the grace period; once it
    /// says true, SIGKILL goes at once. Returns how many processes were ended.
    fn finish(&self, cut_short: &mut dyn FnMut() -> bool) -> u32 {
        // No task's main process is left to be waited for, so from here on this thread reaps
        // (the reaper would race the clean-up's own reaping).
        if let Some(mut reaper) = self
            .reaper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            reaper.stop();
        }
        let membership = RunMembership {
            run_id: &self.run_id,
            // Only a subreaper has the run's orphans as its children.
            adopted: self.own_process,
        };
        let ended = end_run_processes(&membership, self.grace, cut_short);
        u32::try_from(ended).unwrap_or(u32::MAX)
    }

    fn run(&self, request: AttemptRequest, kit: &mut WorkerKit) -> AttemptResult {
        self.run_attempt(request, kit)
    }
}

impl LocalExecutor {
    /// The log file of a task.
    pub fn log_path(&self, task_name: &str) -> PathBuf {
        log_path(&self.run_dir, task_name)
    }

    /// Runs one attempt to its end, its output into its log (created only if it printed).
    fn run_attempt(&self, request: AttemptRequest, kit: &mut WorkerKit) -> AttemptResult {
        if self.stop.is_cancelled() {
            return AttemptResult {
                end: AttemptEnd::Cancelled { signal: None },
                ..not_started(String::new())
            };
        }
        let task = &self.workflow.tasks[request.task];
        let path = self.log_path(&task.name);
        // A task that may be retried appends every attempt to its own log; any other task
        // writes into the worker's scratch file first.
        let named = task.retries > 0;
        let opened = if named {
            open_log(&path)
        } else {
            kit.take_scratch()
        };
        let mut log = match opened {
            Ok(log) => log,
            Err(error) => {
                return not_started(format!("cannot open log {}: {error}", path.display()));
            }
        };
        if named {
            let _ = write_attempt_header(&mut log, request.attempt, &Timestamp::now().to_rfc3339());
        }
        let mut result = self.attempt(request, task, &mut log, kit);
        if !named {
            if result.log_bytes > 0 {
                if let Err(error) = std::fs::rename(&kit.scratch_path, &path) {
                    result.log_bytes = 0;
                    result.end = AttemptEnd::NotStarted(format!(
                        "cannot keep the log {}: {error}",
                        path.display()
                    ));
                }
            } else {
                kit.scratch = Some(log);
            }
        }
        result.log = (result.log_bytes > 0).then_some(path);
        result
    }

    /// Runs one attempt with `log` as its output.
    fn attempt(
        &self,
        request: AttemptRequest,
        task: &crate::workflow::Task,
        log: &mut File,
        kit: &mut WorkerKit,
    ) -> AttemptResult {
        let identity = AttemptIdentity {
            run_id: &self.run_id,
            attempt: request.attempt,
        };
        let launch = match prepare(
            &self.workflow,
            task,
            &identity,
            &self.base_env,
            &mut kit.resolver,
        ) {
            Ok(launch) => launch,
            Err(error) => return failed_to_start(log, error.0),
        };
        let Some(null) = &kit.null else {
            return failed_to_start(log, "cannot open /dev/null".into());
        };
        let argv = launch.argv();
        let envp = launch.envp(&self.base_env);
        let pipes = match self.output {
            TaskOutput::Log => None,
            TaskOutput::Stream(_) => match (Pipe::new(), Pipe::new(), eventfd()) {
                (Ok(out), Ok(err), Ok(stop)) => Some((out, err, stop)),
                (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                    return failed_to_start(log, format!("cannot create output pipes: {error}"));
                }
            },
        };
        // A task with a memory limit runs in a cgroup of its own, where the machine allows it
        // (`wf validate` warns where it does not); any other task costs nothing extra.
        let cgroup = task.mem_limit().and_then(|limit| {
            cgroup::TaskCgroup::create(&self.run_id, request.task, request.attempt, limit).ok()
        });
        let (stdout, stderr) = match &pipes {
            Some((out, err, _)) => (out.write.as_fd(), err.write.as_fd()),
            None => (log.as_fd(), log.as_fd()),
        };
        let spawned = kit.spawner.spawn(&SpawnRequest {
            program: &launch.program,
            argv: &argv,
            envp: &envp,
            cwd: &launch.cwd,
            stdin: null.as_fd(),
            stdout,
            stderr,
            cgroup_procs: cgroup.as_ref().map(cgroup::TaskCgroup::procs_fd),
        });
        let pid = match spawned {
            Ok(pid) => pid,
            Err(error) => {
                let reason =
                    describe_spawn_error(&error, &launch.argv[0].to_string_lossy(), &task.cwd);
                return failed_to_start(log, reason);
            }
        };
        let started_at = Instant::now();
        let (end, ended_at, leftovers, usage) = match pipes {
            None => self.wait(pid, task),
            Some((out, err, stop)) => {
                // The task holds the write ends now; ours must close so the drains see EOF.
                let (Pipe { read: out, .. }, Pipe { read: err, .. }) = (out, err);
                let prefix = match self.output {
                    TaskOutput::Stream(style) => style.render(request.task, &task.name),
                    TaskOutput::Log => format!("{} | ", task.name),
                };
                let shared_log: &File = log;
                std::thread::scope(|scope| {
                    let lines = self.lines.as_deref();
                    let sinks =
                        [Stream::Stdout, Stream::Stderr].map(|stream| Sink { stream, lines });
                    let drains = [(out, sinks[0]), (err, sinks[1])].map(|(pipe, sink)| {
                        let (prefix, stop) = (&prefix, &stop);
                        scope.spawn(move || drain(&pipe, shared_log, sink, prefix, stop))
                    });
                    let waited = self.wait(pid, task);
                    notify(&stop);
                    for handle in drains {
                        let _ = handle.join();
                    }
                    waited
                })
            }
        };
        let mut end = end;
        let mut usage = usage;
        if let Some(cgroup) = &cgroup {
            if let (Some(peak), Some(usage)) = (cgroup.peak(), usage.as_mut()) {
                usage.peak_rss_bytes = peak;
            }
            if cgroup.oom_killed() && !end.succeeded() {
                let limit = task.mem_limit().unwrap_or(0);
                let _ = writeln!(
                    log,
                    "wf: the task used more than its mem_limit of {} and was killed",
                    crate::manifest::size::format_size(limit)
                );
                end = AttemptEnd::OutOfMemory { limit };
            }
        }
        drop(cgroup);
        if leftovers > 0 {
            let _ = writeln!(log, "{}", leftover_line(leftovers));
        }
        AttemptResult {
            started_at: Some(started_at),
            ended_at,
            end,
            log_bytes: log.metadata().map_or(0, |m| m.len()),
            log: None,
            leftovers,
            placement: Placement::Process {
                pid: pid.unsigned_abs(),
            },
            usage,
        }
    }
}

fn not_started(reason: String) -> AttemptResult {
    AttemptResult {
        started_at: None,
        ended_at: Instant::now(),
        end: AttemptEnd::NotStarted(reason),
        log_bytes: 0,
        log: None,
        leftovers: 0,
        placement: Placement::Nowhere,
        usage: None,
    }
}

impl LocalExecutor {
    /// Waits for the attempt's process and ends what its group left behind.
    fn wait(
        &self,
        pid: libc::pid_t,
        task: &crate::workflow::Task,
    ) -> (AttemptEnd, Instant, u32, Option<ResourceUsage>) {
        let (end, usage) = supervise(pid, task.timeout, self.grace, &self.stop);
        let ended_at = Instant::now();
        // A second Ctrl-C while the leftovers have their grace period kills them at once.
        let leftovers = end_leftovers(pid, self.grace, &|| self.stop.is_killed());
        // After a timeout or Ctrl-C wf signalled the whole group itself: members still exiting
        // are not processes the task left behind.
        let ended_by_wf = matches!(
            end,
            AttemptEnd::TimedOut { .. } | AttemptEnd::Cancelled { .. }
        );
        (
            end,
            ended_at,
            if ended_by_wf { 0 } else { leftovers },
            usage,
        )
    }
}

/// Records why an attempt could not start in its log, and reports it.
fn failed_to_start(log: &mut File, reason: String) -> AttemptResult {
    let _ = writeln!(log, "wf: {reason}");
    AttemptResult {
        log_bytes: log.metadata().map_or(0, |m| m.len()),
        ..not_started(reason)
    }
}

fn describe_spawn_error(error: &SpawnError, program: &str, cwd: &Path) -> String {
    match error.stage {
        SpawnStage::Chdir => format!(
            "cannot enter working directory {}: {}",
            cwd.display(),
            error.error
        ),
        SpawnStage::Exec => format!("cannot execute {program}: {}", error.error),
        SpawnStage::Redirect => format!(
            "cannot connect the task's output to its log: {}",
            error.error
        ),
        SpawnStage::Clone => format!("cannot create a process: {}", error.error),
        SpawnStage::Cgroup => format!(
            "cannot move the task into its memory cgroup: {}",
            error.error
        ),
    }
}

/// The line a task's log gets when wf ended processes of its group that outlived its main
/// process (the same words as docs/cli.md, "Leftover and stray processes").
pub fn leftover_line(leftovers: u32) -> String {
    if leftovers == 1 {
        "wf: 1 process of this task was still running after it ended; wf ended it".to_owned()
    } else {
        format!(
            "wf: {leftovers} processes of this task were still running after it ended; wf ended \
             them"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::leftover_line;

    #[test]
    fn the_leftover_line_agrees_in_number() {
        assert_eq!(
            leftover_line(1),
            "wf: 1 process of this task was still running after it ended; wf ended it"
        );
        assert_eq!(
            leftover_line(3),
            "wf: 3 processes of this task were still running after it ended; wf ended them"
        );
    }
}
