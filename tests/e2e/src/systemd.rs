//! Reading the project's systemd units without a running systemd: their settings, their
//! `ExecStart` command line (with `%` specifiers and `$VAR`s expanded as systemd does), and
//! env files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The unit files in `dir` (`*.service`, `*.timer`, …), sorted by name.
pub fn unit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            ["service", "timer", "socket", "path", "target"].contains(&ext)
        })
        .collect();
    files.sort();
    files
}

pub struct Unit {
    /// The file name, e.g. `mvk-verify@.service`.
    pub name: String,
    /// (section, key, value) in file order.
    entries: Vec<(String, String, String)>,
}

impl Unit {
    pub fn read(path: &Path) -> Unit {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if pending.is_empty()
                && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
            {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                entries.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
            } else {
                panic!("{}: cannot read line `{raw}`", path.display());
            }
        }
        Unit {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            entries,
        }
    }

    /// Every value of `key` in `section`, in order (an empty assignment resets the list, as
    /// in systemd).
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (s, k, v) in &self.entries {
            if s == section && k == key {
                if v.is_empty() {
                    out.clear();
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    /// The last value of `key` in `section`.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// `mvk-verify@.service` → `mvk-verify`; the part before `@` or the extension.
    pub fn prefix(&self) -> &str {
        let stem = self
            .name
            .rsplit_once('.')
            .map_or(self.name.as_str(), |(s, _)| s);
        stem.split('@').next().unwrap()
    }

    pub fn is_template(&self) -> bool {
        self.name.contains("@.")
    }

    /// The unit's name for `instance` (`mvk-verify@shop.service`).
    pub fn instance_name(&self, instance: &str) -> String {
        self.name.replacen("@.", &format!("@{instance}."), 1)
    }

    /// Expands the specifiers a unit of this project may use: `%i`, `%I`, `%n`, `%N`, `%p`,
    /// `%%`. Any other specifier fails the test, so a new one gets handled here first.
    pub fn expand(&self, text: &str, instance: &str) -> String {
        let full = self.instance_name(instance);
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('i') | Some('I') => out.push_str(instance),
                Some('n') => out.push_str(&full),
                Some('N') => out.push_str(full.rsplit_once('.').unwrap().0),
                Some('p') => out.push_str(self.prefix()),
                Some('%') => out.push('%'),
                other => panic!(
                    "{}: specifier %{} is not handled by the test harness",
                    self.name,
                    other.unwrap_or(' ')
                ),
            }
        }
        out
    }
}

/// Splits an `ExecStart=` value into words as systemd does: strips the `-@:+!` prefixes,
/// honours double and single quotes and backslash escapes, and replaces `${VAR}` (one word)
/// and `$VAR` (split at white space) from `env`.
pub fn command_line(value: &str, env: &HashMap<String, String>) -> Vec<String> {
    let value = value.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return words;
        }
        // A word that is exactly `$VAR` becomes the variable's words.
        let rest: String = chars.clone().collect();
        let bare = rest
            .strip_prefix('$')
            .and_then(|r| r.split(char::is_whitespace).next())
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if let Some(name) = bare {
            chars.by_ref().take(1 + name.len()).for_each(drop);
            words.extend(
                env.get(name)
                    .into_iter()
                    .flat_map(|v| v.split_whitespace().map(str::to_string)),
            );
            continue;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                (q, Some(open)) if q == open => quote = None,
                ('"' | '\'', None) => quote = Some(c),
                (w, None) if w.is_whitespace() => break,
                ('\\', _) => word.push(chars.next().expect("a backslash at the end of the line")),
                ('$', q) if q != Some('\'') && chars.peek() == Some(&'{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    word.push_str(env.get(&name).map_or("", String::as_str));
                }
                (c, _) => word.push(c),
            }
        }
        assert!(quote.is_none(), "unbalanced quote in `{value}`");
        words.push(word);
    }
}

/// Reads an env file as systemd's `EnvironmentFile=` does: `KEY=VALUE` lines, `#` and `;`
/// comments, quotes around a value removed.
pub fn read_env_file(path: &Path) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: bad line `{l}`", path.display()));
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_command_lines_like_systemd() {
        let env: HashMap<String, String> =
            [("A".into(), "x y".into()), ("B".into(), "one two".into())]
                .into_iter()
                .collect();
        assert_eq!(
            command_line(r#"-/bin/t --a "b c" 'd $A' e\ f ${A} $B --g=${A}x"#, &env),
            ["/bin/t", "--a", "b c", "d $A", "e f", "x y", "one", "two", "--g=x yx"]
        );
        assert_eq!(command_line("/bin/t $NOPE end", &env), ["/bin/t", "end"]);
    }

    #[test]
    fn reads_units_and_env_files() {
        let dir = crate::TempDir::new("unit");
        let path = dir.join("x@.service");
        std::fs::write(
            &path,
            "# c\n[Service]\nExecStart=/bin/x %i \\\n  --n %n\nReadWritePaths=/a\nReadWritePaths=\nReadWritePaths=/b\n",
        )
        .unwrap();
        let unit = Unit::read(&path);
        assert_eq!(unit.prefix(), "x");
        assert_eq!(unit.values("Service", "ReadWritePaths"), ["/b"]);
        assert_eq!(
            unit.expand(unit.value("Service", "ExecStart").unwrap(), "shop"),
            "/bin/x shop  --n x@shop.service"
        );
        let env = dir.join("e.env");
        std::fs::write(&env, "# c\nA=1\nB=\"two words\"\n; c\nC='x'\n").unwrap();
        assert_eq!(
            read_env_file(&env),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }
}
