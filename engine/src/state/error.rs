//! What can go wrong with the state store.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use rusqlite::ErrorCode;
use thiserror::Error;

/// A state store that could not be opened, read or written.
#[derive(Debug, Error, Diagnostic)]
pub enum StateError {
    /// The file is not a SQLite database, fails its integrity check, or lacks a table.
    #[error("the state store {} is damaged: {detail}", .path.display())]
    #[diagnostic(
        code(wf::state_corrupt),
        help(
            "the state store only holds history and caches; move it aside and wf starts a new \
             one: `mv .wf/state.db .wf/state.db.broken`"
        )
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong, in words.
        detail: String,
    },

    /// The file was written by a newer wf, with a schema this one does not know.
    #[error(
        "the state store {} has schema version {found}, newer than the {supported} this wf supports",
        .path.display()
    )]
    #[diagnostic(
        code(wf::state_too_new),
        help(
            "upgrade wf, or move the state store aside and wf starts a new one: \
             `mv .wf/state.db .wf/state.db.broken`"
        )
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this wf knows.
        supported: i64,
    },

    /// Another process held the database longer than the busy timeout.
    #[error("the state store {} is locked by another process", .path.display())]
    #[diagnostic(
        code(wf::state_locked),
        help("another wf is probably writing to it; wait for it to finish and try again")
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },

    /// Any other SQLite failure.
    #[error("failed to {action} the state store {}", .path.display())]
    #[diagnostic(code(wf::state_io))]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done, in words.
        action: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// The folder or file could not be created.
    #[error("failed to {action} the state store {}", .path.display())]
    #[diagnostic(code(wf::state_io))]
    Io {
        /// The database file.
        path: PathBuf,
        /// What was being done, in words.
        action: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl StateError {
    /// Classifies a SQLite error met while doing `action` on the database at `path`.
    pub(crate) fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StateError::Corrupt {
                path: path.to_path_buf(),
                detail: "not a SQLite database".to_owned(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Locked {
                path: path.to_path_buf(),
            },
            _ => StateError::Sqlite {
                path: path.to_path_buf(),
                action,
                source,
            },
        }
    }

    /// A stored value this wf cannot read: the file was edited or damaged.
    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        StateError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// A fingerprint could not be computed.
#[derive(Debug, Error, Diagnostic)]
pub enum FingerprintError {
    /// An input file or folder exists but cannot be read.
    #[error("cannot read input {} of task `{task}`", .path.display())]
    #[diagnostic(
        code(wf::input_unreadable),
        help("make the file readable, or remove it from the task's `inputs`")
    )]
    InputUnreadable {
        /// The task (the first one that lists it, if several do).
        task: String,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An `inputs` entry that is not a valid glob.
    #[error("invalid glob `{pattern}` in the inputs of task `{task}`: {message}")]
    #[diagnostic(
        code(wf::invalid_input_pattern),
        help(
            "`*` and `?` match within one path component, `**` any number of folders, `[...]` one character of a set"
        )
    )]
    InvalidPattern {
        /// The task.
        task: String,
        /// The pattern as written.
        pattern: String,
        /// What the glob parser said.
        message: String,
    },
}
