//! Matrix values never become shell code: in every quoting context of a string `run`, with the
//! default shell and with a `shell` override; unsafe places are validation errors.

use crate::support::{Project, stderr_of, stdout_of};

/// Values full of shell syntax; each must reach the command as exactly this text.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "`touch PWNED`",
    "a b'; touch PWNED; echo '",
    "\"; touch PWNED; echo \"",
    "${IFS}$(touch${IFS}PWNED)",
    "line1\ntouch PWNED\nline3",
    "*",
    "a * ?",
    "\\",
    "",
    "it's",
];

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A manifest with one matrix task per `run`, each over every hostile value; the task writes
/// what it printed into `out-TASK-N.txt` (N: the value's index, from `WF_MATRIX_N`).
fn manifest(shell: Option<&str>, runs: &[(&str, &str)]) -> String {
    let mut text = String::new();
    if let Some(shell) = shell {
        text.push_str(&format!("[workflow]\nshell = {shell}\n\n"));
    }
    let records: Vec<String> = HOSTILE
        .iter()
        .enumerate()
        .map(|(n, v)| format!("{{ n = {n}, v = {} }}", toml_string(v)))
        .collect();
    for (name, run) in runs {
        text.push_str(&format!(
            "[tasks.{name}]\nrun = {}\nmatrix = [{}]\n\n",
            toml_string(&format!("{{ {run}\n}} > out-{name}-$WF_MATRIX_N.txt")),
            records.join(", ")
        ));
    }
    text
}

/// Runs the manifest and checks that no value ran as code and that task `name` printed
/// `before + value + after` for every value.
fn assert_literal(project: &Project, runs: &[(&str, &str)], frames: &[(&str, &str)]) {
    let output = project
        .wf(&["run", "-j", "4", "--output", "quiet"])
        .output()
        .expect("wf runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&output),
        stderr_of(&output)
    );
    assert!(
        !project.path().join("PWNED").exists(),
        "a matrix value ran as shell code"
    );
    for ((name, _), (before, after)) in runs.iter().zip(frames) {
        for (n, value) in HOSTILE.iter().enumerate() {
            assert_eq!(
                project.read(&format!("out-{name}-{n}.txt")),
                format!("{before}{value}{after}"),
                "task {name} with value {value:?}"
            );
        }
    }
}

/// Every quoting context a placeholder may be in, and what each task prints around the value.
const CONTEXTS: &[(&str, &str)] = &[
    ("double", r#"printf '%s|' "v={{ matrix.v }}""#),
    ("single", "printf '%s|' 'v={{ matrix.v }}'"),
    ("bare", "printf '%s|' v={{ matrix.v }}"),
    ("brace", r#"x=1; printf '%s|' "${x}{{ matrix.v }}${x}""#),
    ("ident", r#"printf '%s|' "v={{ matrix.v }}abc_1""#),
    ("adjacent", "printf '%s|' 'v='{{ matrix.v }}'abc'_1"),
    (
        "comment",
        "printf '%s|' v={{ matrix.v }} # it's {{ matrix.v }}",
    ),
];

/// What the tasks of [`CONTEXTS`] print before and after the value.
const PRINTED: &[(&str, &str)] = &[
    ("v=", "|"),
    ("v=", "|"),
    ("v=", "|"),
    ("1", "1|"),
    ("v=", "abc_1|"),
    ("v=", "abc_1|"),
    ("v=", "|"),
];

#[test]
fn the_reported_injections_through_user_quotes_are_closed() {
    let runs = [
        ("dq", r#"echo "v={{ matrix.v }}""#),
        ("sq", "echo 'v={{ matrix.v }}'"),
    ];
    let project = Project::with_manifest(&manifest(None, &runs));
    assert_literal(&project, &runs, &[("v=", "\n"), ("v=", "\n")]);
}

#[test]
fn every_quoting_context_passes_values_literally_with_sh() {
    let project = Project::with_manifest(&manifest(None, CONTEXTS));
    assert_literal(&project, CONTEXTS, PRINTED);
}

#[test]
fn every_quoting_context_passes_values_literally_with_bash_as_the_shell() {
    let shell = r#"["bash", "-euo", "pipefail", "-c"]"#;
    let project = Project::with_manifest(&manifest(Some(shell), CONTEXTS));
    assert_literal(&project, CONTEXTS, PRINTED);
}

#[test]
fn unsafe_places_for_a_placeholder_are_located_errors() {
    let project = Project::with_manifest(
        r#"[tasks.t]
run = "echo `echo {{ matrix.v }}` $(echo {{ matrix.v }}) ${X:-{{ matrix.v }}} $'{{ matrix.v }}' \\{{ matrix.v }}"
matrix = { v = ["$(touch PWNED)"] }
"#,
    );
    let output = project.wf(&["validate"]).output().expect("wf runs");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for place in [
        "inside backquotes",
        "inside a command substitution",
        "inside a parameter expansion",
        "inside $'…' quotes",
        "right after a backslash",
    ] {
        assert!(stderr.contains(place), "{place} missing from:\n{stderr}");
    }
    assert_eq!(
        stderr.matches("wf::unsafe_placeholder").count(),
        5,
        "{stderr}"
    );
    assert!(stderr.contains("\"$WF_MATRIX_V\""), "{stderr}");
    // Located at the placeholders themselves: the first one is at column 13 of line 2.
    assert!(stderr.contains("wf.toml:2:19"), "{stderr}");
    let run = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(!project.path().join("PWNED").exists());
}

#[test]
fn a_placeholder_in_a_string_run_needs_a_posix_shell() {
    let project = Project::with_manifest(
        r#"[workflow]
shell = ["python3", "-c"]

[tasks.py]
run = "print('{{ matrix.v }}')"
matrix = { v = ["'); import os; os.system('touch PWNED'); print('"] }

[tasks.env]
run = "import os; open('env.txt', 'w').write(os.environ['WF_MATRIX_V'])"
matrix = { v = ["'); import os; os.system('touch PWNED'); print('"] }
"#,
    );
    let output = project.wf(&["validate"]).output().expect("wf runs");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("wf::placeholder_in_foreign_shell"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`python3` is not a POSIX shell"),
        "{stderr}"
    );
    assert!(stderr.contains("wf.toml:5:"), "{stderr}");
    assert_eq!(stderr.matches("wf::").count(), 1, "{stderr}");
    assert_eq!(
        project
            .wf(&["run"])
            .output()
            .expect("wf runs")
            .status
            .code(),
        Some(2)
    );
    assert!(!project.path().join("PWNED").exists());
}

#[test]
fn the_environment_route_works_with_a_foreign_shell_and_a_manifest_cannot_shadow_it() {
    let project = Project::with_manifest(
        r#"[workflow]
shell = ["python3", "-c"]
env = { WF_MATRIX_V = "from-workflow" }

[tasks.env]
run = "import os; open('env-' + os.environ['WF_MATRIX_N'] + '.txt', 'w').write(os.environ['WF_MATRIX_V'])"
env = { WF_MATRIX_V = "from-task" }
matrix = [{ n = 1, v = "'); import os; os.system('touch PWNED'); print('" }]
"#,
    );
    let output = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        project.read("env-1.txt"),
        "'); import os; os.system('touch PWNED'); print('"
    );
    assert!(!project.path().join("PWNED").exists());
}

#[test]
fn glob_characters_in_a_value_name_one_input_file_literally() {
    let project = Project::with_manifest(
        r#"[tasks.t]
run = "cat 'in/{{ matrix.v }}' > out.txt"
inputs = ["in/{{ matrix.v }}"]
outputs = ["out.txt"]
matrix = { v = ["[x]*"] }
"#,
    );
    project.write("in/[x]*", "literal\n");
    project.write("in/x-other", "other\n");
    let output = project.wf(&["run"]).output().expect("wf runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(project.read("out.txt"), "literal\n");
    // Only the literal file is an input: changing the other one keeps the task up to date.
    project.write("in/x-other", "changed\n");
    let plan = project.wf(&["plan"]).output().expect("wf runs");
    assert!(
        stdout_of(&plan).contains("up to date"),
        "{}",
        stdout_of(&plan)
    );
}
