use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::manifest::{SourceFile, parse};
use crate::state::records::Success;
use crate::state::why::{Reason, explain};

fn workflow(root: &Path, text: &str) -> Workflow {
    let loaded = parse(SourceFile::new(root.join("wf.toml"), text), root);
    loaded
        .workflow
        .unwrap_or_else(|| panic!("invalid: {:?}", loaded.findings))
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
}

fn age(root: &Path, name: &str) {
    let old = SystemTime::now() - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(root.join(name))
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
}

fn all(w: &Workflow) -> Vec<bool> {
    vec![true; w.tasks.len()]
}

fn digests(w: &Workflow) -> Vec<String> {
    let fps = fingerprint_tasks(w, &all(w), &mut FileCache::new()).expect("fingerprints");
    fps.tasks
        .into_iter()
        .map(|fp| fp.expect("selected").digest.to_string())
        .collect()
}

fn code(error: &FingerprintError) -> String {
    miette::Diagnostic::code(error)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

const PIPELINE: &str = r#"
[tasks.fetch]
run = "fetch"
outputs = ["data/raw.csv"]

[tasks.clean]
run = "clean"
deps = ["fetch"]
inputs = ["data/raw.csv", "data/*.csv"]
outputs = ["data/clean.csv"]
"#;

#[test]
fn is_stable_and_a_function_of_its_parts() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "data/raw.csv", "1,a\n");
    let w = workflow(dir.path(), PIPELINE);
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let clean = fps.tasks[1].as_ref().expect("clean");
    // The parts in full, as a success stores them, make the same digest.
    let parts = fps.parts(&w, 1).expect("clean's parts");
    assert_eq!(clean.digest, parts.digest());
    assert_eq!(clean.digest.to_string().len(), 64);
    assert_eq!(&*parts.command, clean.own.command.to_hex().as_str());
    assert_eq!(parts.inputs, clean.own.inputs);
    // Listed twice (literally and by the glob), hashed and recorded once.
    assert_eq!(
        parts.inputs,
        vec![(
            "data/raw.csv".to_owned(),
            blake3::hash(b"1,a\n").to_hex().to_string()
        )]
    );
    assert_eq!(fps.stats.files, 1);
    let fetch = fps.digest(0).expect("fetch");
    assert_eq!(
        parts.deps,
        vec![("fetch".into(), fetch.to_hex().as_str().into())]
    );
    assert_eq!(&*parts.cwd, &*dir.path().to_string_lossy());
    assert_eq!(digests(&w), digests(&w));
}

#[test]
fn input_content_changes_the_task_and_its_dependents() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "data/raw.csv", "1,a\n");
    let text = format!("{PIPELINE}\n[tasks.stats]\nrun = \"stats\"\ndeps = [\"clean\"]\n");
    let w = workflow(dir.path(), &text);
    let before = digests(&w);
    write(dir.path(), "data/raw.csv", "1,b\n");
    let after = digests(&w);
    assert_eq!(before[0], after[0], "fetch has no inputs");
    assert_ne!(before[1], after[1], "clean reads the file");
    assert_ne!(before[2], after[2], "stats depends on clean");
}

#[test]
fn outputs_do_not_count_but_command_env_and_shell_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = digests(&workflow(
        dir.path(),
        "[tasks.a]\nrun = \"x\"\noutputs = [\"o1\"]\n",
    ));
    let other_outputs = digests(&workflow(
        dir.path(),
        "[tasks.a]\nrun = \"x\"\noutputs = [\"o2\"]\n",
    ));
    assert_eq!(base, other_outputs);
    let other_command = digests(&workflow(dir.path(), "[tasks.a]\nrun = \"y\"\n"));
    assert_ne!(base, other_command);
    let with_env = digests(&workflow(
        dir.path(),
        "[workflow]\nenv = { A = \"1\" }\n[tasks.a]\nrun = \"x\"\n",
    ));
    assert_ne!(base, with_env);
    let other_shell = digests(&workflow(
        dir.path(),
        "[workflow]\nshell = [\"bash\", \"-c\"]\n[tasks.a]\nrun = \"x\"\n",
    ));
    assert_ne!(base, other_shell, "a string command runs in the shell");
    let argv = "[tasks.a]\nrun = [\"x\"]\n";
    let argv_shell = "[workflow]\nshell = [\"bash\", \"-c\"]\n[tasks.a]\nrun = [\"x\"]\n";
    assert_eq!(
        digests(&workflow(dir.path(), argv)),
        digests(&workflow(dir.path(), argv_shell)),
        "an argv command does not use the shell"
    );
}

#[test]
fn fields_are_framed_so_concatenations_do_not_collide() {
    let shell: Vec<String> = Vec::new();
    let split = |parts: &[&str]| Command::Argv(parts.iter().map(|s| (*s).to_owned()).collect());
    assert_ne!(
        command_digest(&split(&["ab", "c"]), &shell),
        command_digest(&split(&["a", "bc"]), &shell)
    );
    let pair = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    let none: &[(String, String)] = &[];
    assert_ne!(
        pairs_digest(&pair("A", "BC"), none),
        pairs_digest(&pair("AB", "C"), none)
    );
    assert_ne!(
        pairs_digest(&pair("A", "1"), none),
        pairs_digest(&[], &pair("A", "1"))
    );
}

#[test]
fn a_missing_input_is_marked_and_its_appearance_changes_the_fingerprint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "[tasks.a]\nrun = \"x\"\ninputs = [\"in/*.txt\", \"config.ini\"]\n";
    let w = workflow(dir.path(), text);
    let mut cache = FileCache::new();
    let first = fingerprint_tasks(&w, &all(&w), &mut cache).expect("fingerprints");
    let first = first.tasks[0].clone().expect("a");
    assert_eq!(
        first.own.inputs,
        vec![
            ("config.ini".to_owned(), MISSING.to_owned()),
            ("in/*.txt".to_owned(), MISSING.to_owned()),
        ]
    );
    write(dir.path(), "in/b.txt", "b");
    write(dir.path(), "in/a.txt", "a");
    write(dir.path(), "in/.hidden.txt", "h");
    let second = fingerprint_tasks(&w, &all(&w), &mut cache).expect("fingerprints");
    let second = second.tasks[0].clone().expect("a");
    assert_ne!(first.digest, second.digest);
    let paths: Vec<&str> = second.own.inputs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["config.ini", "in/a.txt", "in/b.txt"]);

    let success = Success {
        task: "a".to_owned(),
        run_id: "r".to_owned(),
        fingerprint: first.digest.to_string(),
        parts: Some(first.parts(&w, 0, &|_| None)),
        outputs: vec![],
        finished_at_ms: 0,
        duration_s: None,
    };
    assert_eq!(
        explain(
            &second.digest,
            || second.parts(&w, 0, &|_| None),
            Some(&success),
            &[]
        ),
        Reason::InputAdded("in/a.txt".to_owned())
    );
}

#[test]
fn a_literal_folder_stands_for_its_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "src/main.rs", "fn main() {}");
    write(dir.path(), "src/deep/lib.rs", "");
    let w = workflow(dir.path(), "[tasks.a]\nrun = \"x\"\ninputs = [\"src\"]\n");
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let paths: Vec<String> = fps.tasks[0]
        .as_ref()
        .expect("a")
        .own
        .inputs
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(paths, ["src/deep/lib.rs", "src/main.rs"]);
}

#[test]
fn a_cwd_with_glob_characters_is_taken_literally() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "[x]/a.txt", "a");
    write(dir.path(), "x/b.txt", "b");
    let w = workflow(
        dir.path(),
        "[tasks.a]\nrun = \"x\"\ncwd = \"[x]\"\ninputs = [\"*.txt\"]\n",
    );
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let inputs = &fps.tasks[0].as_ref().expect("a").own.inputs;
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].0, "[x]/a.txt");
}

#[test]
fn only_selected_tasks_and_their_deps_are_fingerprinted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "[tasks.a]\nrun = \"a\"\n[tasks.b]\nrun = \"b\"\ndeps = [\"a\"]\n\
                [tasks.c]\nrun = \"c\"\n";
    let w = workflow(dir.path(), text);
    let fps =
        fingerprint_tasks(&w, &[false, true, false], &mut FileCache::new()).expect("fingerprints");
    assert!(fps.tasks[0].is_some(), "dep of a selected task");
    assert!(fps.tasks[1].is_some());
    assert!(fps.tasks[2].is_none());
}

#[test]
fn settled_files_are_read_once_then_come_from_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["d/1.bin", "d/2.bin"] {
        write(dir.path(), name, "0123456789");
        age(dir.path(), name);
    }
    let w = workflow(
        dir.path(),
        "[tasks.a]\nrun = \"x\"\ninputs = [\"d/*.bin\"]\n",
    );
    let mut cache = FileCache::new();
    let cold = fingerprint_tasks(&w, &all(&w), &mut cache).expect("cold");
    assert_eq!(cold.stats.bytes_read, 20);
    assert_eq!(cold.stats.cache_hits, 0);
    assert_eq!(cache.changed_count(), 2);
    let warm = fingerprint_tasks(&w, &all(&w), &mut cache).expect("warm");
    assert_eq!(warm.stats.bytes_read, 0);
    assert_eq!(warm.stats.cache_hits, 2);
    assert_eq!(cold.tasks[0], warm.tasks[0]);

    // Same size, new mtime: read again, and the new content counts.
    write(dir.path(), "d/1.bin", "9876543210");
    let changed = fingerprint_tasks(&w, &all(&w), &mut cache).expect("changed");
    assert_eq!(changed.stats.bytes_read, 10);
    assert_ne!(changed.tasks[0], warm.tasks[0]);
}

#[test]
fn an_unreadable_input_names_the_task_and_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Reading a process's own memory at offset 0 fails with EIO even for root, for whom no
    // permission bit makes a file unreadable.
    let w = workflow(
        dir.path(),
        "[tasks.load]\nrun = \"x\"\ninputs = [\"/proc/self/mem\"]\n",
    );
    let error = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect_err("unreadable");
    assert_eq!(code(&error), "wf::input_unreadable");
    let message = error.to_string();
    assert!(
        message.contains("load") && message.contains("/proc/self/mem"),
        "{message}"
    );

    use std::os::unix::fs::PermissionsExt;
    write(dir.path(), "secret.txt", "s");
    let path = dir.path().join("secret.txt");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // Root reads it anyway; the check above covers that case.
    if File::open(&path).is_err() {
        let w = workflow(
            dir.path(),
            "[tasks.s]\nrun = \"x\"\ninputs = [\"secret.txt\"]\n",
        );
        let error = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect_err("denied");
        assert_eq!(code(&error), "wf::input_unreadable");
        assert!(error.to_string().contains("secret.txt"), "{error}");
    }
}

#[test]
fn inputs_are_read_without_fingerprints_with_the_same_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "in.txt", "data");
    let w = workflow(
        dir.path(),
        "[tasks.a]\nrun = \"x\"\ninputs = [\"in.txt\"]\n[tasks.b]\nrun = \"x\"\ndeps = [\"a\"]\n",
    );
    let read = read_task_inputs(&w, &all(&w), &mut FileCache::new()).expect("readable");
    assert!(read.tasks.is_empty() && read.digest(0).is_none());
    assert_eq!(read.stats.bytes_read, 4);
    let w = workflow(
        dir.path(),
        "[tasks.load]\nrun = \"x\"\ninputs = [\"/proc/self/mem\"]\n",
    );
    let error = read_task_inputs(&w, &all(&w), &mut FileCache::new()).expect_err("unreadable");
    assert_eq!(code(&error), "wf::input_unreadable");
}

#[test]
fn an_invalid_glob_is_an_error() {
    // `wf validate` rejects such a pattern; a workflow built another way must still not panic.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut w = workflow(dir.path(), "[tasks.a]\nrun = \"x\"\ninputs = [\"a/*\"]\n");
    w.tasks[0].inputs = vec!["a/***".to_owned()];
    let error = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect_err("invalid");
    assert_eq!(code(&error), "wf::invalid_input_pattern");
    assert!(error.to_string().contains("a/***"), "{error}");
}

#[test]
fn one_task_fingerprinted_again_matches_the_whole_workflows_and_follows_its_deps() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "data/raw.csv", "1,a\n");
    let w = workflow(dir.path(), PIPELINE);
    let mut cache = FileCache::new();
    let fps = fingerprint_tasks(&w, &all(&w), &mut cache).expect("fingerprints");
    let again = fingerprint_one(&w, 1, &|dep| fps.digest(dep), &mut cache).expect("clean");
    assert_eq!(Some(&again), fps.tasks[1].as_ref());

    // A dep whose fingerprint changed during the run changes the task's, and its parts say so.
    let other = blake3::hash(b"fetch, run again");
    let moved = fingerprint_one(&w, 1, &|_| Some(other), &mut cache).expect("clean");
    assert_ne!(moved.digest, again.digest);
    let parts = moved.parts(&w, 1, &|_| Some(other));
    assert_eq!(parts.digest(), moved.digest);
    assert_eq!(&*parts.deps[0].1, other.to_hex().as_str());
}

/// The digests themselves never change between versions of wf unless the fingerprint encoding
/// does (`VERSION`): a changed value would make every stored task run again after an upgrade.
#[test]
fn digests_keep_their_values() {
    let text = r#"
[workflow]
env = { LANG = "C" }

[tasks.fetch]
run = ["curl", "-o", "raw.csv", "https://example.com/raw.csv"]
outputs = ["raw.csv"]

[tasks.clean]
run = "clean < raw.csv > clean.csv"
deps = ["fetch"]
env = { MODE = "strict" }
inputs = ["raw.csv"]
"#;
    let w = workflow(Path::new("/nonexistent-wf-project"), text);
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let hex = |id: TaskId| fps.digest(id).expect("fingerprinted").to_hex().to_string();
    assert_eq!(
        hex(0),
        "3f82effb0dffcd74bc0beef5d5fe72c8f4342d4df8fc8b6f17d584ce7bad401b"
    );
    assert_eq!(
        hex(1),
        "0fcec57b0fbbf0775a6ac937c16588e9da2171fa2d0375c894739000b7dbcb6d"
    );
    let parts = fps.parts(&w, 1).expect("clean's parts");
    assert_eq!(
        &*parts.command,
        "b1ce0d6a160632b224416b6e8c5da625fdc1384241b99fff932f9cd610a6fa7c"
    );
    assert_eq!(
        &*parts.env,
        "1f55da1889539d46fc9f3a8cd19a3b72a7fc1df04ae060afad9ebe16cedb7d03"
    );
}

/// A matrix expansion's environment digest covers its `WF_MATRIX_*` variables, which win over
/// a variable of the same name the manifest sets and come after the task's own, keys in the
/// order written: values stored by earlier versions stay valid.
#[test]
fn matrix_environment_digests_keep_their_values() {
    let text = r#"
[workflow]
env = { LANG = "C" }

[tasks.train]
run = "train --lr $WF_MATRIX_LR"
env = { WF_MATRIX_LR = "overridden", MODE = "fast", WF_MATRIX_SEEDS = "kept" }
matrix = { lr = ["0.1", "0.01"], seed = [1, 2] }

[tasks.pick]
run = "pick"
env = { Z = "last" }
matrix = [{ model = "a", size = "s" }, { model = "b", size = "l" }]
"#;
    let w = workflow(Path::new("/nonexistent-wf-project"), text);
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let env = |id: TaskId| fps.parts(&w, id).expect("parts").env.to_string();
    let all_env: Vec<String> = (0..w.tasks.len()).map(env).collect();
    assert_eq!(
        all_env,
        [
            "827225e6df687eb0a6468b6de66ccba87311195ab30542b5a33f66f69b9e91b9",
            "fb0d96e9e00640f78d707e3d95a2640d0770485008e95513687758b73111fcae",
            "bf19bd61b0f378f3500f974159f18ed7e95074babff7d02579ed1168e46be9eb",
            "2d917c2bcd8e96feda2c19015e26404451076e6d6ddf4790ca3a41da9ece1d51",
            "7e4d5c996f61cdb426f01e94246a3df142d0eca4efe245e65cfa8a72ab9904a3",
            "7e7f2b5e13bd9bdfadcd29b5da0ba18908f470ee06beda50991657b207f89ff8",
        ]
    );
}

#[test]
fn a_task_without_variables_of_its_own_has_the_workflows_environment_digest() {
    // The digest of such a task's environment is made once for all of them: it must be the
    // one `env_digest` makes for each (tasks with variables, or with a matrix, get their own).
    let dir = tempfile::tempdir().expect("temp dir");
    let w = workflow(
        dir.path(),
        "[workflow]\nenv = { A = '1' }\n\
         [tasks.plain]\nrun = 'x'\n\
         [tasks.own]\nrun = 'x'\nenv = { B = '2' }\n\
         [tasks.grid]\nrun = 'x'\nmatrix = { k = ['a', 'b'] }\n",
    );
    let fps = fingerprint_tasks(&w, &all(&w), &mut FileCache::new()).expect("fingerprints");
    let envs: Vec<Digest> = fps
        .tasks
        .iter()
        .map(|fp| fp.as_ref().expect("fingerprinted").own.env)
        .collect();
    for (task, env) in w.tasks.iter().zip(&envs) {
        assert_eq!(*env, env_digest(&w.env, task), "{}", task.name);
    }
    assert_ne!(envs[0], envs[1], "a variable of its own changes the digest");
    assert_ne!(envs[2], envs[3], "so does each matrix value");
}
