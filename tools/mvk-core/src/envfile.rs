//! `KEY=VALUE` files in the grammar of systemd's `EnvironmentFile=`: the one parser for every
//! env file Maverick reads (`/etc/mvk/<app>.env`, which the units hand to the tools and the
//! scripts read through `mvk-healthwait --print-env`, and the app's `--env-file`), so a file
//! means the same under systemd, a manual deploy and in the app's containers. Never executed.
//!
//! The grammar, as systemd's `parse_env_file` reads it:
//! - blank lines are skipped; a line whose first non-blank character is `#` or `;` is a
//!   comment;
//! - `KEY=VALUE`, with blanks around the key and before the value ignored;
//! - an unquoted value runs to the end of the line, its trailing blanks dropped; `\x` is `x`,
//!   and `\` at the end of a line joins the next one;
//! - `'…'` is taken literally; in `"…"`, `\` escapes `"`, `\`, `` ` `` and `$` (before any other
//!   character it is kept) and joins lines; quoted parts may span lines and run into unquoted
//!   ones (`A="x"y` is `xy`).
//!
//! Where systemd warns and skips (a line without `=`, a name that is no variable name, bytes
//! that are not UTF-8), or where its versions differ (a comment ending in `\\`: a continuation
//! before systemd 254, not since), this parser refuses, naming the line but never its content, which may
//! be a secret. A NUL byte is refused too: no environment can hold one.

use crate::Fail;
use std::path::{Path, PathBuf};

/// Values shorter than this are not masked: `1`, `on` or `dev` would blank out every log line
/// they occur in, and a value that short is no secret.
const MASK_MIN_LEN: usize = 4;
const MASK: &str = "***";

/// An app's env file (`--env-file`): its variables go to the app's containers, and its values
/// are secrets (DESIGN.md §2) that [`EnvFile::mask`] hides in any output.
#[derive(Debug, Default, Clone)]
pub struct EnvFile {
    pub path: Option<PathBuf>,
    vars: Vec<Var>,
}

impl EnvFile {
    /// Reads the file; anything wrong is exit 2 naming the line, never its content.
    pub fn load(path: &Path) -> Result<EnvFile, Fail> {
        Ok(EnvFile {
            path: Some(path.to_path_buf()),
            vars: load(path).map_err(Fail::usage)?,
        })
    }

    /// `KEY=VALUE` strings for the Docker API.
    pub fn docker_env(&self) -> Vec<String> {
        self.vars
            .iter()
            .map(|v| format!("{}={}", v.key, v.value))
            .collect()
    }

    /// How many variables the file sets.
    pub fn count(&self) -> usize {
        self.vars.len()
    }

    /// `text` with every value of the file replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut values: Vec<&str> = self
            .vars
            .iter()
            .map(|v| v.value.as_str())
            .filter(|v| v.len() >= MASK_MIN_LEN)
            .collect();
        // Longest first, so a value that contains another is hidden whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values
            .iter()
            .fold(text.to_string(), |t, v| t.replace(v, MASK))
    }

    pub fn mask_lines(&self, lines: Vec<String>) -> Vec<String> {
        lines.iter().map(|l| self.mask(l)).collect()
    }
}

/// One variable of an env file, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    Single,
    Double,
    DoubleEscape,
    Comment,
    CommentEscape,
}

const BLANK: &[char] = &[' ', '\t', '\n', '\r'];
const NEWLINE: &[char] = &['\n', '\r'];
/// What a backslash escapes inside double quotes, as in the shell.
const DOUBLE_ESCAPES: &[char] = &['"', '\\', '`', '$'];

/// Parses the text of an env file into its variables, in order; a later assignment of the same
/// key wins when they are applied in order (as systemd does).
pub fn parse(text: &str) -> Result<Vec<Var>, String> {
    if let Some(at) = text.find('\0') {
        return Err(format!(
            "line {}: holds a NUL byte",
            text[..at].matches('\n').count() + 1
        ));
    }
    let mut parser = Parser::default();
    for c in text.chars() {
        parser.push(c)?;
    }
    parser.finish()?;
    Ok(parser.vars)
}

/// Reads and parses `path`; errors name the file and the line.
pub fn load(path: &Path) -> Result<Vec<Var>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the env file {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!("env file {}: line {line}: not UTF-8", path.display())
    })?;
    parse(&text).map_err(|e| format!("env file {}: {e}", path.display()))
}

/// Whether `key` can name an environment variable a shell can also read: a letter or `_`,
/// then letters, digits and `_`.
pub fn is_name(key: &str) -> bool {
    key.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

struct Parser {
    state: State,
    line: usize,
    /// The line the current assignment started on.
    start: usize,
    key: String,
    value: String,
    /// Where the value's trailing unquoted blanks begin, if it ends in some.
    value_blank: Option<usize>,
    vars: Vec<Var>,
}

impl Default for Parser {
    fn default() -> Parser {
        Parser {
            state: State::PreKey,
            line: 1,
            start: 1,
            key: String::new(),
            value: String::new(),
            value_blank: None,
            vars: Vec::new(),
        }
    }
}

impl Parser {
    fn push(&mut self, c: char) -> Result<(), String> {
        let newline = NEWLINE.contains(&c);
        self.state = match self.state {
            State::PreKey if c == '#' || c == ';' => State::Comment,
            State::PreKey if BLANK.contains(&c) => State::PreKey,
            State::PreKey => {
                self.start = self.line;
                self.key.push(c);
                State::Key
            }
            State::Key if newline => return Err(format!("line {}: expected KEY=VALUE", self.start)),
            State::Key if c == '=' => State::PreValue,
            State::Key => {
                self.key.push(c);
                State::Key
            }
            State::PreValue | State::Value if newline => {
                self.end_value()?;
                State::PreKey
            }
            State::PreValue if c == '\'' => State::Single,
            State::PreValue if c == '"' => State::Double,
            State::PreValue | State::Value if c == '\\' => {
                self.value_blank = None;
                State::ValueEscape
            }
            State::PreValue if BLANK.contains(&c) => State::PreValue,
            State::PreValue | State::Value => {
                if !BLANK.contains(&c) {
                    self.value_blank = None;
                } else if self.value_blank.is_none() {
                    self.value_blank = Some(self.value.len());
                }
                self.value.push(c);
                State::Value
            }
            State::ValueEscape => {
                // An escaped newline joins the lines; anything else stands for itself.
                if !newline {
                    self.value.push(c);
                }
                State::Value
            }
            State::Single if c == '\'' => State::PreValue,
            State::Double if c == '"' => State::PreValue,
            State::Double if c == '\\' => State::DoubleEscape,
            State::Single | State::Double => {
                self.value.push(c);
                self.state
            }
            State::DoubleEscape => {
                if DOUBLE_ESCAPES.contains(&c) {
                    self.value.push(c);
                } else if c != '\n' {
                    self.value.push('\\');
                    self.value.push(c);
                }
                State::Double
            }
            State::Comment if c == '\\' => State::CommentEscape,
            State::Comment if newline => State::PreKey,
            State::Comment => State::Comment,
            // systemd before 254 joins the next line to such a comment, later ones do not:
            // whichever is meant, the file reads differently on different servers.
            State::CommentEscape if newline => {
                return Err(format!(
                    "line {}: a comment ends in `\\`, which systemd versions read differently: remove it",
                    self.line
                ))
            }
            State::CommentEscape => State::Comment,
        };
        if c == '\n' {
            self.line += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        match self.state {
            State::Key => Err(format!("line {}: expected KEY=VALUE", self.start)),
            State::PreKey | State::Comment | State::CommentEscape => Ok(()),
            _ => self.end_value(),
        }
    }

    /// Ends the assignment being read: drops the unquoted value's trailing blanks and the
    /// key's, and checks the key.
    fn end_value(&mut self) -> Result<(), String> {
        if self.state == State::Value {
            if let Some(at) = self.value_blank {
                self.value.truncate(at);
            }
        }
        let key = std::mem::take(&mut self.key);
        let key = key.trim_end_matches(BLANK);
        if !is_name(key) {
            return Err(format!(
                "line {}: the name before `=` is not a variable name (a letter or `_`, then letters, digits, `_`)",
                self.start
            ));
        }
        self.vars.push(Var {
            key: key.to_string(),
            value: std::mem::take(&mut self.value),
            line: self.start,
        });
        self.value_blank = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|v| (v.key, v.value))
            .collect()
    }

    fn one(text: &str) -> String {
        let vars = pairs(text);
        assert_eq!(vars.len(), 1, "{text:?}: {vars:?}");
        vars[0].1.clone()
    }

    #[test]
    fn unquoted_values_keep_inner_blanks_and_shell_characters() {
        assert_eq!(one("MVK_BEFORE=migrate --to 42\n"), "migrate --to 42");
        assert_eq!(one("U=http://h/x?a=1&b=2"), "http://h/x?a=1&b=2");
        assert_eq!(one("  K  =   v  w   \n"), "v  w");
        assert_eq!(one("K=$(rm -rf /) `x` ; y"), "$(rm -rf /) `x` ; y");
        assert_eq!(one("K=a # not a comment"), "a # not a comment");
        assert_eq!(one("K=x\"y\"'z'"), "x\"y\"'z'");
        assert_eq!(one("K="), "");
        assert_eq!(one("K=\r\n"), "");
    }

    #[test]
    fn quotes_escapes_and_continuations() {
        assert_eq!(one("K=' a \\n $b '"), " a \\n $b ");
        assert_eq!(one(r#"K=" a \" \\ \$ \` \n ""#), " a \" \\ $ ` \\n ");
        // Quotes count only at the start of a value (or right after a quoted part).
        assert_eq!(one("K=\"x\"y 'z'"), "xy 'z'");
        assert_eq!(one("K='a'\"b\""), "ab");
        assert_eq!(one("K=\"multi\nline\""), "multi\nline");
        assert_eq!(one("K=\"joined \\\nhere\""), "joined here");
        assert_eq!(one("K=one \\\n  two"), "one   two");
        assert_eq!(one("K=a\\ \\#b\\\\"), "a #b\\");
        assert_eq!(one("K=trailing\\ "), "trailing ");
        // An unterminated quote runs to the end of the file, as under systemd.
        assert_eq!(one("K=\"open"), "open");
    }

    #[test]
    fn comments_and_blank_lines() {
        let vars = pairs("# c\n; c \\ x\n\n   # indented\nA=1\n#\nC=3\n");
        assert_eq!(
            vars,
            [("A".into(), "1".into()), ("C".into(), "3".into())] as [(String, String); 2]
        );
        let e = parse("A=1\n# ends in \\\nB=2\n").unwrap_err();
        assert!(e.starts_with("line 2: a comment ends in"), "{e}");
    }

    #[test]
    fn lines_are_counted_across_continuations() {
        let vars = parse("A=\"x\ny\"\n\nB=1\\\n2\nC=3").unwrap();
        let lines: Vec<_> = vars.iter().map(|v| (v.key.as_str(), v.line)).collect();
        assert_eq!(lines, [("A", 1), ("B", 4), ("C", 6)]);
        assert_eq!(vars[1].value, "12");
    }

    #[test]
    fn errors_name_the_line_never_its_content() {
        let e = parse("A=1\nhunter2-secret\n").unwrap_err();
        assert_eq!(e, "line 2: expected KEY=VALUE");
        assert_eq!(
            parse("A=1\nsecret").unwrap_err(),
            "line 2: expected KEY=VALUE"
        );
        for bad in ["9LIVES=x", "A B=1", "=x", "A-B=1", "Ä=1"] {
            let e = parse(&format!("# c\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("line 2: ") && !e.contains(bad), "{e}");
        }
        let e = parse("A=1\nB=x\0y\n").unwrap_err();
        assert_eq!(e, "line 2: holds a NUL byte");
    }

    #[test]
    fn later_assignments_are_kept_in_order() {
        let vars = pairs("A=1\nA=2\n");
        assert_eq!(vars[1], ("A".into(), "2".into()));
    }

    #[test]
    fn masks_values_longest_first_and_leaves_short_ones() {
        let env = EnvFile {
            path: None,
            vars: parse("A=s3cret\nB=s3cret-long\nC=1\n").unwrap(),
        };
        assert_eq!(env.mask("x s3cret-long y s3cret z 1"), "x *** y *** z 1");
        assert_eq!(env.docker_env(), ["A=s3cret", "B=s3cret-long", "C=1"]);
    }

    #[test]
    fn a_missing_file_is_bad_input_naming_it() {
        let e = EnvFile::load(Path::new("/nonexistent/app.env")).unwrap_err();
        assert_eq!(e.exit, crate::Exit::Usage);
        assert!(e.message.contains("/nonexistent/app.env"), "{}", e.message);
    }

    #[test]
    fn names() {
        assert!(is_name("_A1") && is_name("MVK_APP"));
        assert!(!is_name("") && !is_name("1A") && !is_name("A.B"));
    }
}
