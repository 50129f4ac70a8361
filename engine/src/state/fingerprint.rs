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
//! stored success can be compared part by part to say *what* changed. In memory a task keeps
//! only the digest and its own parts ([`OwnParts`]); the parts in full, its deps' names and
//! fingerprints included, are made when a success is stored or a change explained.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::error::FingerprintError;
use super::file_cache::FileCache;
use super::inputs::{Resolved, hash_file, resolve};
use crate::paths::normalize;
use crate::workflow::{Command, Task, TaskId, Workflow};

/// Changes whenever the encoding changes, so that old fingerprints never match new ones.
pub const VERSION: &str = "wf-fingerprint-1";

/// The digest recorded for an input pattern that matches nothing.
pub const MISSING: &str = "missing";

/// A fingerprint, or the digest of one of its parts: blake3, 32 bytes, shown and stored as 64
/// hex digits.
pub type Digest = blake3::Hash;

/// What went into a task's fingerprint, stored with each success to explain later changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintParts {
    /// Digest of the command (with the shell, for a string command), hex.
    pub command: Arc<str>,
    /// Digest of the environment written in the manifest, hex.
    pub env: Arc<str>,
    /// The absolute working directory.
    pub cwd: Arc<str>,
    /// Each input file (relative to the manifest's folder) and its digest, or [`MISSING`];
    /// sorted by path.
    pub inputs: Vec<(String, String)>,
    /// Each dep's name and fingerprint (hex), in the order of `deps`.
    pub deps: Vec<(Arc<str>, Arc<str>)>,
}

impl FingerprintParts {
    /// The fingerprint these parts make.
    pub fn digest(&self) -> Digest {
        framed(VERSION, |frame| {
            frame.str(&self.command);
            frame.str(&self.env);
            frame.str(&self.cwd);
            frame.pairs(&self.inputs);
            frame.pairs(&self.deps);
        })
    }
}

/// What a task's own definition puts into its fingerprint: everything but its deps' names and
/// fingerprints, which are the deps' own and are looked up when the parts are needed in full
/// (to store a success, or to say what changed). At a million tasks, a copy of them in every
/// task was most of a plan's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnParts {
    /// Digest of the command (with the shell, for a string command).
    pub command: Digest,
    /// Digest of the environment written in the manifest.
    pub env: Digest,
    /// The absolute working directory (shared between tasks with the same one).
    pub cwd: Arc<str>,
    /// Each input file (relative to the manifest's folder) and its digest, or [`MISSING`];
    /// sorted by path.
    pub inputs: Vec<(String, String)>,
}

/// A task's fingerprint and what its own definition put into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFingerprint {
    /// The fingerprint.
    pub digest: Digest,
    /// What went into it, but for the deps.
    pub own: OwnParts,
}

impl TaskFingerprint {
    /// The fingerprint of task `id` from its own parts and its deps' fingerprints
    /// (`dep_digest`; `None` for a dep that has none).
    pub fn new(
        workflow: &Workflow,
        id: TaskId,
        own: OwnParts,
        dep_digest: &dyn Fn(TaskId) -> Option<Digest>,
    ) -> Self {
        let deps = workflow.deps(id);
        Self::with_deps(
            own,
            deps.map(|dep| (workflow.tasks[dep].name.as_str(), dep_digest(dep))),
        )
    }

    /// The fingerprint made of `own` and each dep's name and fingerprint, in order.
    fn with_deps<'n>(
        own: OwnParts,
        deps: impl ExactSizeIterator<Item = (&'n str, Option<Digest>)>,
    ) -> Self {
        let digest = framed(VERSION, |frame| {
            frame.hex(&own.command);
            frame.hex(&own.env);
            frame.str(&own.cwd);
            frame.pairs(&own.inputs);
            frame.len(deps.len());
            for (name, digest) in deps {
                frame.str(name);
                match digest {
                    Some(digest) => frame.hex(&digest),
                    None => frame.str(""),
                }
            }
        });
        Self { digest, own }
    }

    /// Everything that went into the fingerprint of task `id`, with its deps' fingerprints
    /// from `dep_digest`, as a success stores it.
    pub fn parts(
        &self,
        workflow: &Workflow,
        id: TaskId,
        dep_digest: &dyn Fn(TaskId) -> Option<Digest>,
    ) -> FingerprintParts {
        let hex = |digest: &Digest| Arc::from(digest.to_hex().as_str());
        FingerprintParts {
            command: hex(&self.own.command),
            env: hex(&self.own.env),
            cwd: Arc::clone(&self.own.cwd),
            inputs: self.own.inputs.clone(),
            deps: workflow
                .deps(id)
                .map(|dep| {
                    let digest = dep_digest(dep).map_or_else(|| Arc::from(""), |d| hex(&d));
                    (Arc::from(workflow.tasks[dep].name.as_str()), digest)
                })
                .collect(),
        }
    }
}

/// Equal working directories of many tasks stored once. Tasks share their working directory's
/// allocation when it is the same, so the last one seen answers nearly every question without
/// hashing the path.
#[derive(Default)]
struct Interner {
    known: HashSet<Arc<str>>,
    last: Option<(Arc<Path>, Arc<str>)>,
}

impl Interner {
    fn intern(&mut self, cwd: &Arc<Path>) -> Arc<str> {
        if let Some((path, text)) = &self.last {
            if Arc::ptr_eq(path, cwd) {
                return Arc::clone(text);
            }
        }
        let text = cwd.to_string_lossy();
        let shared = match self.known.get(&*text) {
            Some(known) => Arc::clone(known),
            None => {
                let shared: Arc<str> = Arc::from(text);
                self.known.insert(Arc::clone(&shared));
                shared
            }
        };
        self.last = Some((Arc::clone(cwd), Arc::clone(&shared)));
        shared
    }
}

/// The fingerprints of a workflow's tasks.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    /// Indexed by [`TaskId`]; `None` (or missing) for a task neither selected nor a dependency
    /// of one, and for every task of a plan made without a state store.
    pub tasks: Vec<Option<TaskFingerprint>>,
    /// What computing them cost.
    pub stats: HashStats,
}

impl Fingerprints {
    /// The fingerprint of task `id`, if it has one.
    pub fn digest(&self, id: TaskId) -> Option<Digest> {
        self.tasks.get(id)?.as_ref().map(|fp| fp.digest)
    }

    /// Everything that went into the fingerprint of task `id`, if it has one.
    pub fn parts(&self, workflow: &Workflow, id: TaskId) -> Option<FingerprintParts> {
        let fingerprint = self.tasks.get(id)?.as_ref()?;
        Some(fingerprint.parts(workflow, id, &|dep| self.digest(dep)))
    }
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

/// Length-prefixed fields, gathered into one buffer and hashed in one call: feeding a hasher
/// a few bytes at a time (a length, a name, a digest) cost more than the hashing itself.
struct Frame<'b>(&'b mut Vec<u8>);

/// A frame's buffer kept for the next one when it grew no larger than this.
const KEPT_FRAME_BYTES: usize = 64 * 1024;

thread_local! {
    /// One frame buffer per thread, cleared for each digest (a fingerprint is made for every
    /// task: allocating a buffer each time would be most of its cost).
    static FRAME: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The digest of the fields `fill` writes after `tag`.
fn framed(tag: &str, fill: impl FnOnce(&mut Frame<'_>)) -> Digest {
    FRAME.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            let digest = hash_frame(&mut buffer, tag, fill);
            if buffer.capacity() > KEPT_FRAME_BYTES {
                *buffer = Vec::new();
            }
            digest
        }
        // Only if `fill` itself asked for a digest: then a buffer of its own.
        Err(_) => hash_frame(&mut Vec::new(), tag, fill),
    })
}

/// Writes `tag` and what `fill` writes into `buffer` (cleared first), and hashes it.
fn hash_frame(buffer: &mut Vec<u8>, tag: &str, fill: impl FnOnce(&mut Frame<'_>)) -> Digest {
    buffer.clear();
    let mut frame = Frame(buffer);
    frame.str(tag);
    fill(&mut frame);
    blake3::hash(buffer)
}

impl Frame<'_> {
    fn len(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u64).to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    /// A digest as its 64 hex digits (what the stored parts hold), without a `String`.
    fn hex(&mut self, digest: &Digest) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.as_bytes()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        self.bytes(&hex);
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
}

/// Digest of a command; the shell counts only for a string command.
pub fn command_digest(command: &Command, shell: &[String]) -> Digest {
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

/// Digest of the environment a manifest gives `task`: the workflow's, then the task's own (its
/// [`Task::environment`], with its matrix variables).
pub fn env_digest(workflow_env: &[(String, String)], task: &Task) -> Digest {
    pairs_digest(workflow_env, &task.environment().collect::<Vec<_>>())
}

/// The digest [`env_digest`] makes of the workflow's and a task's variables.
pub(crate) fn pairs_digest<A: AsRef<str>, B: AsRef<str>>(
    workflow_env: &[(String, String)],
    task_env: &[(A, B)],
) -> Digest {
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
    let ReadInputs {
        needed,
        resolved,
        index,
        digests,
        stats,
    } = read_inputs(workflow, selected, cache, preload)?;
    let count = workflow.tasks.len();

    let mut tasks: Vec<Option<TaskFingerprint>> = vec![None; count];
    // The names and fingerprints of the tasks, side by side in two compact arrays: a task
    // reads its deps' from there rather than from anywhere in the heap (at a million tasks,
    // these cache misses were most of the time spent here).
    let mut names = String::new();
    let mut name_ends: Vec<usize> = Vec::with_capacity(count);
    for task in &workflow.tasks {
        names.push_str(&task.name);
        name_ends.push(names.len());
    }
    let name_of = |id: TaskId| {
        let start = id.checked_sub(1).map_or(0, |before| name_ends[before]);
        names.get(start..name_ends[id]).unwrap_or_default()
    };
    // Equal working directories share their text (one interner, so before the parallel part).
    let mut interner = Interner::default();
    let cwds: Vec<Option<Arc<str>>> = (0..count)
        .map(|id| needed[id].then(|| interner.intern(&workflow.tasks[id].cwd)))
        .collect();
    // The environment of a task that sets no variable of its own is the workflow's: the same
    // digest for all of them, made once.
    let no_variables: &[(&str, &str)] = &[];
    let plain_env = pairs_digest(&workflow.env, no_variables);
    let fingerprint_of = |id: TaskId, made: &[Option<Digest>]| {
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
        let cwd = cwds[id].clone().unwrap_or_else(|| Arc::from(""));
        let task = &workflow.tasks[id];
        let env = if task.env.is_empty() && task.matrix.is_empty() {
            plain_env
        } else {
            env_digest(&workflow.env, task)
        };
        let own = own_parts(workflow, id, inputs, cwd, env);
        let deps = workflow.deps(id);
        TaskFingerprint::with_deps(own, deps.map(|dep| (name_of(dep), made[dep])))
    };
    // A fingerprint needs its deps' first: the tasks of one depth (longest chain of deps
    // below them) need only shallower ones, and are fingerprinted in parallel.
    let mut made: Vec<Option<Digest>> = vec![None; count];
    let (order, starts) = by_depth(workflow, &needed);
    for level in starts.windows(2) {
        let ids = &order[level[0]..level[1]];
        let level_fingerprints: Vec<TaskFingerprint> = if ids.len() >= PARALLEL_DEPTH {
            ids.par_iter()
                .map(|&id| fingerprint_of(id, &made))
                .collect()
        } else {
            ids.iter().map(|&id| fingerprint_of(id, &made)).collect()
        };
        for (&id, fingerprint) in ids.iter().zip(level_fingerprints) {
            made[id] = Some(fingerprint.digest);
            tasks[id] = Some(fingerprint);
        }
    }
    Ok(Fingerprints { tasks, stats })
}

/// The input files of the `selected` tasks and what they depend on, read as
/// [`fingerprint_tasks`] reads them (an unreadable one is the same error), without the
/// fingerprints: for a plan made with no state store, where there is nothing to compare them
/// with. No task has a fingerprint (`tasks` is empty: a million `None`s would be a hundred
/// megabytes written for nothing).
pub fn read_task_inputs(
    workflow: &Workflow,
    selected: &[bool],
    cache: &mut FileCache,
) -> Result<Fingerprints, FingerprintError> {
    let stats = read_inputs(workflow, selected, cache, &mut |_, _| {})?.stats;
    Ok(Fingerprints {
        tasks: Vec::new(),
        stats,
    })
}

/// What the tasks' inputs are: the tasks needed, each one's resolved entries, and each file's
/// digest (by its index in `index`).
struct ReadInputs {
    needed: Vec<bool>,
    resolved: Vec<Vec<Resolved>>,
    index: HashMap<PathBuf, usize>,
    digests: Vec<Option<String>>,
    stats: HashStats,
}

/// Resolves the inputs of the `selected` tasks and of their dependencies and hashes each file
/// once, after `preload` has added what is known of them to `cache`.
fn read_inputs(
    workflow: &Workflow,
    selected: &[bool],
    cache: &mut FileCache,
    preload: &mut dyn FnMut(&[&Path], &mut FileCache),
) -> Result<ReadInputs, FingerprintError> {
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
    Ok(ReadInputs {
        needed,
        resolved,
        index,
        digests,
        stats,
    })
}

/// Tasks of one depth fingerprinted in parallel when there are at least this many.
const PARALLEL_DEPTH: usize = 256;

/// The `needed` tasks ordered by depth (0: no deps; otherwise one more than the deepest dep),
/// and where each depth starts in that order (with the end last).
fn by_depth(workflow: &Workflow, needed: &[bool]) -> (Vec<TaskId>, Vec<usize>) {
    let mut depth = vec![0usize; workflow.tasks.len()];
    let mut deepest = 0;
    for &id in workflow.dag.topological_order() {
        if needed[id] {
            let deps = workflow.deps(id);
            depth[id] = deps.map(|dep| depth[dep] + 1).max().unwrap_or(0);
            deepest = deepest.max(depth[id]);
        }
    }
    let mut starts = vec![0usize; deepest + 2];
    for (id, &d) in depth.iter().enumerate() {
        if needed[id] {
            starts[d + 1] += 1;
        }
    }
    for d in 1..starts.len() {
        starts[d] += starts[d - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0; starts[deepest + 1]];
    for (id, &d) in depth.iter().enumerate() {
        if needed[id] {
            order[next[d]] = id;
            next[d] += 1;
        }
    }
    (order, starts)
}

/// What task `id` itself puts into its fingerprint, given its input files' digests and the
/// digest of its environment ([`env_digest`]).
fn own_parts(
    workflow: &Workflow,
    id: TaskId,
    mut inputs: Vec<(String, String)>,
    cwd: Arc<str>,
    env: Digest,
) -> OwnParts {
    let task = &workflow.tasks[id];
    inputs.sort();
    inputs.dedup();
    OwnParts {
        command: command_digest(&task.command, &workflow.shell),
        env,
        cwd,
        inputs,
    }
}

/// The fingerprint of one task as its inputs are now, with `dep_digest` giving its deps'
/// fingerprints (by id; `None` for a dep without one). Used when a task has just succeeded: its inputs are then the ones its deps
/// produced in this run, which a fingerprint taken before the run could not see.
pub fn fingerprint_one(
    workflow: &Workflow,
    id: TaskId,
    dep_digest: &dyn Fn(TaskId) -> Option<Digest>,
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
    let cwd = Interner::default().intern(&workflow.tasks[id].cwd);
    let own = own_parts(
        workflow,
        id,
        inputs,
        cwd,
        env_digest(&workflow.env, &workflow.tasks[id]),
    );
    Ok(TaskFingerprint::new(workflow, id, own, dep_digest))
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
