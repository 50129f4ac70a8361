//! Manifest findings in the three formats of `wf validate`: human, JSON and GitHub annotations.

use std::fmt::Write as _;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;
use wf_engine::manifest::{LineCol, ManifestError, SourceFile};

use super::shown::Shown;

/// One finding as `--format json` prints it.
#[derive(Debug, Serialize)]
pub struct JsonFinding {
    /// The manifest's path as given.
    pub file: String,
    /// "error" or "warning".
    pub severity: &'static str,
    /// The stable code, e.g. `wf::unknown_dependency`.
    pub code: String,
    /// The message.
    pub message: String,
    /// Start line (1-based), when the finding has a position.
    pub line: Option<usize>,
    /// Start column (1-based, in characters).
    pub column: Option<usize>,
    /// End line.
    pub end_line: Option<usize>,
    /// End column (exclusive).
    pub end_column: Option<usize>,
    /// The hint, if any.
    pub help: Option<String>,
    /// Every labelled span, the primary one first.
    pub labels: Vec<JsonLabel>,
}

/// A labelled span of a finding.
#[derive(Debug, Serialize)]
pub struct JsonLabel {
    /// The label's text.
    pub message: Option<String>,
    /// Start line.
    pub line: usize,
    /// Start column.
    pub column: usize,
    /// End line.
    pub end_line: usize,
    /// End column (exclusive).
    pub end_column: usize,
}

fn severity_word(finding: &ManifestError) -> &'static str {
    if finding.is_warning() {
        "warning"
    } else {
        "error"
    }
}

fn code(finding: &dyn Diagnostic) -> String {
    finding.code().map(|c| c.to_string()).unwrap_or_default()
}

fn span_positions(source: &SourceFile, offset: usize, len: usize) -> (LineCol, LineCol) {
    (source.line_col(offset), source.line_col(offset + len))
}

/// A finding as a JSON record.
pub fn json_finding(source: &SourceFile, finding: &ManifestError) -> JsonFinding {
    let labels: Vec<JsonLabel> = finding
        .labels()
        .into_iter()
        .flatten()
        .map(|label| {
            let (start, end) = span_positions(source, label.offset(), label.len());
            JsonLabel {
                message: label.label().map(str::to_owned),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
            }
        })
        .collect();
    let first = labels.first();
    JsonFinding {
        file: source.name(),
        severity: severity_word(finding),
        code: code(finding),
        message: finding.to_string(),
        line: first.map(|l| l.line),
        column: first.map(|l| l.column),
        end_line: first.map(|l| l.end_line),
        end_column: first.map(|l| l.end_column),
        help: finding.help().map(|h| h.to_string()),
        labels,
    }
}

/// A finding about a file that has no position (an unreadable file).
pub fn json_file_error(file: &str, code: &str, message: String) -> JsonFinding {
    JsonFinding {
        file: file.to_owned(),
        severity: "error",
        code: code.to_owned(),
        message,
        line: None,
        column: None,
        end_line: None,
        end_column: None,
        help: None,
        labels: Vec::new(),
    }
}

/// Escapes data for a GitHub workflow command (`%`, CR and LF; and `:` `,` in properties).
fn github_escape(text: &str, property: bool) -> String {
    let mut out = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// A finding as one GitHub Actions annotation line.
pub fn github_line(finding: &JsonFinding) -> String {
    let mut properties = format!("file={}", github_escape(&finding.file, true));
    if let (Some(line), Some(col)) = (finding.line, finding.column) {
        let _ = write!(properties, ",line={line},col={col}");
        if let (Some(end_line), Some(end_col)) = (finding.end_line, finding.end_column) {
            let _ = write!(properties, ",endLine={end_line},endColumn={end_col}");
        }
    }
    let _ = write!(properties, ",title={}", github_escape(&finding.code, true));
    let mut message = finding.message.clone();
    if let Some(help) = &finding.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    format!(
        "::{} {properties}::{}",
        finding.severity,
        github_escape(&message, false)
    )
}

/// The miette handler used for people: unicode art, colour only when asked, a fixed width so
/// output does not depend on the terminal.
pub fn human_handler(color: bool) -> GraphicalReportHandler {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
}

/// A finding rendered for people, with the annotated source excerpt: only the lines it points
/// at, long lines cut around the labels, control characters escaped.
pub fn human(source: &SourceFile, finding: &ManifestError, color: bool) -> String {
    let shown = Shown::new(finding, Some(source));
    let mut out = String::new();
    if human_handler(color)
        .render_report(&mut out, &shown)
        .is_err()
    {
        out = format!("{}: {shown}\n", severity_word(finding));
    }
    out
}

/// A diagnostic without source code (an engine error) rendered for people, its text escaped.
pub fn human_error(error: &dyn Diagnostic, color: bool) -> String {
    let shown = Shown::new(error, None);
    let mut out = String::new();
    if human_handler(color)
        .render_report(&mut out, &shown)
        .is_err()
    {
        out = format!("error: {shown}\n");
    }
    out
}

/// Counts of errors and warnings, as "2 errors, 1 warning".
pub fn counts(findings: &[ManifestError]) -> String {
    let warnings = findings.iter().filter(|f| f.is_warning()).count();
    let errors = findings.len() - warnings;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}
