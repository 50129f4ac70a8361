//! What one attempt of a task executes: program, arguments, environment, working directory.
//!
//! Built on the worker thread that runs the attempt, so preparing tasks is spread over the
//! workers instead of queueing on the scheduler.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::spawn::CStrArray;
use crate::workflow::{Task, Workflow};

/// The environment every task starts from: the caller's environment with `[workflow].env` on
/// top, without variables wf sets itself. Computed once per run.
pub struct BaseEnv {
    entries: Vec<(OsString, CString)>,
    path: Option<OsString>,
}

/// True for the variables wf sets per task, which an outer wf run must not leak into tasks.
fn is_wf_variable(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes, b"WF_TASK" | b"WF_RUN_ID" | b"WF_ATTEMPT") || bytes.starts_with(b"WF_MATRIX_")
}

/// `NAME=value` as a C string, or `None` if either contains a NUL byte.
fn env_entry(name: &OsStr, value: &OsStr) -> Option<CString> {
    let mut bytes = Vec::with_capacity(name.len() + value.len() + 1);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value.as_bytes());
    CString::new(bytes).ok()
}

impl BaseEnv {
    /// The caller's environment plus the workflow's `env`.
    pub fn new(workflow: &Workflow) -> Self {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(name, _)| !is_wf_variable(name))
            .collect();
        for (name, value) in &workflow.env {
            let name = OsString::from(name);
            vars.retain(|(n, _)| *n != name);
            vars.push((name, OsString::from(value)));
        }
        let path = vars
            .iter()
            .find(|(n, _)| n == "PATH")
            .map(|(_, v)| v.clone());
        let entries = vars
            .into_iter()
            .filter_map(|(name, value)| env_entry(&name, &value).map(|entry| (name, entry)))
            .collect();
        Self { entries, path }
    }
}

/// One prepared attempt.
pub struct Launch {
    /// The resolved program path.
    pub program: CString,
    /// Arguments, `argv[0]` first.
    pub argv: Vec<CString>,
    /// Task-specific environment entries (the base entries are borrowed from [`BaseEnv`]).
    own_env: Vec<CString>,
    /// Which base entries the task overrides.
    hidden_base: Vec<bool>,
    /// Working directory.
    pub cwd: CString,
}

impl Launch {
    /// The arguments as `execve` takes them, borrowing `self`.
    pub fn argv(&self) -> CStrArray<'_> {
        CStrArray::new(self.argv.iter().map(CString::as_c_str))
    }

    /// The full environment as `execve` takes it, borrowing `self` and `base`.
    pub fn envp<'a>(&'a self, base: &'a BaseEnv) -> CStrArray<'a> {
        CStrArray::new(
            base.entries
                .iter()
                .zip(&self.hidden_base)
                .filter(|(_, hidden)| !**hidden)
                .map(|((_, entry), _)| entry.as_c_str())
                .chain(self.own_env.iter().map(CString::as_c_str)),
        )
    }
}

/// Why an attempt could not even be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError(pub String);

/// Resolves program names against PATH, remembering answers for the run.
#[derive(Default)]
pub struct ProgramResolver {
    cache: HashMap<(String, u64), Result<CString, LaunchError>>,
}

fn is_executable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string.
    path.is_file() && unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0
}

impl ProgramResolver {
    /// The path to execute for `program`: as written when it contains a `/` (relative to the
    /// task's cwd, like a shell), else the first executable match in `search_path`.
    pub fn resolve(
        &mut self,
        program: &str,
        search_path: Option<&OsStr>,
        cwd: &Path,
    ) -> Result<CString, LaunchError> {
        if program.contains('/') {
            return CString::new(program)
                .map_err(|_| LaunchError(format!("program name `{program}` contains a NUL byte")));
        }
        let key = (program.to_owned(), search_key(search_path, cwd));
        if let Some(known) = self.cache.get(&key) {
            return known.clone();
        }
        let found = search_path
            .map(std::env::split_paths)
            .into_iter()
            .flatten()
            .map(|dir| {
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                cwd.join(dir).join(program)
            })
            .find(|candidate| is_executable(candidate))
            .and_then(|p| CString::new(p.into_os_string().into_vec()).ok())
            .ok_or_else(|| LaunchError(format!("command not found: {program}")));
        self.cache.insert(key, found.clone());
        found
    }
}

/// What a PATH lookup depends on, hashed so that a cache hit costs no copy of PATH: the search
/// path, and the working directory too when the search path has relative entries.
fn search_key(search_path: Option<&OsStr>, cwd: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    search_path.map(OsStr::as_bytes).hash(&mut hasher);
    let relative = search_path.map(OsStr::as_bytes).is_some_and(|path| {
        path.split(|&b| b == b':')
            .any(|dir| dir.first() != Some(&b'/'))
    });
    if relative {
        cwd.hash(&mut hasher);
    }
    hasher.finish()
}

/// The values wf adds to each attempt's environment.
pub struct AttemptIdentity<'a> {
    /// The run's id (`WF_RUN_ID`).
    pub run_id: &'a str,
    /// Attempt number from 1 (`WF_ATTEMPT`).
    pub attempt: u32,
}

/// Prepares one attempt of `task`.
pub fn prepare(
    workflow: &Workflow,
    task: &Task,
    identity: &AttemptIdentity<'_>,
    base: &BaseEnv,
    resolver: &mut ProgramResolver,
) -> Result<Launch, LaunchError> {
    let argv_text = task.command.argv(&workflow.shell);
    let argv = argv_text
        .iter()
        .map(|arg| CString::new(arg.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| LaunchError("the command contains a NUL byte".into()))?;
    let mut own: Vec<(OsString, OsString)> = task
        .environment()
        .map(|(k, v)| (OsString::from(&*k), OsString::from(v)))
        .collect();
    // wf's own variables come last and win: a task cannot set WF_TASK, WF_RUN_ID or WF_ATTEMPT.
    for (name, value) in [
        ("WF_TASK", OsString::from(&task.name)),
        ("WF_RUN_ID", OsString::from(identity.run_id)),
        ("WF_ATTEMPT", OsString::from(identity.attempt.to_string())),
    ] {
        own.retain(|(n, _)| n != name);
        own.push((name.into(), value));
    }
    let hidden_base = base
        .entries
        .iter()
        .map(|(name, _)| own.iter().any(|(n, _)| n == name))
        .collect();
    let search_path = own
        .iter()
        .rev()
        .find(|(n, _)| n == "PATH")
        .map(|(_, v)| v.as_os_str())
        .or(base.path.as_deref());
    let program = resolver.resolve(&argv_text[0], search_path, &task.cwd)?;
    let own_env = own
        .iter()
        .map(|(n, v)| env_entry(n, v))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| LaunchError("an environment value contains a NUL byte".into()))?;
    let cwd = CString::new(task.cwd.as_os_str().as_bytes())
        .map_err(|_| LaunchError("the working directory contains a NUL byte".into()))?;
    Ok(Launch {
        program,
        argv,
        own_env,
        hidden_base,
        cwd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_programs_on_the_search_path_and_caches_misses() {
        let mut resolver = ProgramResolver::default();
        let path = Some(OsStr::new("/nonexistent:/bin:/usr/bin"));
        let sh = resolver
            .resolve("sh", path, Path::new("/"))
            .expect("sh is on PATH");
        assert!(sh.to_bytes().ends_with(b"/sh"));
        let missing = resolver.resolve("no-such-program-wf", path, Path::new("/"));
        assert_eq!(
            missing,
            Err(LaunchError("command not found: no-such-program-wf".into()))
        );
        assert_eq!(
            resolver
                .resolve("./local", path, Path::new("/"))
                .expect("kept")
                .to_bytes(),
            b"./local"
        );
    }

    #[test]
    fn wf_variables_of_an_outer_run_are_not_inherited() {
        assert!(is_wf_variable(OsStr::new("WF_TASK")));
        assert!(is_wf_variable(OsStr::new("WF_MATRIX_LR")));
        assert!(!is_wf_variable(OsStr::new("WF_CONFIG")));
    }
}
