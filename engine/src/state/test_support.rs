//! What the state store's tests share: the start of a run, and the schema version a store is
//! at.

use super::{RunStart, StateStore};

/// The start of run `run_id` of `manifest` (workflow `demo`, no pid) at `started_at_ms`, on
/// `jobs` slots.
pub fn run_start(run_id: &str, manifest: &str, started_at_ms: i64, jobs: u32) -> RunStart {
    RunStart {
        run_id: run_id.to_owned(),
        manifest: manifest.to_owned(),
        workflow: "demo".to_owned(),
        pid: None,
        started_at_ms,
        jobs,
    }
}

/// The schema version `store` is at (SQLite's `user_version`).
pub fn schema_version(store: &StateStore) -> i64 {
    store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version")
}
