//! The task DAG: cycles, topological order, reachability and the critical path.
//!
//! Node `i` of the graph is task `i`; an edge goes from a dependency to its dependent.
//!
//! Every walk here is iterative (explicit stacks and queues, Kahn's algorithm, Kosaraju's
//! strongly connected components): a chain of a million tasks must not overflow the stack.

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Index of a task: the graph's nodes are numbered as the workflow's tasks are.
pub type TaskId = usize;

/// The edges of one direction in compressed rows: the neighbours of node `i` are
/// `targets[offsets[i]..offsets[i + 1]]`. Two flat arrays for the whole graph instead of a list
/// per node: a million tasks cost two allocations, and a walk reads memory in order.
#[derive(Debug, Clone, Default)]
struct Rows {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Rows {
    fn of(&self, node: TaskId) -> &[u32] {
        let start = self.offsets[node] as usize;
        let end = self.offsets[node + 1] as usize;
        &self.targets[start..end]
    }
}

/// The dependency graph of a workflow.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    /// For each task, the tasks it depends on (latest declared first).
    dependencies: Rows,
    /// For each task, the tasks that depend on it (latest declared first).
    dependents: Rows,
    /// The topological order, computed once on first use.
    order: std::sync::OnceLock<Vec<TaskId>>,
}

/// A reusable scratch space for many reachability queries on one [`Dag`]: each query costs only
/// what it visits (marks are generation stamps, never cleared).
pub struct Reachability<'a> {
    dag: &'a Dag,
    stamps: Vec<u32>,
    generation: u32,
    stack: Vec<u32>,
}

impl Reachability<'_> {
    /// True if and only if `to` (transitively) depends on `from` (or is `from`).
    pub fn has_path(&mut self, from: TaskId, to: TaskId) -> bool {
        if from == to {
            return true;
        }
        if self.generation == u32::MAX {
            self.stamps.iter_mut().for_each(|s| *s = 0);
            self.generation = 0;
        }
        self.generation += 1;
        let generation = self.generation;
        self.stack.clear();
        self.stack.push(from as u32);
        self.stamps[from] = generation;
        while let Some(current) = self.stack.pop() {
            for &next in self.dag.dependents.of(current as usize) {
                if next as usize == to {
                    return true;
                }
                if self.stamps[next as usize] != generation {
                    self.stamps[next as usize] = generation;
                    self.stack.push(next);
                }
            }
        }
        false
    }

    /// True if and only if there is a dependency path between the two tasks, either way.
    pub fn ordered(&mut self, a: TaskId, b: TaskId) -> bool {
        self.has_path(a, b) || self.has_path(b, a)
    }
}

/// A task count or id as stored in the graph's arrays.
fn narrow(value: usize) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| panic!("more than {} tasks or edges", u32::MAX))
}

impl Dag {
    /// Builds the graph of `count` tasks where `deps[i]` lists what task `i` depends on.
    pub fn new<D: AsRef<[TaskId]>>(count: usize, deps: &[D]) -> Self {
        Self::from_fn(count, |task| deps[task].as_ref())
    }

    /// Builds the graph of `count` tasks where `deps_of(i)` lists what task `i` depends on.
    pub fn from_fn<'d>(count: usize, deps_of: impl Fn(TaskId) -> &'d [TaskId]) -> Self {
        let mut in_offsets = Vec::with_capacity(count + 1);
        let mut in_targets = Vec::new();
        let mut out_degree = vec![0u32; count + 1];
        in_offsets.push(0);
        for task in 0..count {
            let deps = deps_of(task);
            // Latest first: the order a linked adjacency list gives, kept so that ties in the
            // scheduler and the critical path are broken as they always were.
            for &dep in deps.iter().rev() {
                in_targets.push(narrow(dep));
                out_degree[dep] += 1;
            }
            in_offsets.push(narrow(in_targets.len()));
        }
        // Prefix sums give each node's row end; rows are then filled from the end backwards
        // while tasks are walked from the last, so each row lists its latest dependent first.
        let mut out_offsets = Vec::with_capacity(count + 1);
        let mut total = 0u32;
        out_offsets.push(0);
        for degree in &out_degree[..count] {
            total += degree;
            out_offsets.push(total);
        }
        let mut fill: Vec<u32> = out_offsets[..count].to_vec();
        let mut out_targets = vec![0u32; total as usize];
        for task in (0..count).rev() {
            let deps = &in_targets[in_offsets[task] as usize..in_offsets[task + 1] as usize];
            for &dep in deps {
                let at = &mut fill[dep as usize];
                out_targets[*at as usize] = narrow(task);
                *at += 1;
            }
        }
        Self {
            dependencies: Rows {
                offsets: in_offsets,
                targets: in_targets,
            },
            dependents: Rows {
                offsets: out_offsets,
                targets: out_targets,
            },
            order: std::sync::OnceLock::new(),
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.dependencies.offsets.len().saturating_sub(1)
    }

    /// True if the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tasks that depend directly on `task`.
    pub fn dependents(&self, task: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.dependents.of(task).iter().map(|&t| t as TaskId)
    }

    /// The tasks `task` depends on directly, the last given first.
    pub fn dependencies(&self, task: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.dependencies.of(task).iter().map(|&t| t as TaskId)
    }

    /// The tasks `task` depends on directly, in the order they were given.
    pub fn dependencies_in_order(
        &self,
        task: TaskId,
    ) -> impl DoubleEndedIterator<Item = TaskId> + ExactSizeIterator + Clone + '_ {
        self.dependencies
            .of(task)
            .iter()
            .rev()
            .map(|&t| t as TaskId)
    }

    /// Every dependency cycle, one per strongly connected component, each as the list of tasks
    /// along it (the first task is not repeated at the end). Self-loops are not included.
    pub fn cycles(&self) -> Vec<Vec<TaskId>> {
        let mut cycles = Vec::new();
        // Kahn's algorithm orders every task of an acyclic graph: then there is nothing to find,
        // and the order is kept for whoever asks for it next.
        let order = self.compute_topological_order();
        if order.len() == self.len() {
            let _ = self.order.set(order);
            return cycles;
        }
        // Only a graph with a cycle (an invalid manifest) is copied into petgraph's form.
        // Kosaraju's algorithm walks with explicit stacks; Tarjan's in petgraph recurses once
        // per task of a chain.
        let mut graph: DiGraph<(), (), u32> =
            DiGraph::with_capacity(self.len(), self.dependents.targets.len());
        for _ in 0..self.len() {
            graph.add_node(());
        }
        for task in 0..self.len() {
            for next in self.dependents(task) {
                graph.add_edge(NodeIndex::new(task), NodeIndex::new(next), ());
            }
        }
        for component in kosaraju_scc(&graph) {
            if component.len() < 2 {
                continue;
            }
            let mut members = vec![false; self.len()];
            for n in &component {
                members[n.index()] = true;
            }
            let start = component.iter().map(|n| n.index()).min().unwrap_or(0);
            cycles.push(self.shortest_cycle_through(start, &members));
        }
        cycles.sort();
        cycles
    }

    /// The shortest cycle through `start` inside one strongly connected component, following
    /// dependency edges (task → what it depends on), so it reads "a needs b needs c needs a".
    fn shortest_cycle_through(&self, start: TaskId, members: &[bool]) -> Vec<TaskId> {
        let mut parent = vec![usize::MAX; members.len()];
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            for next in self.dependencies(current) {
                if !members[next] {
                    continue;
                }
                if next == start {
                    let mut path = vec![current];
                    let mut at = current;
                    while at != start {
                        at = parent[at];
                        path.push(at);
                    }
                    path.reverse();
                    return path;
                }
                if parent[next] == usize::MAX {
                    parent[next] = current;
                    queue.push_back(next);
                }
            }
        }
        vec![start]
    }

    /// A scratch space for repeated "is there a path" queries.
    pub fn reachability(&self) -> Reachability<'_> {
        Reachability {
            dag: self,
            stamps: vec![0; self.len()],
            generation: 0,
            stack: Vec::new(),
        }
    }

    /// The tasks in an order where every task comes after its dependencies (Kahn's algorithm,
    /// ties broken by declaration order; computed once). Requires an acyclic graph.
    pub fn topological_order(&self) -> &[TaskId] {
        self.order.get_or_init(|| self.compute_topological_order())
    }

    fn compute_topological_order(&self) -> Vec<TaskId> {
        let count = self.len();
        // When every task depends only on tasks declared before it (as generated manifests
        // nearly always do), declaration order is the order Kahn's algorithm gives: the first
        // task not yet taken always has its dependencies taken, and is the first ready.
        if (0..count).all(|t| self.dependencies.of(t).iter().all(|&d| (d as usize) < t)) {
            return (0..count).collect();
        }
        self.kahn_order()
    }

    /// Kahn's algorithm, the smallest ready task first.
    fn kahn_order(&self) -> Vec<TaskId> {
        let count = self.len();
        let mut waiting: Vec<u32> = (0..count)
            .map(|t| narrow(self.dependencies.of(t).len()))
            .collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<TaskId>> = (0..count)
            .filter(|&t| waiting[t] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(count);
        while let Some(std::cmp::Reverse(task)) = ready.pop() {
            order.push(task);
            for next in self.dependents(task) {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(std::cmp::Reverse(next));
                }
            }
        }
        order
    }

    /// For each task, the longest weighted path from its start to the end of the DAG: its own
    /// weight plus the heaviest chain of dependents after it. Higher means more urgent.
    pub fn remaining_path_weights(&self, weights: &[f64]) -> Vec<f64> {
        let mut remaining = weights.to_vec();
        for &task in self.topological_order().iter().rev() {
            let tail = self
                .dependents(task)
                .map(|next| remaining[next])
                .fold(0.0, f64::max);
            remaining[task] = weights[task] + tail;
        }
        remaining
    }

    /// The critical path: the heaviest chain of tasks from a task without dependencies to a task
    /// without dependents, by `weights`.
    pub fn critical_path(&self, weights: &[f64]) -> Vec<TaskId> {
        let remaining = self.remaining_path_weights(weights);
        let heaviest = |tasks: &mut dyn Iterator<Item = TaskId>| {
            tasks.fold(None, |best: Option<TaskId>, t| match best {
                Some(b) if remaining[b] >= remaining[t] => Some(b),
                _ => Some(t),
            })
        };
        let mut path = Vec::new();
        let mut roots = (0..self.len()).filter(|&t| self.dependencies(t).next().is_none());
        let mut current = heaviest(&mut roots);
        while let Some(task) = current {
            path.push(task);
            current = heaviest(&mut self.dependents(task));
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(deps: &[&[TaskId]]) -> Dag {
        let deps: Vec<Vec<TaskId>> = deps.iter().map(|d| d.to_vec()).collect();
        Dag::new(deps.len(), &deps)
    }

    #[test]
    fn finds_each_cycle_once_with_its_path() {
        // 0 <- 1 <- 2 <- 0 is a cycle; 3 depends on 0 and is not part of it.
        let g = dag(&[&[2], &[0], &[1], &[0]]);
        assert_eq!(g.cycles(), vec![vec![0, 2, 1]]);
    }

    #[test]
    fn gives_dependencies_in_their_order_or_the_last_first() {
        let g = dag(&[&[], &[], &[], &[2, 0, 1]]);
        assert_eq!(g.dependencies_in_order(3).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(g.dependencies(3).collect::<Vec<_>>(), [1, 0, 2]);
        assert_eq!(g.dependencies_in_order(0).len(), 0);
    }

    #[test]
    fn orders_dependencies_first() {
        let g = dag(&[&[1], &[], &[0, 1]]);
        assert_eq!(g.topological_order(), [1, 0, 2]);
    }

    #[test]
    fn declaration_order_is_kahns_order_when_every_dependency_comes_first() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..50 {
            let count = 1 + next(300);
            let deps: Vec<Vec<TaskId>> = (0..count)
                .map(|t| (0..next(4)).filter(|_| t > 0).map(|_| next(t)).collect())
                .collect();
            let g = Dag::new(count, &deps);
            assert_eq!(g.topological_order(), g.kahn_order());
            assert_eq!(g.topological_order(), (0..count).collect::<Vec<_>>());
        }
    }

    #[test]
    fn critical_path_follows_the_heaviest_chain() {
        // 0 -> 1 -> 3 (weights 1 + 5 + 1) beats 0 -> 2 -> 3 (1 + 1 + 1).
        let g = dag(&[&[], &[0], &[0], &[1, 2]]);
        let weights = [1.0, 5.0, 1.0, 1.0];
        assert_eq!(g.critical_path(&weights), vec![0, 1, 3]);
        assert_eq!(g.remaining_path_weights(&weights), vec![7.0, 6.0, 2.0, 1.0]);
    }

    /// A chain of `count` tasks, each depending on the one before.
    fn chain(count: usize) -> Dag {
        let deps: Vec<Vec<TaskId>> = (0..count)
            .map(|i| if i == 0 { Vec::new() } else { vec![i - 1] })
            .collect();
        Dag::new(count, &deps)
    }

    #[test]
    fn a_chain_of_a_million_tasks_does_not_overflow_the_stack() {
        const COUNT: usize = 1_000_000;
        let g = chain(COUNT);
        assert!(g.cycles().is_empty());
        assert_eq!(g.topological_order().len(), COUNT);
        let weights = vec![1.0; COUNT];
        assert_eq!(g.critical_path(&weights).len(), COUNT);
        assert_eq!(g.remaining_path_weights(&weights)[0], COUNT as f64);
        let mut reach = g.reachability();
        assert!(reach.has_path(0, COUNT - 1));
        assert!(!reach.has_path(COUNT - 1, 0));
    }

    #[test]
    fn a_cycle_through_a_million_tasks_is_found_without_recursion() {
        const COUNT: usize = 1_000_000;
        let mut deps: Vec<Vec<TaskId>> = (0..COUNT)
            .map(|i| if i == 0 { Vec::new() } else { vec![i - 1] })
            .collect();
        deps[0].push(COUNT - 1);
        let g = Dag::new(COUNT, &deps);
        let cycles = g.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), COUNT);
        assert_eq!(cycles[0][..3], [0, COUNT - 1, COUNT - 2]);
    }

    #[test]
    fn reachability_is_directional() {
        let g = dag(&[&[], &[0], &[]]);
        let mut reach = g.reachability();
        assert!(reach.has_path(0, 1));
        assert!(!reach.has_path(1, 0));
        assert!(!reach.ordered(0, 2));
    }
}
