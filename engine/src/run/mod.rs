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
mod recovery;
mod summary;

pub use coordinator::RunError;
pub(crate) use coordinator::{RunOptions, check_slots, run, run_on};
pub use events::RunEvent;
pub(crate) use journal::Recorder;
