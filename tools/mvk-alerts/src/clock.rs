//! Time as Prometheus counts it: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-11-26T14:00:00Z`, or `2026-11-26T14:00:00.250Z` when there are milliseconds.
pub fn rfc3339_ms(t: i64) -> String {
    let secs = mvk_core::time::rfc3339_secs(t.div_euclid(1000));
    match t.rem_euclid(1000) {
        0 => secs,
        ms => format!("{}.{ms:03}Z", secs.trim_end_matches('Z')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_only_when_there_are_some() {
        assert_eq!(rfc3339_ms(14_000), "1970-01-01T00:00:14Z");
        assert_eq!(rfc3339_ms(14_250), "1970-01-01T00:00:14.250Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
