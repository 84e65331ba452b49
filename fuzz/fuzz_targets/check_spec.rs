//! `mvk-verify --check PATH[=STATUS][~REGEX]`: never panics; a spec it accepts has a path
//! starting with `/` (no blanks, no `~`) and a real HTTP status, and written back in its
//! canonical form it parses to the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_verify::{parse_check_spec, Check};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(check) = parse_check_spec(spec) else {
        return;
    };
    assert!(check.path.starts_with('/'), "{spec:?}: {check:?}");
    assert!(!check.path.contains('~'), "{spec:?}: {check:?}");
    assert!(
        !check
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control()),
        "{spec:?}: {check:?}"
    );
    assert!((100..=599).contains(&check.status), "{spec:?}: {check:?}");
    let written = canonical(&check);
    let again = parse_check_spec(&written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(
        (
            &again.path,
            again.status,
            again.body.as_ref().map(|r| r.as_str())
        ),
        (
            &check.path,
            check.status,
            check.body.as_ref().map(|r| r.as_str())
        ),
        "{spec:?} written as {written:?}"
    );
});

/// `PATH=STATUS~REGEX`, leaving out `=STATUS` only where a `=` would read as a query value.
fn canonical(check: &Check) -> String {
    let mut spec = check.path.clone();
    let query_value = check
        .path
        .split_once('?')
        .is_some_and(|(_, q)| !q.rsplit('&').next().unwrap_or("").contains('='));
    if query_value {
        assert_eq!(check.status, 200, "{check:?}");
    } else {
        spec += &format!("={}", check.status);
    }
    if let Some(body) = &check.body {
        spec += &format!("~{}", body.as_str());
    }
    spec
}
