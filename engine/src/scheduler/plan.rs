//! The plan: the order the scheduler would start tasks in, found by running the scheduler on
//! simulated time where every task succeeds and takes its expected duration.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::core::{Core, Outcome};
use super::memory::MemoryPlan;
use crate::workflow::{TaskId, Workflow};

/// One planned start.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    /// The task.
    pub task: TaskId,
    /// Expected start, seconds from the start of the run.
    pub start: f64,
    /// Expected end.
    pub end: f64,
}

/// The simulated run.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Tasks in dispatch order.
    pub order: Vec<PlannedTask>,
    /// The critical path by expected durations.
    pub critical_path: Vec<TaskId>,
    /// Expected wall time if every task takes its expected duration.
    pub wall: f64,
    /// Total expected work (sum of durations × slots used) divided by the slots.
    pub work_bound: f64,
    /// Length of the critical path.
    pub path_bound: f64,
}

/// Simulates the selected tasks on `slots` slots with `weights` as durations, within the
/// memory budget of `memory` when there is one.
pub fn simulate(
    workflow: &Workflow,
    selected: &[bool],
    up_to_date: &[bool],
    slots: u32,
    weights: &[f64],
    keep_going: bool,
    memory: Option<MemoryPlan>,
) -> Simulation {
    let mut core =
        Core::new(workflow, selected, up_to_date, slots, weights, keep_going).with_memory(memory);
    let runs = |id: TaskId| selected[id] && !up_to_date.get(id).copied().unwrap_or(false);
    let mut running: BinaryHeap<Reverse<(u64, TaskId)>> = BinaryHeap::new();
    // Room for every task that runs at once: grown step by step, a million entries were
    // copied about twice over, into fresh pages each time.
    let mut order = Vec::with_capacity((0..workflow.tasks.len()).filter(|&t| runs(t)).count());
    // Integer microseconds keep the event order exact and deterministic.
    let micros = |seconds: f64| (seconds * 1e6).round().max(0.0) as u64;
    let mut now = 0u64;
    loop {
        for task in core.start_ready(now as f64 / 1e6) {
            let end = now + micros(weights[task]);
            order.push(PlannedTask {
                task,
                start: now as f64 / 1e6,
                end: end as f64 / 1e6,
            });
            running.push(Reverse((end, task)));
        }
        core.take_resolved();
        if core.is_finished() {
            break;
        }
        let Some(Reverse((end, task))) = running.pop() else {
            core.abandon_unfinished("not started");
            break;
        };
        now = end;
        core.finish(task, Outcome::Succeeded);
    }
    let mut path_weights: Vec<f64> = weights.to_vec();
    for (id, weight) in path_weights.iter_mut().enumerate() {
        if !runs(id) {
            *weight = 0.0;
        }
    }
    let critical_path: Vec<TaskId> = workflow
        .dag
        .critical_path(&path_weights)
        .into_iter()
        .filter(|&t| runs(t))
        .collect();
    let path_bound = critical_path.iter().map(|&t| weights[t]).sum();
    let work: f64 = (0..workflow.tasks.len())
        .filter(|&t| runs(t))
        .map(|t| weights[t] * f64::from(workflow.tasks[t].cpus))
        .sum();
    Simulation {
        order,
        critical_path,
        wall: now as f64 / 1e6,
        work_bound: work / f64::from(slots.max(1)),
        path_bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, parse};

    #[test]
    fn critical_path_first_reaches_the_lower_bound() {
        // A chain of 10 × 0.1 s and 40 independent 0.1 s tasks declared first, on 2 slots:
        // the bound is max(1.0, 5.0 / 2) = 2.5 s.
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("[tasks.free{i}]\nrun = 'x'\n"));
        }
        for i in 0..10 {
            text.push_str(&format!("[tasks.chain{i}]\nrun = 'x'\n"));
            if i > 0 {
                text.push_str(&format!("deps = ['chain{}']\n", i - 1));
            }
        }
        let loaded = parse(SourceFile::new("wf.toml", text), std::path::Path::new("/p"));
        let workflow = loaded.workflow.expect("valid");
        let all = vec![true; workflow.tasks.len()];
        let weights = vec![0.1; workflow.tasks.len()];
        let plan = simulate(&workflow, &all, &[], 2, &weights, false, None);
        assert!((plan.wall - 2.5).abs() < 1e-6, "wall {}", plan.wall);
        assert!((plan.work_bound - 2.5).abs() < 1e-6);
        assert!((plan.path_bound - 1.0).abs() < 1e-6);
        assert_eq!(workflow.tasks[plan.order[0].task].name, "chain0");
    }
}
