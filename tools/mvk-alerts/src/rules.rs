//! The three alerts, built once from the options as expression trees: `mvk-alerts rules`
//! prints them as a Prometheus rule file, and `check` evaluates the very same trees.

use crate::alerting::Rule;
use crate::promql::{duration, Expr, Matcher, Op, RangeFn, Selector, Version};
use crate::template::{self, go_g4, text, Piece};
use clap::{Args, FromArgMatches};
use mvk_core::config::app_name;
use mvk_core::time::parse_duration;
use std::fmt::Write;
use std::time::Duration;

/// The rules' thresholds and the names of the metrics and labels they read.
#[derive(Args, Debug, Clone)]
pub struct RuleArgs {
    /// The app: the value of the `job` label the rules select
    #[arg(long, env = "MVK_APP", value_parser = app_name, value_name = "APP")]
    pub app: Option<String>,
    /// Rate window of HighErrorRate and HighLatency
    #[arg(long, env = "MVK_WINDOW", default_value = "5m", value_parser = positive_duration, value_name = "DURATION")]
    pub window: Duration,
    /// HighErrorRate fires above this share of failed requests
    #[arg(long, env = "MVK_ERROR_RATIO", default_value_t = 0.05, value_parser = share, value_name = "SHARE")]
    pub error_ratio: f64,
    /// How long the error share must stay above --error-ratio
    #[arg(long, env = "MVK_ERROR_FOR", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub error_for: Duration,
    /// Which latency quantile HighLatency watches
    #[arg(long, env = "MVK_LATENCY_QUANTILE", default_value_t = 0.95, value_parser = share, value_name = "Q")]
    pub latency_quantile: f64,
    /// HighLatency fires when the quantile is above this
    #[arg(long, env = "MVK_LATENCY_THRESHOLD", default_value = "500ms", value_parser = positive_duration, value_name = "DURATION")]
    pub latency_threshold: Duration,
    /// How long the latency must stay above --latency-threshold
    #[arg(long, env = "MVK_LATENCY_FOR", default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub latency_for: Duration,
    /// How long scrapes must fail before ServiceDown fires
    #[arg(long, env = "MVK_DOWN_FOR", default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub down_for: Duration,
    /// Only fire HighErrorRate and HighLatency with at least this many requests in the window
    /// [default: 20 when gating a release record, else no minimum]
    #[arg(long, env = "MVK_MIN_REQUESTS", value_name = "N")]
    pub min_requests: Option<u64>,
    /// Counter of requests, labelled with the status
    #[arg(long, env = "MVK_REQUESTS_METRIC", default_value = "http_requests_total", value_parser = metric_name, value_name = "NAME")]
    pub requests_metric: String,
    /// Histogram of request durations in seconds (its `_bucket` series are read)
    #[arg(long, env = "MVK_DURATION_METRIC", default_value = "http_request_duration_seconds", value_parser = metric_name, value_name = "NAME")]
    pub duration_metric: String,
    /// The label holding the response status
    #[arg(long, env = "MVK_STATUS_LABEL", default_value = "status", value_parser = label_name, value_name = "NAME")]
    pub status_label: String,
    /// Regex (anchored, RE2 syntax) of the statuses that count as failed
    #[arg(
        long,
        env = "MVK_ERROR_STATUS",
        default_value = "5..",
        value_name = "REGEX"
    )]
    pub error_status: String,
}

impl RuleArgs {
    /// The options from `args` (the tool's name first) and the environment's `MVK_*`
    /// variables, as the tool reads them.
    pub fn try_parse_from<I, T>(args: I) -> Result<RuleArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches =
            RuleArgs::augment_args(clap::Command::new(crate::TOOL)).try_get_matches_from(args)?;
        RuleArgs::from_arg_matches(&matches)
    }
}

/// What the rules are built from: the options, or the options as a deploy gate adjusts them.
pub struct Params<'a> {
    pub args: &'a RuleArgs,
    pub job: &'a str,
    pub window_ms: i64,
    /// `for:` of HighErrorRate, HighLatency and ServiceDown.
    pub holds_ms: [i64; 3],
    pub min_requests: Option<u64>,
}

impl<'a> Params<'a> {
    /// The rules as the options give them.
    pub fn standing(args: &'a RuleArgs, job: &'a str) -> Params<'a> {
        Params {
            args,
            job,
            window_ms: ms(args.window),
            holds_ms: [ms(args.error_for), ms(args.latency_for), ms(args.down_for)],
            min_requests: args.min_requests,
        }
    }
}

pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// HighErrorRate, HighLatency and ServiceDown.
pub fn build(p: &Params, version: Version) -> Result<Vec<Rule>, String> {
    let x = Exprs::new(p, version)?;
    Ok(vec![
        x.high_error_rate(),
        x.high_latency(),
        x.service_down(),
    ])
}

/// What a dashboard graphs, named: the request rate, and the very expressions the three
/// rules report as their values (error share, latency quantile, `up`).
pub fn graphed(p: &Params, version: Version) -> Result<Vec<(&'static str, Expr)>, String> {
    let rules = build(p, version)?;
    let rate = Exprs::new(p, version)?.rate(false);
    let mut values = rules.into_iter().map(|r| r.value_expr);
    let mut next = || values.next().expect("three rules");
    Ok(vec![
        ("requests", rate),
        ("errors", next()),
        ("latency", next()),
        ("up", next()),
    ])
}

/// The rules' expressions, over the job's requests in the window.
struct Exprs<'a> {
    p: &'a Params<'a>,
    /// Selects the failed requests (--status-label matching --error-status).
    failed: Matcher,
}

impl<'a> Exprs<'a> {
    fn new(p: &'a Params<'a>, version: Version) -> Result<Exprs<'a>, String> {
        let failed = Matcher::regex(&p.args.status_label, &p.args.error_status, version)
            .map_err(|e| format!("--error-status: {e}"))?;
        Ok(Exprs { p, failed })
    }

    fn job(&self) -> Matcher {
        Matcher::equal("job", self.p.job)
    }

    fn requests(&self, extra: Vec<Matcher>) -> Selector {
        Selector {
            metric: self.p.args.requests_metric.clone(),
            matchers: std::iter::once(self.job()).chain(extra).collect(),
        }
    }

    fn over_window(&self, func: RangeFn, sel: Selector) -> Expr {
        Expr::Range {
            func,
            sel,
            range_ms: self.p.window_ms,
        }
    }

    /// `sum(rate(<requests>[window]))`, of the failed ones only when `failed`.
    fn rate(&self, failed: bool) -> Expr {
        let extra = if failed {
            vec![self.failed.clone()]
        } else {
            vec![]
        };
        sum(self.over_window(RangeFn::Rate, self.requests(extra)))
    }

    fn latency(&self) -> Expr {
        let buckets = Selector {
            metric: format!("{}_bucket", self.p.args.duration_metric),
            matchers: vec![self.job()],
        };
        Expr::Quantile {
            q: self.p.args.latency_quantile,
            arg: Box::new(Expr::Sum {
                by: Some(vec!["le".into()]),
                arg: Box::new(self.over_window(RangeFn::Rate, buckets)),
            }),
        }
    }

    /// `cond`, only once the window holds --min-requests requests (when asked to).
    fn guarded(&self, cond: Expr) -> Expr {
        match self.p.min_requests {
            Some(n) => cond.binary(
                Op::And,
                sum(self.over_window(RangeFn::Increase, self.requests(vec![])))
                    .binary(Op::Ge, Expr::Number(n as f64)),
            ),
            None => cond,
        }
    }

    fn up(&self) -> Expr {
        Expr::Select(Selector {
            metric: "up".into(),
            matchers: vec![self.job()],
        })
    }

    /// How the descriptions name the window and the minimum of requests.
    fn window(&self) -> (String, String) {
        let at_least = match self.p.min_requests {
            Some(n) => format!(", at least {n} requests"),
            None => String::new(),
        };
        (duration(self.p.window_ms), at_least)
    }

    fn high_error_rate(&self) -> Rule {
        let (p, a) = (self.p, self.p.args);
        let share = self.rate(true).binary(Op::Div, self.rate(false));
        let (window, at_least) = self.window();
        Rule {
            name: "HighErrorRate".into(),
            expr: self.guarded(share.binary(Op::Gt, Expr::Number(a.error_ratio))),
            // Reported as 0, not as no value, while requests come and none fails: an app
            // writes no 5xx series before its first failure.
            value_expr: (self.rate(true))
                .binary(Op::Or, Expr::Vector(0.0))
                .binary(Op::Div, self.rate(false)),
            worst_is_lowest: false,
            hold_ms: p.holds_ms[0],
            labels: vec![("severity".into(), "critical".into())],
            annotations: vec![
                ("summary".into(), vec![text(&format!("{}: high error rate", p.job))]),
                (
                    "description".into(),
                    vec![
                        Piece::Percentage,
                        text(&format!(
                            " of requests to {} failed over the last {window} (threshold {}%{at_least}).",
                            p.job,
                            go_g4(a.error_ratio * 100.0)
                        )),
                    ],
                ),
            ],
        }
    }

    fn high_latency(&self) -> Rule {
        let (p, a) = (self.p, self.p.args);
        let threshold_secs = a.latency_threshold.as_secs_f64();
        let (window, at_least) = self.window();
        Rule {
            name: "HighLatency".into(),
            expr: self.guarded(self.latency().binary(Op::Gt, Expr::Number(threshold_secs))),
            value_expr: self.latency(),
            worst_is_lowest: false,
            hold_ms: p.holds_ms[1],
            labels: vec![("severity".into(), "warning".into())],
            annotations: vec![
                (
                    "summary".into(),
                    vec![text(&format!("{}: high latency", p.job))],
                ),
                (
                    "description".into(),
                    vec![
                        text(&format!(
                            "p{} latency of {} is ",
                            go_g4(a.latency_quantile * 100.0),
                            p.job
                        )),
                        Piece::Duration,
                        text(&format!(
                            " over the last {window} (threshold {}{at_least}).",
                            template::render(
                                &[Piece::Duration],
                                threshold_secs,
                                &Default::default()
                            )
                        )),
                    ],
                ),
            ],
        }
    }

    fn service_down(&self) -> Rule {
        let p = self.p;
        let down = match p.holds_ms[2] {
            0 => format!(" of job {} did not answer its last scrape.", p.job),
            ms => format!(
                " of job {} has not answered a scrape for {}.",
                p.job,
                duration(ms)
            ),
        };
        Rule {
            name: "ServiceDown".into(),
            expr: self.up().binary(Op::Eq, Expr::Number(0.0)),
            value_expr: self.up(),
            worst_is_lowest: true,
            hold_ms: p.holds_ms[2],
            labels: vec![("severity".into(), "critical".into())],
            annotations: vec![
                (
                    "summary".into(),
                    vec![text(&format!("{}: target down", p.job))],
                ),
                (
                    "description".into(),
                    vec![Piece::Label("instance".into()), text(&down)],
                ),
            ],
        }
    }
}

fn sum(arg: Expr) -> Expr {
    Expr::Sum {
        by: None,
        arg: Box::new(arg),
    }
}

/// The rule file, one group named after the app.
pub fn yaml(job: &str, rules: &[Rule]) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "# Alerting rules for {job}, written by mvk-alerts {}.\n# Load them with `rule_files:` in prometheus.yml.\ngroups:\n  - name: {}\n    rules:\n",
        env!("CARGO_PKG_VERSION"),
        q(&format!("mvk-{job}"))
    );
    for r in rules {
        let _ = writeln!(out, "      - alert: {}", r.name);
        let _ = writeln!(out, "        expr: {}", q(&r.expr.to_string()));
        let _ = writeln!(out, "        for: {}", duration(r.hold_ms));
        out.push_str("        labels:\n");
        for (k, v) in &r.labels {
            let _ = writeln!(out, "          {k}: {}", q(v));
        }
        out.push_str("        annotations:\n");
        for (k, t) in &r.annotations {
            let _ = writeln!(out, "          {k}: {}", q(&template::source(t)));
        }
    }
    out
}

/// A Prometheus configuration holding the scrape job the rules expect.
pub fn scrape_config(
    job: &str,
    targets: &[String],
    interval: Duration,
    metrics_path: &str,
) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let interval_ms = ms(interval);
    // Prometheus refuses a scrape timeout (10s by default) longer than the interval.
    let timeout = if interval_ms < 10_000 {
        format!("    scrape_timeout: {}\n", duration(interval_ms))
    } else {
        String::new()
    };
    let targets: Vec<String> = targets.iter().map(|t| q(t)).collect();
    format!(
        "# Prometheus scrape job for {job}, written by mvk-alerts {}.\n\
         # Merge it into prometheus.yml; the job name is what the rules select (job=\"{job}\").\n\
         scrape_configs:\n  - job_name: {}\n    scrape_interval: {}\n{timeout}    metrics_path: {}\n    static_configs:\n      - targets: [{}]\n",
        env!("CARGO_PKG_VERSION"),
        q(job),
        duration(interval_ms),
        q(metrics_path),
        targets.join(", ")
    )
}

pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.as_millis() == 0 {
        return Err("must be at least 1ms".into());
    }
    Ok(d)
}

pub(crate) fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{s}` is not between 0 and 1"));
    }
    Ok(v)
}

fn metric_name(s: &str) -> Result<String, String> {
    if crate::exposition::is_metric_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a metric name"))
    }
}

fn label_name(s: &str) -> Result<String, String> {
    if crate::exposition::is_label_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a label name"))
    }
}

/// `HOST:PORT`, as Prometheus wants a static target.
pub fn target(s: &str) -> Result<String, String> {
    match s.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains('/')
                && port.parse::<u16>().is_ok_and(|p| p > 0) =>
        {
            Ok(s.to_string())
        }
        _ => Err(format!("`{s}` is not HOST:PORT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> RuleArgs {
        RuleArgs::try_parse_from([&["t"], extra].concat()).unwrap()
    }

    #[test]
    fn the_default_rules() {
        let a = args(&[]);
        let rules = build(&Params::standing(&a, "shop"), Version::V3).unwrap();
        let exprs: Vec<String> = rules.iter().map(|r| r.expr.to_string()).collect();
        assert_eq!(
            exprs,
            [
                r#"sum(rate(http_requests_total{job="shop",status=~"5.."}[5m])) / sum(rate(http_requests_total{job="shop"}[5m])) > 0.05"#,
                r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="shop"}[5m]))) > 0.5"#,
                r#"up{job="shop"} == 0"#,
            ]
        );
        let holds: Vec<i64> = rules.iter().map(|r| r.hold_ms).collect();
        assert_eq!(holds, [300_000, 600_000, 60_000]);
        let text = yaml("shop", &rules);
        assert!(text.contains("      - alert: HighLatency\n"), "{text}");
        assert!(text.contains(
            r#"description: "p95 latency of shop is {{ $value | humanizeDuration }} over the last 5m (threshold 500ms).""#
        ), "{text}");
        assert!(text.contains(
            r#"description: "{{ $value | humanizePercentage }} of requests to shop failed over the last 5m (threshold 5%).""#
        ), "{text}");
    }

    #[test]
    fn options_change_names_thresholds_and_add_the_request_minimum() {
        let a = args(&[
            "--requests-metric",
            "requests",
            "--status-label",
            "code",
            "--error-status",
            "5..|429",
            "--error-ratio",
            "0.1",
            "--window",
            "90s",
            "--min-requests",
            "20",
            "--duration-metric",
            "lat",
        ]);
        let rules = build(&Params::standing(&a, "api"), Version::V3).unwrap();
        assert_eq!(
            rules[0].expr.to_string(),
            r#"sum(rate(requests{job="api",code=~"5..|429"}[1m30s])) / sum(rate(requests{job="api"}[1m30s])) > 0.1 and sum(increase(requests{job="api"}[1m30s])) >= 20"#
        );
        assert!(rules[1].expr.to_string().starts_with("histogram_quantile(0.95, sum by (le) (rate(lat_bucket{job=\"api\"}[1m30s]))) > 0.5 and "));
        let bad = args(&["--error-status", "5(("]);
        assert!(build(&Params::standing(&bad, "api"), Version::V3)
            .err()
            .unwrap()
            .contains("--error-status"));
    }

    #[test]
    fn rejects_bad_option_values() {
        for bad in [
            &["--error-ratio", "1.5"][..],
            &["--latency-quantile", "-0.1"],
            &["--window", "0s"],
            &["--requests-metric", "a-b"],
            &["--status-label", "a:b"],
            &["--app", "Shop"],
        ] {
            assert!(
                RuleArgs::try_parse_from([&["t"], bad].concat()).is_err(),
                "{bad:?}"
            );
        }
        assert!(target("127.0.0.1:8000").is_ok());
        for bad in ["127.0.0.1", ":80", "h:0", "h:x", "http://h:80"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scrape_config_keeps_the_timeout_within_the_interval() {
        let c = scrape_config(
            "shop",
            &["127.0.0.1:8000".into()],
            Duration::from_secs(5),
            "/metrics",
        );
        assert!(
            c.contains("    scrape_interval: 5s\n    scrape_timeout: 5s\n"),
            "{c}"
        );
        assert!(c.contains(r#"      - targets: ["127.0.0.1:8000"]"#), "{c}");
        let c = scrape_config(
            "shop",
            &["a:1".into(), "b:2".into()],
            Duration::from_secs(15),
            "/m",
        );
        assert!(
            !c.contains("scrape_timeout") && c.contains(r#"["a:1", "b:2"]"#),
            "{c}"
        );
    }
}
