//! `mvk-alerts check --replay` against `promtool test rules`: random scrape histories
//! (traffic that comes and goes, error and latency phases, restarts that reset every counter,
//! failed scrapes), each evaluated by mvk-alerts at many times; the alerts it reports there
//! become the expectations of a promtool unit test over the same samples and the rules
//! `mvk-alerts rules` prints. promtool passes only if Prometheus's own evaluator fires exactly
//! those alerts, with the same labels and annotations (the value, to four digits, is in the
//! annotations).
//!
//! promtool here is Prometheus 2.42 (Debian 12), so mvk-alerts runs with
//! `--prometheus-version 2`. Scrapes are 7 s apart and windows whole minutes, so no sample
//! ever sits on a window's edge, where 2.x (closed) and 3.x (open) differ.

use mvk_e2e::{run_tool, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

const APP: &str = "prop";
const STEP_S: u64 = 7;
const HISTORIES: u64 = 40;

/// xorshift64*: small, seeded, and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const BOUNDS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// One simulated process: counters since its start, and the statuses it has answered.
#[derive(Default, Clone)]
struct App {
    by_status: BTreeMap<&'static str, u64>,
    buckets: [u64; 12],
}

impl App {
    fn serve(&mut self, rng: &mut Rng, requests: u64, error_pct: u64, slow_from: usize) {
        for _ in 0..requests {
            let status = if rng.chance(error_pct) {
                *rng.pick(&["500", "503"])
            } else if rng.chance(5) {
                "404"
            } else {
                "200"
            };
            *self.by_status.entry(status).or_default() += 1;
            // Latency: mostly around a phase's bucket, sometimes anywhere.
            let bucket = if rng.chance(80) {
                (slow_from + rng.below(3) as usize).min(11)
            } else {
                rng.below(12) as usize
            };
            for b in &mut self.buckets[bucket..] {
                *b += 1;
            }
        }
    }

    fn exposition(&self) -> String {
        let mut out = String::from("# TYPE http_requests_total counter\n");
        for (status, n) in &self.by_status {
            out.push_str(&format!("http_requests_total{{status=\"{status}\"}} {n}\n"));
        }
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (le, n) in BOUNDS.iter().zip(self.buckets) {
            out.push_str(&format!(
                "http_request_duration_seconds_bucket{{le=\"{le}\"}} {n}\n"
            ));
        }
        out
    }

    /// The series a scrape writes, as the target's labels make them.
    fn series(&self) -> Vec<(String, u64)> {
        let target = format!("instance=\"replay\",job=\"{APP}\"");
        let mut out: Vec<(String, u64)> = self
            .by_status
            .iter()
            .map(|(s, n)| {
                (
                    format!("http_requests_total{{{target},status=\"{s}\"}}"),
                    *n,
                )
            })
            .collect();
        for (le, n) in BOUNDS.iter().zip(self.buckets) {
            out.push((
                format!("http_request_duration_seconds_bucket{{{target},le=\"{le}\"}}"),
                n,
            ));
        }
        out
    }
}

/// A history: what each scrape saw (`None`: failed).
fn history(rng: &mut Rng, steps: usize) -> Vec<Option<App>> {
    let mut app = App::default();
    let mut out = Vec::new();
    let (mut requests, mut error_pct, mut slow_from) = (20, 0, 3);
    let mut down = 0;
    for _ in 0..steps {
        if rng.chance(8) {
            // A new phase: traffic (sometimes none), error share, latency.
            requests = *rng.pick(&[0, 3, 15, 40, 120]);
            error_pct = *rng.pick(&[0, 0, 2, 8, 20, 60]);
            slow_from = rng.below(11) as usize;
        }
        if down == 0 && rng.chance(4) {
            down = 1 + rng.below(12);
        }
        if down > 0 {
            down -= 1;
            if down == 0 || rng.chance(30) {
                // Back up as a new process: every counter starts again from zero.
                app = App::default();
            }
            out.push(None);
            continue;
        }
        let n = requests + rng.below(requests / 2 + 1);
        app.serve(rng, n, error_pct, slow_from);
        out.push(Some(app.clone()));
    }
    out
}

/// promtool's input series for the history, with `stale` where Prometheus writes a
/// staleness marker (the scrape failed, or the series was missing from it).
fn input_series(history: &[Option<App>]) -> Vec<Value> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last: Vec<String> = Vec::new();
    let up = format!("up{{instance=\"replay\",job=\"{APP}\"}}");
    for (k, scrape) in history.iter().enumerate() {
        values
            .entry(up.clone())
            .or_default()
            .push(if scrape.is_some() { "1" } else { "0" }.into());
        let now: Vec<(String, u64)> = scrape.as_ref().map(App::series).unwrap_or_default();
        for (name, v) in &now {
            values
                .entry(name.clone())
                .or_insert_with(|| vec!["_".into(); k])
                .push(v.to_string());
        }
        for name in &last {
            if !now.iter().any(|(n, _)| n == name) {
                values.get_mut(name).unwrap().push("stale".into());
            }
        }
        for v in values.values_mut() {
            if v.len() == k {
                // Not in this scrape, and already stale or never seen.
                v.push("_".into());
            }
        }
        last = now.into_iter().map(|(n, _)| n).collect();
    }
    values
        .into_iter()
        .map(|(series, v)| json!({"series": series, "values": v.join(" ")}))
        .collect()
}

fn replay_file(history: &[Option<App>]) -> String {
    history
        .iter()
        .enumerate()
        .map(|(k, scrape)| {
            let metrics = scrape.as_ref().map(App::exposition);
            format!("{}\n", json!({"ts": k as u64 * STEP_S, "metrics": metrics}))
        })
        .collect()
}

/// Random rule options, the same for `rules` and `check`.
fn options(rng: &mut Rng) -> Vec<String> {
    let mut o: Vec<String> = vec![
        "--window".into(),
        rng.pick(&["1m", "2m", "5m"]).to_string(),
        "--error-for".into(),
        rng.pick(&["0s", "35s", "1m"]).to_string(),
        "--latency-for".into(),
        rng.pick(&["0s", "28s", "2m"]).to_string(),
        "--down-for".into(),
        rng.pick(&["0s", "14s", "1m"]).to_string(),
        "--error-ratio".into(),
        rng.pick(&["0.05", "0.1", "0.3"]).to_string(),
        "--latency-quantile".into(),
        rng.pick(&["0.5", "0.9", "0.95", "0.99"]).to_string(),
        "--latency-threshold".into(),
        rng.pick(&["100ms", "250ms", "500ms", "2s"]).to_string(),
    ];
    if rng.chance(40) {
        o.extend([
            "--min-requests".into(),
            rng.pick(&["20", "200"]).to_string(),
        ]);
    }
    o
}

/// The alerts firing at the end of the replay, as promtool's `exp_alerts` for each rule.
fn firing(dir: &TempDir, history: &[Option<App>], opts: &[String]) -> BTreeMap<String, Vec<Value>> {
    let file = dir.join("history.jsonl");
    std::fs::write(&file, replay_file(history)).unwrap();
    let mut args: Vec<&str> = vec![
        "check",
        "--app",
        APP,
        "--replay",
        file.to_str().unwrap(),
        "--prometheus-version",
        "2",
    ];
    args.extend(opts.iter().map(String::as_str));
    let run = run_tool("mvk-alerts", &args, &[], "");
    assert!(
        run.code == 0 || run.code == 1,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut by_name: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for a in out["alerts"]["firing"].as_array().unwrap() {
        let mut labels = a["labels"].as_object().unwrap().clone();
        labels.remove("alertname");
        by_name
            .entry(a["name"].as_str().unwrap().to_string())
            .or_default()
            .push(json!({"exp_labels": labels, "exp_annotations": a["annotations"]}));
    }
    assert_eq!(
        run.code == 1,
        !by_name.is_empty(),
        "exit code and firing list disagree: {}",
        run.stdout
    );
    by_name
}

#[test]
fn replay_fires_exactly_what_promtool_fires() {
    let version = Command::new("promtool")
        .arg("--version")
        .output()
        .expect("promtool is installed");
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        version.contains("version 2."),
        "these expectations are Prometheus 2.x's: {version}"
    );
    let mut checked = 0;
    let mut fired = BTreeMap::<String, usize>::new();
    for seed in 1..=HISTORIES {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let dir = TempDir::new("alerts-prop");
        let steps = 60 + rng.below(60) as usize;
        let history = history(&mut rng, steps);
        let opts = options(&mut rng);
        let mut rules_args = vec!["rules", "--app", APP];
        rules_args.extend(opts.iter().map(String::as_str));
        let rules = run_tool("mvk-alerts", &rules_args, &[], "");
        assert_eq!(rules.code, 0, "{}", rules.stderr);
        std::fs::write(dir.join("rules.yml"), &rules.stdout).unwrap();
        // Many evaluation times, the last step always among them.
        let mut at: Vec<usize> = (0..12).map(|_| rng.below(steps as u64) as usize).collect();
        at.push(steps - 1);
        at.sort_unstable();
        at.dedup();
        let mut tests = Vec::new();
        for k in &at {
            let expected = firing(&dir, &history[..=*k], &opts);
            for name in ["HighErrorRate", "HighLatency", "ServiceDown"] {
                let alerts = expected.get(name).cloned().unwrap_or_default();
                *fired.entry(name.to_string()).or_default() += usize::from(!alerts.is_empty());
                tests.push(json!({"eval_time": format!("{}s", *k as u64 * STEP_S), "alertname": name, "exp_alerts": alerts}));
                checked += 1;
            }
        }
        let unit = json!({
            "rule_files": ["rules.yml"],
            "evaluation_interval": format!("{STEP_S}s"),
            "tests": [{
                "interval": format!("{STEP_S}s"),
                "input_series": input_series(&history),
                "alert_rule_test": tests,
            }],
        });
        // JSON is YAML: promtool reads it as it is.
        std::fs::write(
            dir.join("test.yml"),
            serde_json::to_string_pretty(&unit).unwrap(),
        )
        .unwrap();
        let out = Command::new("promtool")
            .args(["test", "rules", "test.yml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seed {seed}, options {opts:?}: promtool disagrees with mvk-alerts:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The histories must have made every alert fire somewhere, or the test proves little.
    for name in ["HighErrorRate", "HighLatency", "ServiceDown"] {
        assert!(
            fired.get(name).copied().unwrap_or(0) >= 5,
            "{name} fired too rarely: {fired:?}"
        );
    }
    eprintln!("{checked} rule evaluations agreed with promtool ({version}); firing at: {fired:?}");
}
