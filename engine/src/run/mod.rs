//! A run of a workflow: worker threads, dispatch under one lock, the coordinator (signals,
//! retry timers, the state store journal), and the report built from what happened.
//!
//! The scheduler ([`crate::scheduler`]) decides when; an executor ([`crate::exec`]) decides
//! where and how; this module connects them.

mod completion;
mod coordinator;
mod dispatch;
pub mod events;
mod journal;
mod summary;

pub use coordinator::{RunError, RunOptions, check_slots, run};
pub use events::RunEvent;
pub use journal::Recorder;
