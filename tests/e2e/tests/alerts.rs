//! mvk-alerts end to end: the rule files promtool accepts, the deploy gate on real demo-app
//! containers, Alertmanager posts caught by a stub on loopback, live scrapes of broken
//! endpoints, interruption, and every bad input.

use mvk_e2e::{free_port, run_tool, spawn_tool, DemoContainer, DemoImage, StubServer, TempDir};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

fn unique(label: &str) -> String {
    format!("e2e-alerts-{label}-{}", std::process::id())
}

/// A release record whose live slot is `port`, as mvk-swap leaves it.
fn record(app: &str, port: u16) -> String {
    json!({
        "schema": "mvk.release/v1", "app": app, "release": "v1", "image": format!("{app}:v1"),
        "swap": {"live": {"slot": "green", "port": port, "release": "v1"}},
        "x-team": {"owner": "ops"}, "steps": [], "error": null,
    })
    .to_string()
}

fn alerts(args: &[&str], env: &[(&str, &str)], stdin: &str) -> mvk_e2e::Run {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    run_tool("mvk-alerts", args, &env, stdin)
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Requests to `url` from a background thread, at most `max`, until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Load {
    fn start(url: String, max: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = 0;
            while sent < max && !flag.load(Ordering::SeqCst) {
                let _ = mvk_e2e::get(&url);
                sent += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            sent
        });
        Load {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn evaluated<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["alerts"]["evaluated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not evaluated: {record}"))
}

#[test]
fn rules_and_scrape_config_pass_promtool() {
    let dir = TempDir::new("alerts-promtool");
    let rules = alerts(&["rules", "--app", "shop"], &[], "");
    assert_eq!(rules.code, 0, "{}", rules.stderr);
    assert!(rules.stdout.contains(r#"sum(rate(http_requests_total{job=\"shop\",status=~\"5..\"}[5m])) / sum(rate(http_requests_total{job=\"shop\"}[5m])) > 0.05"#), "{}", rules.stdout);
    assert!(rules.stdout.contains(r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job=\"shop\"}[5m]))) > 0.5"#), "{}", rules.stdout);
    let file = dir.join("rules.yml");
    std::fs::write(&file, &rules.stdout).unwrap();
    let (ok, text) = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(ok && text.contains("SUCCESS: 3 rules found"), "{text}");

    // Every option changes the file, and it stays valid.
    let custom = alerts(
        &[
            "rules",
            "--requests-metric",
            "requests",
            "--duration-metric",
            "latency",
            "--status-label",
            "code",
            "--error-status",
            "5..|429",
            "--window",
            "90s",
            "--error-for",
            "0s",
            "--min-requests",
            "50",
            "--latency-quantile",
            "0.99",
            "--latency-threshold",
            "1.5s",
        ],
        &[("MVK_APP", "api")],
        "",
    );
    assert_eq!(custom.code, 0, "{}", custom.stderr);
    for part in [
        r#"code=~\"5..|429\""#,
        "[1m30s]",
        "latency_bucket",
        "histogram_quantile(0.99",
        "> 1.5",
        ">= 50",
        "for: 0s",
        "p99 latency",
    ] {
        assert!(
            custom.stdout.contains(part),
            "{part} missing:\n{}",
            custom.stdout
        );
    }
    std::fs::write(&file, &custom.stdout).unwrap();
    let (ok, text) = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(ok, "{text}");

    let config = alerts(
        &[
            "scrape-config",
            "--app",
            "shop",
            "--target",
            "127.0.0.1:8000",
            "--target",
            "127.0.0.1:8001",
            "--scrape-interval",
            "5s",
        ],
        &[],
        "",
    );
    assert_eq!(config.code, 0, "{}", config.stderr);
    assert!(
        config.stdout.contains("job_name: \"shop\"")
            && config
                .stdout
                .contains(r#"["127.0.0.1:8000", "127.0.0.1:8001"]"#),
        "{}",
        config.stdout
    );
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, &config.stdout).unwrap();
    let (ok, text) = promtool(&["check", "config", file.to_str().unwrap()]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
}

#[test]
fn rules_and_scrape_config_refuse_bad_options() {
    for (args, why) in [
        (&["rules"][..], "needs --app"),
        (
            &["rules", "--app", "shop", "--error-status", "5(("],
            "--error-status",
        ),
        (
            &["rules", "--app", "shop", "--error-ratio", "2"],
            "between 0 and 1",
        ),
        (&["rules", "--app", "Shop!"], "not a valid app name"),
        (&["rules", "--app", "shop", "--window", "soon"], "duration"),
        (
            &["scrape-config", "--app", "shop", "--target", "localhost"],
            "HOST:PORT",
        ),
        (&["scrape-config", "--app", "shop"], "--target"),
    ] {
        let run = alerts(args, &[], "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn gate_fails_a_release_answering_30_percent_500s() {
    let name = unique("errors");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_ERROR_RATE", "0.3")]);
    assert!(c.wait_answering(Duration::from_secs(15)), "{}", c.logs());
    let load = Load::start(c.url("/"), 600);
    let run = alerts(
        &["--watch", "12s", "--every", "1s"],
        &[],
        &record(&name, c.port),
    );
    let sent = load.stop();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "alert", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("HighErrorRate is firing: "),
        "{r}"
    );
    let firing = r["alerts"]["firing"].as_array().unwrap();
    assert_eq!(firing.len(), 1, "{r}");
    assert_eq!(firing[0]["name"], "HighErrorRate");
    assert_eq!(
        firing[0]["labels"],
        json!({"alertname": "HighErrorRate", "severity": "critical"})
    );
    // 30 % of the app's requests fail; the health checks Docker runs succeed.
    let share = firing[0]["value"].as_f64().unwrap();
    assert!((0.2..=0.35).contains(&share), "share {share}: {r}");
    assert!(
        firing[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("of requests to"),
        "{r}"
    );
    // It fired within the watch, and stopped watching there.
    let evaluations = r["alerts"]["evaluations"].as_u64().unwrap();
    assert!(
        (2..13).contains(&evaluations),
        "{evaluations} evaluations: {r}"
    );
    assert_eq!(evaluated(&r, "ServiceDown")["state"], "inactive");
    assert_eq!(r["x-team"]["owner"], "ops", "unknown fields are kept");
    let step = r["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (step["tool"].as_str(), step["ok"].as_bool()),
        (Some("mvk-alerts"), Some(false))
    );
    assert!(
        run.stderr.contains("deploy gate") && run.stderr.contains("HighErrorRate is firing"),
        "{}",
        run.stderr
    );
    assert!(sent < 600, "the load was bounded by time, not by its cap");
}

#[test]
fn gate_passes_a_healthy_release_and_writes_the_textfile() {
    let name = unique("healthy");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[]);
    assert!(c.wait_answering(Duration::from_secs(15)), "{}", c.logs());
    let textfiles = TempDir::new("alerts-textfile");
    let load = Load::start(c.url("/"), 600);
    // A source in the environment (the timer's, from the env file) does not replace the gate.
    let run = alerts(
        &[
            "--watch",
            "6s",
            "--every",
            "1s",
            "--textfile-dir",
            textfiles.path().to_str().unwrap(),
        ],
        &[
            ("MVK_METRICS_URL", "http://127.0.0.1:1/metrics"),
            ("MVK_APP", &name),
        ],
        &record(&name, c.port),
    );
    let sent = load.stop();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let r = run.record();
    assert!(r["error"].is_null(), "{r}");
    assert_eq!(r["alerts"]["firing"], json!([]));
    assert_eq!(r["alerts"]["source"], c.url("/metrics"));
    assert_eq!(
        r["alerts"]["evaluations"], 7,
        "every second for 6 s, both ends included"
    );
    let errors = evaluated(&r, "HighErrorRate");
    assert_eq!(
        (errors["state"].as_str(), errors["value"].as_f64()),
        (Some("inactive"), Some(0.0)),
        "{r}"
    );
    assert_eq!(evaluated(&r, "ServiceDown")["value"], 1.0);
    let latency = evaluated(&r, "HighLatency");
    assert_eq!(latency["state"], "inactive");
    assert!(latency["value"].as_f64().is_some_and(|v| v < 0.5), "{r}");
    assert!(
        sent > 40,
        "only {sent} requests: the gate judged too little"
    );
    let step = r["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (step["tool"].as_str(), step["ok"].as_bool()),
        (Some("mvk-alerts"), Some(true))
    );

    let files: Vec<String> = std::fs::read_dir(textfiles.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        [format!("mvk_alerts_{name}.prom")],
        "one file, no temp file left"
    );
    let prom = textfiles.join(&files[0]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(&format!(
            "mvk_alerts_firing{{app=\"{name}\",alertname=\"HighErrorRate\"}} 0\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "mvk_alerts_value{{app=\"{name}\",alertname=\"ServiceDown\"}} 1\n"
        )),
        "{text}"
    );
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success() && check.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn gate_does_not_judge_a_quiet_release_on_a_few_requests() {
    let name = unique("quiet");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_ERROR_RATE", "0.3")]);
    assert!(c.wait_answering(Duration::from_secs(15)), "{}", c.logs());
    // The gates scrape the release through this stub, which shows when they started.
    let metrics = c.url("/metrics");
    let scrapes = StubServer::start(move |_| mvk_e2e::get(&metrics).unwrap_or_else(|e| (502, e)));
    // Two gates watch the same release: the default one, and one without a minimum.
    let gate = |extra: &'static [&'static str]| {
        let stdin = record(&name, scrapes.port);
        std::thread::spawn(move || {
            let mut args = vec!["--watch", "5s", "--every", "1s"];
            args.extend(extra);
            alerts(&args, &[], &stdin)
        })
    };
    let (guarded, unguarded) = (gate(&[]), gate(&["--min-requests", "0"]));
    // Eight requests once the watch is on, the 4th and 7th failing: a high share of very
    // little. (Like Prometheus, rate() misses the first failure: it creates the series.)
    mvk_e2e::wait_until("both gates' first scrape", Duration::from_secs(20), || {
        scrapes.requests().len() >= 2
    });
    let mut failed = 0;
    for _ in 0..8 {
        failed += usize::from(mvk_e2e::get(&c.url("/")).unwrap().0 == 500);
        // Spread over the watch, so the failures fall into different scrapes.
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(failed, 2);
    let run = guarded.join().unwrap();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let r = run.record();
    let errors = evaluated(&r, "HighErrorRate");
    assert_eq!(errors["state"], "inactive", "{r}");
    assert!(
        errors["value"].as_f64().unwrap() > 0.05,
        "the share is high, the count too low: {r}"
    );
    let run = unguarded.join().unwrap();
    assert_eq!(
        run.code, 1,
        "without the minimum the same traffic fails the gate: {}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.record()["alerts"]["firing"][0]["name"], "HighErrorRate");
}

#[test]
fn gate_on_a_port_nothing_answers_fires_service_down_at_once() {
    let name = unique("down");
    let port = free_port();
    let run = alerts(
        &["--watch", "5s", "--every", "1s"],
        &[],
        &record(&name, port),
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let r = run.record();
    let firing = &r["alerts"]["firing"];
    let instance = format!("127.0.0.1:{port}");
    assert_eq!(
        firing[0]["labels"],
        json!({"alertname": "ServiceDown", "instance": instance, "job": name, "severity": "critical"})
    );
    assert_eq!(
        firing[0]["annotations"]["description"],
        format!("{instance} of job {name} did not answer its last scrape.")
    );
    assert_eq!(
        r["alerts"]["evaluations"], 1,
        "the first failed scrape decides"
    );
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
}

#[test]
fn records_passed_through_or_refused() {
    let failed = r#"{"schema":"mvk.release/v1","app":"shop","steps":[],"error":{"tool":"mvk-swap","kind":"nginx","message":"x"}}"#;
    let run = alerts(&["--watch", "1s"], &[], failed);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (3, format!("{failed}\n").as_str()),
        "{}",
        run.stderr
    );

    let no_swap = r#"{"schema":"mvk.release/v1","app":"shop","steps":[],"error":null}"#;
    let run = alerts(&["--watch", "1s"], &[], no_swap);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("swap.live.port"), "{}", run.stderr);

    let run = alerts(
        &["--app", "other", "--watch", "1s"],
        &[],
        &record("shop", 1),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("names another app"), "{}", run.stderr);

    for bad in ["{", r#"{"schema":"other","app":"shop"}"#] {
        let run = alerts(&[], &[], bad);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (2, ""),
            "{bad}: {}",
            run.stderr
        );
    }
}

/// Scrapes 10 s apart: 50 % failed requests in the first four, then none, then two failed
/// scrapes. With a 25 s window and no `for`, HighErrorRate fires at 10 s (50 %), is at 25 %
/// at 50 s and resolves at 60 s; ServiceDown fires at 100 s.
fn history(with_outage: bool) -> String {
    let mut out = String::new();
    let last = if with_outage { 11 } else { 9 };
    for k in 0..=last {
        let errors = 50 * k.min(4);
        let metrics = (k <= 9).then(|| {
            format!("http_requests_total{{status=\"200\"}} {}\nhttp_requests_total{{status=\"500\"}} {errors}\n", 100 * k - errors)
        });
        out.push_str(&format!("{}\n", json!({"ts": 10 * k, "metrics": metrics})));
    }
    out
}

#[test]
fn posts_firing_and_resolved_alerts_to_alertmanager() {
    let dir = TempDir::new("alerts-am");
    let file = dir.join("history.jsonl");
    std::fs::write(&file, history(true)).unwrap();
    let am = StubServer::start(|_| (200, String::new()));
    let run = alerts(
        &[
            "check",
            "--app",
            "shop",
            "--replay",
            file.to_str().unwrap(),
            "--window",
            "25s",
            "--error-for",
            "0s",
            "--down-for",
            "0s",
            "--alertmanager",
            &am.url("/"),
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let requests = am.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/api/v2/alerts")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(
        body,
        json!([
            {
                "labels": {"alertname": "HighErrorRate", "severity": "critical"},
                "annotations": {
                    "summary": "shop: high error rate",
                    "description": "25% of requests to shop failed over the last 25s (threshold 5%).",
                },
                "startsAt": "1970-01-01T00:00:10Z",
                "endsAt": "1970-01-01T00:01:00Z",
            },
            {
                "labels": {"alertname": "ServiceDown", "instance": "replay", "job": "shop", "severity": "critical"},
                "annotations": {
                    "summary": "shop: target down",
                    "description": "replay of job shop did not answer its last scrape.",
                },
                "startsAt": "1970-01-01T00:01:40Z",
                // Four re-send intervals (of a minute) after the last evaluation, at 110 s.
                "endsAt": "1970-01-01T00:05:50Z",
            },
        ]),
        "{}",
        serde_json::to_string_pretty(&body).unwrap()
    );
    let r = run.record();
    assert_eq!(
        r["alerts"]["firing"][0]["active_at"],
        "1970-01-01T00:01:40Z"
    );
    assert_eq!(r["alerts"]["evaluated_at"], "1970-01-01T00:01:50Z");
    assert_eq!(evaluated(&r, "HighErrorRate")["state"], "inactive");
    assert!(run.stderr.contains("posted 2 alerts"), "{}", run.stderr);
}

#[test]
fn alertmanager_that_cannot_take_the_alerts_is_exit_4() {
    let dir = TempDir::new("alerts-am-down");
    let file = dir.join("history.jsonl");
    // Nothing firing at the end, one alert resolved: there is something to post.
    std::fs::write(&file, history(false)).unwrap();
    let args = |url: &str| -> Vec<String> {
        [
            "check",
            "--app",
            "shop",
            "--replay",
            file.to_str().unwrap(),
            "--window",
            "25s",
            "--error-for",
            "0s",
            "--alertmanager",
            url,
        ]
        .map(String::from)
        .to_vec()
    };
    let refused = format!("http://127.0.0.1:{}", free_port());
    let failing = StubServer::start(|_| (500, "storage full".into()));
    for (url, why) in [
        (refused.clone(), "posting to".to_string()),
        (failing.url(""), "answered 500: storage full".to_string()),
    ] {
        let a = args(&url);
        let run = alerts(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], "");
        assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
        let r = run.record();
        assert_eq!(r["error"]["kind"], "alertmanager", "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains(&why),
            "{r}"
        );
        assert_eq!(
            evaluated(&r, "HighErrorRate")["state"],
            "inactive",
            "the outcome is still reported"
        );
    }
    // Nothing firing and nothing resolved: nothing to post, so no error.
    let quiet = dir.join("quiet.jsonl");
    std::fs::write(&quiet, "{\"ts\": 0, \"metrics\": \"x 1\\n\"}\n").unwrap();
    let run = alerts(
        &[
            "check",
            "--app",
            "shop",
            "--replay",
            quiet.to_str().unwrap(),
            "--alertmanager",
            &refused,
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn bad_replays_and_missing_sources_are_exit_2_with_the_place() {
    let dir = TempDir::new("alerts-bad");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let malformed = write(
        "malformed.jsonl",
        "{\"ts\": 0, \"metrics\": \"x 1\\n\"}\n\n{\"ts\": 5, \"metrics\": \"# TYPE x counter\\nx{status=\\\"500\\\" 3\\n\"}\n",
    );
    let bad_json = write(
        "json.jsonl",
        "{\"ts\": 0, \"metrics\": null}\n{\"ts\": 5, metrics: null}\n",
    );
    let backwards = write(
        "order.jsonl",
        "{\"ts\": 5, \"metrics\": null}\n{\"ts\": 5, \"metrics\": null}\n",
    );
    let empty = write("empty.jsonl", "\n");
    // One line past the bound (32 MiB), after a good one.
    let long = write(
        "long.jsonl",
        &format!(
            "{{\"ts\": 0, \"metrics\": null}}\n{{\"ts\": 5, \"metrics\": \"# {}\"}}\n",
            "x".repeat(32 << 20)
        ),
    );
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--replay", &malformed],
            format!("{malformed}:3: \"metrics\" line 2: expected `,` or `}}` after label status"),
        ),
        (
            vec!["--replay", &bad_json],
            format!("{bad_json}:2: invalid JSON"),
        ),
        (
            vec!["--replay", &backwards],
            format!("{backwards}:2: ts 5 is not after the line before (5)"),
        ),
        (vec!["--replay", &empty], "holds no scrapes".into()),
        (
            vec!["--replay", &long],
            format!("{long}:2: the line is longer than 32 MiB"),
        ),
        (
            vec!["--replay", "/nonexistent/history.jsonl"],
            "cannot read the replay file /nonexistent/history.jsonl".into(),
        ),
        (vec![], "nothing to check".into()),
        (
            vec!["--replay", &empty, "--metrics-url", "http://127.0.0.1:1/"],
            "cannot be used with".into(),
        ),
        (
            vec!["--every", "0s", "--replay", &empty],
            "at least 1ms".into(),
        ),
        (
            vec!["--textfile-dir", "/nonexistent", "--replay", &empty],
            "is not a directory".into(),
        ),
        (
            vec!["--env-file", "/nonexistent/app.env", "--replay", &malformed],
            "cannot read the env file /nonexistent/app.env".into(),
        ),
    ];
    for (args, why) in cases {
        let mut all = vec!["check", "--app", "shop"];
        all.extend(args.iter().copied());
        let run = alerts(&all, &[], "");
        assert_eq!(run.code, 2, "{all:?}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&why),
            "{all:?}: wanted {why:?} in\n{}",
            run.stderr
        );
    }
    // Standalone without --app: the rules cannot select the job.
    let run = alerts(&["--replay", &malformed], &[], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--app"), "{}", run.stderr);
}

#[test]
fn a_live_scrape_that_fails_or_is_malformed_is_up_0() {
    // Prometheus fails a whole scrape on one bad line; so does mvk-alerts, naming the line.
    let broken = StubServer::start(|_| (200, "ok_total 1\nbroken_total{status=\"500\" 3\n".into()));
    let unavailable = StubServer::start(|_| (503, "overloaded".into()));
    for (stub, why) in [
        (&broken, "line 2: expected `,` or `}`"),
        (&unavailable, "answered 503"),
    ] {
        let run = alerts(
            &[
                "check",
                "--app",
                "shop",
                "--metrics-url",
                &stub.url("/metrics"),
                "--watch",
                "3s",
                "--every",
                "1s",
                "--down-for",
                "2s",
            ],
            &[],
            "",
        );
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let r = run.record();
        assert_eq!(r["alerts"]["firing"][0]["name"], "ServiceDown", "{r}");
        assert_eq!(
            r["alerts"]["firing"][0]["labels"]["instance"],
            format!("127.0.0.1:{}", stub.port)
        );
        // Pending at 0 and 1 s; firing once it has held for --down-for (at 2 s, or at 3 s when
        // the clock read of the first scrape came later than that of the third).
        let evaluations = r["alerts"]["evaluations"].as_u64().unwrap();
        assert!((3..=4).contains(&evaluations), "{r}");
        assert!(run.stderr.contains(why), "{}", run.stderr);
        let requests = stub.requests();
        assert!(
            requests[0]
                .header("accept")
                .unwrap()
                .starts_with("text/plain;version=0.0.4"),
            "{requests:?}"
        );
    }
}

#[test]
fn sigterm_during_the_watch_is_exit_130_with_the_record() {
    let stub = StubServer::start(|_| (200, "x 1\n".into()));
    let metrics = stub.url("/metrics");
    let args = [
        "check",
        "--app",
        "shop",
        "--metrics-url",
        &metrics,
        "--watch",
        "60s",
        "--every",
        "1s",
    ];
    let child = spawn_tool("mvk-alerts", &args, &[], "");
    mvk_e2e::wait_until("the first scrape", Duration::from_secs(20), || {
        !stub.requests().is_empty()
    });
    mvk_e2e::signal(&child, nix::sys::signal::Signal::SIGTERM);
    let run = mvk_e2e::finish(child);
    assert_eq!(run.code, 130, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted", "{r}");
}
