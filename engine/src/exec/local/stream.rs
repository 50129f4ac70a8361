//! `--output stream`: a task's stdout and stderr go through pipes, each drained on its own
//! thread into the task's log and, line by line with the task's name in front, to wf's own
//! stdout and stderr. A drain never holds more than one bounded chunk, so a task printing a
//! flood (or one endless line) passes in flat memory.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::supervise::poll_either;
use crate::exec::{LineSink, Stream};

/// Longest piece of a line held before it is printed anyway.
const MAX_LINE: usize = 64 * 1024;

/// A pipe: the read end stays with wf, the write end goes to the task.
pub struct Pipe {
    /// wf's end.
    pub read: OwnedFd,
    /// The task's end.
    pub write: OwnedFd,
}

impl Pipe {
    /// A new close-on-exec pipe.
    pub fn new() -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 returned two new descriptors that we now own.
        Ok(unsafe {
            Self {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }
}

/// Where a drained stream's lines go: one of wf's streams, through the caller's line sink
/// when it gave one.
#[derive(Debug, Clone, Copy)]
pub struct Sink<'a> {
    /// wf's stdout or stderr.
    pub stream: Stream,
    /// The caller's sink, if any.
    pub lines: Option<&'a dyn LineSink>,
}

fn emit(sink: Sink<'_>, prefix: &[u8], line: &[u8]) {
    let mut text = Vec::with_capacity(prefix.len() + line.len() + 1);
    text.extend_from_slice(prefix);
    text.extend_from_slice(line);
    text.push(b'\n');
    if let Some(lines) = sink.lines {
        lines.line(sink.stream, &text);
        return;
    }
    // One write under the stream's lock: lines of different tasks never interleave.
    let _ = match sink.stream {
        Stream::Stdout => io::stdout().lock().write_all(&text),
        Stream::Stderr => io::stderr().lock().write_all(&text),
    };
}

/// Copies `pipe` to `log` and, prefixed line by line, to `sink`, until end of file or until
/// `stop` becomes readable (then whatever is already in the pipe is still copied).
pub fn drain(pipe: &OwnedFd, log: &File, sink: Sink<'_>, prefix: &str, stop: &OwnedFd) {
    let prefix = prefix.as_bytes();
    let mut chunk = vec![0u8; MAX_LINE];
    let mut carry: Vec<u8> = Vec::new();
    let mut stopping = false;
    loop {
        if !stopping {
            let Ok((pending, stopped)) = poll_either(pipe.as_raw_fd(), stop.as_raw_fd()) else {
                break;
            };
            if stopped && !pending {
                // Stop asked and nothing pending: a process that escaped the task still holds
                // the pipe open; do not wait for it.
                stopping = true;
                set_nonblocking(pipe);
            }
        }
        // SAFETY: reads into a buffer we own, within its length.
        let n = unsafe { libc::read(pipe.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n == 0 || (n < 0 && stopping) {
            break;
        }
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        let data = &chunk[..n as usize];
        let _ = (&*log).write_all(data);
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if carry.is_empty() {
                emit(sink, prefix, &rest[..end]);
            } else {
                carry.extend_from_slice(&rest[..end]);
                emit(sink, prefix, &carry);
                carry.clear();
            }
            rest = &rest[end + 1..];
        }
        carry.extend_from_slice(rest);
        if carry.len() >= MAX_LINE {
            emit(sink, prefix, &carry);
            carry.clear();
        }
    }
    if !carry.is_empty() {
        emit(sink, prefix, &carry);
    }
}

fn set_nonblocking(fd: &OwnedFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
