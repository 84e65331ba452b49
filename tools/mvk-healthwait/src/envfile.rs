//! The app's `--env-file`: `KEY=VALUE` lines handed to its containers. Its values are secrets
//! (DESIGN.md §2): they go to Docker and nowhere else, and [`EnvFile::mask`] hides them in
//! any container output this tool prints or records.

use mvk_core::Fail;
use std::path::{Path, PathBuf};

/// Values shorter than this are not masked: `1`, `on` or `dev` would blank out every log line
/// they occur in, and a value that short is no secret.
const MASK_MIN_LEN: usize = 4;
const MASK: &str = "***";

#[derive(Debug, Default, Clone)]
pub struct EnvFile {
    pub path: Option<PathBuf>,
    vars: Vec<(String, String)>,
}

impl EnvFile {
    /// Reads the file; anything wrong is exit 2 naming the line, never its content.
    pub fn load(path: &Path) -> Result<EnvFile, Fail> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Fail::usage(format!("cannot read the env file {}: {e}", path.display()))
        })?;
        let vars =
            parse(&text).map_err(|e| Fail::usage(format!("env file {}: {e}", path.display())))?;
        Ok(EnvFile {
            path: Some(path.to_path_buf()),
            vars,
        })
    }

    /// `KEY=VALUE` strings for the Docker API.
    pub fn docker_env(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
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
            .map(|(_, v)| v.as_str())
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

/// The format `docker run --env-file` reads: `KEY=VALUE` with the value taken literally (no
/// quotes, no escapes), blank lines and `#` comments skipped. Unlike Docker, a bare `KEY`
/// (which would copy this process's variable) is refused: the file alone should say what the
/// app gets.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Errors name the line but never show it: it may hold a secret.
        let (key, value) = trimmed
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=VALUE", n + 1))?;
        let valid = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "line {}: the name before `=` is not a variable name (letters, digits, `_`)",
                n + 1
            ));
        }
        vars.push((key.to_string(), value.to_string()));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_docker_env_files() {
        let vars =
            parse("# db\n\nDB_URL=postgres://u:p@h/db?a=b\r\n  TOKEN=\" quoted \"\nEMPTY=\n")
                .unwrap();
        assert_eq!(
            vars,
            [
                ("DB_URL".to_string(), "postgres://u:p@h/db?a=b".to_string()),
                ("TOKEN".to_string(), "\" quoted \"".to_string()),
                ("EMPTY".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_not_its_content() {
        let e = parse("A=1\nhunter2-secret\n").unwrap_err();
        assert_eq!(e, "line 2: expected KEY=VALUE");
        let e = parse("9LIVES=x\n").unwrap_err();
        assert!(e.starts_with("line 1: ") && !e.contains("9LIVES"), "{e}");
        assert!(parse("A B=1").is_err());
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
    fn a_missing_file_is_bad_input() {
        let e = EnvFile::load(Path::new("/nonexistent/app.env")).unwrap_err();
        assert_eq!(e.exit, mvk_core::Exit::Usage);
        assert!(e.message.contains("/nonexistent/app.env"), "{}", e.message);
    }
}
