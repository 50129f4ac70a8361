//! Dynamic shell completion: `wf completions SHELL` prints clap's static script plus a hook
//! that completes the task arguments of `wf run` and `wf plan` with the names of the
//! manifest's tasks, which the hook asks the hidden `wf __complete-tasks [MANIFEST]` for.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;
use crate::exit::Exit;

/// The hidden subcommand the completion hooks call: `wf __complete-tasks [MANIFEST]`. It is
/// not a clap subcommand, so that no completion script, help text or man page offers it.
pub const COMPLETE_TASKS: &str = "__complete-tasks";

/// If the command line is `wf __complete-tasks [MANIFEST]`, answers it and says how wf exits.
pub fn intercept(args: &[std::ffi::OsString]) -> Option<Exit> {
    if args.get(1).is_none_or(|first| first != COMPLETE_TASKS) {
        return None;
    }
    let manifest = match args.get(2..).unwrap_or_default() {
        [] => std::path::PathBuf::from("wf.toml"),
        [manifest] => std::path::PathBuf::from(manifest),
        _ => return Some(Exit::Usage),
    };
    Some(tasks(&manifest))
}

/// Prints the names `wf run` and `wf plan` accept as tasks, one a line (each task's name, then
/// each matrix expansion's). Prints nothing, and fails quietly, when the manifest cannot be read
/// or is invalid: a completion must never write into the user's command line.
fn tasks(manifest: &std::path::Path) -> Exit {
    let Ok(loaded) = wf_engine::load(manifest) else {
        return Exit::Failure;
    };
    let Some(workflow) = loaded.workflow else {
        return Exit::Failure;
    };
    for name in wf_engine::scheduler::target_names(&workflow) {
        println_out!("{name}");
    }
    Exit::Success
}

/// Prints the completion script for `shell`, with the task-name hook where wf has one (bash,
/// zsh, fish).
pub fn completions(shell: Shell) -> Exit {
    // Into memory first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wf", &mut script);
    let script = String::from_utf8_lossy(&script);
    print_out!("{}", with_task_hook(shell, &script));
    Exit::Success
}

/// `script` (clap's) with the task-name hook added.
fn with_task_hook(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => format!("{script}\n{BASH_HOOK}"),
        Shell::Zsh => {
            // The task arguments of `run` and `plan` (the `Target` positional) complete with
            // `_wf_tasks` instead of `_default`.
            let hooked: Vec<String> = script
                .lines()
                .map(|line| {
                    if line.starts_with("'*::args -- The manifest, then tasks") {
                        line.replace(":_default' \\", ":_wf_tasks' \\")
                    } else {
                        line.to_owned()
                    }
                })
                .collect();
            let mut lines = hooked.into_iter();
            let first = lines.next().unwrap_or_default();
            let rest: Vec<String> = lines.collect();
            format!("{first}\n{ZSH_HOOK}\n{}\n", rest.join("\n"))
        }
        Shell::Fish => format!("{script}\n{FISH_HOOK}"),
        _ => script.to_owned(),
    }
}

/// Bash: wraps clap's `_wf`; the task arguments of `run` and `plan` complete with task names
/// (and `.toml` files while no manifest is given), everything else as clap's script does.
const BASH_HOOK: &str = r#"# Task names for `wf run` and `wf plan` (from `wf __complete-tasks [MANIFEST]`).
_wf_tasks() {
    local cur="${COMP_WORDS[COMP_CWORD]}" sub="" manifest="" i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if [[ -z "$sub" ]]; then
            case "$word" in
                --color) ((i++)) ;;
                -*) ;;
                *) sub="$word" ;;
            esac
            continue
        fi
        case "$word" in
            -f|--file) manifest="${COMP_WORDS[i+1]}"; ((i++)) ;;
            --file=*) manifest="${word#--file=}" ;;
            *.toml) [[ -z "$manifest" ]] && manifest="$word" ;;
        esac
    done
    case "${COMP_WORDS[COMP_CWORD-1]}" in
        -f|--file|-j|--jobs|--executor|--report|--output|--grace|--junit|--html|--color)
            _wf "$@"; return ;;
    esac
    if [[ ( "$sub" == run || "$sub" == plan ) && "$cur" != -* ]]; then
        local tasks
        tasks="$(wf __complete-tasks ${manifest:+"$manifest"} 2>/dev/null)"
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$tasks" -- "$cur"))
        if [[ -z "$manifest" ]]; then
            COMPREPLY+=($(compgen -f -X '!*.toml' -- "$cur"))
        fi
        return 0
    fi
    _wf "$@"
}
complete -F _wf_tasks -o bashdefault -o default wf
"#;

/// Zsh: `_wf_tasks`, the completer of `run`'s and `plan`'s task arguments.
const ZSH_HOOK: &str = r#"# Task names for `wf run` and `wf plan` (from `wf __complete-tasks [MANIFEST]`).
_wf_tasks() {
    local manifest=${opt_args[-f]:-${opt_args[--file]}} word
    if [[ -z $manifest ]]; then
        for word in $words; do
            [[ $word == *.toml ]] && { manifest=$word; break; }
        done
    fi
    local -a tasks
    tasks=(${(f)"$(wf __complete-tasks ${manifest:+$manifest} 2>/dev/null)"})
    compadd -X task -- $tasks
    [[ -z $manifest ]] && _files -g '*.toml'
}"#;

/// Fish: task names after `wf run` and `wf plan`.
const FISH_HOOK: &str = r#"# Task names for `wf run` and `wf plan` (from `wf __complete-tasks [MANIFEST]`).
function __wf_tasks
    set -l tokens (commandline -opc)
    set -l manifest
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case -f --file
                set i (math $i + 1)
                set manifest $tokens[$i]
            case '--file=*'
                set manifest (string replace -- '--file=' '' $tokens[$i])
            case '*.toml'
                test -z "$manifest"; and set manifest $tokens[$i]
        end
        set i (math $i + 1)
    end
    wf __complete-tasks $manifest 2>/dev/null
end
complete -c wf -n "__fish_wf_using_subcommand run; or __fish_wf_using_subcommand plan" -a "(__wf_tasks)" -d task
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zsh_hook_replaces_the_task_completer_of_run_and_plan() {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Zsh, &mut Cli::command(), "wf", &mut script);
        let hooked = with_task_hook(Shell::Zsh, &String::from_utf8_lossy(&script));
        assert!(hooked.starts_with("#compdef wf\n"));
        assert_eq!(hooked.matches(":_wf_tasks' \\").count(), 2, "run and plan");
        assert!(hooked.contains("_wf_tasks() {"));
    }
}
