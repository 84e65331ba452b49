//! Duration options (mvk-core `parse_duration`: `200ms`, `1m30s`, `1.5`): never panics, and
//! an accepted duration written as bare seconds parses back to (nearly) the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_core::time::parse_duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(d) = parse_duration(text) else {
        return;
    };
    let written = format!("{}", d.as_secs_f64());
    let again = parse_duration(&written).unwrap_or_else(|e| panic!("{text:?} as {written}: {e}"));
    let diff = again.abs_diff(d).as_secs_f64();
    assert!(
        diff <= d.as_secs_f64() * 1e-12 + 1e-9,
        "{text:?} is {d:?}, written {written} is {again:?}"
    );
});
