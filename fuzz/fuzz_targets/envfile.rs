//! Env files (mvk-core `envfile::parse`, systemd's `EnvironmentFile=` grammar): never panics;
//! every variable has a valid name and a NUL-free value, on a line of the file, in order; and
//! the variables written back with double quotes (escaping `"`, `\`, `` ` ``, `$`) parse to
//! the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_core::envfile::{is_name, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(vars) = parse(text) else {
        return;
    };
    let lines = text.split('\n').count();
    let mut previous = 1;
    for v in &vars {
        assert!(is_name(&v.key), "{v:?}");
        assert!(!v.value.contains('\0'), "{v:?}");
        assert!(
            previous <= v.line && v.line <= lines,
            "{v:?} after line {previous}"
        );
        previous = v.line;
    }
    let written: String = vars
        .iter()
        .map(|v| {
            let mut value = String::new();
            for c in v.value.chars() {
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push('\\');
                }
                value.push(c);
            }
            format!("{}=\"{value}\"\n", v.key)
        })
        .collect();
    let again = parse(&written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    let pairs = |vars: &[mvk_core::envfile::Var]| -> Vec<(String, String)> {
        vars.iter()
            .map(|v| (v.key.clone(), v.value.clone()))
            .collect()
    };
    assert_eq!(
        pairs(&again),
        pairs(&vars),
        "{text:?} written as {written:?}"
    );
});
