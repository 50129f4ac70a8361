//! The lock table: how many holders each named lock has, and all-or-none acquisition.
//!
//! A task takes every lock it needs in one step or none of them, so no task ever holds one lock
//! while waiting for another: lock-order deadlocks cannot happen.

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

    /// True if every lock in `wanted` has a free unit beyond `reserved[lock]` units kept for
    /// higher-priority tasks.
    pub fn can_take_all(&self, wanted: &[LockId], reserved: &[u32]) -> bool {
        wanted
            .iter()
            .all(|&lock| self.free[lock] > reserved.get(lock).copied().unwrap_or(0))
    }

    /// Takes one unit of every lock in `wanted`. Call only after [`LockTable::can_take_all`].
    pub fn take_all(&mut self, wanted: &[LockId]) {
        for &lock in wanted {
            debug_assert!(self.free[lock] > 0, "lock {lock} over-acquired");
            self.free[lock] -= 1;
        }
    }

    /// Gives back one unit of every lock in `held`.
    pub fn release_all(&mut self, held: &[LockId]) {
        for &lock in held {
            self.free[lock] += 1;
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
        assert!(locks.can_take_all(&[0, 1], &[0, 0]));
        locks.take_all(&[0, 1]);
        assert!(!locks.can_take_all(&[0, 1], &[0, 0]), "db is held");
        assert!(locks.can_take_all(&[1], &[0, 0]), "gpu has a second unit");
        locks.release_all(&[0, 1]);
        assert!(locks.can_take_all(&[0, 1], &[0, 0]));
    }

    #[test]
    fn reservations_keep_units_for_others() {
        let locks = table();
        assert!(!locks.can_take_all(&[0], &[1, 0]));
        assert!(locks.can_take_all(&[1], &[0, 1]));
        assert!(!locks.can_take_all(&[1], &[0, 2]));
    }
}
