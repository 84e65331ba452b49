//! `--replay FILE`: a recorded scrape history, one JSON object per line,
//! `{"ts": SECONDS, "metrics": "<text format>" | null}` (`null`: the scrape failed), fed to
//! the engine line by line, so a history of any length runs in constant memory.

use crate::engine::Engine;
use crate::exposition;
use anyhow::Result;
use mvk_core::{signal, Fail};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The longest line read: one scrape, which a live scrape bounds at `http::MAX_BODY`, twice
/// over for JSON's escapes (a newline is `\n`). Beyond it the replay fails instead of filling
/// memory.
pub const MAX_LINE_BYTES: u64 = 2 * mvk_core::http::MAX_BODY;

pub fn run(path: &Path, engine: &mut Engine) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        Fail::usage(format!(
            "cannot read the replay file {}: {e}",
            path.display()
        ))
    })?;
    let mut reader = BufReader::new(file);
    let mut previous: Option<i64> = None;
    for i in 0u64.. {
        let at = || format!("{}:{}", path.display(), i + 1);
        let Some(line) = next_line(&mut reader, MAX_LINE_BYTES)
            .map_err(|e| Fail::usage(format!("{}: {e}", at())))?
        else {
            break;
        };
        if line.trim().is_empty() {
            continue;
        }
        let (t, scrape) = parse_line(&line).map_err(|e| Fail::usage(format!("{}: {e}", at())))?;
        if let Some(p) = previous.filter(|p| t <= *p) {
            return Err(Fail::usage(format!(
                "{}: ts {} is not after the line before ({})",
                at(),
                t as f64 / 1000.0,
                p as f64 / 1000.0
            ))
            .into());
        }
        previous = Some(t);
        engine
            .scrape(t, scrape)
            .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        if i % 1024 == 0 {
            signal::check()?;
        }
    }
    if engine.evaluations() == 0 {
        return Err(Fail::usage(format!(
            "the replay file {} holds no scrapes",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// The next line without its line ending, `None` at the end of the file; a line longer than
/// `max` bytes is refused as soon as that many have been read.
fn next_line(reader: &mut impl BufRead, max: u64) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let read = reader
        .take(max + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read: {e}"))?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() as u64 > max {
        return Err(format!(
            "the line is longer than {} MiB, the most one replay line (one scrape) may hold",
            max >> 20
        ));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| "the line is not UTF-8".to_string())
}

/// The latest `ts` a replay line may carry: far beyond any real scrape, and far from where
/// milliseconds in an i64 would overflow (an out-of-range `ts` used to be clamped silently).
const MAX_TS: f64 = 1e11;

/// A recorded scrape: its samples, or why it failed.
pub type Scrape = Result<Vec<exposition::Sample>, String>;

/// One line: its time in milliseconds and the scrape it records.
pub fn parse_line(line: &str) -> Result<(i64, Scrape), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or_else(|| {
        "expected an object {\"ts\": SECONDS, \"metrics\": TEXT or null}".to_string()
    })?;
    let ts = obj
        .get("ts")
        .and_then(Value::as_f64)
        .ok_or_else(|| "\"ts\" must be a number of seconds".to_string())?;
    if !(0.0..=MAX_TS).contains(&ts) {
        return Err(format!(
            "\"ts\" {ts:e} is out of range: seconds since 1970, 0 to {MAX_TS:e} (the year 5138)"
        ));
    }
    let t = (ts * 1000.0).round() as i64;
    let scrape = match obj.get("metrics") {
        Some(Value::String(text)) => {
            let samples = exposition::parse(text).map_err(|e| format!("\"metrics\" {e}"))?;
            crate::scrape::check_series(samples.len()).map_err(|e| format!("\"metrics\": {e}"))?;
            Ok(samples)
        }
        Some(Value::Null) => Err("the scrape failed".to_string()),
        _ => return Err("\"metrics\" must be the text format or null".into()),
    };
    Ok((t, scrape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        let max = 8;
        let mut r = std::io::Cursor::new(b"12345678\nabc\r\n\nlast".to_vec());
        let mut lines = Vec::new();
        while let Some(line) = next_line(&mut r, max).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, ["12345678", "abc", "", "last"]);
        for long in [&b"123456789\nok\n"[..], b"123456789"] {
            assert!(next_line(&mut std::io::Cursor::new(long), max + 1).is_ok());
            let err = next_line(&mut std::io::Cursor::new(long), max).unwrap_err();
            assert!(err.contains("longer than"), "{err}");
        }
        let err = next_line(&mut std::io::Cursor::new(b"\xff\n"), max).unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn lines() {
        let (t, s) = parse_line(r#"{"ts": 1.5, "metrics": "x 1\n"}"#).unwrap();
        assert_eq!((t, s.unwrap().len()), (1500, 1));
        let (_, s) = parse_line(r#"{"ts": 2, "metrics": null, "note": "kept aside"}"#).unwrap();
        assert!(s.is_err());
        for (bad, why) in [
            ("{", "invalid JSON"),
            ("[]", "expected an object"),
            (r#"{"metrics": null}"#, "\"ts\""),
            (r#"{"ts": "1", "metrics": null}"#, "\"ts\""),
            (
                r#"{"ts": 1e300, "metrics": null}"#,
                "\"ts\" 1e300 is out of range",
            ),
            (r#"{"ts": -1, "metrics": null}"#, "out of range"),
            (r#"{"ts": 1}"#, "\"metrics\""),
            (r#"{"ts": 1, "metrics": 5}"#, "\"metrics\""),
            (
                r#"{"ts": 1, "metrics": "ok 1\nbad{ 2\n"}"#,
                "\"metrics\" line 2:",
            ),
        ] {
            let err = parse_line(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
