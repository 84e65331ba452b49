//! `mvk-verify --checks FILE` (a JSON list of checks): never panics; every check it accepts
//! has a path starting with `/`, a real HTTP status, a positive latency bound, and headers
//! the HTTP client takes (so a bad one is exit 2 here, never a failed request later).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_verify::parse_checks_file;
use ureq::http::{HeaderName, HeaderValue, Method};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checks) = parse_checks_file(text) else {
        return;
    };
    assert!(!checks.is_empty());
    for c in &checks {
        assert!(c.path.starts_with('/'), "{c:?}");
        assert!((100..=599).contains(&c.status), "{c:?}");
        assert!(c.max.is_none_or(|d| !d.is_zero()), "{c:?}");
        assert!(Method::from_bytes(c.method.as_bytes()).is_ok(), "{c:?}");
        // As the request builder converts them.
        for (name, value) in &c.headers {
            assert!(HeaderName::try_from(name).is_ok(), "{c:?}");
            assert!(HeaderValue::try_from(value).is_ok(), "{c:?}");
        }
    }
});
