//! The task entries of a report: held in a list (a report read back from `report.json`, or
//! made in a test), or made one at a time, when read, from what the run kept of each task.
//!
//! A run of 100,000 tasks would otherwise hold its report's entries (with their names,
//! commands and attempt details) all at once beside everything the run itself holds, at the
//! very end of the run: its peak. Made on demand, `report.json` is written one entry at a time
//! and the terminal summary reads each entry and lets it go.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{TaskReport, TaskStatus};

/// Where a report's entries are made from, when they are not held: the entry of the task at
/// a position, made anew each time it is asked for.
pub trait TaskReportSource: Send + Sync {
    /// How many entries there are.
    fn len(&self) -> usize;

    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry at `index` (`index < len()`).
    fn entry(&self, index: usize) -> TaskReport;

    /// The status of the entry at `index`, without making the whole entry.
    fn status(&self, index: usize) -> TaskStatus {
        self.entry(index).status
    }
}

/// The task entries of a report, in declaration order.
#[derive(Clone)]
pub struct TaskReports(Entries);

#[derive(Clone)]
enum Entries {
    Held(Vec<TaskReport>),
    Made(Arc<dyn TaskReportSource>),
}

impl TaskReports {
    /// Entries made on demand from `source`.
    pub fn made_from(source: Arc<dyn TaskReportSource>) -> Self {
        Self(Entries::Made(source))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Entries::Held(tasks) => tasks.len(),
            Entries::Made(source) => source.len(),
        }
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry in order: borrowed when held, else made as the iteration reaches it (and
    /// dropped when the caller is done with it).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Cow<'_, TaskReport>> + '_ {
        (0..self.len()).map(move |index| match &self.0 {
            Entries::Held(tasks) => Cow::Borrowed(&tasks[index]),
            Entries::Made(source) => Cow::Owned(source.entry(index)),
        })
    }

    /// The entry at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Cow<'_, TaskReport>> {
        match &self.0 {
            Entries::Held(tasks) => tasks.get(index).map(Cow::Borrowed),
            Entries::Made(source) => {
                (index < source.len()).then(|| Cow::Owned(source.entry(index)))
            }
        }
    }

    /// Every entry's status in order, without making the entries.
    pub fn statuses(&self) -> impl Iterator<Item = TaskStatus> + '_ {
        (0..self.len()).map(move |index| match &self.0 {
            Entries::Held(tasks) => tasks[index].status,
            Entries::Made(source) => source.status(index),
        })
    }

    /// Every entry, held: for a reader that needs them all at once.
    pub fn to_vec(&self) -> Vec<TaskReport> {
        match &self.0 {
            Entries::Held(tasks) => tasks.clone(),
            Entries::Made(_) => self.iter().map(Cow::into_owned).collect(),
        }
    }
}

impl Default for TaskReports {
    fn default() -> Self {
        Self(Entries::Held(Vec::new()))
    }
}

impl From<Vec<TaskReport>> for TaskReports {
    fn from(tasks: Vec<TaskReport>) -> Self {
        Self(Entries::Held(tasks))
    }
}

impl PartialEq for TaskReports {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl fmt::Debug for TaskReports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for TaskReports {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for entry in self.iter() {
            seq.serialize_element(entry.as_ref())?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for TaskReports {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<TaskReport>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn entry(name: &str, status: TaskStatus) -> TaskReport {
        TaskReport::bare(name, status)
    }

    /// Makes entry i named `t{i}`, failed when i is odd, and counts the entries made.
    struct Counting {
        tasks: usize,
        made: AtomicUsize,
    }

    impl TaskReportSource for Counting {
        fn len(&self) -> usize {
            self.tasks
        }

        fn entry(&self, index: usize) -> TaskReport {
            self.made.fetch_add(1, Ordering::Relaxed);
            let status = if index % 2 == 1 {
                TaskStatus::Failed
            } else {
                TaskStatus::Succeeded
            };
            entry(&format!("t{index}"), status)
        }

        fn status(&self, index: usize) -> TaskStatus {
            if index % 2 == 1 {
                TaskStatus::Failed
            } else {
                TaskStatus::Succeeded
            }
        }
    }

    /// A source of `tasks` entries, and the report's entries made from it.
    fn counting(tasks: usize) -> (Arc<Counting>, TaskReports) {
        let source = Arc::new(Counting {
            tasks,
            made: AtomicUsize::new(0),
        });
        (source.clone(), TaskReports::made_from(source))
    }

    #[test]
    fn made_entries_read_write_and_compare_like_held_ones() {
        let (_, made) = counting(3);
        let held = TaskReports::from(vec![
            entry("t0", TaskStatus::Succeeded),
            entry("t1", TaskStatus::Failed),
            entry("t2", TaskStatus::Succeeded),
        ]);
        assert_eq!(made.len(), 3);
        assert_eq!(made, held);
        assert_eq!(made.to_vec(), held.to_vec());
        let json = serde_json::to_string(&made).expect("serialises");
        assert_eq!(json, serde_json::to_string(&held).expect("serialises"));
        let back: TaskReports = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, held);
        assert!(matches!(back.0, Entries::Held(_)));
        assert_eq!(format!("{made:?}"), format!("{held:?}"));
    }

    #[test]
    fn statuses_do_not_make_entries_and_iteration_makes_each_once() {
        let (source, made) = counting(5);
        let statuses: Vec<_> = made.statuses().collect();
        assert_eq!(statuses[1], TaskStatus::Failed);
        assert_eq!(source.made.load(Ordering::Relaxed), 0);
        let names: Vec<_> = made.iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);
        assert_eq!(source.made.load(Ordering::Relaxed), 5);
        assert!(TaskReports::default().is_empty());
    }
}
