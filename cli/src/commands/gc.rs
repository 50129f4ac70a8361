//! `wf gc`: remove old runs of a manifest now, and what no run needs any more.

use wf_engine::session::Session;
use wf_engine::state::prune::{PruneReport, RemovedRun};

use super::{open_workflow, report_session_error};
use crate::args::{ColorChoice, GcArgs};
use crate::exit::Exit;
use crate::render::style::plural;

/// Prunes the manifest's runs beyond `--keep` (or `[workflow].keep_runs`), orphan run folders,
/// records whose folder is gone and digests of vanished files; prints what went.
pub fn run(args: &GcArgs, color: ColorChoice) -> Exit {
    let session = Session::new(match open_workflow(&args.manifest, color) {
        Ok(workflow) => workflow,
        Err(exit) => return exit,
    });
    let keep = session.keep_runs(args.keep);
    let report = match session.gc(keep, args.dry_run) {
        Ok(Some(report)) => report,
        Ok(None) => {
            println_err!(
                "wf gc: nothing to remove: {} has never run",
                args.manifest.display()
            );
            return Exit::Success;
        }
        Err(error) => {
            report_session_error(&error, color);
            return Exit::Usage;
        }
    };
    print_report(&report, args, keep);
    if report.failures.is_empty() {
        Exit::Success
    } else {
        Exit::Failure
    }
}

fn print_report(report: &PruneReport, args: &GcArgs, keep: usize) {
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let line = |what: &str, run: &RemovedRun| {
        println_out!("{verb} {what} {}  {}", run.run_id, bytes(run.bytes));
    };
    for run in &report.runs {
        line("run", run);
    }
    for run in &report.orphan_folders {
        line("folder without a record", run);
    }
    for run_id in &report.rows_without_folder {
        println_out!("{verb} the record of run {run_id} (its folder is gone)");
    }
    for run_id in &report.kept_running {
        println_out!("kept run {run_id}: still marked running");
    }
    for failure in &report.failures {
        println_err!(
            "wf gc: cannot remove {}: {}",
            failure.path.display(),
            failure.error
        );
    }
    let kept = format!(
        "keeping the latest {} of {}",
        plural(keep, "run"),
        args.manifest.display()
    );
    if report.is_empty() {
        println_err!("wf gc: nothing to remove ({kept})");
        return;
    }
    let mut parts = vec![plural(report.runs.len(), "run")];
    if !report.orphan_folders.is_empty() {
        parts.push(counted(
            report.orphan_folders.len(),
            "folder without a record",
            "folders without a record",
        ));
    }
    if !report.rows_without_folder.is_empty() {
        parts.push(counted(
            report.rows_without_folder.len(),
            "record without a folder",
            "records without a folder",
        ));
    }
    if report.file_hashes > 0 {
        parts.push(counted(
            report.file_hashes,
            "cached digest of a deleted file",
            "cached digests of deleted files",
        ));
    }
    let freed = if args.dry_run { "would free" } else { "freed" };
    println_err!(
        "wf gc: {verb} {} ({kept}); {freed} {}",
        parts.join(", "),
        bytes(report.bytes_freed())
    );
}

fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `512 B`, `12.3 KB`, `4.0 MB`: decimal units, as `du --si`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if count < 1000 {
        return format!("{count} B");
    }
    let mut value = count as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_in_decimal_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 KB");
        assert_eq!(bytes(12_345), "12.3 KB");
        assert_eq!(bytes(4_000_000), "4.0 MB");
        assert_eq!(bytes(5_000_000_000_000_000), "5000.0 TB");
    }
}
