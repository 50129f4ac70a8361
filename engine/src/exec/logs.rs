//! Log files: one per task, `.wf/runs/RUN_ID/logs/NAME.log`, every attempt appended.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Longest file name stem used for a log, in bytes (file systems allow 255 with the suffix).
const MAX_STEM: usize = 200;

/// A task name as a safe file name stem: letters, digits and `_ . - = , [ ]` are kept, every
/// other byte is written `%XX`; a stem that would be `.`/`..` or too long is made safe. The
/// result never contains `/`, so a log can never land outside the logs folder.
pub fn file_stem(task_name: &str) -> String {
    let mut stem = String::with_capacity(task_name.len());
    for byte in task_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-=,[]".contains(&byte) {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    if stem.is_empty() || stem.bytes().all(|b| b == b'.') {
        stem = format!("%2E{stem}");
    }
    if stem.len() > MAX_STEM {
        let digest = blake3::hash(task_name.as_bytes()).to_hex();
        let mut cut = MAX_STEM - 17;
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem = format!("{}~{}", &stem[..cut], &digest[..16]);
    }
    stem
}

/// The task name a log file stem stands for: [`file_stem`] undone (`%XX` decoded). A stem cut
/// to length (`…~DIGEST`) comes back as written.
pub fn task_name_of_stem(stem: &str) -> String {
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = stem
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The names of the tasks with a log in `run_dir` (each task that started an attempt), sorted.
pub fn logged_tasks(run_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run_dir.join("logs"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log").map(task_name_of_stem)
        })
        .collect();
    names.sort();
    names
}

/// The log file of a task inside a run folder.
pub fn log_path(run_dir: &Path, task_name: &str) -> PathBuf {
    run_dir
        .join("logs")
        .join(format!("{}.log", file_stem(task_name)))
}

/// Opens a task's log for appending (created if needed), close-on-exec so that only the task
/// that gets it as stdout/stderr holds it.
pub fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Writes the line that separates attempts in a log.
pub fn write_attempt_header(log: &mut File, attempt: u32, timestamp: &str) -> io::Result<()> {
    writeln!(log, "──── wf: attempt {attempt}, started {timestamp} ────")
}

/// The last `lines` lines of a log (at most `max_bytes` read from its end), for summaries.
pub fn tail(path: &Path, lines: usize, max_bytes: u64) -> io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        all.remove(0);
    }
    let from = all.len().saturating_sub(lines);
    Ok(all[from..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stem_gives_back_its_task_name() {
        for name in ["train[lr=0.1,seed=1]", "a b/c", "ü%x", "plain"] {
            assert_eq!(task_name_of_stem(&file_stem(name)), name);
        }
    }

    #[test]
    fn keeps_readable_names_and_encodes_the_rest() {
        assert_eq!(file_stem("train[lr=0.1,seed=1]"), "train[lr=0.1,seed=1]");
        assert_eq!(
            file_stem("x[path=../../etc/passwd]"),
            "x[path=..%2F..%2Fetc%2Fpasswd]"
        );
        assert_eq!(file_stem("w[name=A B]"), "w[name=A%20B]");
        assert_eq!(file_stem(".."), "%2E..");
    }

    #[test]
    fn long_names_are_shortened_and_stay_distinct() {
        let a = file_stem(&format!("t[v={}a]", "x".repeat(400)));
        let b = file_stem(&format!("t[v={}b]", "x".repeat(400)));
        assert!(a.len() <= MAX_STEM && b.len() <= MAX_STEM);
        assert_ne!(a, b);
    }

    #[test]
    fn log_paths_stay_in_the_logs_folder() {
        let path = log_path(Path::new("/r"), "x[p=/../../a]");
        assert_eq!(path.parent(), Some(Path::new("/r/logs")));
    }

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.log");
        std::fs::write(&path, "1\n2\n3\n4\n").expect("write");
        assert_eq!(tail(&path, 2, 1024).expect("tail"), "3\n4");
        assert_eq!(
            tail(&path, 10, 5).expect("tail"),
            "3\n4",
            "a partial first line is dropped"
        );
    }
}
