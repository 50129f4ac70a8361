//! `wf validate`: check manifests and report every finding.

use std::io::IsTerminal;
use std::path::PathBuf;

use rayon::prelude::*;
use wf_engine::Loaded;
use wf_engine::manifest::ReadError;

use crate::args::{ColorChoice, FindingFormat, ValidateArgs};
use crate::exit::Exit;
use crate::render::diagnostics::{self, JsonFinding};

/// Checks every manifest (in parallel), prints the findings in order, and returns 0 when all are
/// valid, 1 when one is invalid, 2 when one cannot be read.
pub fn run(args: &ValidateArgs, color: ColorChoice) -> Exit {
    let manifests = if args.manifests.is_empty() {
        vec![PathBuf::from("wf.toml")]
    } else {
        args.manifests.clone()
    };
    let results: Vec<Result<Loaded, ReadError>> = manifests
        .par_iter()
        .map(|path| wf_engine::load(path))
        .collect();

    let mut exit = Exit::Success;
    let mut json: Vec<JsonFinding> = Vec::new();
    let colored = color.enabled(std::io::stderr().is_terminal());
    for result in &results {
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(error) => {
                exit = exit.max(Exit::Usage);
                let file = error.path.display().to_string();
                let message = format!("cannot read manifest `{file}`: {}", error.source);
                match args.format {
                    FindingFormat::Human => println_err!("error: {message}"),
                    FindingFormat::Json | FindingFormat::Github => {
                        json.push(diagnostics::json_file_error(
                            &file,
                            "wf::unreadable_manifest",
                            message,
                        ));
                    }
                }
                continue;
            }
        };
        let failed = loaded.has_errors() || (args.strict && !loaded.findings.is_empty());
        if failed {
            exit = exit.max(Exit::Failure);
        }
        match args.format {
            FindingFormat::Human => print_human(loaded, failed, colored),
            FindingFormat::Json | FindingFormat::Github => json.extend(
                loaded
                    .findings
                    .iter()
                    .map(|finding| diagnostics::json_finding(&loaded.source, finding)),
            ),
        }
    }
    // The manifests and workflows own only memory.
    super::leak_at_exit(results);
    match args.format {
        FindingFormat::Human => {}
        FindingFormat::Json => {
            println_out!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_else(|_| "[]".into())
            );
        }
        FindingFormat::Github => {
            for finding in &json {
                println_out!("{}", diagnostics::github_line(finding));
            }
        }
    }
    exit
}

fn print_human(loaded: &Loaded, failed: bool, colored: bool) {
    for finding in &loaded.findings {
        print_err!("{}", diagnostics::human(&loaded.source, finding, colored));
    }
    let name = loaded.source.name();
    if failed {
        println_err!("✗ {name}: {}", diagnostics::counts(&loaded.findings));
    } else {
        let tasks = loaded.workflow.as_ref().map_or(0, |w| w.tasks.len());
        let noun = if tasks == 1 { "task" } else { "tasks" };
        if loaded.findings.is_empty() {
            println_out!("✓ {name}: valid, {tasks} {noun}");
        } else {
            println_out!(
                "✓ {name}: valid, {tasks} {noun} ({})",
                diagnostics::counts(&loaded.findings)
            );
        }
    }
}
