//! The memory side of a plan: the run's budget and what each task needs of it.
//!
//! A need is declared (`mem`), or learnt (the highest peak of the task's recent attempts plus
//! a margin), or unknown (0: the task is admitted as if memory did not matter, as it was
//! before wf knew anything of it).

use crate::scheduler::memory::MemoryPlan;
use crate::workflow::{MemoryBudget, Workflow};

/// How many recent attempts a learnt need looks at.
pub const RECENT_PEAKS: usize = 5;

/// A learnt need is the highest recent peak plus this share of it.
pub const LEARNT_MARGIN: f64 = 0.2;

/// The part of the available memory `memory = "auto"` leaves to everything else: 10% of
/// it, and at least 512 MiB.
pub fn auto_reserve(available: u64) -> u64 {
    (available / 10).max(512 * 1024 * 1024)
}

/// Where a task's memory need comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedSource {
    /// `mem` in the manifest.
    Declared,
    /// Measured in earlier runs.
    Learnt,
    /// Nothing is known: the task is not held back by memory.
    Unknown,
}

/// One task's memory need in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Bytes the scheduler counts for it (after clamping to the budget).
    pub bytes: u64,
    /// Where it comes from.
    pub source: NeedSource,
    /// True if the need was above the whole budget and was lowered to it: the task runs
    /// without any other task that has a known need.
    pub clamped: bool,
}

/// The machine's available memory (`MemAvailable` in /proc/meminfo), in bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("MemAvailable:")?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// The budget in bytes for `budget` (`None`: no budget).
pub fn resolve_budget(budget: MemoryBudget) -> Option<u64> {
    match budget {
        MemoryBudget::Off => None,
        MemoryBudget::Fixed(bytes) => Some(bytes),
        MemoryBudget::Auto => {
            available_memory().map(|available| available.saturating_sub(auto_reserve(available)))
        }
    }
}

/// A learnt need from the highest recent peak.
pub fn learnt_need(peak: u64) -> u64 {
    peak.saturating_add((peak as f64 * LEARNT_MARGIN) as u64)
}

/// Each task's need, and the scheduler's memory plan when the run has a budget. `peaks` holds
/// each task's highest recent peak, by [`TaskId`](crate::workflow::TaskId) (a task past its end
/// has none).
pub fn plan_memory(
    workflow: &Workflow,
    budget: Option<u64>,
    peaks: &[Option<u64>],
) -> (Vec<MemoryNeed>, Option<MemoryPlan>) {
    let needs: Vec<MemoryNeed> = workflow
        .tasks
        .iter()
        .enumerate()
        .map(|(id, task)| {
            let peak = peaks.get(id).copied().flatten();
            let (bytes, source) = match (task.mem(), peak) {
                (Some(mem), _) => (mem, NeedSource::Declared),
                (None, Some(peak)) if peak > 0 => (learnt_need(peak), NeedSource::Learnt),
                _ => (0, NeedSource::Unknown),
            };
            let clamped = budget.is_some_and(|b| bytes > b);
            MemoryNeed {
                bytes: budget.map_or(bytes, |b| bytes.min(b)),
                source,
                clamped,
            }
        })
        .collect();
    let plan = budget.map(|budget| MemoryPlan {
        budget,
        needs: needs.iter().map(|n| n.bytes).collect(),
    });
    (needs, plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};

    #[test]
    fn declared_beats_learnt_and_unknown_needs_nothing_and_big_ones_are_clamped() {
        let text = "[tasks.a]\nrun='x'\nmem='100M'\n[tasks.b]\nrun='x'\n[tasks.c]\nrun='x'\n[tasks.d]\nrun='x'\n";
        let loaded = parse(SourceFile::new("wf.toml", text), std::path::Path::new("/p"));
        let workflow = loaded.workflow.expect("valid");
        let peaks = [
            Some(900_000_000),
            Some(200_000_000),
            None,
            Some(2_000_000_000),
        ];
        let (needs, plan) = plan_memory(&workflow, Some(1_000_000_000), &peaks);
        assert_eq!(needs[0].bytes, 100_000_000);
        assert_eq!(needs[0].source, NeedSource::Declared);
        assert_eq!(needs[1].bytes, 240_000_000);
        assert_eq!(needs[1].source, NeedSource::Learnt);
        assert_eq!(needs[2].source, NeedSource::Unknown);
        assert_eq!(needs[2].bytes, 0);
        assert!(needs[3].clamped);
        assert_eq!(needs[3].bytes, 1_000_000_000);
        assert_eq!(plan.expect("a budget").needs.len(), 4);
    }

    #[test]
    fn the_auto_reserve_is_a_tenth_and_at_least_512_mib() {
        assert_eq!(auto_reserve(1 << 30), 512 * 1024 * 1024);
        assert_eq!(auto_reserve(100 << 30), 10 << 30);
    }
}
