//! A diagnostic as people see it: the same code, severity and hint, with every manifest-derived
//! text escaped and the labels moved into an [`Excerpt`] of the manifest.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceCode};
use wf_engine::manifest::SourceFile;

use super::excerpt::Excerpt;
use super::text::escape_control;

/// A diagnostic prepared for the terminal.
pub struct Shown<'a> {
    inner: &'a dyn Diagnostic,
    message: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    excerpt: Option<Excerpt>,
}

impl<'a> Shown<'a> {
    /// `inner` with its text escaped; its labels point into an excerpt of `source` when given.
    pub fn new(inner: &'a dyn Diagnostic, source: Option<&SourceFile>) -> Self {
        let labels: Vec<LabeledSpan> = inner.labels().into_iter().flatten().collect();
        let excerpt = source.map(|source| {
            let spans: Vec<std::ops::Range<usize>> = labels
                .iter()
                .map(|l| l.offset()..l.offset() + l.len())
                .collect();
            Excerpt::new(source, &spans)
        });
        let labels = match &excerpt {
            Some(excerpt) => labels
                .iter()
                .map(|label| {
                    let span = excerpt.span_of(&(label.offset()..label.offset() + label.len()));
                    let text = label.label().map(|t| escape_control(t).into_owned());
                    if label.primary() {
                        LabeledSpan::new_primary_with_span(text, span)
                    } else {
                        LabeledSpan::new_with_span(text, span)
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        Self {
            inner,
            message: escape_control(&inner.to_string()).into_owned(),
            help: inner
                .help()
                .map(|h| escape_control(&h.to_string()).into_owned()),
            labels,
            excerpt,
        }
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Shown<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl Diagnostic for Shown<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.excerpt.as_ref().map(|e| e as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.excerpt.as_ref()?;
        Some(Box::new(self.labels.iter().cloned()))
    }
}
