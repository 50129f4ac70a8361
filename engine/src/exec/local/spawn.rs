//! Starting one process the way a task needs it, as cheaply as the kernel allows.
//!
//! Every task process gets: its own process group (so a timeout or Ctrl-C can signal its whole
//! tree), a parent-death signal (so it dies with wf even if wf is SIGKILLed), stdin from
//! /dev/null, stdout and stderr straight into its log file, its working directory, and an
//! environment built by wf.
//!
//! `std::process::Command` can do all but the parent-death signal with `posix_spawn`; adding it
//! needs `pre_exec`, which makes std fall back to `fork`, and `fork` copies the page tables of
//! the whole wf process: with a 100,000-task workflow in memory that is several times the cost
//! of the exec itself. So this module does what glibc's `posix_spawn` does internally: a
//! `clone(CLONE_VM | CLONE_VFORK)` child on a small private stack that sets the process up with
//! async-signal-safe calls only and then execs. The parent is suspended until the exec (or the
//! child's failure), so all memory the child reads stays valid and a setup error is written
//! straight into shared memory.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Size of the child's stack between `clone` and `exec`. The child only makes a few system
/// calls; this leaves a wide margin.
const CHILD_STACK_BYTES: usize = 64 * 1024;

/// A NULL-terminated vector of pointers to C strings, as `execve` takes `argv` and `envp`.
///
/// Only [`CStrArray::new`] builds one, from borrowed `CStr`s: the terminating NULL is always
/// there, and the lifetime keeps every string alive (and unmoved) while the array is used. It
/// costs one allocation, the pointer vector itself; the strings are not copied.
pub struct CStrArray<'a> {
    pointers: Vec<*const c_char>,
    strings: PhantomData<&'a CStr>,
}

impl<'a> CStrArray<'a> {
    /// The pointers to `strings`, in order, then NULL.
    pub fn new(strings: impl IntoIterator<Item = &'a CStr>) -> Self {
        let strings = strings.into_iter();
        // The upper bound when there is one (a filtered environment), so it never regrows.
        let (at_least, at_most) = strings.size_hint();
        let mut pointers = Vec::with_capacity(at_most.unwrap_or(at_least) + 1);
        pointers.extend(strings.map(CStr::as_ptr));
        pointers.push(std::ptr::null());
        Self {
            pointers,
            strings: PhantomData,
        }
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }
}

/// Everything the child needs, prepared by the parent before `clone`. Every field borrows what
/// it points to, so a request can only be made of strings and descriptors that stay valid
/// while the child uses them.
pub struct SpawnRequest<'a> {
    /// Absolute or cwd-relative path of the program (already resolved against PATH).
    pub program: &'a CStr,
    /// The argument vector.
    pub argv: &'a CStrArray<'a>,
    /// The environment vector.
    pub envp: &'a CStrArray<'a>,
    /// Working directory.
    pub cwd: &'a CStr,
    /// The child's stdin.
    pub stdin: BorrowedFd<'a>,
    /// The child's stdout.
    pub stdout: BorrowedFd<'a>,
    /// The child's stderr.
    pub stderr: BorrowedFd<'a>,
    /// A cgroup's `cgroup.procs`, open for writing, that the child moves itself into before
    /// `exec`; `None` for none.
    pub cgroup_procs: Option<BorrowedFd<'a>>,
}

/// Which step of the child's setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnStage {
    /// `clone` itself.
    Clone,
    /// Changing to the working directory.
    Chdir,
    /// Connecting stdin/stdout/stderr.
    Redirect,
    /// Executing the program.
    Exec,
    /// Moving into the task's cgroup.
    Cgroup,
}

/// A process that could not be started, with the step and the OS error.
#[derive(Debug)]
pub struct SpawnError {
    /// The failing step.
    pub stage: SpawnStage,
    /// The OS error.
    pub error: io::Error,
}

/// Reusable memory for spawning: the child's stack and the signals whose handlers the child
/// must reset. One per spawning thread.
pub struct Spawner {
    stack: Vec<u8>,
    handled: [c_int; 32],
    handled_count: usize,
}

impl Default for Spawner {
    fn default() -> Self {
        Self::new()
    }
}

#[repr(C)]
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    stdin: c_int,
    stdout: c_int,
    stderr: c_int,
    cgroup_procs: c_int,
    handled: *const c_int,
    handled_count: usize,
    parent: libc::pid_t,
    /// Set by the child on failure: the errno.
    error: c_int,
    /// Set by the child on failure: which step (1 chdir, 2 redirect, 3 exec, 4 cgroup).
    stage: c_int,
}

/// The standard signals a child must reset to the default: those with a handler, and SIGPIPE.
fn handled_signals() -> ([c_int; 32], usize) {
    let mut handled = [0; 32];
    let mut count = 0;
    for signal in 1..32 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction is plain old data, for which all-zero bytes are a valid value.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only queries; `current` is a valid out pointer owned by
        // this frame.
        let queried = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } == 0;
        // SIGPIPE too when ignored: Rust ignores it in wf, but a task must get the default
        // (`yes | head` ends `yes` with it), as `std::process::Command` also ensures.
        let handler = current.sa_sigaction;
        let reset =
            handler != libc::SIG_DFL && (handler != libc::SIG_IGN || signal == libc::SIGPIPE);
        if queried && reset {
            handled[count] = signal;
            count += 1;
        }
    }
    (handled, count)
}

impl Spawner {
    /// A spawner with its own child stack. Signal handlers installed after this call are not
    /// reset in children: create spawners after installing them.
    pub fn new() -> Self {
        let (handled, handled_count) = handled_signals();
        Self {
            stack: vec![0; CHILD_STACK_BYTES],
            handled,
            handled_count,
        }
    }

    /// Starts the process and returns its pid, which is also its process group id.
    ///
    /// The caller must reap the child (`waitpid`) whether or not it is still running.
    pub fn spawn(&mut self, request: &SpawnRequest<'_>) -> Result<libc::pid_t, SpawnError> {
        let mut args = ChildArgs {
            program: request.program.as_ptr(),
            argv: request.argv.as_ptr(),
            envp: request.envp.as_ptr(),
            cwd: request.cwd.as_ptr(),
            stdin: request.stdin.as_raw_fd(),
            stdout: request.stdout.as_raw_fd(),
            stderr: request.stderr.as_raw_fd(),
            cgroup_procs: request.cgroup_procs.map_or(-1, |fd| fd.as_raw_fd()),
            handled: self.handled.as_ptr(),
            handled_count: self.handled_count,
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            error: 0,
            stage: 0,
        };
        // The stack grows down on every architecture Linux runs this on: pass its 16-byte
        // aligned top.
        let top = self.stack.as_mut_ptr_range().end as usize & !15;

        // Block every signal while the child shares our memory, so no handler of ours can run
        // on the child's side before it has reset them (the same as glibc's posix_spawn).
        // SAFETY: sigset_t is plain old data, for which all-zero bytes are a valid value (and
        // both are filled by the calls below before being read).
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sigset_t values owned by this frame.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        }
        // SAFETY: `child_main` only makes async-signal-safe calls and never returns into Rust
        // code of the parent; CLONE_VFORK suspends this thread until the child has exec'd or
        // exited, so `args` and the stack outlive every access the child makes to them.
        let pid = unsafe {
            libc::clone(
                child_main,
                top as *mut c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut args).cast::<c_void>(),
            )
        };
        let clone_error = io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        }
        if pid == -1 {
            return Err(SpawnError {
                stage: SpawnStage::Clone,
                error: clone_error,
            });
        }
        // SAFETY: the child wrote these before exiting (or never, if exec succeeded); the
        // volatile reads stop the compiler from assuming they still hold the values we set.
        let (error, stage) = unsafe {
            (
                std::ptr::read_volatile(&raw const args.error),
                std::ptr::read_volatile(&raw const args.stage),
            )
        };
        if error != 0 {
            reap(pid);
            return Err(SpawnError {
                stage: match stage {
                    1 => SpawnStage::Chdir,
                    2 => SpawnStage::Redirect,
                    4 => SpawnStage::Cgroup,
                    _ => SpawnStage::Exec,
                },
                error: io::Error::from_raw_os_error(error),
            });
        }
        Ok(pid)
    }
}

/// Waits for a child that failed during setup, so it does not linger as a zombie.
fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: `pid` is our child; status is a valid out pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// The child between `clone` and `exec`. Only async-signal-safe libc calls: no allocation, no
/// locks, no panics.
extern "C" fn child_main(raw: *mut c_void) -> c_int {
    // SAFETY: `raw` points to the parent's ChildArgs, valid while the parent is suspended.
    let args = unsafe { &mut *raw.cast::<ChildArgs>() };
    // SAFETY: every call below is async-signal-safe and receives valid pointers prepared by
    // the parent; on failure the child records errno in shared memory and exits at once.
    unsafe {
        // Handlers installed by wf must not run in the task: back to the default for each
        // signal that had one when the spawner was made (ignored signals stay ignored, as exec
        // would keep them).
        let handled = std::slice::from_raw_parts(args.handled, args.handled_count);
        for &signal in handled {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
        // Into the task's cgroup first, so that everything it starts is counted and limited.
        if args.cgroup_procs >= 0 && libc::write(args.cgroup_procs, c"0".as_ptr().cast(), 1) != 1 {
            return fail(args, 4);
        }
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        // wf may have died between clone and prctl: then nobody would ever kill us.
        if libc::getppid() != args.parent {
            libc::_exit(126);
        }
        for (from, to) in [(args.stdin, 0), (args.stdout, 1), (args.stderr, 2)] {
            let ok = if from == to {
                // dup2 onto itself keeps FD_CLOEXEC; clear it instead.
                libc::fcntl(to, libc::F_SETFD, 0) != -1
            } else {
                libc::dup2(from, to) != -1
            };
            if !ok {
                return fail(args, 2);
            }
        }
        if libc::chdir(args.cwd) == -1 {
            return fail(args, 1);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(args.program, args.argv, args.envp);
        fail(args, 3)
    }
}

/// Records the failing step and errno for the parent, then exits the child.
///
/// # Safety
///
/// Call only in the child between `clone` and `exec`, with `args` the parent's [`ChildArgs`].
unsafe fn fail(args: &mut ChildArgs, stage: c_int) -> c_int {
    // SAFETY: errno location is valid for the calling thread; args points to shared memory.
    unsafe {
        let errno = *libc::__errno_location();
        std::ptr::write_volatile(
            &raw mut args.error,
            if errno == 0 { libc::EIO } else { errno },
        );
        std::ptr::write_volatile(&raw mut args.stage, stage);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::AsFd;

    fn c(s: &str) -> CString {
        CString::new(s).expect("no NUL")
    }

    fn run(
        program: &str,
        argv: &[&str],
        cwd: &str,
    ) -> Result<(libc::pid_t, i32, String), SpawnError> {
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let null = std::fs::File::open("/dev/null").expect("/dev/null");
        let argv: Vec<CString> = argv.iter().map(|a| c(a)).collect();
        let envp = [c("PATH=/usr/bin:/bin"), c("MARK=set")];
        let argv = CStrArray::new(argv.iter().map(CString::as_c_str));
        let envp = CStrArray::new(envp.iter().map(CString::as_c_str));
        let program = c(program);
        let cwd = c(cwd);
        let pid = Spawner::new().spawn(&SpawnRequest {
            program: &program,
            argv: &argv,
            envp: &envp,
            cwd: &cwd,
            stdin: null.as_fd(),
            stdout: log.as_file().as_fd(),
            stderr: log.as_file().as_fd(),
            cgroup_procs: None,
        })?;
        let mut status = 0;
        // SAFETY: pid is our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let output = std::fs::read_to_string(log.path()).expect("log");
        Ok((pid, libc::WEXITSTATUS(status), output))
    }

    #[test]
    fn runs_in_its_own_group_with_env_cwd_and_output_in_the_log() {
        let (pid, code, output) = run(
            "/bin/sh",
            &[
                "sh",
                "-c",
                "echo $MARK; pwd; echo err >&2; ps -o pgid= -p $$; exit 3",
            ],
            "/tmp",
        )
        .expect("spawns");
        assert_eq!(code, 3);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(&lines[..3], ["set", "/tmp", "err"]);
        assert_eq!(
            lines[3].trim(),
            pid.to_string(),
            "the task leads its own process group"
        );
    }

    #[test]
    fn an_array_points_at_its_strings_then_null() {
        let strings = [c("a"), c("bc")];
        let array = CStrArray::new(strings.iter().map(CString::as_c_str));
        assert_eq!(array.pointers.len(), 3);
        assert_eq!(array.pointers[0], strings[0].as_ptr());
        assert_eq!(array.pointers[1], strings[1].as_ptr());
        assert!(array.pointers[2].is_null());
        assert_eq!(CStrArray::new([]).pointers, [std::ptr::null()]);
    }

    #[test]
    fn reports_missing_program_and_bad_cwd_as_errors() {
        let missing = run("/nonexistent/prog", &["prog"], "/").expect_err("no such program");
        assert_eq!(missing.stage, SpawnStage::Exec);
        assert_eq!(missing.error.kind(), io::ErrorKind::NotFound);
        let bad_cwd = run("/bin/true", &["true"], "/nonexistent/dir").expect_err("no such folder");
        assert_eq!(bad_cwd.stage, SpawnStage::Chdir);
    }
}
