//! Keeping `.wf/` from growing forever: old runs of a manifest lose their folder under
//! `.wf/runs/` and their rows in the state store (attempts and outcomes go with the run).
//!
//! What is never removed:
//!
//! - the newest `keep` runs of the manifest (at least one): the latest is what `--resume`
//!   reads, and the recent ones give `wf history`, `wf report` and the learnt durations;
//! - a run still marked running, in the store or by the `running` marker in its folder: a run
//!   in progress (of this manifest or, for folders without a row yet, of another), or a killed
//!   run that the next `wf run` must still clean up after;
//! - the last success of every task (`successes`), which has its own table and no tie to the
//!   run it came from: up-to-date checks outlive the pruning of that run.
//!
//! The task summaries lose the attempts of the removed runs with them (in the same
//! transaction), so that learnt durations and memory stay those of the runs kept.
//!
//! A sweep (`wf gc`) also removes run folders that the store knows nothing about (older than
//! [`ORPHAN_MIN_AGE`], so that a folder being created by a starting run is left alone), rows of
//! the manifest whose folder is gone (but never its latest run), and cached digests of files
//! that no longer exist, then compacts the database.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{TransactionBehavior, params};

use super::error::StateError;
use super::store::{StateStore, fail};
use crate::layout::{RUNNING_MARKER, runs_dir};

/// A run folder without a row in the store is removed only once it is at least this old: a
/// run creates its folder a moment before it records itself.
pub const ORPHAN_MIN_AGE: Duration = Duration::from_secs(60);

/// What to prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOptions {
    /// How many of the manifest's newest runs to keep; 0 counts as 1.
    pub keep: usize,
    /// Only find what would be removed.
    pub dry_run: bool,
    /// Also remove orphan folders, rows whose folder is gone and digests of vanished files,
    /// and compact the store.
    pub sweep: bool,
    /// A run never to remove (the run in progress).
    pub protect: Option<String>,
}

/// A run (or a folder) that was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedRun {
    /// The run's id (its folder's name).
    pub run_id: String,
    /// Bytes its folder held (0 if it had none).
    pub bytes: u64,
}

/// A folder that could not be removed; its row, if any, stays so that a later prune retries.
#[derive(Debug)]
pub struct PruneFailure {
    /// The folder.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

/// What a prune removed (or, in a dry run, would remove).
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Old runs of the manifest: row and folder.
    pub runs: Vec<RemovedRun>,
    /// Run folders the store has no row for.
    pub orphan_folders: Vec<RemovedRun>,
    /// Runs of the manifest whose folder was already gone: only their rows.
    pub rows_without_folder: Vec<String>,
    /// Cached digests of files that no longer exist.
    pub file_hashes: usize,
    /// Runs beyond `keep` left alone because they are still marked running.
    pub kept_running: Vec<String>,
    /// Folders that could not be removed.
    pub failures: Vec<PruneFailure>,
    /// Bytes the store's file shrank by when compacted.
    pub store_bytes: u64,
}

impl PruneReport {
    /// True if nothing was (or would be) removed.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.orphan_folders.is_empty()
            && self.rows_without_folder.is_empty()
            && self.file_hashes == 0
    }

    /// Bytes of the removed folders plus what the store shrank by.
    pub fn bytes_freed(&self) -> u64 {
        self.runs
            .iter()
            .chain(&self.orphan_folders)
            .map(|r| r.bytes)
            .sum::<u64>()
            + self.store_bytes
    }
}

/// A run id that names a folder directly under `.wf/runs/`: one plain path component, so a
/// damaged or hand-edited row can never point the removal elsewhere.
fn folder_name(run_id: &str) -> bool {
    let mut components = Path::new(run_id).components();
    matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none()
}

/// Bytes of the files under `path`, not following symbolic links.
fn folder_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let metadata = entry.path().symlink_metadata().ok()?;
            Some(if metadata.is_dir() {
                folder_bytes(&entry.path())
            } else {
                metadata.len()
            })
        })
        .sum()
}

/// Removes a run folder; one that is already gone counts as removed.
fn remove_folder(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Prunes the runs of `manifest` (its absolute path) whose folders are under `root/.wf/runs/`.
/// Store errors stop it; folders that cannot be removed are listed in the report.
pub fn prune(
    store: &mut StateStore,
    root: &Path,
    manifest: &str,
    options: &PruneOptions,
) -> Result<PruneReport, StateError> {
    let runs = runs_dir(root);
    let mut report = PruneReport::default();
    let mut doomed: Vec<String> = Vec::new();
    let recorded = store.runs_of(manifest)?;
    let keep = options.keep.max(1);
    for (index, (run_id, running)) in recorded.iter().enumerate() {
        let folder = runs.join(run_id);
        let protected = options.protect.as_deref() == Some(run_id.as_str());
        let marked = folder_name(run_id) && folder.join(RUNNING_MARKER).exists();
        if index < keep || protected {
            // Within the kept runs: only a row whose folder vanished goes, never the latest.
            let gone = folder_name(run_id) && !folder.exists();
            if options.sweep && index > 0 && gone && !running && !protected {
                report.rows_without_folder.push(run_id.clone());
                doomed.push(run_id.clone());
            }
            continue;
        }
        if *running || marked {
            report.kept_running.push(run_id.clone());
            continue;
        }
        let bytes = if folder_name(run_id) {
            folder_bytes(&folder)
        } else {
            0
        };
        if folder_name(run_id) && !options.dry_run {
            if let Err(error) = remove_folder(&folder) {
                report.failures.push(PruneFailure {
                    path: folder,
                    error,
                });
                continue;
            }
        }
        report.runs.push(RemovedRun {
            run_id: run_id.clone(),
            bytes,
        });
        doomed.push(run_id.clone());
    }
    if options.sweep {
        let known = store.all_run_ids()?;
        sweep_orphans(&runs, &known, options.dry_run, &mut report);
    }
    if !options.dry_run {
        store.delete_runs(&doomed)?;
    }
    if options.sweep {
        report.file_hashes = store.forget_vanished_files(options.dry_run)?;
        if !options.dry_run && !report.is_empty() {
            report.store_bytes = store.compact()?;
        }
    }
    Ok(report)
}

/// Removes the folders under `runs` that `known` has no row for, are not marked running and
/// are old enough not to belong to a run that is just starting.
fn sweep_orphans(runs: &Path, known: &HashSet<String>, dry_run: bool, report: &mut PruneReport) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    let now = SystemTime::now();
    let mut orphans: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            (!known.contains(&name)).then(|| (name, entry.path()))
        })
        .filter(|(_, path)| !path.join(RUNNING_MARKER).exists())
        .filter(|(_, path)| {
            path.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| {
                    now.duration_since(modified)
                        .is_ok_and(|age| age >= ORPHAN_MIN_AGE)
                })
        })
        .collect();
    orphans.sort();
    for (run_id, path) in orphans {
        let bytes = folder_bytes(&path);
        if !dry_run {
            if let Err(error) = remove_folder(&path) {
                report.failures.push(PruneFailure { path, error });
                continue;
            }
        }
        report.orphan_folders.push(RemovedRun { run_id, bytes });
    }
}

impl StateStore {
    /// The runs of `manifest`, newest first, each with whether it is marked running.
    fn runs_of(&self, manifest: &str) -> Result<Vec<(String, bool)>, StateError> {
        self.conn
            .prepare_cached(
                "SELECT run_id, status = 'running' FROM runs WHERE manifest = ?1 \
                 ORDER BY started_at_ms DESC, run_id DESC",
            )
            .and_then(|mut s| {
                s.query_map(params![manifest], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(fail(&self.path, "read the runs to prune from"))
    }

    /// The id of every run the store knows, of any manifest.
    fn all_run_ids(&self) -> Result<HashSet<String>, StateError> {
        self.conn
            .prepare_cached("SELECT run_id FROM runs")
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .map_err(fail(&self.path, "read the run ids from"))
    }

    /// Deletes runs with their attempts and outcomes, in one transaction, and takes their
    /// attempts out of the task summaries. Last successes stay.
    pub fn delete_runs(&mut self, run_ids: &[String]) -> Result<(), StateError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let failed = fail(&self.path, "remove old runs from");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&failed)?;
        let forgotten = super::summary::runs_to_forget(&tx, run_ids).map_err(&failed)?;
        {
            // Attempts and outcomes go with their run (ON DELETE CASCADE).
            let mut delete = tx
                .prepare_cached("DELETE FROM runs WHERE run_id = ?1")
                .map_err(&failed)?;
            for run_id in run_ids {
                delete.execute(params![run_id]).map_err(&failed)?;
            }
        }
        super::summary::forget_runs(&tx, &forgotten).map_err(&failed)?;
        tx.commit().map_err(&failed)
    }

    /// Forgets the cached digests of files that no longer exist; returns how many (only
    /// counts them in a dry run).
    fn forget_vanished_files(&mut self, dry_run: bool) -> Result<usize, StateError> {
        let failed = fail(&self.path, "remove vanished files from");
        let paths: Vec<String> = self
            .conn
            .prepare_cached("SELECT path FROM file_hashes")
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .map_err(&failed)?;
        let vanished: Vec<String> = paths
            .into_iter()
            .filter(|path| {
                std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
            })
            .collect();
        if dry_run || vanished.is_empty() {
            return Ok(vanished.len());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&failed)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM file_hashes WHERE path = ?1")
                .map_err(&failed)?;
            for path in &vanished {
                delete.execute(params![path]).map_err(&failed)?;
            }
        }
        tx.commit().map_err(&failed)?;
        Ok(vanished.len())
    }

    /// Rebuilds the database file without its free pages (`VACUUM`), then folds the
    /// write-ahead log back into it; returns how many bytes the file shrank by.
    fn compact(&mut self) -> Result<u64, StateError> {
        let failed = fail(&self.path, "compact");
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let before = size(&self.path);
        self.conn.execute_batch("VACUUM").map_err(&failed)?;
        // The result row (busy, log pages, checkpointed pages) says nothing we need.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(&failed)?;
        Ok(before.saturating_sub(size(&self.path)))
    }
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
