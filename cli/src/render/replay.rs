//! Copying a finished task's log to stdout (`--output grouped` when stdout is not a terminal)
//! as cheaply as the kernel allows.
//!
//! A task's output is already in its log when it ends; printing it is a second copy of every
//! byte. That copy is made by the kernel wherever it can be: `copy_file_range` into a regular
//! file, `sendfile` into a pipe, a socket or anything else that takes it, and a loop of
//! `read`/`write` with a large buffer only where neither works (a file opened for appending,
//! `>>`). The standard library's `io::copy` does the first but falls back to 8 KiB `read`/
//! `write` for pipes and appended files, which is what a CI runner or `wf run | tee` gets.
//! When stdout is `/dev/null` nothing is copied at all.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Bytes asked of the kernel per `copy_file_range` or `sendfile` call (the kernel copies at
/// most about 2 GiB per call anyway).
const KERNEL_CHUNK: usize = 1 << 30;

/// The buffer of the `read`/`write` fallback.
const FALLBACK_BUFFER: usize = 1 << 20;

/// Where a finished task's log goes, decided once per run from what stdout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Stdout is `/dev/null`: the copy would be thrown away, so it is not made.
    Discarded,
    /// Anything else that is not a terminal: a byte-for-byte copy, made by the kernel.
    Copied,
}

impl Destination {
    /// What `fd` (wf's stdout) is: [`Destination::Discarded`] for the null device,
    /// [`Destination::Copied`] otherwise (also when it cannot be told).
    pub fn of(fd: BorrowedFd<'_>) -> Self {
        if is_null_device(fd) {
            Self::Discarded
        } else {
            Self::Copied
        }
    }
}

/// Whether `fd` is the null device: a character device with the same device number as
/// `/dev/null`.
fn is_null_device(fd: BorrowedFd<'_>) -> bool {
    let Ok(null) = std::fs::metadata("/dev/null") else {
        return false;
    };
    let Some(actual) = fstat(fd) else {
        return false;
    };
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    null.file_type().is_char_device()
        && actual.st_mode & libc::S_IFMT == libc::S_IFCHR
        && actual.st_rdev == null.rdev()
}

fn fstat(fd: BorrowedFd<'_>) -> Option<libc::stat> {
    // SAFETY: stat is plain old data, for which all-zero bytes are a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we borrow, and a valid out pointer owned by this frame.
    (unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } == 0).then_some(stat)
}

/// How a copy moved its bytes (for tests and measurements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `copy_file_range`: file to file inside the kernel.
    CopyFileRange,
    /// `sendfile`: from the page cache into a pipe, socket, device or file.
    Sendfile,
    /// `read` and `write` through a buffer.
    ReadWrite,
}

/// Copies what is left of `log` (from its current position to its end) to `out`; returns the
/// bytes copied and how the last of them were moved. A broken pipe or any other write error
/// ends the copy with that error; what was copied before stays copied.
///
/// `out` must have no bytes of wf's own waiting in a user-space buffer (flush it first).
pub fn copy_log(log: &File, out: BorrowedFd<'_>) -> io::Result<(u64, Method)> {
    let from = log.as_raw_fd();
    let to = out.as_raw_fd();
    let mut copied = 0u64;
    let mut method = Method::CopyFileRange;
    loop {
        let result = match method {
            // SAFETY: two open descriptors; null offsets: both files' positions are used and
            // advanced, so a later method goes on where this one stopped.
            Method::CopyFileRange => unsafe {
                libc::copy_file_range(
                    from,
                    std::ptr::null_mut(),
                    to,
                    std::ptr::null_mut(),
                    KERNEL_CHUNK,
                    0,
                )
            },
            // SAFETY: as above; a null offset reads from the log's position and advances it.
            Method::Sendfile => unsafe {
                libc::sendfile(to, from, std::ptr::null_mut(), KERNEL_CHUNK)
            },
            Method::ReadWrite => return read_write(log, out, copied),
        };
        match result {
            0 => return Ok((copied, method)),
            n if n > 0 => copied += n.unsigned_abs() as u64,
            _ => {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN) => wait_writable(out)?,
                    // The kernel cannot do this pair of files this way (not a regular file,
                    // another file system on an old kernel, appending, a file system without
                    // support): the next, more general way. Nothing was copied by the call
                    // that failed, so the positions are where the next one must start.
                    Some(
                        libc::EINVAL
                        | libc::EXDEV
                        | libc::EBADF
                        | libc::EOPNOTSUPP
                        | libc::ENOSYS
                        | libc::EPERM
                        | libc::ESPIPE
                        | libc::ETXTBSY,
                    ) => {
                        method = match method {
                            Method::CopyFileRange => Method::Sendfile,
                            _ => Method::ReadWrite,
                        };
                    }
                    _ => return Err(error),
                }
            }
        }
    }
}

/// The last resort: `read` and `write` through a buffer, from the log's current position.
fn read_write(log: &File, out: BorrowedFd<'_>, mut copied: u64) -> io::Result<(u64, Method)> {
    use std::io::Read;
    let mut buffer = vec![0u8; FALLBACK_BUFFER];
    let mut log = log;
    loop {
        let n = match log.read(&mut buffer) {
            Ok(0) => return Ok((copied, Method::ReadWrite)),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let mut rest = &buffer[..n];
        while !rest.is_empty() {
            // SAFETY: writes from a buffer we own, within its length.
            let written = unsafe { libc::write(out.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if written >= 0 {
                let written = written.unsigned_abs();
                rest = &rest[written..];
                copied += written as u64;
                continue;
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => wait_writable(out)?,
                _ => return Err(error),
            }
        }
    }
}

/// Waits until a non-blocking `out` takes more bytes.
fn wait_writable(out: BorrowedFd<'_>) -> io::Result<()> {
    let mut poll = libc::pollfd {
        fd: out.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd owned by this frame.
    match unsafe { libc::poll(&mut poll, 1, -1) } {
        -1 if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted => {
            Err(io::Error::last_os_error())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::{AsFd, FromRawFd};

    /// A log of `len` bytes that are not all alike (so a misplaced chunk would show).
    fn log_of(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&bytes).expect("write");
        (file, bytes)
    }

    /// A pipe as (read end, write end).
    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 returned two new descriptors that we now own.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }

    fn reopen(file: &tempfile::NamedTempFile) -> File {
        File::open(file.path()).expect("open")
    }

    #[test]
    fn a_regular_file_gets_the_log_after_what_it_had_by_copy_file_range() {
        let (log, bytes) = log_of(3 << 20);
        let mut out = tempfile::tempfile().expect("out");
        out.write_all(b"header\n").expect("header");
        let (copied, method) = copy_log(&reopen(&log), out.as_fd()).expect("copies");
        assert_eq!(copied, bytes.len() as u64);
        assert_eq!(method, Method::CopyFileRange);
        let mut all = Vec::new();
        out.seek(SeekFrom::Start(0)).expect("seek");
        out.read_to_end(&mut all).expect("read");
        assert_eq!(&all[..7], b"header\n");
        assert!(all[7..] == bytes[..], "the copy differs");
    }

    #[test]
    fn a_file_opened_for_appending_gets_the_log_by_read_and_write() {
        let (log, bytes) = log_of((1 << 20) + 12_345);
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("out");
        std::fs::write(&path, b"before\n").expect("write");
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        let (copied, method) = copy_log(&reopen(&log), out.as_fd()).expect("copies");
        assert_eq!(copied, bytes.len() as u64);
        assert_eq!(method, Method::ReadWrite);
        let all = std::fs::read(&path).expect("read");
        assert_eq!(&all[..7], b"before\n");
        assert!(all[7..] == bytes[..], "the copy differs");
    }

    #[test]
    fn a_pipe_gets_the_log_by_sendfile_and_a_closed_one_is_an_error() {
        let (log, bytes) = log_of(5 << 20);
        let (reader, writer) = pipe();
        let expected = bytes.clone();
        let reading = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut reader = reader;
            reader.read_to_end(&mut got).expect("read");
            got
        });
        let (copied, method) = copy_log(&reopen(&log), writer.as_fd()).expect("copies");
        drop(writer);
        assert_eq!((copied, method), (bytes.len() as u64, Method::Sendfile));
        assert!(
            reading.join().expect("reader") == expected,
            "the copy differs"
        );

        let (reader, writer) = pipe();
        drop(reader);
        let error = copy_log(&reopen(&log), writer.as_fd()).expect_err("nobody reads");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn an_empty_log_copies_nothing() {
        let (log, _) = log_of(0);
        let out = tempfile::tempfile().expect("out");
        let (copied, _) = copy_log(&reopen(&log), out.as_fd()).expect("copies");
        assert_eq!(copied, 0);
    }

    #[test]
    fn only_the_null_device_is_discarded() {
        let null = File::create("/dev/null").expect("/dev/null");
        assert_eq!(Destination::of(null.as_fd()), Destination::Discarded);
        let file = tempfile::tempfile().expect("file");
        assert_eq!(Destination::of(file.as_fd()), Destination::Copied);
        let (_reader, writer) = pipe();
        assert_eq!(Destination::of(writer.as_fd()), Destination::Copied);
        if let Ok(zero) = File::open("/dev/zero") {
            assert_eq!(Destination::of(zero.as_fd()), Destination::Copied);
        }
    }
}
