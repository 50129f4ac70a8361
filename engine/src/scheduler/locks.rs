//! The lock table: free units of each lock and counted resource, and all-or-none acquisition.
//!
//! A lock is a resource a task takes one unit of; a counted resource (`[resources]`) is taken
//! in amounts. A task takes everything it needs in one step or nothing, so no task ever holds
//! one resource while waiting for another: lock-order deadlocks cannot happen.

use crate::workflow::{Lock, LockId};

/// Free capacity per lock.
#[derive(Debug, Clone)]
pub struct LockTable {
    free: Vec<u32>,
}

impl LockTable {
    /// A table with every lock free.
    pub fn new(locks: &[Lock]) -> Self {
        Self {
            free: locks.iter().map(|l| l.capacity).collect(),
        }
    }

    /// True if every (lock, amount) in `wanted` has that many free units beyond
    /// `reserved[lock]` units kept for higher-priority tasks.
    pub fn can_take_all(&self, wanted: &[(LockId, u32)], reserved: &[u32]) -> bool {
        wanted.iter().all(|&(lock, amount)| {
            let kept = reserved.get(lock).copied().unwrap_or(0);
            self.free[lock] >= kept.saturating_add(amount)
        })
    }

    /// Takes the amounts in `wanted`. Call only after [`LockTable::can_take_all`].
    pub fn take_all(&mut self, wanted: &[(LockId, u32)]) {
        for &(lock, amount) in wanted {
            debug_assert!(self.free[lock] >= amount, "lock {lock} over-acquired");
            self.free[lock] -= amount;
        }
    }

    /// Gives back the amounts in `held`.
    pub fn release_all(&mut self, held: &[(LockId, u32)]) {
        for &(lock, amount) in held {
            self.free[lock] += amount;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> LockTable {
        LockTable::new(&[
            Lock {
                name: "db".into(),
                capacity: 1,
            },
            Lock {
                name: "gpu".into(),
                capacity: 2,
            },
        ])
    }

    #[test]
    fn takes_all_or_nothing() {
        let mut locks = table();
        assert!(locks.can_take_all(&[(0, 1), (1, 1)], &[0, 0]));
        locks.take_all(&[(0, 1), (1, 1)]);
        assert!(
            !locks.can_take_all(&[(0, 1), (1, 1)], &[0, 0]),
            "db is held"
        );
        assert!(
            locks.can_take_all(&[(1, 1)], &[0, 0]),
            "gpu has a second unit"
        );
        assert!(!locks.can_take_all(&[(1, 2)], &[0, 0]), "but not two");
        locks.release_all(&[(0, 1), (1, 1)]);
        assert!(locks.can_take_all(&[(0, 1), (1, 2)], &[0, 0]));
    }

    #[test]
    fn reservations_keep_units_for_others() {
        let locks = table();
        assert!(!locks.can_take_all(&[(0, 1)], &[1, 0]));
        assert!(locks.can_take_all(&[(1, 1)], &[0, 1]));
        assert!(!locks.can_take_all(&[(1, 2)], &[0, 1]));
        assert!(!locks.can_take_all(&[(1, 1)], &[0, 2]));
    }
}
