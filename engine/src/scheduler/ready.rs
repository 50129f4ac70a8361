//! The ready queue: tasks whose dependencies are done, in the order the scheduler prefers.
//!
//! Order: explicit `priority` (higher first), then the longest remaining path to the end of the
//! DAG weighted by expected durations (the critical path first), then declaration order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::workflow::TaskId;

/// One ready task with its sort key.
#[derive(Debug, Clone, Copy)]
pub struct ReadyEntry {
    /// Explicit priority.
    pub priority: i64,
    /// Remaining critical-path weight.
    pub rank: f64,
    /// The task.
    pub task: TaskId,
}

impl PartialEq for ReadyEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ReadyEntry {}

impl PartialOrd for ReadyEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ReadyEntry {
    /// Greater means "start first" (BinaryHeap pops the greatest).
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| self.rank.total_cmp(&other.rank))
            .then_with(|| other.task.cmp(&self.task))
    }
}

/// The ready tasks.
#[derive(Debug, Default)]
pub struct ReadyQueue {
    heap: BinaryHeap<ReadyEntry>,
}

impl ReadyQueue {
    /// Adds a ready task.
    pub fn push(&mut self, entry: ReadyEntry) {
        self.heap.push(entry);
    }

    /// Takes the task to consider first.
    pub fn pop(&mut self) -> Option<ReadyEntry> {
        self.heap.pop()
    }

    /// Puts back tasks that were considered and could not start yet.
    pub fn restore(&mut self, entries: impl IntoIterator<Item = ReadyEntry>) {
        self.heap.extend(entries);
    }

    /// True if no task is ready.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_critical_path_then_declaration_order() {
        let mut queue = ReadyQueue::default();
        for (priority, rank, task) in [(0, 1.0, 0), (0, 5.0, 1), (1, 0.5, 2), (0, 5.0, 3)] {
            queue.push(ReadyEntry {
                priority,
                rank,
                task,
            });
        }
        let order: Vec<TaskId> = std::iter::from_fn(|| queue.pop().map(|e| e.task)).collect();
        assert_eq!(order, [2, 1, 3, 0]);
    }
}
