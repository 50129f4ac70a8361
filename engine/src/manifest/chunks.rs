//! Reading a manifest in pieces, so that the parser's generic tree of a large file never exists
//! whole: each run of task tables is parsed on its own (in parallel), turned into [`RawTask`]s
//! at once, and its tree dropped; the other tables are parsed once, from a copy of the text in
//! which the task tables are blanked out (so every span is the file's own).
//!
//! This is only a faster way to the same result: whenever the file is unusual in any way (a
//! syntax error anywhere, a task's tables in two places, `tasks` written as a table or with
//! dotted keys, a header the scan in [`super::sections`] does not follow) [`build`] returns
//! `None` and the caller reads the whole document, which gives today's findings exactly.

use std::ops::Range;
use std::sync::mpsc::{self, Receiver, SyncSender};

use rayon::prelude::*;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Findings;
use super::plain_tables;
use super::raw::{RawManifest, RawTask};
use super::sections::{Owner, Section, sections};
use super::spanned::{FromToml, Sp};
use super::validate::{self, Origin, RawTaskPiece};
use crate::names::{NameMap, name_map};
use crate::workflow::Workflow;

/// Task tables parsed together: big enough that one parse is not mostly overhead, small enough
/// that their tree is a few hundred kilobytes.
const BATCH_BYTES: usize = 64 * 1024;

/// Batches parsed at once, in parallel; as many more may wait, parsed, to be built into tasks.
const BATCHES_AT_ONCE: usize = 8;

/// The workflow of `origin.text` and every finding of its conversion and validation, as the
/// whole-document reading would give them (before syntax findings are refined and everything
/// is sorted); `None` when this way does not apply.
///
/// A piece's conversion findings are added just before its tasks are built, not all of them
/// before any task as in the whole reading: after the final sort by offset the two lists are the
/// same, since a finding about one task's tables never shares an offset with one about another
/// task's, and the checks that look at earlier findings (`has_errors`) run after every piece
/// (but the one for a manifest without tasks, which only matters when there is no piece).
pub fn build(origin: &Origin<'_>) -> Option<(Option<Workflow>, Findings)> {
    let text = origin.text;
    let sections = sections(text)?;
    let Plan {
        rest,
        batches,
        tasks,
    } = Plan::of(text, &sections);
    std::thread::scope(|scope| {
        // The batches are parsed on another thread (and, from there, on the thread pool) while
        // this one reads the rest and builds the tasks of the batches parsed before: building
        // is sequential, and would otherwise leave the other core idle.
        let (parsed, received) = mpsc::sync_channel(BATCHES_AT_ONCE);
        scope.spawn(move || parse_batches(text, &batches, &parsed));
        // Meanwhile a third thread looks for a task whose tables are in two places (rare):
        // then the pieces are not the file's tasks, and what was built is dropped.
        let scattered = scope.spawn(move || has_scattered_task(&sections));
        // What the batches were parsed into is freed on a thread of its own once their tasks
        // are built. Freed here, the parser threads' memory would be reused (through the
        // allocator's per-thread cache) for the tasks this thread builds, which would then sit
        // among the parser's freed temporaries, keeping their pages: a long run would hold
        // megabytes it does not use.
        let (retire, spent) = mpsc::channel::<Vec<_>>();
        scope.spawn(move || spent.into_iter().for_each(drop));
        let (raw, mut findings) = read_rest(&rest)?;
        drop(rest);
        let mut pieces = Pieces {
            received,
            failed: false,
        };
        let workflow = validate::build(
            raw,
            &mut pieces,
            |piece| drop(retire.send(piece)),
            tasks,
            origin,
            &mut findings,
        );
        drop(retire);
        // A panic there is a bug: reading the whole document is still right.
        let scattered = scattered.join().unwrap_or(true);
        // Dropping the receiver stops the parsing thread at its next batch, if it is not done.
        (!pieces.failed && !scattered).then_some((workflow, findings))
    })
}

/// Parses `batches` of `text` a few at a time, in parallel, and sends each in order, `None` for
/// the first with a syntax error (and then stops); stops too when nobody receives any more.
fn parse_batches(text: &str, batches: &[Range<usize>], parsed: &SyncSender<Option<Batch>>) {
    for group in batches.chunks(BATCHES_AT_ONCE) {
        let batches: Vec<Option<Batch>> = group
            .par_iter()
            .map(|range| Batch::parse(text, range.clone()))
            .collect();
        for batch in batches {
            let failed = batch.is_none();
            if parsed.send(batch).is_err() || failed {
                return;
            }
        }
    }
}

/// The batches of task tables, in order, as the parsing thread sends them.
struct Pieces {
    received: Receiver<Option<Batch>>,
    /// A batch had a syntax error: what was handed out is not the file's content.
    failed: bool,
}

impl Iterator for Pieces {
    type Item = RawTaskPiece;

    fn next(&mut self) -> Option<RawTaskPiece> {
        if self.failed {
            return None;
        }
        match self.received.recv() {
            Ok(Some(batch)) => Some((batch.tasks, batch.findings)),
            Ok(None) => {
                self.failed = true;
                None
            }
            // Every batch was sent (had the thread panicked, the scope would panic too).
            Err(_) => None,
        }
    }
}

/// Where the pieces are.
struct Plan {
    /// The text up to the end of the last table that is not a task's, task tables blanked.
    rest: String,
    /// Runs of consecutive task tables, each parsed on its own.
    batches: Vec<Range<usize>>,
    /// How many tasks the batches hold.
    tasks: usize,
}

impl Plan {
    /// The pieces of `text`. A task whose tables are in two places would be split between
    /// them: [`has_scattered_task`] tells.
    fn of(text: &str, sections: &[Section<'_>]) -> Self {
        let preamble_end = sections.first().map_or(text.len(), |s| s.range.start);
        let mut rest_end = preamble_end;
        let mut batches: Vec<Range<usize>> = Vec::new();
        let mut tasks = 0;
        let mut previous: Option<Owner<'_>> = None;
        for section in sections {
            match section.owner {
                Owner::Rest => rest_end = section.range.end,
                Owner::Task(_) => {
                    let same_task = previous == Some(section.owner);
                    tasks += usize::from(!same_task);
                    match batches.last_mut() {
                        Some(batch)
                            if matches!(previous, Some(Owner::Task(_)))
                                && (same_task || batch.len() < BATCH_BYTES) =>
                        {
                            batch.end = section.range.end;
                        }
                        _ => batches.push(section.range.clone()),
                    }
                }
            }
            previous = Some(section.owner);
        }
        let mut rest = String::with_capacity(rest_end);
        let mut copied = 0;
        for section in sections {
            if section.range.start >= rest_end {
                break;
            }
            if matches!(section.owner, Owner::Task(_)) {
                rest.push_str(&text[copied..section.range.start]);
                blank(&mut rest, &text[section.range.clone()]);
                copied = section.range.end;
            }
        }
        rest.push_str(&text[copied..rest_end]);
        Plan {
            rest,
            batches,
            tasks,
        }
    }
}

/// True if some task's tables are not all in one place (another table between them).
fn has_scattered_task(sections: &[Section<'_>]) -> bool {
    let mut seen: NameMap<&str, ()> = name_map(sections.len());
    let mut previous: Option<Owner<'_>> = None;
    for section in sections {
        if let Owner::Task(name) = section.owner
            && previous != Some(section.owner)
            && seen.insert(name, ()).is_some()
        {
            return true;
        }
        previous = Some(section.owner);
    }
    false
}

/// Appends `text` with every character but line breaks replaced by spaces, byte for byte.
fn blank(out: &mut String, text: &str) {
    out.extend(
        text.bytes()
            .map(|byte| if byte == b'\n' { '\n' } else { ' ' }),
    );
}

/// The tasks of one batch and the findings of their conversion.
struct Batch {
    tasks: Vec<(Sp<String>, RawTask)>,
    findings: Findings,
}

impl Batch {
    /// Reads the task tables at `range` of `text`; `None` on any syntax error.
    fn parse(text: &str, range: Range<usize>) -> Option<Self> {
        let tasks = plain_tables::read(text, range.clone())
            .or_else(|| plain_tables::parsed(text, range))?;
        let mut batch = Batch {
            tasks: Vec::with_capacity(tasks.len()),
            findings: Findings::new(),
        };
        // As `Named::from_toml` does for the whole document.
        for (name, value) in tasks {
            let span = name.span();
            if let Some(task) = RawTask::from_toml(value, &mut batch.findings) {
                batch
                    .tasks
                    .push((Sp::new(name.into_inner().into_owned(), span), task));
            }
        }
        Some(batch)
    }
}

/// The tables that are not tasks', from the blanked text; `None` on a syntax error or when
/// `tasks` is defined there (`[tasks]`, `tasks.a.run = …`, `tasks = { … }`).
fn read_rest(rest: &str) -> Option<(RawManifest, Findings)> {
    let (document, errors) = DeTable::parse_recoverable(rest);
    if !errors.is_empty() || document.get_ref().contains_key("tasks") {
        return None;
    }
    let mut findings = Findings::new();
    let span = document.span();
    let document = Spanned::new(span, DeValue::Table(document.into_inner()));
    let raw = RawManifest::from_toml(document, &mut findings)?;
    Some((raw, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Option<Plan> {
        Some(Plan::of(text, &sections(text)?))
    }

    fn scattered(text: &str) -> bool {
        has_scattered_task(&sections(text).expect("sections"))
    }

    #[test]
    fn the_rest_keeps_its_offsets_and_ends_with_its_last_table() {
        let text =
            "jobs = 1\n[tasks.a]\nrun = \"x\"\n[workflow]\nname = \"w\"\n[tasks.b]\nrun = \"y\"\n";
        let plan = plan(text).expect("plain");
        let workflow = text.find("[workflow]").expect("workflow");
        assert_eq!(plan.rest.len(), text.find("[tasks.b]").expect("b"));
        assert_eq!(&plan.rest[workflow..], &text[workflow..plan.rest.len()]);
        assert_eq!(&plan.rest[..9], "jobs = 1\n");
        assert!(plan.rest[9..workflow].trim().is_empty());
        assert_eq!(plan.rest[9..workflow].matches('\n').count(), 2);
        assert_eq!(plan.batches.len(), 2);
    }

    #[test]
    fn a_task_in_two_places_is_not_split() {
        assert!(scattered("[tasks.a]\n[tasks.b]\n[tasks.a.env]\n"));
        assert!(scattered("[tasks.a]\n[locks]\n[tasks.a.env]\n"));
        assert!(!scattered("[tasks.a]\n[tasks.a.env]\n[tasks.b]\n"));
        let origin = Origin {
            path: std::path::Path::new("wf.toml"),
            root: std::path::Path::new("/project"),
            text: "[tasks.a]\nrun = \"x\"\n[tasks.b]\nrun = \"y\"\n[tasks.a.env]\nA = \"1\"\n",
        };
        assert!(build(&origin).is_none());
    }

    #[test]
    fn consecutive_tasks_share_a_batch() {
        let text = "[tasks.a]\nrun = \"x\"\n[tasks.a.env]\nA = \"1\"\n[tasks.b]\nrun = \"y\"\n";
        let plan = plan(text).expect("plain");
        assert_eq!(plan.batches, vec![0..text.len()]);
        assert!(plan.rest.is_empty());
    }
}
