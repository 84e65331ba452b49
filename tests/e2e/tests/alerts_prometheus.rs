//! `mvk-alerts check --prometheus` against a real Prometheus (2.42) that scrapes an app with
//! the job `mvk-alerts scrape-config` prints and evaluates the rules `mvk-alerts rules` prints:
//! mvk-alerts must report the alerts Prometheus itself fires, with the same labels and text.

use mvk_e2e::{run_tool, Prometheus, StubServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const RULE_OPTIONS: [&str; 6] = ["--window", "10s", "--error-for", "3s", "--down-for", "3s"];

/// An app serving 100 requests a second, half of them failing, all within 0.1–0.25 s.
fn app() -> StubServer {
    let start = Instant::now();
    StubServer::start(move |_| {
        let n = start.elapsed().as_millis() / 10;
        let errors = n / 2;
        let text = format!(
            "# TYPE http_requests_total counter\n\
             http_requests_total{{status=\"200\"}} {}\n\
             http_requests_total{{status=\"500\"}} {errors}\n\
             # TYPE http_request_duration_seconds histogram\n\
             http_request_duration_seconds_bucket{{le=\"0.1\"}} 0\n\
             http_request_duration_seconds_bucket{{le=\"0.25\"}} {n}\n\
             http_request_duration_seconds_bucket{{le=\"+Inf\"}} {n}\n",
            n - errors
        );
        (200, text)
    })
}

fn tool(args: &[&str]) -> mvk_e2e::Run {
    run_tool("mvk-alerts", args, &[], "")
}

/// Prometheus's firing alerts: name → (labels, annotations).
fn prometheus_firing(prom: &Prometheus) -> Vec<(String, Value, Value)> {
    prom.api("/api/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["labels"].clone(),
                a["annotations"].clone(),
            )
        })
        .collect()
}

fn wait_firing(prom: &Prometheus, name: &str) -> (Value, Value) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, labels, annotations)) = prometheus_firing(prom)
            .into_iter()
            .find(|(n, ..)| n == name)
        {
            return (labels, annotations);
        }
        assert!(
            Instant::now() < end,
            "Prometheus never fired {name}:\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn check(prom: &Prometheus, app: &str, extra: &[&str]) -> (i32, Value, String) {
    let url = prom.url();
    let mut args = vec![
        "check",
        "--app",
        app,
        "--prometheus",
        url.as_str(),
        "--every",
        "1s",
    ];
    args.extend(RULE_OPTIONS);
    args.extend(extra);
    let run = tool(&args);
    let record: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, record, run.stderr)
}

fn firing_names(record: &Value) -> BTreeSet<String> {
    record["alerts"]["firing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reports_what_prometheus_fires() {
    let name = format!("e2e-alerts-prom-{}", std::process::id());
    let app = app();
    let target = format!("127.0.0.1:{}", app.port);
    let mut rules_args = vec!["rules", "--app", name.as_str()];
    rules_args.extend(RULE_OPTIONS);
    let rules = tool(&rules_args);
    assert_eq!(rules.code, 0, "{}", rules.stderr);
    let scrape = tool(&[
        "scrape-config",
        "--app",
        &name,
        "--target",
        &target,
        "--scrape-interval",
        "1s",
    ]);
    assert_eq!(scrape.code, 0, "{}", scrape.stderr);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"rules.yml\"]\n{}",
        scrape.stdout
    );
    let prom = Prometheus::start(&config, &[("rules.yml", &rules.stdout)]);

    // Half the requests fail: Prometheus fires HighErrorRate after 3 s.
    let (labels, annotations) = wait_firing(&prom, "HighErrorRate");
    let am = StubServer::start(|_| (200, String::new()));
    let (code, r, stderr) = check(&prom, &name, &["--alertmanager", &am.url("")]);
    assert_eq!(code, 1, "{r}\n{stderr}");
    assert_eq!(
        firing_names(&r),
        BTreeSet::from(["HighErrorRate".to_string()]),
        "{r}"
    );
    let ours = &r["alerts"]["firing"][0];
    assert_eq!(ours["labels"], labels, "{r}");
    assert_eq!(ours["annotations"]["summary"], annotations["summary"]);
    let share = ours["value"].as_f64().unwrap();
    assert!((0.45..=0.55).contains(&share), "{r}");
    assert_eq!(r["alerts"]["source"], prom.url());
    let latency = r["alerts"]["evaluated"][1].clone();
    assert_eq!(latency["name"], "HighLatency");
    assert!(
        latency["value"]
            .as_f64()
            .is_some_and(|v| (0.2..0.25).contains(&v)),
        "{r}"
    );
    let posted: Value = serde_json::from_str(&am.requests()[0].body).unwrap();
    let link = posted[0]["generatorURL"].as_str().unwrap();
    assert!(
        link.starts_with(&format!(
            "{}/graph?g0.expr=sum%28rate%28http_requests_total",
            prom.url()
        )),
        "{link}"
    );

    // The app goes away: its series go stale, HighErrorRate resolves, ServiceDown fires.
    drop(app);
    let (labels, annotations) = wait_firing(&prom, "ServiceDown");
    let end = Instant::now() + Duration::from_secs(30);
    while prometheus_firing(&prom)
        .iter()
        .any(|(n, ..)| n == "HighErrorRate")
    {
        assert!(
            Instant::now() < end,
            "HighErrorRate never resolved in Prometheus"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (code, r, stderr) = check(&prom, &name, &[]);
    assert_eq!(code, 1, "{r}\n{stderr}");
    assert_eq!(
        firing_names(&r),
        BTreeSet::from(["ServiceDown".to_string()]),
        "{r}"
    );
    let ours = &r["alerts"]["firing"][0];
    assert_eq!(ours["labels"], labels, "{r}");
    // Rendered by mvk-alerts exactly as Prometheus rendered it.
    assert_eq!(ours["annotations"], annotations, "{r}");
    assert_eq!(
        ours["annotations"]["description"],
        format!("{target} of job {name} has not answered a scrape for 3s.")
    );
    let errors = r["alerts"]["evaluated"][0].clone();
    assert_eq!(
        (errors["name"].as_str(), errors["state"].as_str()),
        (Some("HighErrorRate"), Some("inactive")),
        "{r}"
    );
}

#[test]
fn an_unreachable_prometheus_is_exit_4() {
    let port = mvk_e2e::free_port();
    let run = tool(&[
        "check",
        "--app",
        "shop",
        "--prometheus",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("Prometheus at") && run.stderr.contains("no answer"),
        "{}",
        run.stderr
    );
    // Something that is not Prometheus.
    let other = StubServer::start(|_| (404, "not here".into()));
    let run = tool(&["check", "--app", "shop", "--prometheus", &other.url("")]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("answered 404"), "{}", run.stderr);
}
