//! The outcome as a node_exporter textfile (`mvk_alerts_<app>.prom`): no sample timestamps
//! (the collector rejects a file with them), replaced atomically so it is never read half
//! written.

use crate::alerting::State;
use crate::engine::Outcome;
use anyhow::Result;
use mvk_core::textfile::Gauges;
use std::path::{Path, PathBuf};

pub fn path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("mvk_alerts_{app}.prom"))
}

pub fn write(dir: &Path, app: &str, outcomes: &[Outcome], now_ms: i64) -> Result<()> {
    mvk_core::atomic::write(&path(dir, app), render(app, outcomes, now_ms).as_bytes())
}

/// App names and rule names need no escaping: both are plain ASCII words.
pub fn render(app: &str, outcomes: &[Outcome], now_ms: i64) -> String {
    let mut out = Gauges::new();
    let per_rule = |f: &dyn Fn(&Outcome) -> Option<f64>| -> Vec<(String, f64)> {
        outcomes
            .iter()
            .filter_map(|o| {
                f(o).map(|v| (format!("app=\"{app}\",alertname=\"{}\"", o.rule.name), v))
            })
            .collect()
    };
    out.family(
        "mvk_alerts_firing",
        "Whether the alert was firing (1) or not (0) at mvk-alerts' last evaluation.",
        &per_rule(&|o| Some(f64::from(u8::from(o.state == State::Firing)))),
    );
    out.family(
        "mvk_alerts_pending",
        "Whether the alert was pending (1) or not (0) at mvk-alerts' last evaluation.",
        &per_rule(&|o| Some(f64::from(u8::from(o.state == State::Pending)))),
    );
    out.family(
        "mvk_alerts_value",
        "The value the alert's condition measures (absent when there was none).",
        &per_rule(&|o| o.value),
    );
    out.family(
        "mvk_alerts_last_run_timestamp_seconds",
        "When mvk-alerts last evaluated the alerts, in seconds since the Unix epoch.",
        &[(format!("app=\"{app}\""), now_ms as f64 / 1000.0)],
    );
    out.text()
}
