//! `wf`: run, check and inspect declarative workflows.

#[macro_use]
mod output;

mod args;
mod commands;
mod exit;
#[cfg(test)]
mod man;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = commands::complete::intercept(&argv) {
        restore_sigpipe();
        return std::process::ExitCode::from(code.as_u8());
    }
    let cli = args::Cli::parse_from(argv);
    // `wf run` must outlive a closed terminal pipe (`wf run | head`): its tasks would otherwise
    // be killed with it. It keeps Rust's default (SIGPIPE ignored) and its renderer drops
    // output it cannot write; every other command ends quietly on a closed pipe, as `cat` does.
    if !matches!(cli.command, args::Command::Run(_)) {
        restore_sigpipe();
    }
    // A run's result is its tasks': output it could not show never changes it. Every other
    // command (and `run -n`) exists to print, and fails if its output was lost.
    let prints = !matches!(&cli.command, args::Command::Run(run) if !run.dry_run);
    let mut code = commands::dispatch(cli);
    if let Some(error) = output::finish() {
        if prints {
            println_err!("wf: error: cannot write to standard output: {error}");
            code = exit::Exit::Usage;
        }
    }
    std::process::ExitCode::from(code.as_u8())
}

/// Rust ignores SIGPIPE, which turns `wf list | head` into a panic on the closed pipe.
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
