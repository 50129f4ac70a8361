//! A newcomer's first hour: `wf init`, `wf clean`, shell completions with task names, and a
//! no-op rebuild's up-to-date tasks on one line. (The man pages are checked in cli/src/man.rs.)

use std::path::Path;
use std::process::Command;

use crate::support::{Project, stderr_of, stdout_of, wf};

#[test]
fn init_writes_a_starter_manifest_that_passes_strict_validation_and_runs() {
    let project = Project::new();
    let output = project.wf(&["init"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("wrote wf.toml"));
    let text = project.read("wf.toml");
    assert!(
        text.starts_with("#:schema https://wf.dev/schemas/wf-manifest.schema.json\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 5
    );
    let output = project
        .wf(&["validate", "--strict"])
        .output()
        .expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let output = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn init_leaves_an_existing_manifest_alone_unless_forced() {
    let project = Project::with_manifest("[tasks.mine]\nrun = \"true\"\n");
    let output = project.wf(&["init"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("already exists"),
        "{}",
        stderr_of(&output)
    );
    assert!(stderr_of(&output).contains("--force"));
    assert_eq!(project.read("wf.toml"), "[tasks.mine]\nrun = \"true\"\n");
    let output = project.wf(&["init", "--force"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(project.read("wf.toml").starts_with("#:schema "));
    let output = project.wf(&["init", "ci.toml"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(project.read("ci.toml").contains("[tasks.build]"));
}

#[test]
fn clean_is_another_name_for_gc() {
    let project = Project::with_manifest("[workflow]\nkeep_runs = 1\n[tasks.t]\nrun = \"true\"\n");
    for _ in 0..3 {
        let output = project.wf(&["run"]).output().expect("wf runs");
        assert_eq!(output.status.code(), Some(0));
    }
    let clean = project
        .wf(&["clean", "--keep", "1", "--dry-run"])
        .output()
        .expect("wf runs");
    let gc = project
        .wf(&["gc", "--keep", "1", "--dry-run"])
        .output()
        .expect("wf runs");
    assert_eq!(clean.status.code(), Some(0), "{}", stderr_of(&clean));
    assert_eq!(stdout_of(&clean), stdout_of(&gc));
    let help = wf().arg("--help").output().expect("wf runs");
    assert!(
        stdout_of(&help).contains("[alias: clean]"),
        "{}",
        stdout_of(&help)
    );
}

/// Completes `line` (the cursor at its end) with the bash script of `wf completions bash`, in
/// `dir`, with this build's `wf` first on the PATH; returns the candidates.
fn bash_complete(dir: &Path, line: &str) -> Vec<String> {
    let script = stdout_of(
        &wf()
            .args(["completions", "bash"])
            .output()
            .expect("wf runs"),
    );
    std::fs::write(dir.join("wf.bash"), script).expect("write script");
    let bin = assert_cmd::cargo::cargo_bin("wf");
    let bin_dir = bin.parent().expect("wf has a folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program = r#"
source ./wf.bash
spec=$(complete -p wf)
func=${spec#*-F }
func=${func%% *}
read -r -a COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$LINE"
COMP_POINT=${#LINE}
"$func" wf "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", program])
        .current_dir(dir)
        .env("PATH", path)
        .env("LINE", line)
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    stdout_of(&output)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

const TASKS: &str = "[tasks.build]\nrun = \"true\"\n[tasks.test]\nrun = \"true\"\n\
                     [tasks.train]\nrun = \"true\"\nmatrix = { lr = [\"0.1\", \"0.01\"] }\n";

#[test]
fn bash_completes_task_names_of_the_manifest() {
    let project = Project::with_manifest(TASKS);
    project.write("other.toml", "[tasks.elsewhere]\nrun = \"true\"\n");
    let all = bash_complete(project.path(), "wf run ");
    for name in ["build", "test", "train", "train[lr=0.1]", "train[lr=0.01]"] {
        assert!(all.iter().any(|c| c == name), "{name} missing from {all:?}");
    }
    assert!(all.iter().any(|c| c == "other.toml"), "{all:?}");
    assert_eq!(
        bash_complete(project.path(), "wf plan tr"),
        ["train", "train[lr=0.1]", "train[lr=0.01]"]
    );
    assert_eq!(
        bash_complete(project.path(), "wf run other.toml "),
        ["elsewhere"]
    );
    assert_eq!(
        bash_complete(project.path(), "wf run -f other.toml e"),
        ["elsewhere"]
    );
    // Everything else is clap's static completion.
    let outputs = bash_complete(project.path(), "wf run --output ");
    assert_eq!(outputs, ["grouped", "stream", "quiet"]);
    let subcommands = bash_complete(project.path(), "wf ");
    assert!(subcommands.iter().any(|c| c == "init"), "{subcommands:?}");
    assert!(
        !subcommands.iter().any(|c| c.starts_with("__")),
        "{subcommands:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_call_the_task_hook() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&wf().args(["completions", shell]).output().expect("wf runs"));
        assert!(
            script.contains("wf __complete-tasks"),
            "{shell} script lacks the hook"
        );
    }
    let zsh = stdout_of(&wf().args(["completions", "zsh"]).output().expect("wf runs"));
    assert!(zsh.starts_with("#compdef wf\n"));
    assert_eq!(zsh.matches(":_wf_tasks' \\").count(), 2, "run and plan");
    let fish = stdout_of(
        &wf()
            .args(["completions", "fish"])
            .output()
            .expect("wf runs"),
    );
    assert!(fish.contains("__fish_wf_using_subcommand run; or __fish_wf_using_subcommand plan"));
}

#[test]
fn the_hidden_task_lister_is_quiet_on_a_broken_manifest() {
    let project = Project::with_manifest("[tasks.a]\nrun = 3\n");
    let output = project.wf(&["__complete-tasks"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    assert_eq!(stderr_of(&output), "");
}

/// 34 tasks with outputs (up to date from their second run on) and one without.
fn incremental_project() -> Project {
    let values: Vec<String> = (0..34).map(|n| format!("\"{n}\"")).collect();
    let project = Project::with_manifest(&format!(
        "[tasks.t]\nrun = \"mkdir -p o && touch o/{{{{ matrix.n }}}}\"\n\
         outputs = [\"o/{{{{ matrix.n }}}}\"]\nmatrix = {{ n = [{}] }}\n\
         [tasks.after]\nrun = \"true\"\ndeps = [\"t\"]\n",
        values.join(", ")
    ));
    let first = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    project
}

#[test]
fn a_no_op_rebuild_shows_its_up_to_date_tasks_as_one_line() {
    let project = incremental_project();
    let output = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = stdout_of(&output);
    assert!(stdout.contains("✓ 34 tasks up to date"), "{stdout}");
    assert!(!stdout.contains("t[n=0]"), "{stdout}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    let listed = project
        .wf(&["run", "--show-up-to-date"])
        .output()
        .expect("wf runs");
    let stdout = stdout_of(&listed);
    assert_eq!(stdout.matches(" up to date").count(), 34, "{stdout}");
    assert!(stdout.contains("- t[n=33] up to date"), "{stdout}");
}

#[test]
fn a_few_up_to_date_tasks_are_listed_by_name() {
    let project = incremental_project();
    let output = project
        .wf(&["run", "t[n=1]", "t[n=2]"])
        .output()
        .expect("wf runs");
    let stdout = stdout_of(&output);
    assert!(stdout.contains("- t[n=1] up to date"), "{stdout}");
    assert!(stdout.contains("- t[n=2] up to date"), "{stdout}");
}
