//! The wf engine: the manifest model and its checks, the task graph, and everything that runs.
//!
//! The engine never prints. It returns values (a [`Workflow`], findings, a run report) and
//! emits typed events; the `wf` command line renders them.

pub mod exec;
pub mod graph;
pub mod layout;
pub mod manifest;
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
