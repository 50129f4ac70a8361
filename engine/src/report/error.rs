//! What can go wrong writing a report file.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// A report (JUnit XML, HTML timeline) could not be made or written.
#[derive(Debug, Error, Diagnostic)]
pub enum ReportError {
    /// The file could not be written.
    #[error("failed to write {}", .path.display())]
    #[diagnostic(code(wf::report_write))]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JUnit XML could not be serialized.
    #[error("failed to produce the JUnit XML")]
    #[diagnostic(code(wf::junit))]
    Junit {
        /// Why.
        #[source]
        source: quick_junit::SerializeError,
    },
    /// The timeline's data could not be serialized.
    #[error("failed to produce the HTML timeline's data")]
    #[diagnostic(code(wf::html))]
    Html {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Writes `text` to `path` through a temporary file beside it (creating missing folders), so a
/// reader never sees half a file.
pub fn write_atomically(path: &std::path::Path, text: &[u8]) -> Result<(), ReportError> {
    let fail = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, text).map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}
