//! Why a task will run: its current fingerprint against its last success, part by part.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::fingerprint::{Digest, FingerprintParts, MISSING};
use super::records::Success;
use crate::workflow::{TaskId, Workflow};

/// The reason a task runs (or does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It never succeeded before.
    NeverRan,
    /// It never succeeded, and failed (or timed out) in the latest run (decided by the caller).
    FailedLastRun,
    /// Its command, or the shell of a string command, changed.
    CommandChanged,
    /// The environment written in the manifest changed.
    EnvChanged,
    /// Its working directory changed.
    CwdChanged,
    /// The content of this input file changed.
    InputChanged(String),
    /// This input file appeared (a new match of a glob, or a missing file created).
    InputAdded(String),
    /// This input file disappeared.
    InputRemoved(String),
    /// This declared output does not exist.
    OutputMissing(String),
    /// This dep, a task of the same workflow, is going to run (decided by the caller, not by
    /// [`explain`]). Its id, not its name: a plan of a million tasks says this of most of
    /// them, and [`Reason::in_words`] names it when shown.
    DependencyWillRun(TaskId),
    /// This dep's fingerprint changed since the last success.
    DependencyChanged(String),
    /// The user asked for it to run regardless (decided by the caller).
    Forced,
    /// It declares no outputs, so there is nothing to be up to date: it runs every time.
    NoOutputs,
    /// `--resume`: it succeeded (or was up to date) with the same fingerprint in this earlier run.
    Resumed(String),
    /// The fingerprint differs but no recorded part does: it was recorded by a wf with another
    /// fingerprint encoding, its parts could not be read, or another run recorded a newer
    /// success while the plan was being made (its parts are not the ones compared).
    FingerprintChanged,
    /// Nothing changed: it need not run.
    UpToDate,
}

impl Reason {
    /// True if the task has to run.
    pub fn runs(&self) -> bool {
        !matches!(self, Reason::UpToDate | Reason::Resumed(_))
    }
}

/// A [`Reason`] in words, as `wf plan` and a run's report show it.
#[derive(Debug, Clone, Copy)]
pub struct InWords<'a> {
    reason: &'a Reason,
    workflow: &'a Workflow,
}

impl Reason {
    /// The reason in words; `workflow` (the one it was decided for) names the dependency of
    /// [`Reason::DependencyWillRun`].
    pub fn in_words<'a>(&'a self, workflow: &'a Workflow) -> InWords<'a> {
        InWords {
            reason: self,
            workflow,
        }
    }
}

impl fmt::Display for InWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::NeverRan => f.write_str("never ran"),
            Reason::FailedLastRun => f.write_str("failed in the last run"),
            Reason::CommandChanged => f.write_str("command changed"),
            Reason::EnvChanged => f.write_str("environment changed"),
            Reason::CwdChanged => f.write_str("working directory changed"),
            Reason::InputChanged(path) => write!(f, "input {path} changed"),
            Reason::InputAdded(path) => write!(f, "input {path} added"),
            Reason::InputRemoved(path) => write!(f, "input {path} removed"),
            Reason::OutputMissing(path) => write!(f, "output {path} missing"),
            Reason::DependencyWillRun(dep) => match self.workflow.tasks.get(*dep) {
                Some(dep) => write!(f, "dependency {} will run", dep.name),
                None => f.write_str("a dependency will run"),
            },
            Reason::DependencyChanged(dep) => write!(f, "dependency {dep} changed"),
            Reason::Forced => f.write_str("forced (--force)"),
            Reason::NoOutputs => f.write_str("no outputs declared: runs every time"),
            Reason::Resumed(run) => write!(f, "done in run {run} (--resume)"),
            Reason::FingerprintChanged => f.write_str("fingerprint changed"),
            Reason::UpToDate => f.write_str("up to date"),
        }
    }
}

/// The first reason `current` has to run, given the task's last success and which of its
/// declared outputs are missing now (paths relative to the manifest's folder).
///
/// Reasons are tried in this order: never ran, command, environment, working directory,
/// inputs (changed, then added, then removed, each in path order), deps, missing outputs;
/// otherwise up to date. [`Reason::DependencyWillRun`] and [`Reason::Forced`] are never
/// returned: only the caller knows that a dep is going to run (its own reason is not
/// [`Reason::UpToDate`]) or that the user forced a run, and it should check those first.
///
/// `current` is the task's fingerprint now; `current_parts` makes what went into it, and is
/// called only when it differs from the last success's.
pub fn explain(
    current: &Digest,
    current_parts: impl FnOnce() -> FingerprintParts,
    last_success: Option<&Success>,
    outputs_missing: &[String],
) -> Reason {
    let Some(last) = last_success else {
        return Reason::NeverRan;
    };
    if *last.fingerprint != *current.to_hex() {
        let Some(before) = &last.parts else {
            return Reason::FingerprintChanged;
        };
        return changed_part(&current_parts(), before).unwrap_or(Reason::FingerprintChanged);
    }
    match outputs_missing.first() {
        Some(path) => Reason::OutputMissing(path.clone()),
        None => Reason::UpToDate,
    }
}

/// The first part that differs between two fingerprints.
fn changed_part(now: &FingerprintParts, before: &FingerprintParts) -> Option<Reason> {
    if now.command != before.command {
        return Some(Reason::CommandChanged);
    }
    if now.env != before.env {
        return Some(Reason::EnvChanged);
    }
    if now.cwd != before.cwd {
        return Some(Reason::CwdChanged);
    }
    if let Some(reason) = changed_input(&now.inputs, &before.inputs) {
        return Some(reason);
    }
    changed_dep(&now.deps, &before.deps)
}

fn changed_input(now: &[(String, String)], before: &[(String, String)]) -> Option<Reason> {
    let present = |list: &[(String, String)]| -> HashMap<String, String> {
        list.iter()
            .filter(|(_, digest)| digest != MISSING)
            .cloned()
            .collect()
    };
    let (now, before) = (present(now), present(before));
    let mut changed: Vec<&String> = now
        .iter()
        .filter(|(path, digest)| before.get(*path).is_some_and(|old| old != *digest))
        .map(|(path, _)| path)
        .collect();
    let mut added: Vec<&String> = now.keys().filter(|p| !before.contains_key(*p)).collect();
    let mut removed: Vec<&String> = before.keys().filter(|p| !now.contains_key(*p)).collect();
    changed.sort();
    added.sort();
    removed.sort();
    changed
        .first()
        .map(|path| Reason::InputChanged((*path).clone()))
        .or_else(|| {
            added
                .first()
                .map(|path| Reason::InputAdded((*path).clone()))
        })
        .or_else(|| {
            removed
                .first()
                .map(|path| Reason::InputRemoved((*path).clone()))
        })
}

fn changed_dep(now: &[(Arc<str>, Arc<str>)], before: &[(Arc<str>, Arc<str>)]) -> Option<Reason> {
    let old: HashMap<&str, &str> = before
        .iter()
        .map(|(name, digest)| (&**name, &**digest))
        .collect();
    let new_or_changed = now
        .iter()
        .find(|(name, digest)| old.get(&**name) != Some(&&**digest))
        .map(|(name, _)| name);
    let dropped = || {
        before
            .iter()
            .find(|(name, _)| !now.iter().any(|(n, _)| n == name))
            .map(|(name, _)| name)
    };
    new_or_changed
        .or_else(dropped)
        .map(|name| Reason::DependencyChanged(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> FingerprintParts {
        FingerprintParts {
            command: "c".into(),
            env: "e".into(),
            cwd: "/w".into(),
            inputs: vec![
                ("data/a.csv".to_owned(), "1".to_owned()),
                ("data/b.csv".to_owned(), "2".to_owned()),
                ("data/new*".to_owned(), MISSING.to_owned()),
            ],
            deps: vec![("fetch".into(), "f".into())],
        }
    }

    fn success(parts: FingerprintParts) -> Success {
        Success {
            task: "clean".to_owned(),
            run_id: "r".to_owned(),
            fingerprint: parts.digest().to_string(),
            parts: Some(parts),
            outputs: vec!["data/clean.csv".to_owned()],
            finished_at_ms: 0,
            duration_s: Some(1.0),
        }
    }

    fn why(now: FingerprintParts, before: FingerprintParts, missing: &[&str]) -> String {
        let missing: Vec<String> = missing.iter().map(|s| (*s).to_owned()).collect();
        explain(
            &now.digest(),
            || now.clone(),
            Some(&success(before)),
            &missing,
        )
        .in_words(&workflow())
        .to_string()
    }

    /// A workflow of one task, `clean`, to name reasons with.
    fn workflow() -> Workflow {
        let text = "[tasks.clean]\nrun = 'x'\n";
        let loaded = crate::manifest::parse(
            crate::manifest::SourceFile::new("wf.toml", text),
            std::path::Path::new("/w"),
        );
        loaded.workflow.expect("valid")
    }

    #[test]
    fn never_ran_without_a_success() {
        let current = parts();
        assert_eq!(
            explain(&current.digest(), || current.clone(), None, &[]),
            Reason::NeverRan
        );
    }

    #[test]
    fn up_to_date_or_output_missing_when_nothing_changed() {
        assert_eq!(why(parts(), parts(), &[]), "up to date");
        assert_eq!(
            why(parts(), parts(), &["data/clean.csv"]),
            "output data/clean.csv missing"
        );
    }

    #[test]
    fn names_the_first_changed_part() {
        let mut now = parts();
        now.command = "c2".into();
        now.env = "e2".into();
        assert_eq!(why(now, parts(), &[]), "command changed");

        let mut now = parts();
        now.env = "e2".into();
        now.inputs[0].1 = "9".to_owned();
        assert_eq!(why(now, parts(), &[]), "environment changed");

        let mut now = parts();
        now.cwd = "/x".into();
        assert_eq!(why(now, parts(), &[]), "working directory changed");

        let mut now = parts();
        now.inputs[1].1 = "9".to_owned();
        now.deps[0].1 = "g".into();
        assert_eq!(
            why(now, parts(), &["data/clean.csv"]),
            "input data/b.csv changed"
        );

        let mut now = parts();
        now.deps[0].1 = "g".into();
        assert_eq!(why(now, parts(), &[]), "dependency fetch changed");
    }

    #[test]
    fn tells_added_from_removed_inputs() {
        let mut now = parts();
        now.inputs.push(("data/new1".to_owned(), "5".to_owned()));
        now.inputs.retain(|(p, _)| p != "data/new*");
        assert_eq!(why(now, parts(), &[]), "input data/new1 added");

        let mut now = parts();
        now.inputs[0].1 = MISSING.to_owned();
        assert_eq!(why(now, parts(), &[]), "input data/a.csv removed");
    }

    #[test]
    fn unreadable_parts_still_give_a_reason() {
        let mut before = success(parts());
        before.parts = None;
        before.fingerprint = "old".to_owned();
        let current = parts();
        assert_eq!(
            explain(&current.digest(), || current.clone(), Some(&before), &[]),
            Reason::FingerprintChanged
        );
        assert_eq!(
            Reason::DependencyWillRun(0)
                .in_words(&workflow())
                .to_string(),
            "dependency clean will run"
        );
        assert_eq!(
            Reason::DependencyWillRun(7)
                .in_words(&workflow())
                .to_string(),
            "a dependency will run",
            "a task id of another workflow names no task"
        );
    }
}
