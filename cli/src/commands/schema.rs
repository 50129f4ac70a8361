//! `wf schema`: the JSON Schemas, generated from the program itself.

use crate::args::{SchemaArgs, SchemaKind};
use crate::exit::Exit;

/// Prints the requested JSON Schema.
pub fn run(args: &SchemaArgs) -> Exit {
    match args.kind {
        SchemaKind::Manifest => print_out!("{}", wf_engine::schema::manifest_schema_text()),
        SchemaKind::Report => print_out!("{}", wf_engine::report::report_schema_text()),
    }
    Exit::Success
}
