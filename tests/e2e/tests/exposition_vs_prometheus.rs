//! mvk-alerts' exposition parser against a real Prometheus (the installed one, 2.42): it
//! scrapes real exposition text (its own `/metrics`) plus lines regex matchers get wrong, and
//! must store exactly the series and values the parser reads; and for every probe line,
//! Prometheus fails the scrape (`up` 0) exactly when the parser calls the line malformed.

use mvk_alerts::exposition;
use mvk_e2e::{get, Prometheus, StubServer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Valid lines with content regex line matchers (prometheus-parse) mishandle: braces, commas, `=` and escapes in
/// label values, `:` in names, empty braces, empty values, special floats.
const TRICKY: &str = r#"# HELP tricky_info Help with a \\ backslash and a \n newline.
# TYPE tricky_info gauge
tricky_info{uri="/users/{id}",status="500"} 7
tricky_info{tags="netgo,builtinassets",version="2.53.0"} 1
tricky_info{name="dev-disk-by\\x2duuid.swap",state="active"} 1
tricky_info{msg="bad \"input\"\nat line 2"} 3
tricky_info{eq="a=b,c=d",brace="}{"} 4
tricky_info{empty="",kept="x"} 5
tricky_info{odd="\q and \t stay"} 6
job:tricky:rate5m{svc="shop"} 0.5
tricky_empty_braces{} 6
tricky_trailing_comma{a="1",} 9
tricky_values{v="nan"} NaN
tricky_values{v="inf"} +Inf
tricky_values{v="-inf"} -Inf
tricky_values{v="exp"} 1.5e-3
tricky_unicode{city="Zürich"} 1
"#;

/// Lines of uncertain validity, each served alone beside one good line.
const PROBES: &[&str] = &[
    "probe_x { a = \"1\" , b=\"2\", } 8",
    "probe_x {a=\"1\"} 8",
    "   probe_x 1",
    "probe_x\t1",
    "probe_x{a=\"1\"}  1  ",
    "probe_x{a=\"1\"}1",
    "probe_x 1 2 3",
    "probe_x 1 abc",
    "probe_x 1 1.5",
    "probe_x 1 -5",
    "probe_x 1 +5",
    "probe_x 1 99999999999999999999",
    "probe_x{a=\"1\"} 1 1700000000000",
    "probe_x abc",
    "probe_x",
    "probe_x 0x10",
    "probe_x Inf",
    "probe_x infinity",
    "probe_x +nan",
    "probe_x -nan",
    "probe_x NAN",
    "probe_x -Infinity",
    "probe_x 0x1p4",
    "probe_x 1e400",
    "probe_x 1e-400",
    "probe_x 1_000",
    "probe_x .5",
    "probe_x{a=\"1} 2",
    "probe_x{a=\"1\",a=\"2\"} 2",
    "probe_x{a=1} 1",
    "probe_x{\"a\"=\"1\"} 1",
    "probe_x{a:b=\"1\"} 1",
    "probe_x{_a=\"1\"} 1",
    "probe_x{a=\"é\"} 1",
    "probe_x{a=\"\\q\"} 1",
    "probe_x 1\r",
    "9probe 1",
    "probe:x 1",
    "probe_ẋ 1",
    "# TYPE probe_x countr",
    "# TYPE probe_x",
    "# HELP 1x h",
    "# HELP probe_x",
    "#TYPE probe_x counter",
    "# some comment {",
    "   ",
    "  # an indented comment",
];

/// `name{a="1", …}` (labels sorted, empty values dropped) → value.
fn ours(text: &str) -> BTreeMap<String, f64> {
    exposition::parse(text)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            labels.sort();
            (key(&s.name, labels), s.value)
        })
        .collect()
}

fn theirs(result: &[Value]) -> BTreeMap<String, f64> {
    result
        .iter()
        .filter_map(|s| {
            let metric = s["metric"].as_object().unwrap();
            let name = metric["__name__"].as_str().unwrap();
            if name == "up" || name.starts_with("scrape_") {
                return None;
            }
            let mut labels: Vec<(String, String)> = metric
                .iter()
                .filter(|(k, _)| !["__name__", "job", "instance"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            let value: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            Some((key(name, labels), value))
        })
        .collect()
}

fn key(name: &str, labels: Vec<(String, String)>) -> String {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", l.join(", "))
}

fn same(a: f64, b: f64) -> bool {
    a == b || a.is_nan() && b.is_nan()
}

#[test]
fn parses_exposition_exactly_as_prometheus_scrapes_it() {
    // Real exposition text: Prometheus's own metrics, as it serves them.
    let own = Prometheus::start("global: {}\n", &[]);
    let (status, real) = get(&format!("{}/metrics", own.url())).unwrap();
    assert_eq!(status, 200);
    drop(own);
    let fixture = format!("{real}{TRICKY}");
    let served = fixture.clone();
    let good = StubServer::start(move |_| (200, served.clone()));
    let probes: Vec<StubServer> = PROBES
        .iter()
        .map(|line| {
            let text = format!("probe_ok 1\n{line}\n");
            StubServer::start(move |_| (200, text.clone()))
        })
        .collect();
    let targets: Vec<String> = probes
        .iter()
        .map(|p| format!("\"127.0.0.1:{}\"", p.port))
        .collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
         - job_name: fixture\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n  \
         - job_name: probe\n    static_configs:\n      - targets: [{}]\n",
        good.port,
        targets.join(", ")
    );
    let prom = Prometheus::start(&config, &[]);
    let ups = prom.wait_for(
        r#"up{job=~"fixture|probe"}"#,
        Duration::from_secs(30),
        |r| r.len() == 1 + PROBES.len(),
    );
    let up = |port: u16| -> String {
        let instance = format!("127.0.0.1:{port}");
        ups.iter()
            .find(|s| s["metric"]["instance"] == instance.as_str())
            .unwrap()["value"][1]
            .as_str()
            .unwrap()
            .to_string()
    };
    let errors: BTreeMap<String, String> = prom.api("/api/v1/targets")["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["labels"]["instance"].as_str().unwrap().to_string(),
                t["lastError"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    assert_eq!(
        up(good.port),
        "1",
        "Prometheus refused the fixture: {errors:?}"
    );
    let theirs = theirs(&prom.query(r#"{job="fixture"}"#));
    let ours = ours(&fixture);
    assert!(
        ours.len() > 100 && ours.keys().any(|k| k.starts_with("tricky_info")),
        "{}",
        ours.len()
    );
    let only_ours: Vec<&String> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "series differ:\nonly ours: {only_ours:#?}\nonly Prometheus's: {only_theirs:#?}"
    );
    for (k, v) in &ours {
        assert!(
            same(*v, theirs[k]),
            "{k}: ours {v}, Prometheus's {}",
            theirs[k]
        );
    }

    let mut disagree = Vec::new();
    for (line, stub) in PROBES.iter().zip(&probes) {
        let prometheus_ok = up(stub.port) == "1";
        let parsed = exposition::parse(&format!("probe_ok 1\n{line}\n"));
        eprintln!(
            "{line:?}: Prometheus up={}, ours ok={}",
            u8::from(prometheus_ok),
            parsed.is_ok()
        );
        if prometheus_ok != parsed.is_ok() {
            let why = &errors[&format!("127.0.0.1:{}", stub.port)];
            disagree.push(format!(
                "{line:?}: Prometheus up={} ({why}), ours {parsed:?}",
                u8::from(prometheus_ok)
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "the parser and Prometheus disagree on:\n{}",
        disagree.join("\n")
    );
}
