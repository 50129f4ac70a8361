//! What wf remembers between runs: run history, task fingerprints and the file-hash cache.
//!
//! ```text
//! store.rs        the SQLite state store in `.wf/state.db`: runs, attempts, outcomes,
//!                 last successes, file hashes
//! schema.rs       its tables and the ordered list of migrations
//! records.rs      the values written to and read from the store
//! error.rs        what can go wrong with the store
//! file_cache.rs   path → (size, mtime, digest), so unchanged files are not re-read
//! inputs.rs       a task's `inputs` → the files they match, and hashing those files
//! fingerprint.rs  a task's fingerprint: command, environment, cwd, inputs, deps
//! why.rs          why a task will run, from its fingerprint and its last success
//! summary.rs      each task's running summary (recent durations and peaks), kept in step
//!                 with its attempts, which plans read instead of the attempts
//! prune.rs        removing old runs (folders and rows) so that `.wf/` stops growing
//! ```
//!
//! The store only holds history and caches: losing it costs re-running tasks, never
//! correctness. That is why a damaged store is reported with a hint to move it aside rather
//! than repaired.

pub mod decide;
pub mod error;
pub mod file_cache;
pub mod fingerprint;
pub mod inputs;
pub mod prune;
pub mod records;
pub mod schema;
pub mod store;
pub mod summary;
#[cfg(test)]
mod test_support;
pub mod why;

pub use decide::{Freshness, History, LastSuccesses, decide, missing_outputs};
pub use error::StateError;
pub use file_cache::FileCache;
pub use fingerprint::{
    Digest, FingerprintError, FingerprintParts, Fingerprints, OwnParts, TaskFingerprint,
    fingerprint_one, fingerprint_tasks, fingerprint_tasks_with, read_task_inputs,
};
pub use prune::{PruneOptions, PruneReport, prune};
pub use records::{
    PreviousRun, RecordedProgress, RunEnd, RunStart, RunState, RunSummary, StateEvent, Success,
    SuccessRecord,
};
pub use store::usage_queries::RunUsage;
pub use store::{StateStore, Take};
pub use summary::{SUMMARY_DEPTH, TaskSummary};
pub use why::{InWords, Reason, explain};

pub use crate::layout::{STATE_FILE, store_path};
