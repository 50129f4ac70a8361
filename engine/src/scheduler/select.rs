//! Which tasks a run includes: the named targets and everything they need.

use miette::Diagnostic;
use thiserror::Error;

use crate::suggest::did_you_mean;
use crate::workflow::Workflow;

/// A target name that matches no task.
#[derive(Debug, Error, Diagnostic)]
#[error("no task named `{name}`")]
#[diagnostic(code(wf::unknown_target))]
pub struct UnknownTarget {
    /// The name given.
    pub name: String,
    /// A suggestion.
    #[help]
    pub help: Option<String>,
}

/// Marks the tasks a run includes: every task when `targets` is empty, else each target (a
/// full name, or a matrix task's name for all its expansions) and all its dependencies.
pub fn select(workflow: &Workflow, targets: &[String]) -> Result<Vec<bool>, UnknownTarget> {
    if targets.is_empty() {
        return Ok(vec![true; workflow.tasks.len()]);
    }
    let mut roots = vec![false; workflow.tasks.len()];
    for name in targets {
        let ids = workflow.select(name);
        if ids.is_empty() {
            let mut names: Vec<&str> = workflow.tasks.iter().map(|t| t.base.as_str()).collect();
            names.dedup();
            let help = did_you_mean(name, names.iter().copied())
                .map(|near| format!("did you mean `{near}`? `wf list` shows every task"))
                .or_else(|| Some("`wf list` shows every task".to_owned()));
            return Err(UnknownTarget {
                name: name.clone(),
                help,
            });
        }
        for id in ids {
            roots[id] = true;
        }
    }
    Ok(workflow.with_dependencies(&roots))
}
