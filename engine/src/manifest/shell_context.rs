//! Where a `{{ matrix.KEY }}` placeholder sits in a POSIX shell command line.
//!
//! A string `run` never receives matrix values as text: each placeholder is replaced by a
//! reference to the `WF_MATRIX_<KEY>` variable the task already gets, written for the quoting
//! context it is in (see [`reference`]). This module finds that context. It is a small,
//! deliberately conservative scanner: it follows `\` escapes, `'…'`, `"…"`, `$'…'`, `#`
//! comments, backquotes, `$(…)` and `${…}`, and answers [`Unclear`] wherever it cannot be
//! certain: inside a command substitution, a parameter expansion, backquotes or `$'…'`, right
//! after a `\` or a `$`, and anywhere after a here-document operator or a construct whose end
//! it cannot find.

use std::ops::Range;

/// The quoting context of a placeholder that can safely become a variable reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Outside any quotes (a comment counts as unquoted).
    Unquoted,
    /// Inside `"…"`.
    Double,
    /// Inside `'…'`.
    Single,
}

/// Why a placeholder's context cannot be used: each case has a sentence for the diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclear {
    /// Inside `` `…` ``.
    Backquotes,
    /// Inside `$(…)` or `$((…))`.
    CommandSubstitution,
    /// Inside `${…}`.
    ParameterExpansion,
    /// Inside `$'…'`.
    DollarQuotes,
    /// Right after a backslash, which would escape what replaces it.
    AfterBackslash,
    /// Right after a `$`, which would combine with what replaces it.
    AfterDollar,
    /// After a here-document (`<<`): the scanner does not follow here-document bodies.
    AfterHeredoc,
    /// After a construct whose end depends on the shell (`case` inside `$(…)`, quotes inside
    /// backquotes, a backslash inside `$'…'`).
    AfterAmbiguous,
    /// Inside quotes or a substitution that the command never closes.
    Unterminated,
}

impl Unclear {
    /// Where the placeholder is, in words, for the diagnostic.
    pub fn describe(self) -> &'static str {
        match self {
            Unclear::Backquotes => "inside backquotes (`…`)",
            Unclear::CommandSubstitution => "inside a command substitution $(…)",
            Unclear::ParameterExpansion => "inside a parameter expansion ${…}",
            Unclear::DollarQuotes => "inside $'…' quotes",
            Unclear::AfterBackslash => "right after a backslash",
            Unclear::AfterDollar => "right after a `$`",
            Unclear::AfterHeredoc => "after a here-document operator (<<)",
            Unclear::AfterAmbiguous => {
                "after a construct whose end depends on the shell (`case` inside $(…), quotes \
                 inside backquotes, or a backslash inside $'…')"
            }
            Unclear::Unterminated => "inside quotes or a substitution that is never closed",
        }
    }
}

/// A context the scanner is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `"…"`.
    Double,
    /// `'…'`.
    Single,
    /// `$'…'`.
    DollarSingle,
    /// `` `…` ``.
    Backquote,
    /// `$(…)`: the number of open parentheses.
    Command(u32),
    /// `${…}`: the number of open braces.
    Parameter(u32),
    /// `# …` up to the end of the line.
    Comment,
}

/// Scanner state over the bytes of a command line (every byte the shell treats specially is
/// ASCII, so scanning UTF-8 bytewise is exact).
struct Scanner<'a> {
    bytes: &'a [u8],
    frames: Vec<Frame>,
    /// At the start of a word, where `#` starts a comment.
    word_start: bool,
    /// Set once the scanner has lost certainty: every later placeholder is unclear.
    lost: Option<Unclear>,
}

/// The context of each placeholder (`holes`: byte ranges in `line`, sorted, not overlapping),
/// in the same order. The text of a placeholder is skipped and counts as part of a word.
pub fn classify(line: &str, holes: &[Range<usize>]) -> Vec<Result<Quoting, Unclear>> {
    let mut scanner = Scanner {
        bytes: line.as_bytes(),
        frames: Vec::new(),
        word_start: true,
        lost: None,
    };
    let mut results = Vec::with_capacity(holes.len());
    let mut next = holes.iter().peekable();
    let mut i = 0;
    while i < scanner.bytes.len() {
        if let Some(hole) = next.next_if(|h| h.start <= i) {
            results.push(scanner.at_hole(i));
            scanner.word_start = false;
            i = hole.end.max(i + 1);
            continue;
        }
        let hole_next = next.peek().is_some_and(|h| h.start == i + 1);
        i = scanner.step(i, hole_next);
    }
    let open = !scanner.frames.iter().all(|f| *f == Frame::Comment);
    for (result, _) in results.iter_mut().zip(holes) {
        if open && result.is_ok() {
            *result = Err(scanner.lost.unwrap_or(Unclear::Unterminated));
        }
    }
    results.extend(next.map(|_| Err(scanner.lost.unwrap_or(Unclear::Unterminated))));
    results
}

impl Scanner<'_> {
    /// The context of a placeholder that starts at `i`.
    fn at_hole(&self, i: usize) -> Result<Quoting, Unclear> {
        if let Some(lost) = self.lost {
            return Err(lost);
        }
        match i.checked_sub(1).map(|p| self.bytes[p]) {
            Some(b'\\') if self.backslash_is_live(i - 1) => return Err(Unclear::AfterBackslash),
            Some(b'$') if self.frames.last() != Some(&Frame::Single) => {
                return Err(Unclear::AfterDollar);
            }
            _ => {}
        }
        // The innermost frame that makes the position unusable wins.
        for frame in self.frames.iter().rev() {
            match frame {
                Frame::Backquote => return Err(Unclear::Backquotes),
                Frame::Command(_) => return Err(Unclear::CommandSubstitution),
                Frame::Parameter(_) => return Err(Unclear::ParameterExpansion),
                Frame::DollarSingle => return Err(Unclear::DollarQuotes),
                Frame::Double | Frame::Single | Frame::Comment => {}
            }
        }
        Ok(match self.frames.last() {
            Some(Frame::Double) => Quoting::Double,
            Some(Frame::Single) => Quoting::Single,
            _ => Quoting::Unquoted,
        })
    }

    /// True if the backslash at `at` escapes what follows it (it is not itself escaped and not
    /// inside single quotes). Counted backwards: an odd run of backslashes ends with a live one.
    fn backslash_is_live(&self, at: usize) -> bool {
        if matches!(self.frames.last(), Some(Frame::Single | Frame::Comment)) {
            return false;
        }
        let run = self.bytes[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        run % 2 == 1
    }

    /// Consumes the construct at `i` and returns where the next one starts. `hole_next`: a
    /// placeholder starts at `i + 1` (a backslash must not swallow its first byte).
    fn step(&mut self, i: usize, hole_next: bool) -> usize {
        let c = self.bytes[i];
        let next = self.bytes.get(i + 1).copied();
        if self.lost.is_some() {
            return i + 1;
        }
        match self.frames.last().copied() {
            Some(Frame::Single) => {
                if c == b'\'' {
                    self.close();
                }
                i + 1
            }
            Some(Frame::Comment) => {
                if c == b'\n' {
                    self.frames.pop();
                    self.word_start = true;
                }
                i + 1
            }
            Some(Frame::DollarSingle) => match c {
                // Shells without $'…' end it at the next quote, the others unescape it: the
                // end is certain only without backslashes.
                b'\\' => {
                    self.lost = Some(Unclear::AfterAmbiguous);
                    i + 1
                }
                b'\'' => {
                    self.close();
                    i + 1
                }
                _ => i + 1,
            },
            Some(Frame::Double) => match c {
                b'\\' if hole_next => i + 1,
                b'\\' if matches!(next, Some(b'$' | b'`' | b'"' | b'\\' | b'\n')) => i + 2,
                b'"' => {
                    self.close();
                    i + 1
                }
                b'`' => {
                    self.frames.push(Frame::Backquote);
                    i + 1
                }
                b'$' => self.dollar(i, false, hole_next),
                _ => i + 1,
            },
            Some(Frame::Backquote) => match c {
                b'\\' if hole_next => i + 1,
                b'\\' => i + 2,
                b'`' => {
                    self.close();
                    i + 1
                }
                b'\'' | b'"' | b'#' => {
                    self.lost = Some(Unclear::AfterAmbiguous);
                    i + 1
                }
                b'$' => self.dollar(i, true, hole_next),
                _ => i + 1,
            },
            frame => self.code(i, frame, hole_next),
        }
    }

    /// A byte of shell code: outside quotes, or inside `$(…)` or `${…}`.
    fn code(&mut self, i: usize, frame: Option<Frame>, hole_next: bool) -> usize {
        let c = self.bytes[i];
        let next = self.bytes.get(i + 1).copied();
        let word_start = std::mem::replace(&mut self.word_start, false);
        match c {
            b'\\' if hole_next => i + 1,
            b'\\' => i + 2,
            // Inside "${…}", whether `'` quotes depends on the operator and the shell.
            b'\''
                if matches!(frame, Some(Frame::Parameter(_)))
                    && self.frames.contains(&Frame::Double) =>
            {
                self.lost = Some(Unclear::AfterAmbiguous);
                i + 1
            }
            b'\'' => {
                self.frames.push(Frame::Single);
                i + 1
            }
            b'"' => {
                self.frames.push(Frame::Double);
                i + 1
            }
            b'`' => {
                self.frames.push(Frame::Backquote);
                i + 1
            }
            b'$' => self.dollar(i, true, hole_next),
            b'#' if word_start && !matches!(frame, Some(Frame::Parameter(_))) => {
                self.frames.push(Frame::Comment);
                i + 1
            }
            b'<' if next == Some(b'<') && !matches!(frame, Some(Frame::Parameter(_))) => {
                self.lost = Some(Unclear::AfterHeredoc);
                i + 2
            }
            b'(' | b')' | b'{' | b'}' => {
                self.nest(c, frame);
                self.word_start = matches!(c, b'(' | b')');
                i + 1
            }
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' => {
                self.word_start = true;
                i + 1
            }
            _ => {
                if word_start
                    && matches!(frame, Some(Frame::Command(_)))
                    && self.bytes[i..].starts_with(b"case")
                    && self.bytes.get(i + 4).is_none_or(|b| b" \t\n;".contains(b))
                {
                    // Its patterns end with an unbalanced `)`: the end of `$(` is unknown.
                    self.lost = Some(Unclear::AfterAmbiguous);
                }
                i + 1
            }
        }
    }

    /// Parentheses inside `$(…)` and braces inside `${…}` are counted to find their end.
    fn nest(&mut self, c: u8, frame: Option<Frame>) {
        let Some(top) = self.frames.last_mut() else {
            return;
        };
        match (frame, c) {
            (Some(Frame::Command(_)), b'(') => *top = Frame::Command(open_one(*top)),
            (Some(Frame::Command(_)), b')') => self.close_one(),
            (Some(Frame::Parameter(_)), b'{') => *top = Frame::Parameter(open_one(*top)),
            (Some(Frame::Parameter(_)), b'}') => self.close_one(),
            _ => {}
        }
    }

    /// `$` at `i`: a substitution, `$'…'` (where `code` allows it), or a plain `$`.
    fn dollar(&mut self, i: usize, code: bool, hole_next: bool) -> usize {
        if hole_next {
            return i + 1;
        }
        match self.bytes.get(i + 1) {
            Some(b'(') => {
                self.frames.push(Frame::Command(1));
                self.word_start = true;
                i + 2
            }
            Some(b'{') => {
                self.frames.push(Frame::Parameter(1));
                i + 2
            }
            Some(b'\'') if code => {
                self.frames.push(Frame::DollarSingle);
                i + 2
            }
            // `$"…"` (bash, ksh) is double-quoted text in every shell as far as quoting goes.
            Some(b'"') if code => {
                self.frames.push(Frame::Double);
                i + 2
            }
            _ => i + 1,
        }
    }

    fn close(&mut self) {
        self.frames.pop();
    }

    fn close_one(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Command(n) | Frame::Parameter(n)) if *n > 1 => *n -= 1,
            _ => {
                self.frames.pop();
            }
        }
    }
}

fn open_one(frame: Frame) -> u32 {
    match frame {
        Frame::Command(n) | Frame::Parameter(n) => n.saturating_add(1),
        _ => 1,
    }
}

/// The text that stands for the value of variable `name` in a placeholder's context: it
/// expands to exactly the value, as one word, and the value is never parsed as shell code.
pub fn reference(name: &str, quoting: Quoting) -> String {
    match quoting {
        Quoting::Unquoted => format!("\"${{{name}}}\""),
        Quoting::Double => format!("${{{name}}}"),
        Quoting::Single => format!("'\"${{{name}}}\"'"),
    }
}

/// True if `program` (the first element of `[workflow].shell`) is a POSIX shell whose quoting
/// this module knows: its file name is sh, bash, dash, zsh, ksh, ash or busybox.
pub fn is_posix_shell(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(
        name,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "busybox"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classifies every `@` in `line` (a one-byte placeholder).
    fn contexts(line: &str) -> Vec<Result<Quoting, Unclear>> {
        let holes: Vec<Range<usize>> = line.match_indices('@').map(|(i, _)| i..i + 1).collect();
        classify(line, &holes)
    }

    use Quoting::{Double, Single, Unquoted};

    #[test]
    fn plain_quoting_contexts() {
        assert_eq!(contexts("echo @ x@y"), [Ok(Unquoted), Ok(Unquoted)]);
        assert_eq!(contexts(r#"echo "v=@" 'w=@'"#), [Ok(Double), Ok(Single)]);
        assert_eq!(
            contexts(r#"echo "it's @" 'say "@"'"#),
            [Ok(Double), Ok(Single)]
        );
        assert_eq!(contexts(r#"echo \" @ \' @"#), [Ok(Unquoted), Ok(Unquoted)]);
        assert_eq!(contexts(r#"echo "a\"b @""#), [Ok(Double)]);
        assert_eq!(contexts(r"echo 'a\' @"), [Ok(Unquoted)]);
    }

    #[test]
    fn comments_start_only_at_a_word() {
        assert_eq!(contexts("echo a#b'@'"), [Ok(Single)]);
        assert_eq!(
            contexts("echo a # it's @\necho '@'"),
            [Ok(Unquoted), Ok(Single)]
        );
        assert_eq!(contexts("echo a;#'\necho @"), [Ok(Unquoted)]);
    }

    #[test]
    fn substitutions_are_unclear_and_their_end_is_found() {
        assert_eq!(
            contexts(r#"echo $(printf '%s' ")" @) "@" `x @` @"#),
            [
                Err(Unclear::CommandSubstitution),
                Ok(Double),
                Err(Unclear::Backquotes),
                Ok(Unquoted)
            ]
        );
        assert_eq!(
            contexts("echo $((1 + (2))) @ ${X:-@} ${X:-{a}} @ \"$(echo \"@\")\""),
            [
                Ok(Unquoted),
                Err(Unclear::ParameterExpansion),
                Ok(Unquoted),
                Err(Unclear::CommandSubstitution)
            ]
        );
        assert_eq!(
            contexts("echo $'a' @ $'@'"),
            [Ok(Unquoted), Err(Unclear::DollarQuotes)]
        );
    }

    #[test]
    fn uncertain_constructs_poison_what_follows() {
        assert_eq!(
            contexts("cat <<EOF\n@\nEOF\necho @"),
            [Err(Unclear::AfterHeredoc), Err(Unclear::AfterHeredoc)]
        );
        assert_eq!(
            contexts("echo $(case x in a) echo;; esac) @"),
            [Err(Unclear::AfterAmbiguous)]
        );
        assert_eq!(contexts(r"echo $'a\'b' @"), [Err(Unclear::AfterAmbiguous)]);
        assert_eq!(
            contexts(r#"echo `echo "a"` @"#),
            [Err(Unclear::AfterAmbiguous)]
        );
        assert_eq!(contexts("echo '@"), [Err(Unclear::Unterminated)]);
        assert_eq!(
            contexts("echo \"$(\" @\""),
            [Err(Unclear::CommandSubstitution)]
        );
    }

    #[test]
    fn a_backslash_or_dollar_before_a_placeholder_is_unclear() {
        assert_eq!(
            contexts(r#"echo \@ "\@" $@ "$@" '\@' \\@"#),
            [
                Err(Unclear::AfterBackslash),
                Err(Unclear::AfterBackslash),
                Err(Unclear::AfterDollar),
                Err(Unclear::AfterDollar),
                Ok(Single),
                Ok(Unquoted)
            ]
        );
    }

    #[test]
    fn references_fit_their_context() {
        assert_eq!(reference("WF_MATRIX_V", Unquoted), r#""${WF_MATRIX_V}""#);
        assert_eq!(reference("WF_MATRIX_V", Double), "${WF_MATRIX_V}");
        assert_eq!(reference("WF_MATRIX_V", Single), r#"'"${WF_MATRIX_V}"'"#);
    }

    #[test]
    fn posix_shells_by_file_name() {
        for shell in ["sh", "/bin/bash", "/usr/bin/dash", "zsh", "ksh", "busybox"] {
            assert!(is_posix_shell(shell), "{shell}");
        }
        for other in ["python3", "/usr/bin/fish", "env", "pwsh", "bash5"] {
            assert!(!is_posix_shell(other), "{other}");
        }
    }
}
