//! The scheduler: decides *when* each task runs, within slots, locks and dependencies. Pure:
//! no threads, no processes, no I/O; time is passed in.
//!
//! See `ARCHITECTURE.md` in `engine/src` for what owns what and the event lifecycle.

pub mod core;
mod locks;
pub mod memory;
pub mod plan;
mod ready;
mod select;

pub use select::{UnknownTarget, select, target_names};
