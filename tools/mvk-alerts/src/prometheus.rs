//! `--prometheus URL`: the same rule expressions, evaluated by a real Prometheus through its
//! HTTP API. An instant query (`/api/v1/query`) only says whether a condition holds now; the
//! `for` clause needs its history, so each condition is also asked for over the hold plus an
//! hour (`/api/v1/query_range`, on a grid of evaluations ending now), and the alert states
//! are replayed over that grid as rule evaluation keeps them. A grid ending now (a subquery's
//! would end at the last whole step) sees every alert Prometheus's own evaluation has fired.

use crate::alerting::{Alerts, Rule};
use crate::engine::{worst, Outcome};
use crate::tsdb::Labels;
use anyhow::Result;
use mvk_core::Fail;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How far before the `for` hold the history reaches, to find when an alert became active.
const HISTORY_MS: i64 = 3_600_000;

/// Prometheus refuses a range query of more than 11000 points per series.
const MAX_POINTS: i64 = 10_000;

pub struct Prometheus {
    agent: ureq::Agent,
    pub base: String,
}

type Series = Vec<(Labels, Vec<(i64, f64)>)>;

impl Prometheus {
    pub fn new(base: &str, timeout: Duration) -> Prometheus {
        Prometheus {
            agent: mvk_core::http::agent(timeout),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Every rule's state at `at` (ms), its conditions evaluated every `step_ms`.
    pub fn outcomes<'a>(
        &self,
        rules: &'a [Rule],
        at: i64,
        step_ms: i64,
    ) -> Result<Vec<Outcome<'a>>> {
        let mut outcomes = Vec::new();
        for rule in rules {
            let step = step_ms.max((rule.hold_ms + HISTORY_MS) / MAX_POINTS + 1);
            let start = at - (rule.hold_ms + HISTORY_MS).div_euclid(step) * step - step;
            let history = self.query_range(&rule.expr.to_string(), start, at, step)?;
            let mut alerts = Alerts::default();
            let mut t = start;
            while t <= at {
                let result: Vec<(Labels, f64)> = history
                    .iter()
                    .filter_map(|(labels, points)| {
                        points
                            .iter()
                            .find(|(pt, _)| *pt == t)
                            .map(|(_, v)| (labels.clone(), *v))
                    })
                    .collect();
                alerts.update(rule, t, result).map_err(anyhow::Error::msg)?;
                t += step;
            }
            let now = self.query(&rule.value_expr.to_string(), at)?;
            let values: Vec<(Labels, f64)> = now
                .into_iter()
                .filter_map(|(l, points)| points.last().map(|(_, v)| (l, *v)))
                .collect();
            outcomes.push(Outcome {
                rule,
                state: alerts.state(),
                value: worst(rule, &values),
                alerts: alerts.all().into_iter().cloned().collect(),
            });
        }
        Ok(outcomes)
    }

    /// `/api/v1/query` at `at` (ms): each series with its one point.
    fn query(&self, query: &str, at: i64) -> Result<Series> {
        self.get("query", query, &[("time", seconds(at))])
    }

    /// `/api/v1/query_range` from `start` to `end` (ms) every `step` (ms).
    fn query_range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Series> {
        let params = [
            ("start", seconds(start)),
            ("end", seconds(end)),
            ("step", seconds(step)),
        ];
        self.get("query_range", query, &params)
    }

    fn get(&self, endpoint: &str, query: &str, params: &[(&str, String)]) -> Result<Series> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let unavailable = |why: String| {
            Fail::unavailable("prometheus", format!("Prometheus at {}: {why}", self.base))
        };
        let mut request = self.agent.get(&url).query("query", query);
        for (k, v) in params {
            request = request.query(*k, v);
        }
        let mut reply = request
            .call()
            .map_err(|e| unavailable(format!("no answer: {e}")))?;
        let status = reply.status().as_u16();
        let body = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| unavailable(format!("cannot read the answer: {e}")))?;
        let json: Value = serde_json::from_str(&body).map_err(|_| {
            unavailable(format!(
                "answered {status} with something not JSON: {}",
                body.trim()
            ))
        })?;
        if status != 200 || json["status"] != "success" {
            let error = json["error"].as_str().unwrap_or(body.trim());
            return Err(unavailable(format!("answered {status} to {query}: {error}")).into());
        }
        parse_result(&json["data"])
            .map_err(|e| unavailable(format!("unexpected answer to {query}: {e}")).into())
    }
}

/// Milliseconds as the API's seconds.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn parse_result(data: &Value) -> Result<Series, String> {
    let result = data["result"].as_array().ok_or("no result list")?;
    let matrix = match data["resultType"].as_str() {
        Some("matrix") => true,
        Some("vector") => false,
        other => return Err(format!("result type {other:?}")),
    };
    result
        .iter()
        .map(|s| {
            let metric: BTreeMap<String, String> =
                serde_json::from_value(s["metric"].clone()).map_err(|e| format!("labels: {e}"))?;
            let points = if matrix {
                s["values"]
                    .as_array()
                    .ok_or("no values")?
                    .iter()
                    .map(point)
                    .collect::<Result<_, _>>()?
            } else {
                vec![point(&s["value"])?]
            };
            Ok((Labels::new(metric), points))
        })
        .collect()
}

/// `[1700000000.5, "0.25"]` → (ms, value).
fn point(p: &Value) -> Result<(i64, f64), String> {
    let t = p[0].as_f64().ok_or("a point without a time")?;
    let v = p[1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or("a point without a value")?;
    Ok(((t * 1000.0).round() as i64, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_matrices_and_vectors() {
        let m = json!({"resultType": "matrix", "result": [
            {"metric": {"job": "shop"}, "values": [[1700000000, "1"], [1700000005.5, "NaN"]]}
        ]});
        let s = parse_result(&m).unwrap();
        assert_eq!(s[0].0.get("job"), Some("shop"));
        assert_eq!(s[0].1[0], (1_700_000_000_000, 1.0));
        assert!(s[0].1[1].1.is_nan() && s[0].1[1].0 == 1_700_000_005_500);
        let v = json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]});
        assert_eq!(parse_result(&v).unwrap()[0].1, [(1000, f64::INFINITY)]);
        assert!(parse_result(&json!({"resultType": "scalar", "result": []})).is_err());
    }
}
