//! Memory as a scheduling resource: a budget in bytes, and what each task needs of it.
//!
//! A task whose need is unknown needs 0 and is never held back. A need above the budget is
//! clamped to it (the task then runs with nothing else that has a known need), so no task can
//! wait forever; `wf plan` says when that happens.

/// The memory budget of one run and every task's need.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryPlan {
    /// Bytes tasks with a known need may use together.
    pub budget: u64,
    /// Each task's need in bytes (0: unknown, never held back), indexed by task.
    pub needs: Vec<u64>,
}

/// The free part of the budget while a run goes on.
#[derive(Debug, Clone)]
pub(crate) struct MemoryPool {
    free: u64,
    needs: Vec<u64>,
}

impl MemoryPool {
    /// All of the budget free; needs above it clamped to it.
    pub(crate) fn new(plan: MemoryPlan) -> Self {
        let budget = plan.budget;
        Self {
            free: budget,
            needs: plan.needs.into_iter().map(|n| n.min(budget)).collect(),
        }
    }

    /// What the task needs (after clamping).
    pub(crate) fn need(&self, task: usize) -> u64 {
        self.needs.get(task).copied().unwrap_or(0)
    }

    /// True if the task's need fits beside `reserved` bytes kept for tasks ahead of it. A task
    /// whose need is unknown (0) always fits: memory never holds it back.
    pub(crate) fn fits(&self, task: usize, reserved: u64) -> bool {
        let need = self.need(task);
        need == 0 || self.free >= reserved.saturating_add(need)
    }

    /// Takes the task's need. Call only after [`MemoryPool::fits`].
    pub(crate) fn take(&mut self, task: usize) {
        self.free -= self.need(task);
    }

    /// Gives back the task's need.
    pub(crate) fn release(&mut self, task: usize) {
        self.free += self.need(task);
    }
}
