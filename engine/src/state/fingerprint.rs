//! Task fingerprints: one digest that changes whenever what a task would do may have changed.
//!
//! A task's fingerprint is blake3 over, in a framed encoding (every field length-prefixed, so
//! no two different inputs collide by concatenation):
//!
//! 1. a version tag ([`VERSION`]);
//! 2. the digest of its command (and of the workflow's shell, for a string command);
//! 3. the digest of its environment as written in the manifest (`[workflow].env`, then the
//!    task's own): the caller's environment is not part of it;
//! 4. its absolute working directory;
//! 5. every input file (path relative to the manifest's folder, content digest), sorted, with
//!    `missing` for a pattern that matches nothing;
//! 6. the name and fingerprint of each of its deps, in order.
//!
//! Outputs are not part of it: whether they exist is checked separately (see `why`).
//! The digest is a function of [`FingerprintParts`] alone ([`FingerprintParts::digest`]), so a
//! stored success can be compared part by part to say *what* changed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::error::FingerprintError;
use super::file_cache::FileCache;
use super::inputs::{Resolved, hash_file, resolve};
use crate::paths::normalize;
use crate::workflow::{Command, TaskId, Workflow};

/// Changes whenever the encoding changes, so that old fingerprints never match new ones.
pub const VERSION: &str = "wf-fingerprint-1";

/// The digest recorded for an input pattern that matches nothing.
pub const MISSING: &str = "missing";

/// What went into a task's fingerprint, stored with each success to explain later changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintParts {
    /// Digest of the command (with the shell, for a string command).
    pub command: Arc<str>,
    /// Digest of the environment written in the manifest.
    pub env: Arc<str>,
    /// The absolute working directory.
    pub cwd: Arc<str>,
    /// Each input file (relative to the manifest's folder) and its digest, or [`MISSING`];
    /// sorted by path.
    pub inputs: Vec<(String, String)>,
    /// Each dep's name and fingerprint, in the order of `deps`. Shared with the dep's own
    /// fingerprint (and equal digests and folders are shared between tasks): at a million
    /// tasks, copies of these strings were most of a plan's memory.
    pub deps: Vec<(Arc<str>, Arc<str>)>,
}

impl FingerprintParts {
    /// The fingerprint these parts make.
    pub fn digest(&self) -> Arc<str> {
        Arc::from(framed(VERSION, |frame| {
            frame.str(&self.command);
            frame.str(&self.env);
            frame.str(&self.cwd);
            frame.pairs(&self.inputs);
            frame.pairs(&self.deps);
        }))
    }
}

/// A task's fingerprint and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFingerprint {
    /// blake3, hex.
    pub digest: Arc<str>,
    /// What went into it.
    pub parts: FingerprintParts,
}

impl TaskFingerprint {
    /// The fingerprint of `parts`.
    pub fn from_parts(parts: FingerprintParts) -> Self {
        Self {
            digest: parts.digest(),
            parts,
        }
    }
}

/// Equal strings of many fingerprints stored once (digests of equal commands and
/// environments, the working directory).
#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn intern(&mut self, text: String) -> Arc<str> {
        if let Some(known) = self.0.get(text.as_str()) {
            return Arc::clone(known);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// The fingerprints of a workflow's tasks.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    /// Indexed by [`TaskId`]; `None` for a task neither selected nor a dependency of one.
    pub tasks: Vec<Option<TaskFingerprint>>,
    /// What computing them cost.
    pub stats: HashStats,
}

/// What hashing the input files cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Distinct input files.
    pub files: usize,
    /// Files whose digest came from the cache.
    pub cache_hits: usize,
    /// Bytes read to hash the others.
    pub bytes_read: u64,
}

/// Length-prefixed fields into a blake3 hasher.
struct Frame<'h>(&'h mut blake3::Hasher);

thread_local! {
    /// One hasher per thread, reset for each digest: a `blake3::Hasher` is about 2 KB, and
    /// creating and moving a fresh one for each of the three digests of every task was a tenth
    /// of `wf plan` on a large workflow.
    static HASHER: std::cell::RefCell<blake3::Hasher> =
        std::cell::RefCell::new(blake3::Hasher::new());
}

/// The hex digest of the fields `fill` writes after `tag`.
fn framed(tag: &str, fill: impl FnOnce(&mut Frame<'_>)) -> String {
    HASHER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut hasher) => {
            hasher.reset();
            let mut frame = Frame(&mut hasher);
            frame.str(tag);
            fill(&mut frame);
            frame.finish()
        }
        // Only if `fill` itself asked for a digest: then a hasher of its own.
        Err(_) => {
            let mut hasher = blake3::Hasher::new();
            let mut frame = Frame(&mut hasher);
            frame.str(tag);
            fill(&mut frame);
            frame.finish()
        }
    })
}

impl Frame<'_> {
    fn len(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.0.update(bytes);
    }

    fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn strs(&mut self, items: &[String]) {
        self.len(items.len());
        for item in items {
            self.str(item);
        }
    }

    fn pairs<A: AsRef<str>, B: AsRef<str>>(&mut self, items: &[(A, B)]) {
        self.len(items.len());
        for (a, b) in items {
            self.str(a.as_ref());
            self.str(b.as_ref());
        }
    }

    fn finish(&self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

/// Digest of a command; the shell counts only for a string command.
pub fn command_digest(command: &Command, shell: &[String]) -> String {
    framed("command", |frame| match command {
        Command::Shell(line) => {
            frame.str("shell");
            frame.strs(shell);
            frame.str(line);
        }
        Command::Argv(argv) => {
            frame.str("argv");
            frame.strs(argv);
        }
    })
}

/// Digest of the environment a manifest gives a task: the workflow's, then the task's own.
pub fn env_digest(workflow_env: &[(String, String)], task_env: &[(String, String)]) -> String {
    framed("env", |frame| {
        frame.pairs(workflow_env);
        frame.pairs(task_env);
    })
}

/// The fingerprints of the `selected` tasks (indexed by [`TaskId`]) and of everything they
/// depend on, since a fingerprint includes its deps'.
///
/// Every input file is hashed once, in parallel, however many tasks list it; files that
/// `cache` knows at the same size and mtime are not read. New digests are added to `cache`.
pub fn fingerprint_tasks(
    workflow: &Workflow,
    selected: &[bool],
    cache: &mut FileCache,
) -> Result<Fingerprints, FingerprintError> {
    fingerprint_tasks_with(workflow, selected, cache, &mut |_, _| {})
}

/// [`fingerprint_tasks`], with `preload` called once the input files are known and before
/// any is hashed, to add to `cache` what is known of those files (and only of those): the
/// state store is read for the files a run needs, not for every file it ever hashed.
pub fn fingerprint_tasks_with(
    workflow: &Workflow,
    selected: &[bool],
    cache: &mut FileCache,
    preload: &mut dyn FnMut(&[&Path], &mut FileCache),
) -> Result<Fingerprints, FingerprintError> {
    let count = workflow.tasks.len();
    let needed = workflow.with_dependencies(selected);
    let root = normalize(&workflow.root);

    // Globs are resolved in parallel too: with many tasks, listing folders adds up.
    let resolved: Vec<Vec<Resolved>> = (0..count)
        .into_par_iter()
        .map(|id| {
            if needed[id] {
                resolve(&workflow.tasks[id], &root)
            } else {
                Ok(Vec::new())
            }
        })
        .collect::<Result<_, _>>()?;
    let mut files: Vec<(PathBuf, TaskId)> = Vec::new();
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    for (id, entries) in resolved.iter().enumerate() {
        for entry in entries {
            if let Resolved::File { path, .. } = entry {
                index.entry(path.clone()).or_insert_with(|| {
                    files.push((path.clone(), id));
                    files.len() - 1
                });
            }
        }
    }

    let paths: Vec<&Path> = files.iter().map(|(path, _)| path.as_path()).collect();
    preload(&paths, cache);
    let (digests, stats) = hash_all(workflow, &files, cache)?;

    let mut tasks: Vec<Option<TaskFingerprint>> = vec![None; count];
    // Each task's name, made shareable once, for the tasks that depend on it.
    let mut names: Vec<Option<Arc<str>>> = vec![None; count];
    let mut interner = Interner::default();
    for &id in workflow.dag.topological_order() {
        if !needed[id] {
            continue;
        }
        let inputs = resolved[id]
            .iter()
            .map(|entry| match entry {
                Resolved::File { path, shown } => {
                    let digest = index
                        .get(path)
                        .and_then(|&i| digests[i].clone())
                        .unwrap_or_else(|| MISSING.to_owned());
                    (shown.clone(), digest)
                }
                Resolved::Missing { shown } => (shown.clone(), MISSING.to_owned()),
            })
            .collect();
        let dep_part = |dep: TaskId| {
            let name = names[dep]
                .clone()
                .unwrap_or_else(|| Arc::from(workflow.tasks[dep].name.as_str()));
            let digest = tasks[dep]
                .as_ref()
                .map_or_else(|| Arc::from(""), |fp| Arc::clone(&fp.digest));
            (name, digest)
        };
        let fingerprint = assemble(workflow, id, inputs, &dep_part, &mut interner);
        tasks[id] = Some(fingerprint);
        names[id] = Some(Arc::from(workflow.tasks[id].name.as_str()));
    }
    Ok(Fingerprints { tasks, stats })
}

/// A task's fingerprint from its input digests and its deps' names and fingerprints.
fn assemble(
    workflow: &Workflow,
    id: TaskId,
    mut inputs: Vec<(String, String)>,
    dep_part: &dyn Fn(TaskId) -> (Arc<str>, Arc<str>),
    interner: &mut Interner,
) -> TaskFingerprint {
    let task = &workflow.tasks[id];
    inputs.sort();
    inputs.dedup();
    let deps = task.deps.iter().map(|&dep| dep_part(dep)).collect();
    TaskFingerprint::from_parts(FingerprintParts {
        command: interner.intern(command_digest(&task.command, &workflow.shell)),
        env: interner.intern(env_digest(&workflow.env, &task.env)),
        cwd: interner.intern(task.cwd.to_string_lossy().into_owned()),
        inputs,
        deps,
    })
}

/// The fingerprint of one task as its inputs are now, with `dep_digest` giving its deps'
/// fingerprints (by id). Used when a task has just succeeded: its inputs are then the ones its deps
/// produced in this run, which a fingerprint taken before the run could not see.
pub fn fingerprint_one(
    workflow: &Workflow,
    id: TaskId,
    dep_digest: &dyn Fn(TaskId) -> Arc<str>,
    cache: &mut FileCache,
) -> Result<TaskFingerprint, FingerprintError> {
    let resolved = resolve(&workflow.tasks[id], &normalize(&workflow.root))?;
    let files: Vec<(PathBuf, TaskId)> = resolved
        .iter()
        .filter_map(|entry| match entry {
            Resolved::File { path, .. } => Some((path.clone(), id)),
            Resolved::Missing { .. } => None,
        })
        .collect();
    let (mut digests, _) = hash_all(workflow, &files, cache)?;
    let mut digests = digests.drain(..);
    let inputs = resolved
        .into_iter()
        .map(|entry| match entry {
            Resolved::File { shown, .. } => (
                shown,
                digests
                    .next()
                    .flatten()
                    .unwrap_or_else(|| MISSING.to_owned()),
            ),
            Resolved::Missing { shown } => (shown, MISSING.to_owned()),
        })
        .collect();
    let dep_part = |dep: TaskId| {
        (
            Arc::from(workflow.tasks[dep].name.as_str()),
            dep_digest(dep),
        )
    };
    Ok(assemble(
        workflow,
        id,
        inputs,
        &dep_part,
        &mut Interner::default(),
    ))
}

/// Digests of `files` (`None` for a file that vanished), hashed in parallel.
fn hash_all(
    workflow: &Workflow,
    files: &[(PathBuf, TaskId)],
    cache: &mut FileCache,
) -> Result<(Vec<Option<String>>, HashStats), FingerprintError> {
    let shared: &FileCache = cache;
    let results: Vec<_> = files
        .par_iter()
        .map(|(path, _)| hash_file(path, shared))
        .collect();
    let mut stats = HashStats {
        files: files.len(),
        ..HashStats::default()
    };
    let mut digests = Vec::with_capacity(files.len());
    for (result, (path, owner)) in results.into_iter().zip(files) {
        let digest = result.map_err(|source| FingerprintError::InputUnreadable {
            task: workflow.tasks[*owner].name.clone(),
            path: path.clone(),
            source,
        })?;
        digests.push(digest.map(|file| {
            if file.from_cache {
                stats.cache_hits += 1;
            }
            stats.bytes_read += file.bytes_read;
            if let Some(entry) = file.entry {
                cache.insert(path.clone(), entry);
            }
            file.digest
        }));
    }
    Ok((digests, stats))
}

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
