//! `wf init`: write a starter manifest to begin from.

use std::io::Write;
use std::path::Path;

use crate::args::InitArgs;
use crate::exit::Exit;

/// The starter manifest: valid for `wf validate --strict`, commented, with the `#:schema` line
/// editors (taplo, Even Better TOML) read.
pub const STARTER: &str = r#"#:schema https://wf.dev/schemas/wf-manifest.schema.json
# The tasks of this project, for wf (https://wf.dev). Try:
#   wf list              the tasks
#   wf plan              what would run, in which order, and why
#   wf run               run every task (or `wf run test`: `test` and what it needs)
#   wf validate          check this file; every problem at once
# Reference: docs/manifest.md, or `wf schema` for the JSON Schema your editor uses.

[workflow]
# jobs = 4               # job slots; default: the number of CPUs (`wf run -j N`)
# grace = "5s"           # after SIGTERM (timeout, Ctrl-C), wait this long before SIGKILL
# shell = ["bash", "-euo", "pipefail", "-c"]   # runs string commands; default ["sh", "-ec"]

# [locks]
# db = 1                 # a mutex: tasks with `locks = ["db"]` never run at the same time

[tasks.build]
description = "Build the project"
# A string runs through the shell, which stops at the first failing line.
run = """
mkdir -p out
echo "built at $(date)" > out/build.txt
"""
# Declared outputs make the task skippable: it is up to date while they exist and its
# command, environment and inputs are unchanged.
outputs = ["out/build.txt"]

[tasks.test]
description = "Run the tests"
run = "cat out/build.txt"
deps = ["build"]         # starts once `build` succeeded
inputs = ["out/build.txt"]
# timeout = "10m"        # per attempt
# retries = 2            # more attempts after a failure

[tasks.cleanup]
description = "Runs however the others ended, even after Ctrl-C"
run = "echo cleaning up"
deps = ["test"]
when = "always"
"#;

/// Writes the starter manifest to `args.path`; an existing file is left alone unless
/// `--force`.
pub fn run(args: &InitArgs) -> Exit {
    match write(&args.path, args.force) {
        Ok(()) => {
            println_out!(
                "wf: wrote {}; next: `wf list`, `wf run`",
                args.path.display()
            );
            Exit::Success
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            println_err!(
                "error: {} already exists; wf init leaves it alone\n  help: pass --force to overwrite it, or give another path: `wf init other.toml`",
                args.path.display()
            );
            Exit::Usage
        }
        Err(error) => {
            println_err!("error: cannot write {}: {error}", args.path.display());
            Exit::Usage
        }
    }
}

/// Creates `path` with the starter text: a new file only (`O_EXCL`), unless `force`.
fn write(path: &Path, force: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path)?;
    file.write_all(STARTER.as_bytes())?;
    file.sync_all()
}
