//! Printing that never panics: a full disk, a closed pipe or a closed terminal on stdout or
//! stderr must not end `wf` (and above all not a run) with a panic.
//!
//! Errors on stderr are ignored: there is nowhere left to report them. The first error on
//! stdout is remembered, and [`finish`] hands it over, so that a command whose job is to print
//! can fail with a message instead of pretending it succeeded. A closed pipe is not an error
//! here: the reader has everything it wanted (as with `cat` or `rg`).

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};
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

/// Like `writeln!` into a [`BufferedOut`]: a failure is remembered instead of returned.
macro_rules! writeln_out {
    ($out:expr, $($arg:tt)*) => {
        $out.write(format_args!("{}\n", format_args!($($arg)*)))
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

/// Stdout behind a 64 KiB buffer, for a command that prints many lines in one go: a plan of a
/// million tasks is then one write per 64 KiB instead of one per line (stdout alone writes
/// each line as it ends). Failures are remembered as with [`write_out`]; what is buffered is
/// written when this is dropped, before anything else can reach stdout.
pub struct BufferedOut {
    writer: BufWriter<StdoutLock<'static>>,
}

impl BufferedOut {
    /// Takes stdout until dropped.
    pub fn new() -> Self {
        Self {
            writer: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    /// Writes `args` (a failure is remembered for [`finish`]).
    pub fn write(&mut self, args: fmt::Arguments<'_>) {
        if let Err(error) = self.writer.write_fmt(args) {
            remember(error);
        }
    }
}

impl Drop for BufferedOut {
    fn drop(&mut self) {
        if let Err(error) = self.writer.flush() {
            remember(error);
        }
    }
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
