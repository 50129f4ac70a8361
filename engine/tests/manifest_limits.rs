//! Limits of manifest reading: matrix size, NUL bytes, colliding matrix keys, bytes that are not
//! UTF-8, and the time that many findings or many files take to check.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use miette::Diagnostic;
use wf_engine::manifest::DEFAULT_MAX_EXPANSIONS;
use wf_engine::{Loaded, ManifestError, SourceFile, parse};

fn check(text: &str) -> Loaded {
    parse(SourceFile::new("wf.toml", text), Path::new("/project"))
}

fn codes(loaded: &Loaded) -> Vec<String> {
    loaded
        .findings
        .iter()
        .map(|f| f.code().map(|c| c.to_string()).unwrap_or_default())
        .collect()
}

/// The text a finding's primary label covers.
fn primary_text<'a>(loaded: &'a Loaded, finding: &ManifestError) -> &'a str {
    let label = finding
        .labels()
        .and_then(|mut l| l.next())
        .expect("a located finding");
    &loaded.source.text[label.offset()..label.offset() + label.len()]
}

#[test]
fn two_to_the_sixty_four_expansions_are_refused_before_expanding() {
    let mut text = String::from("[tasks.t]\nrun = \"true\"\nmatrix = { ");
    for i in 0..64 {
        let _ = write!(text, "k{i} = [0, 1], ");
    }
    text.push_str("}\n");
    let text = text.replace(", }", " }");
    assert!(text.len() < 1_000);
    let started = Instant::now();
    let loaded = check(&text);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(loaded.workflow.is_none());
    assert_eq!(codes(&loaded), ["wf::matrix_too_large"]);
    let message = loaded.findings[0].to_string();
    assert!(
        message.contains(&u64::MAX.to_string()) && message.contains("5000000"),
        "{message}"
    );
    assert!(primary_text(&loaded, &loaded.findings[0]).starts_with("{ k0 = [0, 1]"));
    assert_eq!(DEFAULT_MAX_EXPANSIONS, 5_000_000);
}

#[test]
fn max_expansions_sets_the_limit_for_the_whole_manifest() {
    let at_limit = "[workflow]\nmax_expansions = 4\n\n[tasks.t]\nrun = \"true\"\nmatrix = { a = [1, 2], b = [1, 2] }\n";
    assert!(check(at_limit).workflow.is_some());

    let over = at_limit.replace("b = [1, 2]", "b = [1, 2, 3]");
    let loaded = check(&over);
    assert_eq!(codes(&loaded), ["wf::matrix_too_large"]);
    assert!(
        loaded.findings[0]
            .to_string()
            .contains("expands to 6 tasks")
    );

    // Plain tasks count one each; the matrix that goes over the limit is the one reported.
    let with_plain = "[workflow]\nmax_expansions = 4\n\n[tasks.a]\nrun = \"true\"\n\n[tasks.b]\nrun = \"true\"\n\n[tasks.t]\nrun = \"true\"\nmatrix = [{ x = 1 }, { x = 2 }, { x = 3 }]\n";
    let loaded = check(with_plain);
    assert_eq!(codes(&loaded), ["wf::matrix_too_large"]);
    let message = loaded.findings[0].to_string();
    assert!(
        message.contains("brings the manifest to 5 tasks"),
        "{message}"
    );
    assert!(primary_text(&loaded, &loaded.findings[0]).starts_with("[{ x = 1 }"));

    let zero = check("[workflow]\nmax_expansions = 0\n[tasks.a]\nrun = \"true\"\n");
    assert_eq!(codes(&zero), ["wf::out_of_range"]);
}

#[test]
fn a_refused_matrix_does_not_cascade_into_other_findings() {
    let text = "[workflow]\nmax_expansions = 2\n\n[tasks.t]\nrun = \"echo {{ matrix.a }}\"\nmatrix = { a = [1, 2, 3] }\n\n[tasks.after]\nrun = \"true\"\ndeps = [\"t\"]\n";
    assert_eq!(codes(&check(text)), ["wf::matrix_too_large"]);
}

#[test]
#[ignore = "expands a million tasks: run with --ignored"]
fn a_thousand_by_thousand_matrix_is_accepted() {
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let list = values.join(", ");
    let text = format!("[tasks.t]\nrun = \"true\"\nmatrix = {{ a = [{list}], b = [{list}] }}\n");
    let loaded = check(&text);
    assert_eq!(loaded.workflow.map(|w| w.tasks.len()), Some(1_000_000));
}

#[test]
fn nul_bytes_are_refused_where_a_process_or_path_would_get_them() {
    let text = r#"[workflow]
shell = ["sh\u0000", "-c"]
env = { W = "w\u0000" }

[defaults]
cwd = "d\u0000"

[tasks.a]
run = ["printf", "x\u0000y"]
cwd = "sub\u0000"
env = { MODE = "fast\u0000" }
inputs = ["in\u0000"]
outputs = ["out\u0000"]

[tasks.b]
run = "echo \u0000"
matrix = { k = ["v\u0000"] }
"#;
    let loaded = check(text);
    assert!(loaded.workflow.is_none());
    let nul: Vec<&ManifestError> = loaded
        .findings
        .iter()
        .filter(|f| matches!(f, ManifestError::NulByte { .. }))
        .collect();
    assert_eq!(nul.len(), 10, "{:#?}", loaded.findings);
    for finding in nul {
        assert!(
            primary_text(&loaded, finding).contains("\\u0000"),
            "{finding}"
        );
    }
}

#[test]
fn matrix_keys_that_set_the_same_variable_are_refused() {
    let text = "[tasks.t]\nrun = \"true\"\nmatrix = { lr = [1], LR = [2] }\n\n[tasks.r]\nrun = \"true\"\nmatrix = [{ ab = 1 }, { aB = 2 }]\n";
    let loaded = check(text);
    assert_eq!(
        codes(&loaded),
        ["wf::matrix_key_collision", "wf::matrix_key_collision"]
    );
    let message = loaded.findings[0].to_string();
    assert!(
        message.contains("`lr`") && message.contains("`LR`") && message.contains("WF_MATRIX_LR")
    );
    assert_eq!(primary_text(&loaded, &loaded.findings[0]), "LR");
    assert_eq!(primary_text(&loaded, &loaded.findings[1]), "aB");
}

#[test]
fn a_manifest_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wf.toml");
    std::fs::write(&path, b"[tasks.a]\nrun = \"echo caf\xe9\"\n").expect("write");
    let loaded = wf_engine::load(&path).expect("readable");
    assert!(loaded.workflow.is_none());
    match &loaded.findings[..] {
        [
            ManifestError::InvalidUtf8 {
                byte,
                line,
                column,
                offset,
                ..
            },
        ] => {
            assert_eq!((*byte, *line, *column, *offset), (0xe9, 2, 16, 25));
        }
        other => panic!("{other:#?}"),
    }
    let at = loaded.source.line_col(loaded.findings[0].offset());
    assert_eq!((at.line, at.column), (2, 16));
}

#[test]
fn ten_thousand_unknown_dependencies_are_located_quickly() {
    let mut text = String::new();
    for i in 0..10_000 {
        let _ = write!(
            text,
            "[tasks.task{i}]\nrun = \"true\"\ndeps = [\"missing{i}\"]\n\n"
        );
    }
    let started = Instant::now();
    let loaded = check(&text);
    let located: Vec<_> = loaded
        .findings
        .iter()
        .map(|f| loaded.source.line_col(f.offset()))
        .collect();
    let elapsed = started.elapsed();
    assert_eq!(located.len(), 10_000);
    assert_eq!(located[9_999].line, 4 * 9_999 + 3);
    eprintln!("10,000 unknown dependencies: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn eight_thousand_writers_against_a_glob_input_are_checked_quickly() {
    let mut text = String::from("[tasks.reader]\nrun = \"true\"\ninputs = [\"**/*\"]\n\n");
    for i in 0..8_000 {
        let _ = write!(
            text,
            "[tasks.w{i}]\nrun = \"true\"\noutputs = [\"out/{i}.txt\"]\n\n"
        );
    }
    let started = Instant::now();
    let loaded = check(&text);
    let elapsed = started.elapsed();
    assert_eq!(loaded.findings.len(), 8_000);
    eprintln!("8,000 writers against **/*: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn writers_of_one_file_in_a_chain_do_not_race() {
    let mut text = String::new();
    for i in 0..2_000 {
        let deps = if i == 0 {
            String::new()
        } else {
            format!("deps = [\"w{}\"]\n", i - 1)
        };
        let _ = write!(
            text,
            "[tasks.w{i}]\nrun = \"true\"\n{deps}outputs = [\"same.txt\"]\n\n"
        );
    }
    let started = Instant::now();
    let loaded = check(&text);
    assert!(loaded.workflow.is_some(), "{:#?}", loaded.findings.first());
    assert!(started.elapsed() < Duration::from_secs(10));
    // One writer outside the chain races with it.
    let text = format!("{text}[tasks.stray]\nrun = \"true\"\noutputs = [\"same.txt\"]\n");
    let loaded = check(&text);
    assert_eq!(codes(&loaded), ["wf::output_race"]);
}

#[test]
fn a_chain_of_fifty_thousand_tasks_validates() {
    let mut text = String::from("[tasks.t0]\nrun = \"true\"\n");
    for i in 1..50_000 {
        let _ = write!(
            text,
            "[tasks.t{i}]\nrun = \"true\"\ndeps = [\"t{}\"]\n",
            i - 1
        );
    }
    let started = Instant::now();
    let loaded = check(&text);
    let workflow = loaded.workflow.expect("valid");
    assert_eq!(workflow.dag.topological_order().len(), 50_000);
    eprintln!("50,000-task chain: {:?}", started.elapsed());
}

#[test]
fn dependency_findings_of_many_tasks_come_in_task_order_and_matrices_share_their_deps() {
    // Ten thousand tasks (several blocks of the parallel lookup), each after the one before,
    // with mistakes here and there and a matrix whose expansions straddle a block boundary.
    let mut text = String::from("[tasks.t0]\nrun = \"true\"\n");
    for i in 1..10_000 {
        let deps = match i {
            100 => "\"t100\"".to_owned(),
            5_000 => "\"nope\", \"t4999\"".to_owned(),
            5_001 => "\"t5000\", \"t5001\"".to_owned(),
            9_000 => "\"zzz\", \"t9000\", \"m[k=1]\"".to_owned(),
            _ => format!("\"t{}\"", i - 1),
        };
        let _ = write!(text, "[tasks.t{i}]\nrun = \"true\"\ndeps = [{deps}]\n");
        if i == 4_094 {
            text.push_str(
                "[tasks.m]\nrun = [\"true\", \"{{ matrix.k }}\"]\n\
                 matrix = { k = [\"1\", \"2\", \"3\", \"4\"] }\ndeps = [\"t7\", \"t3\"]\n",
            );
        }
    }
    let loaded = check(&text);
    let found: Vec<(String, &str)> = loaded
        .findings
        .iter()
        .map(|f| {
            let code = f.code().map(|c| c.to_string()).unwrap_or_default();
            (code, primary_text(&loaded, f))
        })
        .collect();
    let expected = [
        ("wf::self_dependency", "\"t100\""),
        ("wf::unknown_dependency", "\"nope\""),
        ("wf::self_dependency", "\"t5001\""),
        ("wf::unknown_dependency", "\"zzz\""),
        ("wf::self_dependency", "\"t9000\""),
    ];
    let expected: Vec<(String, &str)> = expected
        .iter()
        .map(|(code, text)| ((*code).to_owned(), *text))
        .collect();
    assert_eq!(found, expected);

    // The same manifest without the mistakes is valid, and every expansion has the deps.
    let fixed = text
        .replace("deps = [\"t100\"]", "deps = [\"t99\"]")
        .replace("\"nope\", ", "")
        .replace(", \"t5001\"", "")
        .replace("\"zzz\", \"t9000\", ", "\"t8999\", ");
    let loaded = check(&fixed);
    assert!(loaded.findings.is_empty(), "{:?}", codes(&loaded));
    let workflow = loaded.workflow.expect("valid");
    let id = |name: &str| {
        workflow
            .tasks
            .iter()
            .position(|t| t.name == name)
            .expect(name)
    };
    for k in 1..=4 {
        let deps: Vec<_> = workflow.deps(id(&format!("m[k={k}]"))).collect();
        assert_eq!(deps, [id("t3"), id("t7")]);
    }
    assert_eq!(
        workflow.deps(id("t9000")).collect::<Vec<_>>(),
        [id("m[k=1]"), id("t8999")]
    );
}
