//! Printing that never panics: a full disk, a closed pipe or a closed terminal on stdout or
//! stderr must not end `wf` (and above all not a run) with a panic.
//!
//! Errors on stderr are ignored: there is nowhere left to report them. The first error on
//! stdout is remembered, and [`finish`] hands it over, so that a command whose job is to print
//! can fail with a message instead of pretending it succeeded. A closed pipe is not an error
//! here: the reader has everything it wanted (as with `cat` or `rg`).

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// The first failure to write to stdout.
static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// Like `print!`, but a failure is remembered instead of panicking.
macro_rules! print_out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// Like `println!`, but a failure is remembered instead of panicking.
macro_rules! println_out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Like `eprint!`, but a failure is ignored.
macro_rules! print_err {
    ($($arg:tt)*) => {
        $crate::output::write_err(format_args!($($arg)*))
    };
}

/// Like `eprintln!`, but a failure is ignored.
macro_rules! println_err {
    ($($arg:tt)*) => {
        $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout; a failure is remembered for [`finish`].
pub fn write_out(args: fmt::Arguments<'_>) {
    if let Err(error) = io::stdout().lock().write_fmt(args) {
        remember(error);
    }
}

/// Writes to stderr; a failure is ignored.
pub fn write_err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

fn remember(error: io::Error) {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return;
    }
    if let Ok(mut slot) = STDOUT_ERROR.lock() {
        slot.get_or_insert(error);
    }
}

/// Flushes stdout and returns the first error met writing to it, if any.
pub fn finish() -> Option<io::Error> {
    if let Err(error) = io::stdout().lock().flush() {
        remember(error);
    }
    STDOUT_ERROR.lock().ok().and_then(|mut slot| slot.take())
}
