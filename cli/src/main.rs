//! `wf`: run, check and inspect declarative workflows.

mod args;
mod commands;
mod exit;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    let cli = args::Cli::parse();
    let code = commands::dispatch(cli);
    std::process::ExitCode::from(code.as_u8())
}

/// Rust ignores SIGPIPE, which turns `wf list | head` into a panic on the closed pipe. A command
/// line tool should simply end quietly, as `cat` does.
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
