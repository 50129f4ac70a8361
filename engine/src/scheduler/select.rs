//! Which tasks a run includes: the named targets and everything they need.

use miette::Diagnostic;
use thiserror::Error;

use crate::suggest::did_you_mean;
use crate::workflow::Workflow;

/// A target name that matches no task.
#[derive(Debug, Error, Diagnostic)]
#[error("no task named `{name}`")]
#[diagnostic(code(wf::unknown_target), help("{}", self.help()))]
pub struct UnknownTarget {
    /// The name given.
    pub name: String,
    /// The nearest task name, if one is near.
    pub nearest: Option<String>,
}

impl UnknownTarget {
    fn help(&self) -> String {
        match &self.nearest {
            Some(near) => format!("did you mean `{near}`?"),
            None => "no task of the workflow has this name".to_owned(),
        }
    }
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
            return Err(UnknownTarget {
                name: name.clone(),
                nearest: did_you_mean(name, names.iter().copied()).map(str::to_owned),
            });
        }
        for id in ids {
            roots[id] = true;
        }
    }
    Ok(workflow.with_dependencies(&roots))
}
