//! `--alertmanager URL`: firing alerts, and alerts that stopped firing, posted to
//! Alertmanager's API v2 with the fields and times Prometheus's notifier sends.

use crate::alerting::State;
use crate::clock::rfc3339_ms;
use crate::engine::Outcome;
use anyhow::Result;
use mvk_core::Fail;
use serde_json::{Map, Value};
use std::time::Duration;

/// Prometheus re-sends a firing alert every minute and lets it lapse after four missed sends.
const RESEND_MS: i64 = 60_000;

/// The alerts to post: firing ones (`startsAt` when they fired, `endsAt` four re-send
/// intervals on, so Alertmanager resolves them if nothing repeats them) and resolved ones
/// (`endsAt` when they stopped). Pending alerts are not sent.
pub fn body(
    outcomes: &[Outcome],
    at: i64,
    interval_ms: i64,
    prometheus: Option<&str>,
) -> Vec<Value> {
    let mut alerts = Vec::new();
    for outcome in outcomes {
        for alert in &outcome.alerts {
            let ends = match alert.state {
                State::Pending => continue,
                State::Firing => at + 4 * RESEND_MS.max(interval_ms),
                State::Inactive => alert.resolved_at.unwrap_or(at),
            };
            let mut a = Map::new();
            a.insert("labels".into(), object(alert.labels.iter()));
            a.insert(
                "annotations".into(),
                object(
                    alert
                        .annotations
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
            );
            a.insert(
                "startsAt".into(),
                rfc3339_ms(alert.fired_at.unwrap_or(alert.active_at)).into(),
            );
            a.insert("endsAt".into(), rfc3339_ms(ends).into());
            if let Some(base) = prometheus {
                let link = format!(
                    "{base}/graph?g0.expr={}&g0.tab=1",
                    query_escape(&outcome.rule.expr.to_string())
                );
                a.insert("generatorURL".into(), link.into());
            }
            alerts.push(Value::Object(a));
        }
    }
    alerts
}

pub fn object<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect(),
    )
}

/// POSTs the alerts to `<url>/api/v2/alerts`; any failure to deliver is exit 4.
pub fn post(url: &str, alerts: &[Value]) -> Result<()> {
    let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
    let unavailable =
        |why: String| Fail::unavailable("alertmanager", format!("posting to {endpoint}: {why}"));
    let agent = mvk_core::http::agent(Duration::from_secs(10));
    let body = serde_json::to_string(alerts)?;
    let mut reply = agent
        .post(&endpoint)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .map_err(|e| unavailable(e.to_string()))?;
    let status = reply.status().as_u16();
    if !(200..300).contains(&status) {
        let text = reply.body_mut().read_to_string().unwrap_or_default();
        return Err(unavailable(format!("Alertmanager answered {status}: {}", text.trim())).into());
    }
    Ok(())
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_queries_as_go_does() {
        assert_eq!(
            query_escape(r#"up{job="a b"} == 0"#),
            "up%7Bjob%3D%22a+b%22%7D+%3D%3D+0"
        );
    }
}
