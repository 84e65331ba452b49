//! Size options (mvk-build `parse_size`: `100MB`, `50MiB`, `123456`): never panics, and an
//! accepted size written as bytes parses back to exactly the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_build::parse_size;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bytes) = parse_size(text) else {
        return;
    };
    for written in [bytes.to_string(), format!("{bytes}B"), format!("{bytes} b")] {
        assert_eq!(parse_size(&written), Ok(bytes), "{text:?} as {written:?}");
    }
});
