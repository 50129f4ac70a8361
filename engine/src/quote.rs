//! Quoting for the POSIX shell: how a value is written so that a shell reads it back as one
//! literal word. Used to show argv commands as one line and to build shell command lines.

use std::borrow::Cow;

/// `value` as one literal POSIX shell word: left bare when it is made only of safe characters,
/// otherwise single-quoted (with `'` written as `'\''`).
pub fn shell_quote(value: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_bare_and_others_are_single_quoted() {
        assert_eq!(shell_quote("a-b_c.d/e:1"), "a-b_c.d/e:1");
        assert_eq!(shell_quote("--lr=0.1"), "--lr=0.1");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }
}
