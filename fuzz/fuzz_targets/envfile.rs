//! The app's env file parser: never panics; every variable it yields has a valid name and a
//! one-line value, and written back as `KEY=VALUE` lines the variables parse the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_healthwait::parse_env_file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(vars) = parse_env_file(text) else {
        return;
    };
    for (key, value) in &vars {
        let mut bytes = key.bytes();
        assert!(
            bytes
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{key:?}"
        );
        assert!(!value.contains('\n'), "{key}={value:?}");
    }
    let written: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let again = parse_env_file(&written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(again, vars, "{written:?}");
});
