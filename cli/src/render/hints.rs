//! Command-line wording for engine errors. The engine's help speaks of the run and the
//! workflow; only the command line knows its own flags and subcommands, so it says how to
//! act on an error with them here.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, Severity, SourceCode};
use wf_engine::scheduler::UnknownTarget;
use wf_engine::{RunError, SessionError};

/// The help the command line gives for `error`, when it knows better than the engine.
pub fn cli_help(error: &SessionError) -> Option<String> {
    match error {
        SessionError::Run(RunError::TooWide { cpus, .. }) => Some(format!(
            "run with -j {cpus} or more, or lower the task's `cpus`"
        )),
        SessionError::UnknownTarget(UnknownTarget { nearest, .. }) => Some(match nearest {
            Some(near) => format!("did you mean `{near}`? `wf list` shows every task"),
            None => "`wf list` shows every task".to_owned(),
        }),
        _ => None,
    }
}

/// A diagnostic shown as it is, but with the command line's help.
pub struct WithHelp<'a> {
    /// The engine's diagnostic.
    pub inner: &'a dyn Diagnostic,
    /// The help that replaces its own.
    pub help: String,
}

impl fmt::Debug for WithHelp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for WithHelp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for WithHelp<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl Diagnostic for WithHelp<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }

    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.help))
    }

    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.url()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.inner.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_target_points_at_wf_list() {
        let error = SessionError::UnknownTarget(UnknownTarget {
            name: "biuld".into(),
            nearest: Some("build".into()),
        });
        assert_eq!(
            cli_help(&error).as_deref(),
            Some("did you mean `build`? `wf list` shows every task")
        );
        let shown = WithHelp {
            inner: &error,
            help: cli_help(&error).unwrap_or_default(),
        };
        assert_eq!(shown.to_string(), "no task named `biuld`");
        assert_eq!(
            shown.code().map(|c| c.to_string()).as_deref(),
            Some("wf::unknown_target")
        );
    }
}
