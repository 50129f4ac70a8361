//! Recovery of crashed runs for every executor, whichever one the new run uses: a Slurm run
//! killed with SIGKILL must have its jobs cancelled even when the next run is local, and the
//! processes a local run left must be ended even when the next run uses Slurm.

use std::path::Path;
use std::time::Duration;

use crate::exec::local::LocalExecutor;
use crate::exec::slurm::SlurmExecutor;
use crate::exec::{Executor, Recovered};
use crate::layout::marker::crashed_runs;
use crate::workflow::ExecutorKind;

/// Ends what crashed runs of `manifest` under `runs` left, for both kinds of executor, `E`'s
/// own recovery standing in for the built-in one of its kind. The crashed runs are found once
/// (their `running` markers are removed then). One entry per crashed run, in run id order.
pub(crate) fn recover_crashed<E: Executor>(
    runs: &Path,
    manifest: &Path,
    grace: Duration,
) -> Vec<Recovered> {
    let crashed = crashed_runs(runs, manifest);
    if crashed.is_empty() {
        return Vec::new();
    }
    let (slurm, local) = match E::KIND {
        ExecutorKind::Slurm => (
            E::recover_crashed(&crashed, grace),
            LocalExecutor::recover_crashed(&crashed, grace),
        ),
        ExecutorKind::Local => (
            SlurmExecutor::recover_crashed(&crashed, grace),
            E::recover_crashed(&crashed, grace),
        ),
    };
    merge(slurm.into_iter().chain(local))
}

/// One entry per run id (sorted), the ended counts added up.
fn merge(found: impl Iterator<Item = Recovered>) -> Vec<Recovered> {
    let mut merged: Vec<Recovered> = Vec::new();
    for item in found {
        match merged.iter_mut().find(|r| r.run_id == item.run_id) {
            Some(known) => {
                known.processes += item.processes;
                known.jobs += item.jobs;
            }
            None => merged.push(item),
        }
    }
    merged.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_the_same_run_are_added_up() {
        let r = |run_id: &str, processes, jobs| Recovered {
            run_id: run_id.into(),
            processes,
            jobs,
        };
        assert_eq!(
            merge([r("b", 2, 0), r("a", 0, 0), r("b", 0, 4)].into_iter()),
            [r("a", 0, 0), r("b", 2, 4)]
        );
    }
}
