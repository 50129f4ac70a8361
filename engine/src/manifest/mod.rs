//! Reading a manifest: TOML text → raw model with spans → checked, expanded [`Workflow`].
//!
//! Every problem is collected in one pass (syntax, unknown keys, types, references, cycles,
//! races), so a user fixes a file in one round instead of one error at a time.

mod chunks;
pub mod diagnostic;
pub mod duration;
#[cfg(test)]
mod equivalence_tests;
mod expand;
mod limits;
mod lint;
mod plain_tables;
pub mod raw;
mod resources;
mod sections;
pub mod shell_context;
pub mod size;
pub mod source;
pub(crate) mod spanned;
mod syntax;
mod validate;

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeTable;
use toml::de::DeValue;

pub use diagnostic::{Findings, ManifestError, has_errors};
pub use limits::DEFAULT_MAX_EXPANSIONS;
pub use source::{LineCol, SourceFile};

use crate::workflow::Workflow;
use spanned::FromToml;

/// The outcome of reading one manifest.
#[derive(Debug)]
pub struct Loaded {
    /// The manifest's text and name, for rendering findings.
    pub source: SourceFile,
    /// The workflow, present if and only if no error was found (warnings allowed).
    pub workflow: Option<Workflow>,
    /// Every error and warning, in the order found.
    pub findings: Findings,
}

impl Loaded {
    /// True if any finding is an error.
    pub fn has_errors(&self) -> bool {
        has_errors(&self.findings)
    }
}

/// A manifest file that could not be read at all.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot read manifest `{path}`")]
#[diagnostic(code(wf::unreadable_manifest))]
pub struct ReadError {
    /// The path as given.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Reads and checks the manifest at `path`. A file that is not UTF-8 is read, not refused: it
/// gets one finding at its first invalid byte.
pub fn load(path: &Path) -> Result<Loaded, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => parse(
            SourceFile::new(path, text),
            &crate::layout::manifest_root(path),
        ),
        Err(error) => not_utf8(path, error.as_bytes()),
    })
}

/// The outcome for bytes that are not UTF-8: the text with invalid sequences replaced (so the
/// excerpt can be shown) and one finding at the first invalid byte.
pub fn not_utf8(path: &Path, bytes: &[u8]) -> Loaded {
    let offset = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(error) => error.valid_up_to(),
    };
    // Everything before the first invalid byte is unchanged, so its offset holds in the
    // replaced text too; the replacement character is what the label covers.
    let source = SourceFile::new(path, String::from_utf8_lossy(bytes).into_owned());
    let at = source.line_col(offset);
    let width = source.text[offset..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    Loaded {
        findings: vec![ManifestError::InvalidUtf8 {
            byte: bytes.get(offset).copied().unwrap_or(0),
            line: at.line,
            column: at.column,
            offset,
            span: (offset..offset + width).into(),
        }],
        source,
        workflow: None,
    }
}

/// Checks manifest text; relative paths in it are taken from `root`.
pub fn parse(source: SourceFile, root: &Path) -> Loaded {
    parse_with(source, root, Reading::Chunked)
}

/// How the TOML text becomes the raw model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// In pieces ([`chunks`]) when the file allows it, else whole.
    Chunked,
    /// The whole document at once: the reference the pieces must agree with.
    #[cfg_attr(not(test), allow(dead_code))]
    Whole,
}

/// [`parse`], reading the text the way `reading` says.
fn parse_with(source: SourceFile, root: &Path, reading: Reading) -> Loaded {
    let origin = validate::Origin {
        path: &source.path,
        root,
        text: &source.text,
    };
    let chunked = match reading {
        Reading::Chunked => chunks::build(&origin),
        Reading::Whole => None,
    };
    let (workflow, findings, syntax) = match chunked {
        Some((workflow, findings)) => (workflow, findings, Findings::new()),
        None => build_whole(&origin),
    };
    // Findings that only follow from a syntax error in their table are left out.
    let mut findings = syntax::refine(&source.text, syntax, findings);
    // A syntax error may have hidden parts of the file: never hand out a partial workflow.
    let workflow = workflow.filter(|_| !has_errors(&findings));
    findings.sort_by_key(ManifestError::offset);
    Loaded {
        source,
        workflow,
        findings,
    }
}

/// The workflow of the whole document at once: the workflow, the findings of its conversion
/// and validation, and the syntax errors.
fn build_whole(origin: &validate::Origin<'_>) -> (Option<Workflow>, Findings, Findings) {
    let mut findings = Findings::new();
    let (document, syntax_errors) = DeTable::parse_recoverable(origin.text);
    let syntax: Findings = syntax_errors
        .into_iter()
        .map(|error| ManifestError::TomlSyntax {
            message: error.message().trim().to_owned(),
            span: error.span().unwrap_or(0..0).into(),
        })
        .collect();
    let span = document.span();
    let document = Spanned::new(span, DeValue::Table(document.into_inner()));
    let workflow = raw::RawManifest::from_toml(document, &mut findings).and_then(|mut raw| {
        let tasks = raw.tasks.take().map(|named| named.0).unwrap_or_default();
        let count = tasks.len();
        let pieces = Some((tasks, Findings::new())).filter(|(tasks, _)| !tasks.is_empty());
        validate::build(raw, pieces.into_iter(), drop, count, origin, &mut findings)
    });
    (workflow, findings, syntax)
}
