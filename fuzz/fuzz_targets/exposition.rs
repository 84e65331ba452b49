//! The Prometheus text format parser (mvk-alerts): never panics, and the samples of a scrape
//! it accepts, written back in the text format, parse to the same samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mvk_alerts::exposition::{is_label_name, is_metric_name, Sample};
use mvk_alerts::parse_exposition;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(samples) = parse_exposition(text) else {
        return;
    };
    for s in &samples {
        assert!(is_metric_name(&s.name), "{s:?}");
        assert!(s.labels.iter().all(|(l, _)| is_label_name(l)), "{s:?}");
    }
    let written: String = samples.iter().map(write).collect();
    let again = parse_exposition(&written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(again.len(), samples.len(), "{written:?}");
    for (a, b) in again.iter().zip(&samples) {
        assert_eq!(
            (&a.name, &a.labels, a.timestamp),
            (&b.name, &b.labels, b.timestamp)
        );
        assert!(
            a.value.to_bits() == b.value.to_bits() || a.value.is_nan() && b.value.is_nan(),
            "{written:?}: {} != {}",
            a.value,
            b.value
        );
    }
});

/// One sample as an exporter writes it.
fn write(s: &Sample) -> String {
    let mut line = s.name.clone();
    if !s.labels.is_empty() {
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(l, v)| {
                let v = v
                    .replace('\\', r"\\")
                    .replace('"', "\\\"")
                    .replace('\n', r"\n");
                format!("{l}=\"{v}\"")
            })
            .collect();
        line += &format!("{{{}}}", labels.join(","));
    }
    let value = match s.value {
        v if v.is_nan() => "NaN".to_string(),
        v if v == f64::INFINITY => "+Inf".to_string(),
        v if v == f64::NEG_INFINITY => "-Inf".to_string(),
        v => format!("{v:e}"),
    };
    line += &format!(" {value}");
    if let Some(t) = s.timestamp {
        line += &format!(" {t}");
    }
    line + "\n"
}
