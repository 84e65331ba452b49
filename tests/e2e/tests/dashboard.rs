//! `mvk-alerts dashboard`: every query of the Grafana dashboard runs on a real Prometheus
//! scraping an app (the job `mvk-alerts scrape-config` prints) and returns data.

use mvk_e2e::{run_tool, Prometheus, StubServer};
use serde_json::Value;
use std::time::{Duration, Instant};

/// An app's metrics: 100 requests a second, a tenth failing, all within 0.1–0.25 s.
fn app() -> StubServer {
    let start = Instant::now();
    StubServer::start(move |_| {
        let n = start.elapsed().as_millis() / 10;
        let text = format!(
            "# TYPE http_requests_total counter\n\
             http_requests_total{{status=\"200\"}} {}\n\
             http_requests_total{{status=\"500\"}} {}\n\
             # TYPE http_request_duration_seconds histogram\n\
             http_request_duration_seconds_bucket{{le=\"0.1\"}} 0\n\
             http_request_duration_seconds_bucket{{le=\"0.25\"}} {n}\n\
             http_request_duration_seconds_bucket{{le=\"+Inf\"}} {n}\n",
            n - n / 10,
            n / 10
        );
        (200, text)
    })
}

/// node_exporter serving mvk-swap's textfile times: a deploy every 2 s, a rollback
/// every 3 s (so the annotations' `changes()` see them).
fn textfile(app: &str) -> StubServer {
    let app = app.to_string();
    let start = Instant::now();
    StubServer::start(move |_| {
        let s = start.elapsed().as_secs();
        let text = format!(
            "mvk_last_deploy_timestamp_seconds{{app=\"{app}\"}} {}\n\
             mvk_last_rollback_timestamp_seconds{{app=\"{app}\"}} {}\n",
            1_800_000_000 + s / 2,
            1_800_000_000 + s / 3
        );
        (200, text)
    })
}

#[test]
fn every_dashboard_query_returns_data_from_prometheus() {
    let name = format!("e2e-dashboard-{}", std::process::id());
    let app = app();
    let target = format!("127.0.0.1:{}", app.port);
    let dashboard = run_tool(
        "mvk-alerts",
        &["dashboard", "--app", &name, "--window", "10s"],
        &[],
        "",
    );
    assert_eq!(dashboard.code, 0, "{}", dashboard.stderr);
    let model: Value = serde_json::from_str(&dashboard.stdout).unwrap();
    assert_eq!(model["uid"], format!("mvk-{name}"));
    assert_eq!(model["templating"]["list"][0]["type"], "datasource");
    let scrape = run_tool(
        "mvk-alerts",
        &[
            "scrape-config",
            "--app",
            &name,
            "--target",
            &target,
            "--scrape-interval",
            "1s",
        ],
        &[],
        "",
    );
    assert_eq!(scrape.code, 0, "{}", scrape.stderr);
    let prom = Prometheus::start(
        &format!("global:\n  scrape_interval: 1s\n{}", scrape.stdout),
        &[],
    );

    let panels = model["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 4);
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        assert!(expr.contains(&format!("job=\"{name}\"")), "{expr}");
        let (low, high) = match panel["targets"][0]["legendFormat"].as_str().unwrap() {
            "requests" => (50.0, 150.0),
            "errors" => (0.05, 0.15),
            "latency" => (0.1, 0.25),
            _ => (1.0, 1.0),
        };
        // The first scrapes extrapolate from little: wait for the window to fill.
        let value = |r: &[Value]| -> Option<f64> { r.first()?["value"][1].as_str()?.parse().ok() };
        let result = prom.wait_for(expr, Duration::from_secs(30), |r| {
            value(r).is_some_and(|v| (low..=high).contains(&v))
        });
        assert_eq!(result.len(), 1, "{}: {result:?}", panel["title"]);
    }
}
