//! `wf history`: past runs of a workflow from the state store.

use std::io::IsTerminal;

use serde::Serialize;
use wf_engine::layout::{manifest_key, manifest_root, run_path};
use wf_engine::manifest::size::format_size;
use wf_engine::report::time::Timestamp;
use wf_engine::state::{RunState, RunSummary, RunUsage, StateStore, store_path};

use super::report::{is_live, progress_words};
use super::report_error;
use crate::args::{ColorChoice, HistoryArgs};
use crate::exit::Exit;
use crate::render::style::{self, Style, seconds};

/// One run as `--json` prints it.
#[derive(Debug, Serialize)]
struct Row {
    run_id: String,
    workflow: String,
    started_at: String,
    duration_s: Option<f64>,
    status: &'static str,
    counts: std::collections::BTreeMap<String, u64>,
    /// The highest peak memory of any of its attempts, in bytes.
    peak_rss_bytes: Option<u64>,
    /// CPU seconds (user and system) of all its attempts.
    cpu_s: Option<f64>,
}

fn row(run: &RunSummary, usage: RunUsage) -> Row {
    Row {
        peak_rss_bytes: usage.peak_rss_bytes,
        cpu_s: usage.cpu_s.map(|s| (s * 1000.0).round() / 1000.0),
        run_id: run.run_id.clone(),
        workflow: run.workflow.clone(),
        started_at: Timestamp::from_millis(run.started_at_ms).to_rfc3339(),
        duration_s: run.duration_s,
        status: run.status.as_str(),
        counts: run
            .counts
            .iter()
            .flatten()
            .map(|(status, n)| (status.as_str().to_owned(), *n))
            .collect(),
    }
}

/// Prints the runs of the manifest, newest first.
pub fn run(args: &HistoryArgs, color: ColorChoice) -> Exit {
    let root = manifest_root(&args.manifest);
    let path = store_path(&root);
    let manifest = manifest_key(&root, &args.manifest).display().to_string();
    let runs = if path.exists() {
        let store = match StateStore::open(&path) {
            Ok(store) => store,
            Err(error) => {
                report_error(&error, color);
                return Exit::Usage;
            }
        };
        match store.history(Some(&manifest), args.limit) {
            // A run whose usage cannot be read shows none: the history itself is what matters.
            Ok(runs) => runs
                .into_iter()
                .map(|run| {
                    let usage = store.run_usage(&run.run_id).unwrap_or_default();
                    (run, usage)
                })
                .collect(),
            Err(error) => {
                report_error(&error, color);
                return Exit::Usage;
            }
        }
    } else {
        Vec::new()
    };
    // A run without counts (in progress, or its wf killed) shows what the store recorded so
    // far, and says which of the two it is.
    let store = runs
        .iter()
        .any(|(run, _)| run.counts.is_none())
        .then(|| StateStore::open(&path).ok())
        .flatten();
    let progress = |run: &RunSummary| -> Option<(bool, String)> {
        if run.counts.is_some() {
            return None;
        }
        let live = is_live(&root, &args.manifest, run);
        let words = store.as_ref().map_or_else(String::new, |store| {
            progress_words(
                store,
                &run_path(&root, &run.run_id),
                &run.run_id,
                if live { "running" } else { "unfinished" },
            )
        });
        Some((live, words))
    };
    if args.json {
        let rows: Vec<Row> = runs
            .iter()
            .map(|(run, usage)| {
                let mut row = row(run, *usage);
                if let (Some(store), None) = (&store, &run.counts) {
                    if let Ok(recorded) = store.recorded_progress(&run.run_id) {
                        row.counts = recorded
                            .counts
                            .iter()
                            .map(|(status, n)| (status.as_str().to_owned(), *n))
                            .collect();
                    }
                }
                row
            })
            .collect();
        println_out!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
        return Exit::Success;
    }
    if runs.is_empty() {
        println_err!("no runs of {} recorded yet", args.manifest.display());
        return Exit::Success;
    }
    let style = Style::new(color.enabled(std::io::stdout().is_terminal()));
    println_out!(
        "{:<25}  {:<19}  {:>7}  {:<9}  {:>7}  {:>7}  TASKS",
        "RUN",
        "STARTED (UTC)",
        "WALL",
        "STATUS",
        "CPU",
        "PEAK"
    );
    for (run, usage) in &runs {
        let row = row(run, *usage);
        let cpu = row.cpu_s.map(seconds).unwrap_or_else(|| "-".into());
        let peak = row
            .peak_rss_bytes
            .map(format_size)
            .unwrap_or_else(|| "-".into());
        let started = row.started_at.replace('T', " ");
        let wall = row.duration_s.map(seconds).unwrap_or_else(|| "-".into());
        let recorded = progress(run);
        // `running` only while its wf holds the run lock; otherwise it stopped without ending.
        let word = match &recorded {
            Some((false, _)) => "stopped",
            _ => row.status,
        };
        let status = match run.status {
            RunState::Succeeded => style.good(word),
            RunState::Failed => style.bad(word),
            RunState::Cancelled | RunState::Running => style.warn(word),
        };
        let counts = match recorded {
            Some((_, words)) => words,
            None => style::counts(
                run.counts
                    .iter()
                    .flatten()
                    .map(|(status, n)| (status.as_str(), *n)),
            ),
        };
        let padding = " ".repeat(9usize.saturating_sub(word.len()));
        println_out!(
            "{:<25}  {:<19}  {:>7}  {status}{padding}  {:>7}  {:>7}  {}",
            row.run_id,
            &started[..started.len().min(19)],
            wall,
            cpu,
            peak,
            counts
        );
    }
    Exit::Success
}
