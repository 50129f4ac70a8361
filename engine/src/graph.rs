//! The task DAG: cycles, topological order, reachability and the critical path.
//!
//! Node `i` of the graph is task `i`; an edge goes from a dependency to its dependent.
//!
//! Every walk here is iterative (explicit stacks and queues, Kahn's algorithm, Kosaraju's
//! strongly connected components): a chain of a million tasks must not overflow the stack.

use petgraph::Direction;
use petgraph::algo::{DfsSpace, has_path_connecting, kosaraju_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// Index of a task: the graph's nodes are numbered as the workflow's tasks are.
pub type TaskId = usize;

/// The dependency graph of a workflow.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    graph: DiGraph<(), (), u32>,
    /// The topological order, computed once on first use.
    order: std::sync::OnceLock<Vec<TaskId>>,
}

/// A reusable scratch space for many reachability queries on one [`Dag`].
pub struct Reachability<'a> {
    dag: &'a Dag,
    space: DfsSpace<NodeIndex<u32>, <DiGraph<(), (), u32> as petgraph::visit::Visitable>::Map>,
}

impl Reachability<'_> {
    /// True if and only if `to` (transitively) depends on `from`.
    pub fn has_path(&mut self, from: TaskId, to: TaskId) -> bool {
        has_path_connecting(&self.dag.graph, node(from), node(to), Some(&mut self.space))
    }

    /// True if and only if there is a dependency path between the two tasks, either way.
    pub fn ordered(&mut self, a: TaskId, b: TaskId) -> bool {
        self.has_path(a, b) || self.has_path(b, a)
    }
}

fn node(id: TaskId) -> NodeIndex<u32> {
    NodeIndex::new(id)
}

impl Dag {
    /// Builds the graph of `count` tasks where `deps[i]` lists what task `i` depends on.
    pub fn new(count: usize, deps: &[Vec<TaskId>]) -> Self {
        let edges: usize = deps.iter().map(Vec::len).sum();
        let mut graph = DiGraph::with_capacity(count, edges);
        for _ in 0..count {
            graph.add_node(());
        }
        for (task, task_deps) in deps.iter().enumerate() {
            for &dep in task_deps {
                graph.add_edge(node(dep), node(task), ());
            }
        }
        Self {
            graph,
            order: std::sync::OnceLock::new(),
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True if the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The tasks that depend directly on `task`.
    pub fn dependents(&self, task: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.graph
            .neighbors_directed(node(task), Direction::Outgoing)
            .map(NodeIndex::index)
    }

    /// The tasks `task` depends on directly.
    pub fn dependencies(&self, task: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.graph
            .neighbors_directed(node(task), Direction::Incoming)
            .map(NodeIndex::index)
    }

    /// Every dependency cycle, one per strongly connected component, each as the list of tasks
    /// along it (the first task is not repeated at the end). Self-loops are not included.
    pub fn cycles(&self) -> Vec<Vec<TaskId>> {
        let mut cycles = Vec::new();
        // Kahn's algorithm orders every task of an acyclic graph: then there is nothing to find.
        if self.compute_topological_order().len() == self.len() {
            return cycles;
        }
        // Kosaraju's algorithm walks with explicit stacks; Tarjan's in petgraph recurses once
        // per task of a chain.
        for component in kosaraju_scc(&self.graph) {
            if component.len() < 2 {
                continue;
            }
            let mut members = vec![false; self.graph.node_count()];
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
            space: DfsSpace::new(&self.graph),
        }
    }

    /// The tasks in an order where every task comes after its dependencies (Kahn's algorithm,
    /// ties broken by declaration order; computed once). Requires an acyclic graph.
    pub fn topological_order(&self) -> &[TaskId] {
        self.order.get_or_init(|| self.compute_topological_order())
    }

    fn compute_topological_order(&self) -> Vec<TaskId> {
        let count = self.graph.node_count();
        let mut waiting: Vec<usize> = (0..count)
            .map(|t| {
                self.graph
                    .edges_directed(node(t), Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<TaskId>> = (0..count)
            .filter(|&t| waiting[t] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(count);
        while let Some(std::cmp::Reverse(task)) = ready.pop() {
            order.push(task);
            for edge in self.graph.edges_directed(node(task), Direction::Outgoing) {
                let next = edge.target().index();
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
    fn orders_dependencies_first() {
        let g = dag(&[&[1], &[], &[0, 1]]);
        assert_eq!(g.topological_order(), [1, 0, 2]);
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
