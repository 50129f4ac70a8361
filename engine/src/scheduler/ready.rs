//! The ready queue: tasks whose dependencies are done, in the order the scheduler prefers.
//!
//! Order: explicit `priority` (higher first), then the longest remaining path to the end of the
//! DAG weighted by expected durations (the critical path first), then declaration order.

use crate::workflow::TaskId;
use std::cmp::Ordering;

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
    /// Greater means "start first" (the queue pops the greatest).
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| self.rank.total_cmp(&other.rank))
            .then_with(|| other.task.cmp(&self.task))
    }
}

/// The ready tasks: a max-heap with four children per node (a run can have hundreds of
/// thousands ready at once; half the depth of a binary heap is half the cache misses per pop,
/// and the four children of a node are next to each other).
#[derive(Debug, Default)]
pub struct ReadyQueue {
    heap: Vec<ReadyEntry>,
}

/// Children per node of [`ReadyQueue`]'s heap.
const ARITY: usize = 4;

impl ReadyQueue {
    /// Adds a ready task.
    pub fn push(&mut self, entry: ReadyEntry) {
        self.heap.push(entry);
        let mut at = self.heap.len() - 1;
        while at > 0 {
            let parent = (at - 1) / ARITY;
            if self.heap[at] <= self.heap[parent] {
                break;
            }
            self.heap.swap(at, parent);
            at = parent;
        }
    }

    /// Takes the task to consider first.
    pub fn pop(&mut self) -> Option<ReadyEntry> {
        if self.heap.is_empty() {
            return None;
        }
        let top = self.heap.swap_remove(0);
        let len = self.heap.len();
        let mut at = 0;
        loop {
            let first = at * ARITY + 1;
            if first >= len {
                break;
            }
            let mut largest = first;
            for child in first + 1..(first + ARITY).min(len) {
                if self.heap[child] > self.heap[largest] {
                    largest = child;
                }
            }
            if self.heap[largest] <= self.heap[at] {
                break;
            }
            self.heap.swap(at, largest);
            at = largest;
        }
        Some(top)
    }

    /// Puts back tasks that were considered and could not start yet.
    pub fn restore(&mut self, entries: impl IntoIterator<Item = ReadyEntry>) {
        for entry in entries {
            self.push(entry);
        }
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

    #[test]
    fn pops_in_the_order_of_a_binary_heap() {
        use std::collections::BinaryHeap;
        let mut queue = ReadyQueue::default();
        let mut reference = BinaryHeap::new();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut task = 0;
        for round in 0..20_000 {
            let pushes = next() % 4;
            for _ in 0..pushes {
                let entry = ReadyEntry {
                    priority: (next() % 3) as i64 - 1,
                    rank: (next() % 50) as f64 / 4.0,
                    task,
                };
                task += 1;
                queue.push(entry);
                reference.push(entry);
            }
            let pops = if round % 7 == 0 { 5 } else { next() % 3 };
            for _ in 0..pops {
                assert_eq!(queue.pop().map(|e| e.task), reference.pop().map(|e| e.task));
            }
            assert_eq!(queue.is_empty(), reference.is_empty());
        }
        while let Some(entry) = reference.pop() {
            assert_eq!(queue.pop().map(|e| e.task), Some(entry.task));
        }
        assert!(queue.pop().is_none());
    }
}
