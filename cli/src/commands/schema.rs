//! `wf schema` and `wf completions`: text generated from the program itself.

use clap::CommandFactory;

use crate::args::{Cli, SchemaArgs, SchemaKind};
use crate::exit::Exit;

/// Prints the requested JSON Schema.
pub fn run(args: &SchemaArgs) -> Exit {
    match args.kind {
        SchemaKind::Manifest => print_out!("{}", wf_engine::schema::manifest_schema_text()),
        SchemaKind::Report => print_out!("{}", wf_engine::report::report_schema_text()),
    }
    Exit::Success
}

/// Prints completions for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Exit {
    // Into memory first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wf", &mut script);
    print_out!("{}", String::from_utf8_lossy(&script));
    Exit::Success
}
