//! The man pages in `docs/man/`, generated from the clap definitions: `wf.1` and one page per
//! subcommand (`wf-run.1`, …). A test keeps the committed pages equal to the generated ones;
//! `WF_UPDATE_MAN=1 cargo test -p wf-cli --bin wf man::` writes them.

use clap::CommandFactory;

use crate::args::Cli;

/// Every page: (file name, roff text). The subcommands' pages are named `wf-NAME.1` and
/// titled `wf-NAME`, as git's and cargo's are.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut command = Cli::command();
    command.build();
    let mut pages = Vec::new();
    let mut main = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut main)?;
    pages.push(("wf.1".to_owned(), main));
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("wf-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("wf {}", sub.get_name()));
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn man_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/man")
    }

    #[test]
    fn committed_man_pages_match_the_generated_ones() {
        let pages = pages().expect("pages render");
        let dir = man_dir();
        if std::env::var_os("WF_UPDATE_MAN").is_some() {
            std::fs::create_dir_all(&dir).expect("create docs/man");
            for entry in std::fs::read_dir(&dir).expect("docs/man").flatten() {
                if entry.path().extension().is_some_and(|e| e == "1") {
                    std::fs::remove_file(entry.path()).expect("remove a stale page");
                }
            }
            for (name, text) in &pages {
                std::fs::write(dir.join(name), text).expect("write a page");
            }
        }
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".1"))
                    .collect()
            })
            .unwrap_or_default();
        committed.sort();
        let mut generated: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
        generated.sort();
        let update =
            "run `WF_UPDATE_MAN=1 cargo test -p wf-cli --bin wf man::` and commit docs/man";
        assert_eq!(committed, generated, "docs/man has other pages: {update}");
        for (name, text) in &pages {
            let on_disk = std::fs::read(dir.join(name)).unwrap_or_default();
            assert!(on_disk == *text, "docs/man/{name} is stale: {update}");
        }
    }

    #[test]
    fn every_subcommand_has_a_page_and_the_main_page_lists_examples() {
        let pages = pages().expect("pages render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "wf.1",
            "wf-run.1",
            "wf-init.1",
            "wf-gc.1",
            "wf-completions.1",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        let main = String::from_utf8_lossy(&pages[0].1);
        assert!(main.contains("wf init"), "{main}");
    }
}
