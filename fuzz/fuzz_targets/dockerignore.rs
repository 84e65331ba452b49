//! `.dockerignore` (mvk-build): reading and compiling any file never panics, and matching
//! agrees with itself. Input: the ignore file, then NUL-separated paths to match.
//!
//! For every path: any spelling of it (`./a//b/`) matches as its cleaned form does; the
//! whole-path match (`MatchesUsingParentResults` without parent results, which checks every
//! parent directory itself) and the tar walk's (from the top down, each directory passing its
//! results to its children) agree when no pattern is an `!` exception (with one they differ in
//! Docker too: for `a/b` and `!a` the walk excludes `a/b/x`, the whole-path match takes it
//! back through its parent `a`; mvk-build walks, as `docker build` does); and a pattern
//! without wildcards matches its own text and what lies below it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_build::{read_dockerignore, Dockerignore};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let patterns = read_dockerignore(parts.next().unwrap_or_default());
    let Ok(matcher) = Dockerignore::new(&patterns) else {
        return;
    };
    for path in parts {
        let path = String::from_utf8_lossy(path);
        check_path(&matcher, &path);
    }
    for p in &patterns {
        // What docker's patternmatcher keeps of a pattern: trimmed (`\v` too) and cleaned again.
        let p = mvk_build::dockerignore::clean(p.trim());
        let literal = !p.contains(['*', '?', '[', ']', '\\', '!']) && p != ".";
        if literal {
            let one = Dockerignore::new(std::slice::from_ref(&p)).expect("a literal compiles");
            assert!(one.matches(&p), "pattern {p:?} does not match itself");
            assert!(
                one.matches_using_parent_results(&format!("{p}/x"), None).0,
                "pattern {p:?} does not match below itself"
            );
        }
    }
});

fn check_path(matcher: &Dockerignore, path: &str) {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let (root, rest) = match path.strip_prefix('/') {
        Some(rest) => ("/", rest),
        None => ("", path),
    };
    let spelled = format!("{root}./{}/", rest.replace('/', "//"));
    assert_eq!(
        matcher.matches(path),
        matcher.matches(&spelled),
        "{path:?} vs {spelled:?}"
    );
    // The walk sees clean relative paths only.
    if parts.is_empty() || parts.contains(&"..") {
        return;
    }
    let clean = parts.join("/");
    let whole = matcher.matches_using_parent_results(&clean, None).0;
    if matcher.exclusions() {
        return;
    }
    let mut info: Option<Vec<bool>> = None;
    let mut walked = false;
    let mut prefix = String::new();
    for part in parts {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let (m, i) = matcher.matches_using_parent_results(&prefix, info.as_deref());
        walked = m;
        info = Some(i);
    }
    assert_eq!(
        walked, whole,
        "{clean:?}: walk and whole-path match disagree"
    );
}
