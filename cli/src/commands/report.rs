//! `wf report`: a past run's summary (or JSON report) again.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use wf_engine::exec::local::sweep::running_tasks;
use wf_engine::exec::logs::logged_tasks;
use wf_engine::layout::runlock::{LockProbe, probe};
use wf_engine::layout::{REPORT_FILE, manifest_key, manifest_root, runs_dir, state_dir};
use wf_engine::manifest::size::format_size;
use wf_engine::report::{TaskStatus, read_json};
use wf_engine::state::{RecordedProgress, RunState, RunSummary, StateStore, store_path};

use super::outputs::write_outputs;
use crate::args::{ColorChoice, OutputMode, ReportArgs};
use crate::exit::Exit;
use crate::render::run::RunRenderer;
use crate::render::style::{self, Style, seconds};
use crate::render::text::shown_name;

/// Finds a run folder by id, unique prefix, or `latest` (run ids sort by start time), among
/// `known` runs of the manifest when the state store lists them, else among every run folder.
pub fn find_run(runs: &Path, known: Option<Vec<String>>, wanted: &str) -> Result<PathBuf, String> {
    // The store lists runs newest first; run folders sort by their start second only.
    let ids: Vec<String> = match known {
        Some(ids) => ids,
        None => {
            let mut ids: Vec<String> = std::fs::read_dir(runs)
                .map_err(|_| format!("no runs recorded under {}", runs.display()))?
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids
        }
    };
    let matches: Vec<&String> = if wanted == "latest" {
        ids.first().into_iter().collect()
    } else {
        ids.iter().filter(|id| id.starts_with(wanted)).collect()
    };
    match matches.as_slice() {
        [one] => Ok(runs.join(one.as_str())),
        [] => Err(format!(
            "no run `{wanted}` of this manifest (`wf history` lists them)"
        )),
        many => Err(format!(
            "`{wanted}` matches {} runs ({}…); give more of the id",
            many.len(),
            many[0]
        )),
    }
}

/// The ids of the runs of `manifest` known to the state store, newest first; `None` without a
/// store (then every run folder beside the manifest is a candidate).
fn runs_of(root: &Path, manifest: &Path) -> Option<Vec<String>> {
    let path = store_path(root);
    let key = manifest_key(root, manifest).display().to_string();
    if !path.exists() {
        return None;
    }
    let store = StateStore::open(&path).ok()?;
    let runs = store.history(Some(&key), usize::MAX).ok()?;
    Some(runs.into_iter().map(|run| run.run_id).collect())
}

/// Prints the run's task table and summary, or its JSON.
pub fn run(args: &ReportArgs, color: ColorChoice) -> Exit {
    let (manifest, wanted) = match args.split() {
        Ok(split) => split,
        Err(message) => {
            println_err!("error: {message}");
            return Exit::Usage;
        }
    };
    let root = manifest_root(&manifest);
    let run_dir = match find_run(&runs_dir(&root), runs_of(&root, &manifest), &wanted) {
        Ok(dir) => dir,
        Err(message) => {
            println_err!("error: {message}");
            return Exit::Usage;
        }
    };
    let path = run_dir.join(REPORT_FILE);
    let wants_files = args.outputs.junit.is_some() || args.outputs.html.is_some();
    if wants_files {
        let report = match read_json(&path) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", path.display());
                return Exit::Usage;
            }
        };
        if !write_outputs(&report, &root, &args.outputs, color) {
            return Exit::Failure;
        }
        if !args.json {
            return Exit::Success;
        }
    }
    if args.json {
        return match std::fs::read_to_string(&path) {
            Ok(text) => {
                print_out!("{text}");
                Exit::Success
            }
            Err(error) => {
                println_err!("error: cannot read {}: {error}", path.display());
                Exit::Usage
            }
        };
    }
    let report = match read_json(&path) {
        Ok(report) => report,
        Err(error) => return unfinished(&root, &manifest, &run_dir, &path, &error, color),
    };
    let style = Style::new(color.enabled(std::io::stdout().is_terminal()));
    println_out!(
        "run {} of {} ({}), started {}",
        report.run_id,
        report.workflow,
        report.manifest,
        report.started_at
    );
    for task in report.tasks.iter() {
        let mark = match task.status {
            TaskStatus::Succeeded | TaskStatus::UpToDate => style.good("✓"),
            TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::OutOfMemory => style.bad("✗"),
            _ => style.warn("-"),
        };
        let mut line = format!(
            "{mark} {} {}",
            style.bold(&task.name),
            style.dim(task.status.as_str())
        );
        if let Some(took) = task.duration_s {
            line.push_str(&format!(" {}", style.dim(&seconds(took))));
        }
        if let Some(peak) = task.peak_rss_bytes {
            let cpu = task.user_s.unwrap_or(0.0) + task.sys_s.unwrap_or(0.0);
            line.push_str(&format!(
                " {}",
                style.dim(&format!(
                    "(peak {}, cpu {})",
                    format_size(peak),
                    seconds(cpu)
                ))
            ));
        }
        if let Some(reason) = &task.reason {
            line.push_str(&format!(": {reason}"));
        }
        println_out!("{line}");
    }
    let colored = color.enabled(std::io::stderr().is_terminal());
    let renderer = RunRenderer::new(OutputMode::Grouped, colored, std::time::Duration::ZERO);
    renderer.summary(&root, &report, crate::render::run::shown(&path));
    Exit::Success
}

/// True if the run `summary` is in progress now: the store says it runs and the manifest's run
/// lock is held, by its wf process when both pids are known.
pub(super) fn is_live(root: &Path, manifest: &Path, summary: &RunSummary) -> bool {
    if summary.status != RunState::Running {
        return false;
    }
    match probe(&state_dir(root), manifest) {
        LockProbe::Free => false,
        LockProbe::Held { holder } => match (holder, summary.pid) {
            (Some(holder), Some(pid)) => holder == pid,
            _ => true,
        },
    }
}

/// What the store recorded of a run without counts (running, or its wf killed), in words:
/// `2 succeeded, 1 failed, 1 running` (`unsettled`: the word for tasks with attempts but no
/// outcome). Empty if nothing was recorded.
pub(super) fn progress_words(
    store: &StateStore,
    run_dir: &Path,
    run_id: &str,
    unsettled: &str,
) -> String {
    let Ok(progress) = store.recorded_progress(run_id) else {
        return String::new();
    };
    let mut counts: Vec<(&str, u64)> = progress
        .counts
        .iter()
        .map(|(status, n)| (status.as_str(), *n))
        .collect();
    let running = unsettled_tasks(&progress, run_dir, None);
    if !running.is_empty() {
        counts.push((unsettled, running.len() as u64));
    }
    style::counts(counts)
}

/// The tasks of a run without a report that started but have no final status: attempts
/// recorded without an outcome, and logs (a log is created when an attempt starts; attempts
/// are recorded when they end) of tasks without one. For a run in progress (`live_run`: its
/// id), also the tasks whose processes are alive now: a quiet task has no log yet.
fn unsettled_tasks(
    progress: &RecordedProgress,
    run_dir: &Path,
    live_run: Option<&str>,
) -> Vec<String> {
    let mut tasks = progress.unsettled.clone();
    let alive = live_run.map(running_tasks).unwrap_or_default();
    for task in logged_tasks(run_dir).into_iter().chain(alive) {
        if !progress.settled.contains(&task) && !tasks.contains(&task) {
            tasks.push(task);
        }
    }
    tasks.sort();
    tasks
}

/// A run without a report: still in progress (it holds the manifest's run lock), or its wf was
/// killed (or the machine stopped). Shows what the state store recorded of it so far.
fn unfinished(
    root: &Path,
    manifest: &Path,
    run_dir: &Path,
    path: &Path,
    error: &std::io::Error,
    color: ColorChoice,
) -> Exit {
    let run_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let store_path = store_path(root);
    let store = if store_path.exists() {
        StateStore::open(&store_path).ok()
    } else {
        None
    };
    let summary = store
        .as_ref()
        .and_then(|store| store.run_summary(&run_id).ok().flatten());
    let (Some(store), Some(summary)) = (store, summary) else {
        println_err!("error: cannot read {}: {error}", path.display());
        return Exit::Usage;
    };
    let style = Style::new(color.enabled(std::io::stdout().is_terminal()));
    let live = is_live(root, manifest, &summary);
    let progress = store.recorded_progress(&run_id).unwrap_or_default();
    let counts = match &summary.counts {
        Some(counts) => style::counts(counts.iter().map(|(status, n)| (status.as_str(), *n))),
        None => style::counts(
            progress
                .counts
                .iter()
                .map(|(status, n)| (status.as_str(), *n)),
        ),
    };
    let tasks = unsettled_tasks(&progress, run_dir, live.then_some(run_id.as_str()))
        .iter()
        .map(|name| shown_name(name))
        .collect::<Vec<_>>()
        .join(", ");
    if live {
        let pid = summary
            .pid
            .map(|pid| format!(" (pid {pid})"))
            .unwrap_or_default();
        println_out!(
            "run {run_id} of {} is still running{pid}: no report yet",
            summary.workflow
        );
        println_out!(
            "done so far: {}",
            if counts.is_empty() {
                "nothing".to_owned()
            } else {
                counts
            }
        );
        if !tasks.is_empty() {
            println_out!("running: {tasks}");
        }
    } else {
        println_out!(
            "run {run_id} of {} did not finish normally (wf was killed or the machine stopped): {}",
            summary.workflow,
            style.warn(summary.status.as_str())
        );
        if !counts.is_empty() {
            println_out!("recorded before it stopped: {counts}");
        }
        if !tasks.is_empty() {
            println_out!("running when it stopped: {tasks}");
        }
    }
    println_out!(
        "logs: {}",
        crate::render::run::shown(&run_dir.join("logs")).display()
    );
    Exit::Success
}
