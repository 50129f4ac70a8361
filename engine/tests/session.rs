//! The session facade and the executor seam, driven as a library: a test double stands in
//! for the process pool, so these tests prove that the scheduler, the run and the report need
//! nothing of processes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wf_engine::exec::{
    AttemptEnd, AttemptRequest, AttemptResult, Executor, Placement, Recovered, RunContext,
};
use wf_engine::layout::marker::CrashedRun;
use wf_engine::report::TaskStatus;
use wf_engine::state::Freshness;
use wf_engine::{ExecutorKind, Intent, RunEvent, RunSettings, Session, Workflow};

/// Set by the observer of `a_finish_is_shown_while_other_tasks_still_run` when it sees `fast`
/// finish; the `waits*` tasks of [`Scripted`] end when it is.
static FAST_SEEN: AtomicBool = AtomicBool::new(false);

/// An executor that runs nothing: each task "exits" with the code its name asks for
/// (`fail*` → 1, anything else → 0), and every attempt is written down.
struct Scripted {
    context: RunContext,
    attempts: Mutex<Vec<(String, u32, usize)>>,
}

impl Executor for Scripted {
    type Slot = usize;
    const KIND: ExecutorKind = ExecutorKind::Local;

    fn start(context: RunContext) -> std::io::Result<Self> {
        Ok(Self {
            context,
            attempts: Mutex::new(Vec::new()),
        })
    }

    fn recover_crashed(_: &[CrashedRun], _: Duration) -> Vec<Recovered> {
        Vec::new()
    }

    fn slot(&self, worker: usize) -> usize {
        worker
    }

    fn run(&self, request: AttemptRequest, slot: &mut usize) -> AttemptResult {
        assert_eq!(
            request.worker, *slot,
            "an attempt runs on its worker's slot"
        );
        let name = self.context.workflow.tasks[request.task].name.clone();
        let mut code = i32::from(name.starts_with("fail"));
        if name.starts_with("waits") {
            // Ends once the observer has seen `fast` finish (fails after 5 s).
            let until = Instant::now() + Duration::from_secs(5);
            while !FAST_SEEN.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            code = i32::from(!FAST_SEEN.load(Ordering::SeqCst));
        }
        self.attempts
            .lock()
            .expect("attempts")
            .push((name, request.attempt, request.worker));
        let now = Instant::now();
        AttemptResult {
            started_at: Some(now),
            ended_at: now,
            end: AttemptEnd::Exited(code),
            log_bytes: 0,
            log: None,
            leftovers: 0,
            placement: Placement::Nowhere,
            usage: None,
        }
    }

    fn cancel_all(&self, _force: bool) {}

    fn reopen(&self) {}

    fn finish(&self, _cut_short: &mut dyn FnMut() -> bool) -> u32 {
        0
    }
}

fn session(dir: &Path, manifest: &str) -> Session {
    let path = dir.join("wf.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let loaded = wf_engine::load(&path).expect("readable");
    let workflow: Workflow = loaded.workflow.expect("valid manifest");
    Session::new(workflow)
}

#[test]
fn a_run_on_a_test_double_executor_follows_deps_retries_and_when() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = session(
        dir.path(),
        r#"
[workflow]
jobs = 2
keep_going = true
[tasks.a]
run = "x"
[tasks.b]
run = "x"
deps = ["a"]
[tasks.fail_once]
run = "x"
retries = 1
retry_delay = "10ms"
[tasks.after_failure]
run = "x"
deps = ["fail_once"]
[tasks.cleanup]
run = "x"
deps = ["fail_once"]
when = "always"
"#,
    );
    let selected = session.select(&[]).expect("all tasks");
    let plan = session
        .prepare(selected, Freshness::default(), Intent::Run)
        .expect("plan");
    let mut events = Vec::new();
    let report = session
        .run_with::<Scripted>(
            plan,
            &RunSettings::default(),
            &mut |_: &Workflow, event: RunEvent| events.push(format!("{event:?}")),
        )
        .expect("the run is carried out");
    let tasks = report.tasks.to_vec();
    let statuses: HashMap<&str, TaskStatus> =
        tasks.iter().map(|t| (t.name.as_str(), t.status)).collect();
    assert_eq!(statuses["a"], TaskStatus::Succeeded);
    assert_eq!(statuses["b"], TaskStatus::Succeeded);
    assert_eq!(statuses["fail_once"], TaskStatus::Failed);
    assert_eq!(statuses["after_failure"], TaskStatus::Skipped);
    assert_eq!(statuses["cleanup"], TaskStatus::Succeeded);
    let failed = tasks.iter().find(|t| t.name == "fail_once");
    assert_eq!(failed.map(|t| t.attempts), Some(2), "one retry");
    assert!(
        events.iter().any(|e| e.starts_with("Started")),
        "{events:?}"
    );
    assert!(
        dir.path()
            .join(".wf/runs")
            .join(&report.run_id)
            .join("report.json")
            .is_file(),
        "the run's report is written"
    );
}

/// Runs every task of `session` on [`Scripted`], per-task events on, each given to `observer`.
fn run_with_events(
    session: &Session,
    observer: &mut impl FnMut(&Workflow, RunEvent),
) -> wf_engine::report::RunReport {
    let selected = session.select(&[]).expect("all tasks");
    let plan = session
        .prepare(selected, Freshness::default(), Intent::Run)
        .expect("plan");
    let settings = RunSettings {
        task_events: true,
        ..RunSettings::default()
    };
    session
        .run_with::<Scripted>(plan, &settings, observer)
        .expect("the run is carried out")
}

/// Events reach the observer in the order they happened, every one of them, although tasks
/// that end in quick succession hand theirs over in batches: each task starts before it
/// finishes, and in a chain each task finishes before the next one starts.
#[test]
fn every_event_of_a_fast_run_reaches_the_observer_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut manifest = String::from("[workflow]\njobs = 2\n");
    for i in 0..300 {
        manifest.push_str(&format!("[tasks.c{i}]\nrun = \"x\"\n"));
        if i > 0 {
            manifest.push_str(&format!("deps = [\"c{}\"]\n", i - 1));
        }
        manifest.push_str(&format!("[tasks.i{i}]\nrun = \"x\"\n"));
    }
    let session = session(dir.path(), &manifest);
    let mut order: Vec<(&'static str, usize)> = Vec::new();
    let mut finished_last = false;
    let report = run_with_events(&session, &mut |_: &Workflow, event: RunEvent| {
        assert!(!finished_last, "an event after the run's end");
        match event {
            RunEvent::TaskStarted { task, .. } => order.push(("start", task)),
            RunEvent::TaskFinished { task, .. } => order.push(("finish", task)),
            RunEvent::Finished { .. } => finished_last = true,
            _ => {}
        }
    });
    assert!(finished_last);
    let tasks = report.tasks.len();
    assert_eq!(tasks, 600);
    let place = |kind: &str, task: usize| {
        let mut at = order
            .iter()
            .enumerate()
            .filter(|(_, e)| **e == (kind, task));
        let first = at.next().map(|(i, _)| i);
        assert!(at.next().is_none(), "{kind} of task {task} twice");
        first.unwrap_or_else(|| panic!("no {kind} of task {task}"))
    };
    for task in 0..tasks {
        assert!(place("start", task) < place("finish", task), "task {task}");
    }
    // The chain's tasks are every other id: c0 = 0, c1 = 2, …
    for link in 1..300 {
        assert!(
            place("finish", 2 * (link - 1)) < place("start", 2 * link),
            "c{link}"
        );
    }
}

/// Events are handed over while the run goes on, not kept for its end: a task that waits for
/// the observer to see another one finish ends.
#[test]
fn a_finish_is_shown_while_other_tasks_still_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut manifest = String::from("[workflow]\njobs = 2\n[tasks.waits]\nrun = \"x\"\n");
    // A burst of finishes first, so that `fast`'s comes while others wait to be handed over.
    for i in 0..50 {
        manifest.push_str(&format!("[tasks.burst{i}]\nrun = \"x\"\n"));
    }
    manifest.push_str("[tasks.fast]\nrun = \"x\"\n");
    let session = session(dir.path(), &manifest);
    let fast = session.workflow().task_named("fast").expect("fast");
    let report = run_with_events(&session, &mut |_: &Workflow, event: RunEvent| {
        if matches!(event, RunEvent::TaskFinished { task, .. } if task == fast) {
            FAST_SEEN.store(true, Ordering::SeqCst);
        }
    });
    let waits = report.tasks.iter().find(|t| t.name == "waits");
    assert_eq!(
        waits.map(|t| t.status),
        Some(TaskStatus::Succeeded),
        "`fast` was shown finished while `waits` ran"
    );
}

/// The bits of the signals this process catches (`SigCgt` in /proc/self/status).
fn caught_signals() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("SigCgt:"))
        .expect("SigCgt line");
    u64::from_str_radix(line["SigCgt:".len()..].trim(), 16).expect("hex mask")
}

#[test]
fn a_library_run_leaves_the_process_signal_handlers_alone_unless_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = session(dir.path(), "[tasks.a]\nrun = \"true\"\n");
    let sigint = 1u64 << (libc::SIGINT - 1);
    assert_eq!(caught_signals() & sigint, 0, "nothing catches SIGINT yet");
    let selected = session.select(&[]).expect("all");
    let plan = session
        .prepare(selected, Freshness::default(), Intent::Run)
        .expect("plan");
    let report = session
        .run(plan, &RunSettings::default(), &mut |_: &Workflow, _| {})
        .expect("run");
    assert_eq!(
        report.tasks.get(0).map(|t| t.status),
        Some(TaskStatus::Succeeded)
    );
    assert_eq!(
        caught_signals() & sigint,
        0,
        "a run that was not given the process installs no SIGINT handler"
    );
}

/// The reasons a plan of `manifest` (written in `dir`) gives, by task name.
fn reasons_of(dir: &Path, manifest: &str) -> HashMap<String, String> {
    let session = session(dir, manifest);
    let selected = session.select(&[]).expect("all tasks");
    let plan = session
        .prepare(selected, Freshness::default(), Intent::Preview)
        .expect("plan");
    let workflow = session.workflow();
    let names = workflow.tasks.iter().map(|t| t.name.clone());
    names
        .zip(&plan.reasons)
        .map(|(name, reason)| {
            let words = reason.as_ref().map(|r| r.in_words(workflow).to_string());
            (name, words.unwrap_or_default())
        })
        .collect()
}

#[test]
fn a_plan_says_what_changed_for_one_changed_task_and_for_all_of_them() {
    // Twenty tasks: one changed command is looked up alone, twenty are read in one pass over
    // the store's successes; both must find what went into the old fingerprints.
    let manifest = |command: &dyn Fn(usize) -> String| {
        (0..20)
            .map(|i| format!("[tasks.t{i}]\nrun = \"{}\"\n", command(i)))
            .collect::<String>()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let first = manifest(&|i| format!("x{i}"));
    let session = session(dir.path(), &first);
    let selected = session.select(&[]).expect("all tasks");
    let plan = session
        .prepare(selected, Freshness::default(), Intent::Run)
        .expect("plan");
    session
        .run_with::<Scripted>(plan, &RunSettings::default(), &mut |_: &Workflow, _| {})
        .expect("the run is carried out");

    let unchanged = reasons_of(dir.path(), &first);
    assert!(
        unchanged
            .values()
            .all(|r| r == "no outputs declared: runs every time"),
        "{unchanged:?}"
    );
    let one = reasons_of(
        dir.path(),
        &manifest(&|i| format!("x{i}{}", if i == 3 { "!" } else { "" })),
    );
    assert_eq!(one["t3"], "command changed", "{one:?}");
    assert!(
        one.iter()
            .all(|(name, r)| name == "t3" || r == "no outputs declared: runs every time"),
        "{one:?}"
    );
    let all = reasons_of(dir.path(), &manifest(&|i| format!("y{i}")));
    assert!(all.values().all(|r| r == "command changed"), "{all:?}");
}
