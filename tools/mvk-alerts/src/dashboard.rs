//! `mvk-alerts dashboard`: a Grafana dashboard (JSON model, importable) graphing the app with
//! the very expressions its alert rules evaluate, over a Prometheus chosen by a datasource
//! variable; and, from mvk-swap's textfile metrics, the live release and deploys and
//! rollbacks as annotations.

use crate::promql::Version;
use crate::rules::{self, Params, RuleArgs};
use serde_json::{json, Value};

/// The dashboard's JSON model for `app`, with the rules' options.
pub fn model(args: &RuleArgs, app: &str) -> Result<Value, String> {
    let params = Params::standing(args, app);
    let graphed = rules::graphed(&params, Version::V3)?;
    let threshold = |name: &str| match name {
        "errors" => Some(args.error_ratio),
        "latency" => Some(args.latency_threshold.as_secs_f64()),
        _ => None,
    };
    let mut panels: Vec<Value> = graphed
        .iter()
        .enumerate()
        .map(|(i, (name, expr))| panel(i, name, &expr.to_string(), threshold(name)))
        .collect();
    // mvk-swap --textfile-dir's metrics, through node_exporter (whose job is not the app's).
    let app_label = format!("app={}", Value::from(app));
    panels.push(release_panel(panels.len(), &app_label));
    // The two minutes after each deploy (rollback): the time itself, not its `changes()`, so
    // that the first one, whose series only just appeared, is marked too.
    let annotation = |name: &str, metric: &str, color: &str| {
        json!({
            "name": name,
            "enable": true,
            "iconColor": color,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "expr": format!("time() - {metric}{{{app_label}}} < 120"),
            "step": "1m",
            "titleFormat": name
        })
    };
    Ok(json!({
        "title": format!("Maverick: {app}"),
        "uid": format!("mvk-{app}"),
        "tags": ["maverick", app],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0
        }]},
        "annotations": {"list": [
            annotation("Deploy", "mvk_last_deploy_timestamp_seconds", "green"),
            annotation("Rollback", "mvk_last_rollback_timestamp_seconds", "red")
        ]},
        "panels": panels
    }))
}

fn panel(i: usize, name: &str, expr: &str, threshold: Option<f64>) -> Value {
    let (title, unit) = match name {
        "requests" => ("Request rate", "reqps"),
        "errors" => ("Error share (HighErrorRate)", "percentunit"),
        "latency" => ("Latency quantile (HighLatency)", "s"),
        _ => ("Up (ServiceDown)", "none"),
    };
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut defaults = json!({"unit": unit});
    if let Some(t) = threshold {
        defaults["thresholds"] = json!({"mode": "absolute", "steps": [
            {"color": "green", "value": null},
            {"color": "red", "value": t}
        ]});
        defaults["custom"] = json!({"thresholdsStyle": {"mode": "line"}});
    }
    json!({
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": datasource,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [{"refId": "A", "datasource": datasource, "expr": expr,
                     "legendFormat": name}]
    })
}

/// The release live now, its slot and image: mvk_release_info's labels, as of the last scrape.
fn release_panel(i: usize, app_label: &str) -> Value {
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    json!({
        "id": i + 1,
        "type": "stat",
        "title": "Live release",
        "datasource": datasource,
        "gridPos": {"h": 4, "w": 24, "x": 0, "y": i.div_ceil(2) * 8},
        "options": {"textMode": "name", "colorMode": "none", "graphMode": "none",
                    "reduceOptions": {"calcs": ["lastNotNull"], "values": false}},
        "targets": [{"refId": "A", "datasource": datasource, "instant": true, "range": false,
                     "expr": format!("mvk_release_info{{{app_label}}}"),
                     "legendFormat": "{{release}} (slot {{slot}}, {{image}})"}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_graph_the_rules_own_expressions() {
        let args = RuleArgs::try_parse_from(["t"]).unwrap();
        let model = model(&args, "shop").unwrap();
        let exprs: Vec<&str> = model["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["targets"][0]["expr"].as_str().unwrap())
            .collect();
        assert_eq!(exprs.len(), 5);
        assert_eq!(exprs[4], r#"mvk_release_info{app="shop"}"#);
        let built = rules::build(&Params::standing(&args, "shop"), Version::V3).unwrap();
        assert_eq!(
            exprs[0],
            r#"sum(rate(http_requests_total{job="shop"}[5m]))"#
        );
        for (shown, rule) in exprs[1..].iter().zip(&built) {
            assert_eq!(*shown, rule.value_expr.to_string());
        }
        assert_eq!(model["templating"]["list"][0]["query"], "prometheus");
        assert_eq!(model["panels"][1]["datasource"]["uid"], "${datasource}");
    }
}
