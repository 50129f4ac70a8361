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

/// Every name [`select`] accepts as a target, for shell completion: each task's name as
/// written (a matrix task's name selects all its expansions), then each matrix expansion's
/// full name (`train[lr=0.1]`), in declaration order, each once.
pub fn target_names(workflow: &Workflow) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    let bases = workflow.tasks.iter().map(|t| t.base());
    let expansions = workflow
        .tasks
        .iter()
        .filter(|t| t.name != t.base())
        .map(|t| t.name.as_str());
    bases
        .chain(expansions)
        .filter(|name| seen.insert(*name))
        .collect()
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
            let mut names: Vec<&str> = workflow.tasks.iter().map(|t| t.base()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};

    #[test]
    fn target_names_are_bases_then_expansions_each_once() {
        let loaded = parse(
            SourceFile::new(
                "wf.toml",
                "[tasks.fetch]\nrun='x'\n[tasks.train]\nrun='x'\nmatrix={lr=['0.1','0.01']}\n",
            ),
            std::path::Path::new("/p"),
        );
        let workflow = loaded.workflow.expect("valid");
        assert_eq!(
            target_names(&workflow),
            ["fetch", "train", "train[lr=0.1]", "train[lr=0.01]"]
        );
    }
}
