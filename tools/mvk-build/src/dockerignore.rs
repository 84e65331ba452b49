//! `.dockerignore` exactly as `docker build` reads and matches it: a port of
//! moby/patternmatcher (`ignorefile.ReadAll`, `New`, `Matches`, `MatchesOrParentMatches`,
//! `MatchesUsingParentResults`) and of the bits of Go's `path.Clean` and `filepath.Match` it
//! relies on. Paths and patterns are slash-separated and relative to the context.

use regex::Regex;

/// The patterns of an ignore file: BOM stripped, `#` lines skipped (only at the very start of
/// a line), white space trimmed, each pattern cleaned and a leading `/` dropped, `!` kept.
pub fn read_patterns(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let mut patterns = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = if n == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    patterns
}

/// Go's `path.Clean`: the shortest equivalent path, `.` for an empty one.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir` for slash paths.
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".into(),
    }
}

#[derive(Debug)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regexp(Regex),
}

#[derive(Debug)]
pub struct Pattern {
    text: String,
    dirs: usize,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Regexp(re) => re.is_match(path),
        }
    }
}

/// How docker compiles a cleaned pattern: an exact, prefix or suffix comparison when the
/// pattern allows one, else the Go regexp it builds (returned as source too, for tests).
fn compile(pattern: &str) -> Result<(Kind, String), String> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    // Go escapes these because they mean something in a regexp but nothing in a glob.
    const ESCAPE: &str = ".+()|{}$";
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let mut chars = pattern.chars().peekable();
    let mut i = 0;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    // A trailing `**` takes everything, as in .gitignore.
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regexp;
                    }
                } else {
                    re.push_str("(.*/)?");
                    detected = Detected::Regexp;
                }
                if i == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                detected = Detected::Regexp;
            }
            '?' => {
                re.push_str("[^/]");
                detected = Detected::Regexp;
            }
            c if ESCAPE.contains(c) => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    detected = Detected::Regexp;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                detected = Detected::Regexp;
            }
            c => re.push(c),
        }
        i += 1;
    }
    let kind = match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix,
        Detected::Suffix => Kind::Suffix,
        Detected::Regexp => {
            re.push('$');
            Kind::Regexp(go_regex(&re)?)
        }
    };
    Ok((kind, re))
}

/// Go's regexp syntax (`regexp.Compile`, Perl flags) rewritten for the `regex` crate. Both are
/// RE2: `.` skips `\n`, a negated class takes it, `^`/`$` are the ends of the whole text. The
/// pattern's own `[...]` and `\` escapes reach the regexp as written, so where the syntaxes
/// differ the text is rewritten: a class is re-emitted member by member, because Go reads `[`,
/// `&&`, `--`, `~~` in it as plain characters and `-` anywhere, where Rust nests classes and
/// does set operations; every escaped character is re-escaped (Go's `\<` is `<`, Rust's a word
/// boundary). Rare escapes (`\p{..}`, `\x..`, octal, `\b`) are refused, not translated.
fn go_regex(expr: &str) -> Result<Regex, String> {
    let s: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    // Go refuses a repetition of a repetition (`a**`; one `?` after makes it non-greedy);
    // Rust takes it.
    let mut repeated = false;
    while i < s.len() {
        i += 1;
        let c = s[i - 1];
        if matches!(c, '*' | '+' | '?') {
            if repeated {
                return Err("invalid nested repetition operator".into());
            }
            out.push(c);
            if s.get(i) == Some(&'?') {
                out.push('?');
                i += 1;
            }
            repeated = true;
            continue;
        }
        repeated = false;
        match c {
            '\\' => {
                let c = *s.get(i).ok_or("trailing backslash at end of expression")?;
                i += 1;
                match perl_class(c) {
                    Some(class) => out.push_str(class),
                    None => out.push_str(&regex::escape(&go_escape(c)?.to_string())),
                }
            }
            '[' => i = go_class(&s, i, &mut out)?,
            // A literal in Go, an error in Rust.
            ']' => out.push_str("\\]"),
            c => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| {
        // The crate's message quotes the rewritten text; keep only what is wrong.
        let e = e.to_string();
        let last = e.lines().last().unwrap_or_default();
        last.strip_prefix("error: ").unwrap_or(last).to_string()
    })
}

/// The class whose `[` ends just before `s[i]`, read as Go reads it, written to `out`; returns
/// the index after its `]`.
fn go_class(s: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    if s.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // `]` first is a member.
    let mut first = true;
    loop {
        match s.get(i) {
            None => return Err("missing closing ]".into()),
            Some(']') if !first => {
                out.push(']');
                return Ok(i + 1);
            }
            _ => first = false,
        }
        if s[i..].starts_with(&['[', ':']) {
            // Go takes the name up to the next `:]`, wherever it is; without one, `[` is a member.
            let rest: String = s[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[..end];
                if !POSIX_CLASSES.contains(&name.strip_prefix('^').unwrap_or(name)) {
                    return Err(format!("invalid character class range [:{name}:]"));
                }
                // Same names and the same ASCII sets in both.
                out.push_str(&format!("[:{name}:]"));
                i += name.chars().count() + 4;
                continue;
            }
        }
        let perl = s.get(i + 1).and_then(|&c| perl_class(c));
        if let (Some(class), '\\') = (perl, s[i]) {
            out.push_str(class);
            i += 2;
            continue;
        }
        i = go_class_char(s, i, out)?;
        // `a-` before the closing `]` is `a` and `-`; the crate checks the range's order.
        if s.get(i) == Some(&'-') && s.get(i + 1).is_some_and(|&c| c != ']') {
            out.push('-');
            i = go_class_char(s, i + 1, out)?;
        }
    }
}

/// One member or range end at `s[i]`, escaped for Rust; returns the index after it.
fn go_class_char(s: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let c = *s.get(i).ok_or("missing closing ]")?;
    let (c, next) = if c == '\\' {
        let e = *s.get(i + 1).ok_or("missing closing ]")?;
        (go_escape(e)?, i + 2)
    } else {
        (c, i + 1)
    };
    out.push_str(&regex::escape(&c.to_string()));
    Ok(next)
}

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// The character Go's `\c` stands for: any ASCII punctuation itself, or a control escape.
fn go_escape(c: char) -> Result<char, String> {
    Ok(match c {
        'a' => '\x07',
        'f' => '\x0c',
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'v' => '\x0b',
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => c,
        c => return Err(format!("unsupported escape sequence \\{c}")),
    })
}

/// Go's `\d \s \w` and negations, spelled out: Rust's are Unicode, and even its ASCII `\s`
/// has `\v`, which Go's lacks. Rust nests a class in a class, so these serve in both places.
fn perl_class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\f\r ]",
        'S' => r"[^\t\n\f\r ]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        _ => return None,
    })
}

/// Go's `filepath.Match` syntax check, which docker runs on every pattern first.
fn valid_glob(pattern: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return false;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if p.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if p.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    let Some(next) = glob_class_char(&p, i) else {
                        return false;
                    };
                    i = next;
                    if p[i] == '-' {
                        let Some(next) = glob_class_char(&p, i + 1) else {
                            return false;
                        };
                        i = next;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// One character of a `filepath.Match` class at `i` (Go's `getEsc`): the index after it, or
/// `None` for a bad pattern (nothing, a bare `-` or `]`, a dangling `\`, or the end of the
/// pattern right after it).
fn glob_class_char(p: &[char], mut i: usize) -> Option<usize> {
    match p.get(i)? {
        '-' | ']' => return None,
        '\\' => i += 1,
        _ => {}
    }
    p.get(i)?;
    i += 1;
    (i < p.len()).then_some(i)
}

/// The compiled patterns of a `.dockerignore`.
#[derive(Debug)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles patterns as `patternmatcher.New` does; a malformed one is an error naming it.
    pub fn new(patterns: &[String]) -> Result<Matcher, String> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err("illegal exclusion pattern: \"!\"".into());
                }
                p.remove(0);
                exclusions = true;
            }
            if !valid_glob(&p) {
                return Err(format!("syntax error in pattern `{raw}`"));
            }
            // Docker finds an uncompilable regexp at its first match, which fails the build;
            // here it fails before anything is sent.
            let (kind, _) =
                compile(&p).map_err(|e| format!("syntax error in pattern `{raw}`: {e}"))?;
            out.push(Pattern {
                dirs: p.split('/').count(),
                text: p,
                exclusion,
                kind,
            });
        }
        Ok(Matcher {
            patterns: out,
            exclusions,
        })
    }

    /// Whether any pattern is an `!` exception.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `patternmatcher.Matches` (deprecated in moby, still what the docker CLI uses to decide
    /// whether the Dockerfile and .dockerignore need re-including): checks only the parent
    /// directory at the pattern's own depth.
    pub fn matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parent = dir(&file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&file);
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                m = p.matches(&parent_dirs[..p.dirs].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// `MatchesUsingParentResults`, as the tar walk uses it: `parent` holds, per pattern,
    /// whether the parent directory matched it (`None` at the top of the walk); returns
    /// whether `file` is excluded and the per-pattern results to pass to its children.
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: Option<&[bool]>,
    ) -> (bool, Vec<bool>) {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.is_some_and(|parent| parent[i]);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(file);
                if !m && parent.is_none() {
                    let parent_path = dir(file);
                    if parent_path != "." {
                        let dirs: Vec<&str> = parent_path.split('/').collect();
                        m = (1..=dirs.len()).any(|n| p.matches(&dirs[..n].join("/")));
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> Result<Matcher, String> {
        Matcher::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// `patternmatcher.Matches(file, patterns)`, error as `Err`.
    fn matches(file: &str, patterns: &[&str]) -> Result<bool, String> {
        matcher(patterns).map(|m| m.matches(file))
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Pass {
        Fail,
        Exact,
        Inexact,
    }
    use Pass::*;

    // moby/patternmatcher TestMatches (Unix cases).
    const MATCHES: &[(&str, &str, Pass)] = &[
        ("**", "file", Exact),
        ("**", "file/", Exact),
        ("**/", "file", Exact),
        ("**/", "file/", Exact),
        ("**", "/", Exact),
        ("**/", "/", Exact),
        ("**", "dir/file", Exact),
        ("**/", "dir/file", Exact),
        ("**", "dir/file/", Exact),
        ("**/", "dir/file/", Exact),
        ("**/**", "dir/file", Exact),
        ("**/**", "dir/file/", Exact),
        ("dir/**", "dir/file", Exact),
        ("dir/**", "dir/file/", Exact),
        ("dir/**", "dir/dir2/file", Exact),
        ("dir/**", "dir/dir2/file/", Exact),
        ("**/dir", "dir", Exact),
        ("**/dir", "dir/file", Inexact),
        ("**/dir2/*", "dir/dir2/file", Exact),
        ("**/dir2/*", "dir/dir2/file/", Inexact),
        ("**/dir2/**", "dir/dir2/dir3/file", Exact),
        ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
        ("**file", "file", Exact),
        ("**file", "dir/file", Exact),
        ("**/file", "dir/file", Exact),
        ("**file", "dir/dir/file", Exact),
        ("**/file", "dir/dir/file", Exact),
        ("**/file*", "dir/dir/file", Exact),
        ("**/file*", "dir/dir/file.txt", Exact),
        ("**/file*txt", "dir/dir/file.txt", Exact),
        ("**/file*.txt", "dir/dir/file.txt", Exact),
        ("**/file*.txt*", "dir/dir/file.txt", Exact),
        ("**/**/*.txt", "dir/dir/file.txt", Exact),
        ("**/**/*.txt2", "dir/dir/file.txt", Fail),
        ("**/*.txt", "file.txt", Exact),
        ("**/**/*.txt", "file.txt", Exact),
        ("a**/*.txt", "a/file.txt", Exact),
        ("a**/*.txt", "a/dir/file.txt", Exact),
        ("a**/*.txt", "a/dir/dir/file.txt", Exact),
        ("a/*.txt", "a/dir/file.txt", Fail),
        ("a/*.txt", "a/file.txt", Exact),
        ("a/*.txt**", "a/file.txt", Exact),
        ("a[b-d]e", "ae", Fail),
        ("a[b-d]e", "ace", Exact),
        ("a[b-d]e", "aae", Fail),
        ("a[^b-d]e", "aze", Exact),
        (".*", ".foo", Exact),
        (".*", "foo", Fail),
        ("abc.def", "abcdef", Fail),
        ("abc.def", "abc.def", Exact),
        ("abc.def", "abcZdef", Fail),
        ("abc?def", "abcZdef", Exact),
        ("abc?def", "abcdef", Fail),
        ("**/foo/bar", "foo/bar", Exact),
        ("**/foo/bar", "dir/foo/bar", Exact),
        ("**/foo/bar", "dir/dir2/foo/bar", Exact),
        ("abc/**", "abc", Fail),
        ("abc/**", "abc/def", Exact),
        ("abc/**", "abc/def/ghi", Exact),
        ("**/.foo", ".foo", Exact),
        ("**/.foo", "bar.foo", Fail),
        ("a(b)c/def", "a(b)c/def", Exact),
        ("a(b)c/def", "a(b)c/xyz", Fail),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
        ),
        ("a\\\\", "a\\", Exact),
        ("a\\*b", "a*b", Exact),
    ];

    const MULTI: &[(&[&str], &str, Pass)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", Fail),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            Exact,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Fail,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Fail,
        ),
    ];

    /// What the tar walk computes for `text`: the parents' results fed down one level at a time.
    fn walk_result(m: &Matcher, text: &str) -> bool {
        let parent = dir(text);
        let mut info: Option<Vec<bool>> = None;
        if parent != "." {
            let dirs: Vec<&str> = parent.split('/').collect();
            for n in 1..=dirs.len() {
                info = Some(
                    m.matches_using_parent_results(&dirs[..n].join("/"), info.as_deref())
                        .1,
                );
            }
        }
        m.matches_using_parent_results(text, info.as_deref()).0
    }

    #[test]
    fn matches_exact() {
        for &(pattern, text, pass) in MATCHES {
            let m = matcher(&[pattern]).unwrap();
            assert_eq!(
                m.patterns[0].matches(text),
                pass == Exact,
                "pattern={pattern:?} text={text:?}"
            );
        }
    }

    #[test]
    fn matches_using_parent_results() {
        for &(pattern, text, pass) in MATCHES {
            let m = matcher(&[pattern]).unwrap();
            assert_eq!(
                walk_result(&m, text),
                pass != Fail,
                "pattern={pattern:?} text={text:?}"
            );
            assert_eq!(
                m.matches_using_parent_results(text, None).0,
                pass != Fail,
                "no context: pattern={pattern:?} text={text:?}"
            );
        }
        for &(patterns, text, pass) in MULTI {
            let m = matcher(patterns).unwrap();
            assert_eq!(
                walk_result(&m, text),
                pass != Fail,
                "patterns={patterns:?} text={text:?}"
            );
            assert_eq!(
                m.matches_using_parent_results(text, None).0,
                pass != Fail,
                "patterns={patterns:?}"
            );
        }
    }

    #[test]
    fn simple_cases() {
        assert_eq!(matches("fileutils.go", &["*"]), Ok(true));
        assert_eq!(matches("fileutils.go", &["*.go"]), Ok(true));
        assert_eq!(
            matches("fileutils.go", &["!fileutils.go", "*.go"]),
            Ok(true)
        );
        assert_eq!(
            matches("docs/README.md", &["docs", "!docs/README.md"]),
            Ok(false)
        );
        assert_eq!(
            matches("docs/README.md", &["docs/", "!docs/README.md"]),
            Ok(false)
        );
        assert_eq!(
            matches("docs/README.md", &["docs/*", "!docs/README.md"]),
            Ok(false)
        );
        assert_eq!(
            matches("fileutils.go", &["*.go", "!fileutils.go"]),
            Ok(false)
        );
        assert_eq!(matches(".", &["*.go"]), Ok(false));
        assert!(matches("fileutils.go", &["!"]).is_err());
        assert_eq!(matches("/any/path/there", &[]), Ok(false));
        assert!(matches("/any/path/there", &["["]).is_err());
    }

    #[test]
    fn clean_patterns() {
        assert_eq!(matcher(&["docs", "config"]).unwrap().patterns.len(), 2);
        assert_eq!(matcher(&["docs", "config", ""]).unwrap().patterns.len(), 2);
        assert!(matcher(&["docs", "!docs/README.md"]).unwrap().exclusions());
        assert!(matcher(&["docs", "  !docs/README.md"])
            .unwrap()
            .exclusions());
        assert!(matcher(&["docs", "!docs/README.md  "])
            .unwrap()
            .exclusions());
        assert!(matcher(&["!"]).is_err());
    }

    // Go's filepath.Match cases, through `Matches` (moby/patternmatcher TestMatch).
    #[test]
    fn go_match_cases() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(true)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[x-]", "-", None),
            ("[x-]", "z", None),
            ("[-x]", "x", None),
            ("[-x]", "-", None),
            ("[-x]", "a", None),
            ("\\", "a", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("*x", "xxx", Some(true)),
        ];
        for &(pattern, s, want) in cases {
            let got = matches(s, &[pattern]).ok();
            assert_eq!(got, want, "Match({pattern:?}, {s:?})");
        }
    }

    // moby/patternmatcher TestCompile (slash separator).
    #[test]
    fn compiles_like_docker() {
        let cases: &[(&str, &str, &str)] = &[
            ("*", "regexp", "^[^/]*$"),
            ("file*", "regexp", "^file[^/]*$"),
            ("*file", "regexp", "^[^/]*file$"),
            ("a*/b", "regexp", "^a[^/]*/b$"),
            ("**", "suffix", ""),
            ("**/**", "regexp", "^(.*/)?.*$"),
            ("dir/**", "prefix", ""),
            ("**/dir", "suffix", ""),
            ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
            ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"),
            ("**file", "suffix", ""),
            ("**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"),
            ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
            ("a[b-d]e", "regexp", "^a[b-d]e$"),
            (".*", "regexp", "^\\.[^/]*$"),
            ("abc.def", "exact", ""),
            ("abc?def", "regexp", "^abc[^/]def$"),
            ("**/foo/bar", "suffix", ""),
            ("a(b)c/def", "exact", ""),
            ("a.|)$(}+{bc", "exact", ""),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "exact",
                "",
            ),
        ];
        for &(pattern, kind, re) in cases {
            let (k, got) = compile(&clean(pattern)).unwrap();
            let got_kind = match k {
                Kind::Exact => "exact",
                Kind::Prefix => "prefix",
                Kind::Suffix => "suffix",
                Kind::Regexp(_) => "regexp",
            };
            assert_eq!(got_kind, kind, "{pattern}");
            if kind == "regexp" {
                assert_eq!(got, re, "{pattern}");
            }
        }
    }

    fn m(expr: &str, text: &str) -> bool {
        go_regex(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .is_match(text)
    }

    #[test]
    fn go_regexp_anchors_stars_and_groups() {
        assert!(m("^(.*/)?file[^/]*txt$", "dir/dir/file.txt"));
        assert!(m("^(.*/)?file[^/]*txt$", "file.txt"));
        assert!(!m("^(.*/)?file[^/]*txt$", "dir/file/txt"));
        assert!(m("^a[^/]*/b$", "abc/b"));
        assert!(!m("^a[^/]*/b$", "a/c/b"));
        assert!(m("b", "abc"), "unanchored search, as Go's MatchString");
        assert!(!m("^a^b$", "a^b"), "a bare ^ asserts the start of the text");
        assert!(!m("^a$", "a\n"), "$ is the very end");
        assert!(m("^ab+c$", "abbc") && !m("^ab+c$", "ac"));
        assert!(m("^ab?c$", "ac") && m("^ab?c$", "abc") && !m("^ab?c$", "abbc"));
        assert!(m("^a*?b$", "aab"), "non-greedy is allowed");
        let many_stars = format!("^{}b$", "a*".repeat(30));
        assert!(!m(&many_stars, &"a".repeat(200)));
    }

    // Checked against docker 28's CLI: `a?b` keeps `a\nb` out of the context, `**/x*` sends
    // `p\nq/x1`, `e\Sf` sends `e\nf`, `g\sh` sends `g\vh`, `l\<m` keeps `l<m` out.
    #[test]
    fn go_regexp_newlines_and_perl_classes() {
        assert!(!m("^.$", "\n"), "no s flag: . skips \n");
        assert!(m("^[^/]$", "\n"), "Perl flags include ClassNL");
        assert!(m("^[[:^alpha:]]$", "\n") && m("^\\D$", "\n"));
        assert!(!m("^e\\Sf$", "e\nf") && m("^e\\Sf$", "exf"));
        assert!(
            m("^g\\sh$", "g\th") && !m("^g\\sh$", "g\x0bh"),
            "Go's \\s has no \\v"
        );
        assert!(m("^[[:space:]]$", "\x0b"), "but [:space:] has");
        assert!(m("^\\d\\w$", "1_") && !m("^\\d$", "\u{0663}") && !m("^\\w$", "é"));
        assert!(m("^\\W$", "é") && m("^[\\W]$", "é") && !m("^[^\\W]$", "é"));
        assert!(m("^[\\d]$", "7") && m("^[\\d-z]$", "-") && m("^[\\s]$", " "));
        assert!(m("^l\\<m\\>$", "l<m>"), "escaped punctuation is itself");
        assert!(m("^\\t\\a\\f\\v\\r\\n$", "\t\x07\x0c\x0b\r\n"));
    }

    #[test]
    fn go_regexp_classes() {
        assert!(m("^[\\]a]$", "]"));
        assert!(m("^[]a]$", "]"), "] first in a class is literal");
        assert!(m("^[^]a]$", "b") && !m("^[^]a]$", "]"));
        assert!(m("^a]$", "a]"), "] outside a class is literal");
        assert!(m("^[x\\-]$", "-") && !m("^[x\\-]$", "z"));
        assert!(m("^[a-]$", "-"), "a trailing - is literal");
        assert!(
            m("^[a-c-e]$", "-") && m("^[a-c-e]$", "e") && !m("^[a-c-e]$", "d"),
            "Perl mode allows - anywhere"
        );
        assert!(m("^[--/]$", "."), "a range from -");
        assert!(m("^[x&&y]$", "&") && m("^[x~~y]$", "~") && m("^[!--]$", ","));
        assert!(m("^[[]$", "[") && m("^[a[b]$", "["));
        assert!(m("^[[:alpha:]]$", "q") && !m("^[[:alpha:]]$", "1"));
        assert!(m("^[[:^digit:]]$", "q") && !m("^[[:^digit:]]$", "1"));
        assert!(m("^[[:word:][:punct:]]+$", "a_!~"));
        assert!(m("^[[:]$", ":"), "no :] further on, so [ is a member");
        assert!(m("^[a-ζ]*$", "α"));
        assert!(!m("^[a-ζ]$", "A"));
        // `[*]` in a pattern becomes `[[^/]*]`: the class `[[^/]`, a star, then `]`.
        assert!(m("^[[^/]*]$", "[^]") && m("^[[^/]*]$", "]") && !m("^[[^/]*]$", "a]"));
    }

    #[test]
    fn go_regexp_syntax_errors() {
        for bad in [
            "a**",
            "a*??",
            "*a",
            "[x--y]",
            "(a",
            "a)",
            "[a",
            "[^",
            "[z-a]",
            "[a-\\d]",
            "a\\",
            "\\q",
            "\\x41",
            "\\pL",
            "\\b",
            "\\1",
            "\\é",
            "[[:nope:]]",
            "[[:a]b:]",
        ] {
            assert!(go_regex(bad).is_err(), "{bad}");
        }
        // Through a pattern: a bad regexp is a bad pattern, with a short reason.
        for (pattern, why) in [
            ("a\\q", "unsupported escape sequence \\q"),
            ("[[:nope:]]", "invalid character class range [:nope:]"),
            ("[z-a]", "invalid character class range"),
        ] {
            let err = matcher(&[pattern]).unwrap_err();
            assert!(err.contains(why), "{pattern}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    // moby/patternmatcher ignorefile TestReadAll.
    #[test]
    fn reads_ignore_files() {
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_patterns(content.as_bytes()),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        let tricky = "\u{feff}# bom then comment\r\n./build//out/\r\n  # not a comment\n\t*.log \n/\n!./keep/../keep.txt\n";
        assert_eq!(
            read_patterns(tricky.as_bytes()),
            ["build/out", "# not a comment", "*.log", "/", "!keep.txt"]
        );
        assert!(read_patterns(b"").is_empty());
    }

    #[test]
    fn go_clean() {
        for (path, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b/./c/", "a/b/c"),
            ("a/b/../c", "a/c"),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("./", "."),
            ("a/..", "."),
        ] {
            assert_eq!(clean(path), want, "{path}");
        }
    }
}
