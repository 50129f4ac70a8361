//! The wf engine: the manifest model and its checks, the task graph, and everything that runs.
//!
//! The engine never prints. It returns values (a [`Workflow`], findings, a run report) and
//! emits typed events; the `wf` command line renders them.
//!
//! Running tasks needs Linux: processes are started with `clone(CLONE_VM | CLONE_VFORK)` and a
//! parent-death signal (`prctl`), supervised with pidfds and eventfds, and found again through
//! `/proc` after a crash. There is no fallback for other systems, so building elsewhere stops
//! here with a clear message rather than with unresolved `libc` items.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "wf-engine runs tasks with Linux system calls (clone, prctl, pidfd_open, eventfd, /proc) \
     and supports only Linux"
);

pub mod exec;
pub mod graph;
pub mod layout;
pub mod manifest;
pub mod names;
pub mod paths;
pub mod quote;
pub mod report;
pub mod run;
pub mod scheduler;
pub mod schema;
pub mod session;
pub mod state;
pub mod suggest;
pub mod workflow;

pub use manifest::{Loaded, ManifestError, SourceFile, load, parse};
pub use run::{RunError, RunEvent};
pub use session::{Intent, Plan, Reporter, RunSettings, Session, SessionError};
pub use workflow::{Command, ExecutorKind, Task, TaskId, Workflow};
