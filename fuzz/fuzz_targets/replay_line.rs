//! A line of a `mvk-alerts --replay` file: never panics; a line it accepts has its time in
//! whole milliseconds as written (no silent clamping), and its scrape written back parses the
//! same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_alerts::parse_replay_line;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((t, scrape)) = parse_replay_line(line) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(line).expect("accepted lines are JSON");
    let ts = v["ts"].as_f64().expect("accepted lines have a numeric ts");
    assert!(
        (t as f64 - ts * 1000.0).abs() <= 1.0,
        "ts {ts} became {t} ms"
    );
    let metrics = match &v["metrics"] {
        serde_json::Value::String(text) => serde_json::Value::String(text.clone()),
        _ => serde_json::Value::Null,
    };
    let written = serde_json::json!({ "ts": ts, "metrics": metrics }).to_string();
    let (t2, scrape2) = parse_replay_line(&written).unwrap_or_else(|e| panic!("{written}: {e}"));
    assert_eq!(t2, t, "{written}");
    assert_eq!(scrape2.is_ok(), scrape.is_ok(), "{written}");
});
