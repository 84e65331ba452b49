//! `mvk-alerts dashboard`: every query of the Grafana dashboard, panels and annotations, runs
//! on a real Prometheus and returns data: the app's metrics from its job (the one
//! `mvk-alerts scrape-config` prints), the live release and the deploy and rollback times from
//! the textfiles real swaps (two deploys and a rollback, mvk-swap --textfile-dir) wrote,
//! served as node_exporter's textfile collector serves them.

use mvk_e2e::{
    app_image, run_tool, start_candidate, textfile_exporter, Prometheus, StubServer, TempDir,
    TestApp,
};
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

/// Two deploys (m1, m2) and a rollback to m1, each swap writing its textfile into `dir`; each
/// swap's file is scraped before the next swap, as a real server's would be.
fn deploys_and_a_rollback(app: &TestApp, dir: &TempDir, prom: &Prometheus) {
    let textfile = [("MVK_TEXTFILE_DIR", dir.path().to_str().unwrap())];
    let scraped = |count: u32| {
        let query = format!("mvk_deploys{{app=\"{}\"}} == {count}", app.name);
        prom.wait_for(&query, Duration::from_secs(30), |r| !r.is_empty());
    };
    for (n, (slot, version)) in [("blue", "m1"), ("green", "m2")].into_iter().enumerate() {
        let image = app_image(app, version, &[]);
        let record = start_candidate(app, slot, &image, &[]);
        let run = app.run("mvk-swap", &[], &textfile, &format!("{record}\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        scraped(n as u32 + 1);
    }
    let back = app.run("mvk-rollback", &[], &[], "");
    assert_eq!(back.code, 0, "{}", back.stderr);
    let healthy = app.run("mvk-healthwait", &[], &[], &back.stdout);
    assert_eq!(healthy.code, 0, "{}", healthy.stderr);
    let swapped = app.run("mvk-swap", &[], &textfile, &healthy.stdout);
    assert_eq!(swapped.code, 0, "{}", swapped.stderr);
    scraped(3);
}

#[test]
fn every_dashboard_query_returns_data_from_prometheus() {
    let deployed = TestApp::new("dashboard");
    let name = deployed.name.clone();
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
    let textfiles = TempDir::new("textfile");
    let node = textfile_exporter(textfiles.path());
    let prom = Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n{}  - job_name: node\n    static_configs:\n      \
             - targets: ['127.0.0.1:{}']\n",
            scrape.stdout, node.port
        ),
        &[],
    );
    deploys_and_a_rollback(&deployed, &textfiles, &prom);

    let panels = model["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 5);
    // The first scrapes extrapolate from little: wait for the window to fill.
    let value = |r: &[Value]| -> Option<f64> { r.first()?["value"][1].as_str()?.parse().ok() };
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let legend = panel["targets"][0]["legendFormat"].as_str().unwrap();
        if panel["title"] == "Live release" {
            // The rollback put m1 back: the only live release.
            let result = prom.wait_for(expr, Duration::from_secs(30), |r| {
                r.len() == 1 && r[0]["metric"]["release"] == "m1"
            });
            assert_eq!(result[0]["metric"]["slot"], "blue", "{result:?}");
            assert!(legend.contains("{{release}}"), "{legend}");
            continue;
        }
        assert!(expr.contains(&format!("job=\"{name}\"")), "{expr}");
        let (low, high) = match legend {
            "requests" => (50.0, 150.0),
            "errors" => (0.05, 0.15),
            "latency" => (0.1, 0.25),
            _ => (1.0, 1.0),
        };
        let result = prom.wait_for(expr, Duration::from_secs(30), |r| {
            value(r).is_some_and(|v| (low..=high).contains(&v))
        });
        assert_eq!(result.len(), 1, "{}: {result:?}", panel["title"]);
    }
    // Deploy and Rollback: each marks the time since its last swap (seconds ago, not minutes).
    let annotations = model["annotations"]["list"].as_array().unwrap();
    assert_eq!(annotations.len(), 2);
    for annotation in annotations {
        let expr = annotation["expr"].as_str().unwrap();
        let result = prom.query(expr);
        assert_eq!(
            result.len(),
            1,
            "{}: {expr}: {result:?}",
            annotation["name"]
        );
        let ago = value(&result).unwrap();
        assert!((0.0..60.0).contains(&ago), "{expr}: {result:?}");
    }
}
