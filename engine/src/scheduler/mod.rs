//! The scheduler: decides when each task runs, within slots, locks and dependencies.
//!
//! See `ARCHITECTURE.md` beside this file for what owns what and the event lifecycle.

pub mod core;
mod dispatch;
pub mod events;
mod journal;
mod locks;
pub mod plan;
mod ready;
mod run;
mod select;
mod summary;

pub use events::RunEvent;
pub use journal::Recorder;
pub use run::{RunError, RunOptions, check_slots, run};
pub use select::{UnknownTarget, select};
