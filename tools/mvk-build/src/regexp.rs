//! The part of Go's regular expressions (RE2 syntax, Perl flags) that docker's `.dockerignore`
//! matcher produces, so patterns match here exactly as `docker build` matches them.
//!
//! Docker turns every pattern into a Go regexp string (see [`crate::dockerignore`]); the
//! pattern's own `[...]` classes, `\` escapes and `^` pass into that string as they are, so
//! the string is parsed the way Go parses it and run on a small Thompson NFA (no
//! backtracking, so no pattern can make matching slow). Go behaviours kept on purpose: `.` and
//! negated classes do not match `\n`; `^`/`$` are the start/end of the whole text; `-` may
//! stand anywhere in a class; `[:alpha:]` and `\d \s \w` classes. Syntax docker can never
//! emit unescaped (`|`, `(?flags)`) and rare escapes (`\p{..}`, `\x..`, octal, `\b`) are
//! refused as a bad pattern rather than guessed.

const MAX_CHAR: u32 = 0x10FFFF;

/// A set of characters as sorted, non-overlapping inclusive ranges.
#[derive(Debug, Clone, PartialEq)]
struct Class(Vec<(u32, u32)>);

impl Class {
    fn of(ranges: &[(u32, u32)]) -> Class {
        let mut c = Class(Vec::new());
        for &(lo, hi) in ranges {
            c.add(lo, hi);
        }
        c
    }

    fn add(&mut self, lo: u32, hi: u32) {
        self.0.push((lo, hi));
        self.0.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for &(lo, hi) in &self.0 {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.0 = merged;
    }

    fn add_class(&mut self, other: &Class) {
        for &(lo, hi) in &other.0 {
            self.add(lo, hi);
        }
    }

    fn negated(&self) -> Class {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= MAX_CHAR {
            out.push((next, MAX_CHAR));
        }
        Class(out)
    }

    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.0.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }
}

#[derive(Debug)]
enum Node {
    Chars(Class),
    /// `.`: any character but `\n`.
    Any,
    Begin,
    End,
    Group(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u8,
        many: bool,
    },
}

#[derive(Debug)]
enum Inst {
    Chars(Class),
    Any,
    Begin,
    End,
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled expression; [`Regex::is_match`] searches like Go's `MatchString`.
#[derive(Debug)]
pub struct Regex {
    prog: Vec<Inst>,
}

impl Regex {
    pub fn new(expr: &str) -> Result<Regex, String> {
        let chars: Vec<char> = expr.chars().collect();
        let mut parser = Parser { s: &chars, i: 0 };
        let nodes = parser.sequence(0)?;
        if parser.i < chars.len() {
            return Err(format!("unexpected ) in `{expr}`"));
        }
        let mut prog = Vec::new();
        emit_all(&nodes, &mut prog);
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let n = self.prog.len();
        let mut seen = vec![usize::MAX; n];
        let mut current: Vec<usize> = Vec::new();
        for pos in 0..=chars.len() {
            // Unanchored search: a new thread may start at every position.
            let mut next_threads = Vec::new();
            std::mem::swap(&mut current, &mut next_threads);
            let mut list = Vec::new();
            for pc in next_threads.into_iter().chain(std::iter::once(0)) {
                if self.add(pc, pos, chars.len(), &mut seen, &mut list) {
                    return true;
                }
            }
            let Some(&c) = chars.get(pos) else { break };
            for pc in list {
                let ok = match &self.prog[pc] {
                    Inst::Chars(class) => class.contains(c),
                    Inst::Any => c != '\n',
                    _ => false,
                };
                if ok {
                    current.push(pc + 1);
                }
            }
        }
        false
    }

    /// Follows the empty transitions from `pc` at `pos`; true when `Match` is reached.
    fn add(
        &self,
        pc: usize,
        pos: usize,
        len: usize,
        seen: &mut [usize],
        list: &mut Vec<usize>,
    ) -> bool {
        if seen[pc] == pos {
            return false;
        }
        seen[pc] = pos;
        match self.prog[pc] {
            Inst::Match => true,
            Inst::Jmp(to) => self.add(to, pos, len, seen, list),
            Inst::Split(a, b) => {
                self.add(a, pos, len, seen, list) || self.add(b, pos, len, seen, list)
            }
            Inst::Begin => pos == 0 && self.add(pc + 1, pos, len, seen, list),
            Inst::End => pos == len && self.add(pc + 1, pos, len, seen, list),
            Inst::Chars(_) | Inst::Any => {
                list.push(pc);
                false
            }
        }
    }
}

fn emit_all(nodes: &[Node], prog: &mut Vec<Inst>) {
    for node in nodes {
        emit(node, prog);
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Chars(c) => prog.push(Inst::Chars(c.clone())),
        Node::Any => prog.push(Inst::Any),
        Node::Begin => prog.push(Inst::Begin),
        Node::End => prog.push(Inst::End),
        Node::Group(nodes) => emit_all(nodes, prog),
        Node::Repeat { node, min: 1, .. } => {
            // e+ : e, then loop back or go on.
            let start = prog.len();
            emit(node, prog);
            let split = prog.len();
            prog.push(Inst::Split(start, split + 1));
        }
        Node::Repeat { node, many, .. } => {
            // e* : split(e, out); e; jmp split.   e? : split(e, out); e.
            let split = prog.len();
            prog.push(Inst::Jmp(0));
            emit(node, prog);
            if *many {
                prog.push(Inst::Jmp(split));
            }
            let out = prog.len();
            prog[split] = Inst::Split(split + 1, out);
        }
    }
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn sequence(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        let mut nodes: Vec<Node> = Vec::new();
        // Go refuses a repetition of a repetition (`a**`), allowing one `?` for non-greedy.
        let mut repeated = false;
        while let Some(c) = self.peek() {
            match c {
                ')' if depth > 0 => return Ok(nodes),
                ')' => return Err("unexpected )".into()),
                '*' | '+' | '?' => {
                    self.i += 1;
                    let nongreedy = self.peek() == Some('?');
                    if nongreedy {
                        self.i += 1;
                    }
                    if repeated {
                        return Err("invalid nested repetition operator".into());
                    }
                    let node = nodes
                        .pop()
                        .ok_or("missing argument to repetition operator")?;
                    let (min, many) = match c {
                        '*' => (0, true),
                        '+' => (1, true),
                        _ => (0, false),
                    };
                    nodes.push(Node::Repeat {
                        node: Box::new(node),
                        min,
                        many,
                    });
                    repeated = true;
                    continue;
                }
                '|' => return Err("alternation is not supported".into()),
                '(' => {
                    self.i += 1;
                    if self.peek() == Some('?') {
                        return Err("group flags are not supported".into());
                    }
                    let inner = self.sequence(depth + 1)?;
                    if self.peek() != Some(')') {
                        return Err("missing closing )".into());
                    }
                    self.i += 1;
                    nodes.push(Node::Group(inner));
                }
                '.' => {
                    self.i += 1;
                    nodes.push(Node::Any);
                }
                '^' => {
                    self.i += 1;
                    nodes.push(Node::Begin);
                }
                '$' => {
                    self.i += 1;
                    nodes.push(Node::End);
                }
                '[' => {
                    self.i += 1;
                    nodes.push(Node::Chars(self.class()?));
                }
                '\\' => {
                    self.i += 1;
                    nodes.push(Node::Chars(self.escape()?));
                }
                _ => {
                    self.i += 1;
                    nodes.push(Node::Chars(Class::of(&[(c as u32, c as u32)])));
                }
            }
            repeated = false;
        }
        if depth > 0 {
            return Err("missing closing )".into());
        }
        Ok(nodes)
    }

    /// After a `\`: a punctuation character stands for itself; `\d \s \w` and their
    /// negations are classes; a few control escapes.
    fn escape(&mut self) -> Result<Class, String> {
        let c = self
            .peek()
            .ok_or("trailing backslash at end of expression")?;
        self.i += 1;
        if let Some(class) = perl_class(c) {
            return Ok(class);
        }
        let lit = match c {
            'a' => '\x07',
            'f' => '\x0c',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\x0b',
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => c,
            c => return Err(format!("unsupported escape sequence \\{c}")),
        };
        Ok(Class::of(&[(lit as u32, lit as u32)]))
    }

    /// After a `[`: Go's class syntax with Perl extensions.
    fn class(&mut self) -> Result<Class, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.i += 1;
        }
        let mut class = Class(Vec::new());
        let mut first = true;
        loop {
            let c = self.peek().ok_or("missing closing ]")?;
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            if c == '[' && self.s.get(self.i + 1) == Some(&':') {
                if let Some(named) = self.named_class()? {
                    class.add_class(&named);
                    continue;
                }
            }
            if c == '\\' {
                if let Some(perl) = self.s.get(self.i + 1).and_then(|&n| perl_class(n)) {
                    self.i += 2;
                    class.add_class(&perl);
                    continue;
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            // `a-` before the closing `]` is `a` and `-`.
            if self.peek() == Some('-') && self.s.get(self.i + 1).is_some_and(|&n| n != ']') {
                self.i += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return Err("invalid character class range".into());
                }
            }
            class.add(lo as u32, hi as u32);
        }
        if negated {
            // Go: a negated class never matches a newline.
            class.add('\n' as u32, '\n' as u32);
            class = class.negated();
        }
        Ok(class)
    }

    fn class_char(&mut self) -> Result<char, String> {
        let c = self.peek().ok_or("missing closing ]")?;
        self.i += 1;
        if c != '\\' {
            return Ok(c);
        }
        let class = self.escape()?;
        match class.0.as_slice() {
            [(lo, hi)] if lo == hi => Ok(char::from_u32(*lo).unwrap_or('\u{fffd}')),
            _ => Err("invalid escape in character class range".into()),
        }
    }

    /// `[:alpha:]` (or `[:^alpha:]`) at the cursor; `None` when it is not one (then `[` is
    /// an ordinary character, as in Go).
    fn named_class(&mut self) -> Result<Option<Class>, String> {
        let rest: String = self.s[self.i + 2..].iter().collect();
        let Some(end) = rest.find(":]") else {
            return Ok(None);
        };
        let name = &rest[..end];
        let (negated, name) = match name.strip_prefix('^') {
            Some(n) => (true, n),
            None => (false, name),
        };
        let ranges: &[(u32, u32)] = match name {
            "alnum" => &[(48, 57), (65, 90), (97, 122)],
            "alpha" => &[(65, 90), (97, 122)],
            "ascii" => &[(0, 127)],
            "blank" => &[(9, 9), (32, 32)],
            "cntrl" => &[(0, 31), (127, 127)],
            "digit" => &[(48, 57)],
            "graph" => &[(33, 126)],
            "lower" => &[(97, 122)],
            "print" => &[(32, 126)],
            "punct" => &[(33, 47), (58, 64), (91, 96), (123, 126)],
            "space" => &[(9, 13), (32, 32)],
            "upper" => &[(65, 90)],
            "word" => &[(48, 57), (65, 90), (95, 95), (97, 122)],
            "xdigit" => &[(48, 57), (65, 70), (97, 102)],
            _ => return Err(format!("invalid character class range [:{name}:]")),
        };
        self.i += 2 + name.chars().count() + usize::from(negated) + 2;
        let class = Class::of(ranges);
        Ok(Some(if negated { class.negated() } else { class }))
    }
}

fn perl_class(c: char) -> Option<Class> {
    let ranges: &[(u32, u32)] = match c.to_ascii_lowercase() {
        'd' => &[(48, 57)],
        's' => &[(9, 10), (12, 13), (32, 32)],
        'w' => &[(48, 57), (65, 90), (95, 95), (97, 122)],
        _ => return None,
    };
    let class = Class::of(ranges);
    Some(if c.is_ascii_uppercase() {
        class.negated()
    } else {
        class
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(expr: &str, text: &str) -> bool {
        Regex::new(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .is_match(text)
    }

    #[test]
    fn anchors_stars_and_groups() {
        assert!(m("^(.*/)?file[^/]*txt$", "dir/dir/file.txt"));
        assert!(m("^(.*/)?file[^/]*txt$", "file.txt"));
        assert!(!m("^(.*/)?file[^/]*txt$", "dir/file/txt"));
        assert!(m("^a[^/]*/b$", "abc/b"));
        assert!(!m("^a[^/]*/b$", "a/c/b"));
        assert!(m("b", "abc"), "unanchored search, as Go's MatchString");
        assert!(!m("^a^b$", "a^b"), "a bare ^ asserts the start of the text");
        assert!(m("^ab+c$", "abbc") && !m("^ab+c$", "ac"));
        assert!(m("^ab?c$", "ac") && m("^ab?c$", "abc") && !m("^ab?c$", "abbc"));
        assert!(m("^a*?b$", "aab"), "non-greedy is allowed");
    }

    #[test]
    fn newlines_are_outside_dot_and_negated_classes() {
        assert!(!m("^.$", "\n"));
        assert!(!m("^[^/]$", "\n"));
        assert!(m("^[^/]$", "x"));
        assert!(m("^\\D$", "\n"), "a negated Perl class does include \\n");
    }

    #[test]
    fn classes_as_go_parses_them() {
        assert!(m("^[\\]a]$", "]"));
        assert!(m("^[]a]$", "]"), "] first in a class is literal");
        assert!(m("^[x\\-]$", "-") && !m("^[x\\-]$", "z"));
        assert!(m("^[a-]$", "-"), "a trailing - is literal");
        assert!(
            m("^[a-c-e]$", "-") && m("^[a-c-e]$", "e"),
            "Perl mode allows - anywhere"
        );
        assert!(m("^[[]$", "["));
        assert!(m("^[[:alpha:]]$", "q") && !m("^[[:alpha:]]$", "1"));
        assert!(m("^[[:^digit:]]$", "q") && !m("^[[:^digit:]]$", "1"));
        assert!(m("^[\\d]$", "7") && m("^\\w+$", "a_1"));
        assert!(m("^[a-ζ]*$", "α"));
        assert!(!m("^[a-ζ]$", "A"));
        // `[*]` in a pattern becomes `[[^/]*]`: the class `[[^/]`, a star, then `]`.
        assert!(m("^[[^/]*]$", "[^]") && m("^[[^/]*]$", "]"));
    }

    #[test]
    fn go_syntax_errors() {
        for bad in [
            "a**",
            "*a",
            "(a",
            "a)",
            "[a",
            "[z-a]",
            "a\\",
            "\\q",
            "[[:nope:]]",
            "a|b",
        ] {
            assert!(Regex::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_blowup_on_many_stars() {
        let expr = format!("^{}b$", "a*".repeat(30));
        assert!(!m(&expr, &"a".repeat(200)));
    }
}
