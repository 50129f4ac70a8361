//! "Did you mean …?" suggestions for misspelt keys and task names.

/// Words that users of other workflow tools write for a wf key.
const KEY_ALIASES: &[(&str, &str)] = &[
    ("command", "run"),
    ("cmd", "run"),
    ("script", "run"),
    ("exec", "run"),
    ("needs", "deps"),
    ("depends", "deps"),
    ("depends_on", "deps"),
    ("dependencies", "deps"),
    ("requires", "deps"),
    ("after", "deps"),
    ("environment", "env"),
    ("workdir", "cwd"),
    ("working_directory", "cwd"),
    ("dir", "cwd"),
    ("desc", "description"),
    ("retry", "retries"),
    ("attempts", "retries"),
    ("parallelism", "jobs"),
    ("threads", "jobs"),
    ("mutex", "locks"),
    ("resources", "locks"),
    ("if", "when"),
    ("continue_on_error", "allow_failure"),
    ("ignore_failure", "allow_failure"),
    ("timeout_minutes", "timeout"),
    ("input", "inputs"),
    ("output", "outputs"),
];

/// The most similar of `candidates` to `word`, if any is similar enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(word, candidate);
        if score >= 0.8 && best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The accepted key a misspelt or foreign `key` most likely means.
pub fn nearest_key<'a>(key: &str, keys: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase().replace('-', "_");
    if let Some(known) = keys.iter().find(|known| **known == lower) {
        return Some(known);
    }
    if let Some((_, target)) = KEY_ALIASES.iter().find(|(alias, _)| *alias == lower) {
        if let Some(known) = keys.iter().find(|known| *known == target) {
            return Some(known);
        }
    }
    did_you_mean(&lower, keys.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_spellings() {
        let keys = ["run", "deps", "timeout", "retries", "retry_delay"];
        assert_eq!(nearest_key("timout", &keys), Some("timeout"));
        assert_eq!(nearest_key("retires", &keys), Some("retries"));
        assert_eq!(nearest_key("Retry-Delay", &keys), Some("retry_delay"));
    }

    #[test]
    fn maps_words_from_other_tools() {
        let keys = ["run", "deps", "env"];
        assert_eq!(nearest_key("command", &keys), Some("run"));
        assert_eq!(nearest_key("needs", &keys), Some("deps"));
        assert_eq!(nearest_key("environment", &keys), Some("env"));
    }

    #[test]
    fn stays_silent_when_nothing_is_close() {
        assert_eq!(nearest_key("zzzz", &["run", "deps"]), None);
        assert_eq!(
            did_you_mean("compile", ["fetch", "deploy"].into_iter()),
            None
        );
        assert_eq!(
            did_you_mean("compil", ["fetch", "compile"].into_iter()),
            Some("compile")
        );
    }
}
