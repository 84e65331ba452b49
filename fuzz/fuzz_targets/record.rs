//! The release record parser (mvk-core `Record::parse`): never panics, and a record it accepts
//! is written as one line that parses back to the same record and the same line. A typed
//! section it holds (`candidate`) is written back and read again as the same section.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_core::{section, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let input = Record::parse_input(text);
    assert_eq!(
        matches!(input, Ok(None)),
        text.trim().is_empty(),
        "only white space is no record"
    );
    let Ok(record) = Record::parse(text) else {
        return;
    };
    let line = record.to_line();
    assert!(!line.contains('\n'), "a record is one line: {line}");
    let again = Record::parse(&line).unwrap_or_else(|e| panic!("{line}: {}", e.message));
    assert_eq!(again, record, "{line}");
    assert_eq!(again.to_line(), line);
    assert_eq!(again.app(), record.app());
    if let Ok(Some(candidate)) = record.section::<section::Candidate>() {
        let mut written = record.clone();
        written.put(&candidate);
        let again = written.section::<section::Candidate>();
        assert_eq!(again.ok().flatten(), Some(candidate), "{line}");
    }
});
