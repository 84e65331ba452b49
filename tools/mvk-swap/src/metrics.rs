//! `--textfile-dir`: each swap as node_exporter textfile metrics (`mvk_deploy_<app>.prom`):
//! the live release as an info metric, the last deploy's and rollback's times, how many
//! swaps put a release live, and how long the last deploy took from its first step.

use mvk_core::textfile::{escape, Gauges};
use mvk_core::{time, Record};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("mvk_deploy_{app}.prom"))
}

/// What the file holds from earlier swaps: a sample's value by metric name.
fn earlier(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Writes the file after `record`'s release went live in `slot`.
pub fn write(dir: &Path, record: &Record, slot: &str, now: SystemTime) -> anyhow::Result<()> {
    let app = record.app();
    let file = path(dir, app);
    let before = std::fs::read_to_string(&file).unwrap_or_default();
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as f64;
    let rollback = record.get("rollback").is_some();
    let started = record
        .get("steps")
        .and_then(|s| s.get(0)?.get("started_at")?.as_str().map(str::to_string))
        .and_then(|s| time::parse_rfc3339(&s));
    let label = format!("app=\"{}\"", escape(app));
    let text = |path: &str| record.get(path).and_then(|v| v.as_str()).unwrap_or("");
    let mut g = Gauges::new();
    g.family(
        "mvk_release_info",
        "The release live now (always 1; the release, slot and image as labels).",
        &[(
            format!(
                "{label},release=\"{}\",slot=\"{}\",image=\"{}\"",
                escape(text("release")),
                escape(slot),
                escape(text("image"))
            ),
            1.0,
        )],
    );
    let count = earlier(&before, "mvk_deploys").unwrap_or(0.0) + 1.0;
    g.family(
        "mvk_deploys",
        "How many swaps put a release of the app live (rollbacks included) since the file began.",
        &[(label.clone(), count)],
    );
    let (deploy, back) = match rollback {
        true => (
            earlier(&before, "mvk_last_deploy_timestamp_seconds"),
            Some(now),
        ),
        false => (
            Some(now),
            earlier(&before, "mvk_last_rollback_timestamp_seconds"),
        ),
    };
    for (name, help, value) in [
        (
            "mvk_last_deploy_timestamp_seconds",
            "When a deploy last put a release live, in seconds since the Unix epoch.",
            deploy,
        ),
        (
            "mvk_last_rollback_timestamp_seconds",
            "When a rollback last put a release back, in seconds since the Unix epoch.",
            back,
        ),
    ] {
        if let Some(v) = value {
            g.family(name, help, &[(label.clone(), v)]);
        }
    }
    if let Some(start) = started {
        g.family(
            "mvk_last_deploy_duration_seconds",
            "How long the last swap's pipeline took, from its first step's start to going live.",
            &[(label.clone(), (now - start as f64).max(0.0))],
        );
    }
    g.write(&file)
}
