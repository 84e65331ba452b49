//! `mvk-alerts --canary`: compares a canary with the live release over one step, as Flagger
//! does. The record from `mvk-swap --weight` names both slots; both `/metrics` endpoints are
//! scraped every --every for --watch, and what each counter and histogram bucket grew by in
//! that time (counter resets and series born during the step included) gives each side's
//! requests, error share and latency quantile. The candidate fails when it has too few
//! requests (no data is a failure), or when its error share or latency is above the absolute
//! bound (--error-ratio, --latency-threshold) or above the bound relative to the baseline
//! (--error-margin over the baseline's share, --latency-factor times its latency). A clear
//! failure ends the step early.

use crate::check::{repeat, CheckArgs, GATE_MIN_REQUESTS};
use crate::exposition::Sample;
use crate::promql::{histogram_quantile, Matcher, Version};
use crate::rules::share;
use crate::scrape::Scraper;
use crate::tsdb::Labels;
use anyhow::Result;
use clap::builder::BoolishValueParser;
use mvk_core::envfile::EnvFile;
use mvk_core::section::{Analysis, AnalysisBounds, AnalysisSide, Extra};
use mvk_core::{Fail, Progress, Record};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Below this, a latency is too close to the histogram's first buckets for a ratio to mean
/// anything: the relative latency bound is not applied.
const LATENCY_FLOOR: f64 = 0.025;

#[derive(clap::Args, Debug)]
pub struct CanaryArgs {
    /// Compare the canary with the live release over --watch (the record from
    /// `mvk-swap --weight` on stdin); exit 1 when the canary is worse or has too few requests
    #[arg(long, env = "MVK_CANARY", value_parser = BoolishValueParser::new())]
    pub canary: bool,
    /// With --canary: the canary's error share may exceed the live release's by at most this
    #[arg(long, env = "MVK_ERROR_MARGIN", default_value_t = 0.01, value_parser = share, value_name = "SHARE")]
    pub error_margin: f64,
    /// With --canary: the canary's latency quantile may be at most this many times the live
    /// release's (not applied below 25 ms)
    #[arg(long, env = "MVK_LATENCY_FACTOR", default_value_t = 1.5, value_parser = factor, value_name = "FACTOR")]
    pub latency_factor: f64,
}

fn factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 1.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a number of at least 1")),
    }
}

/// What one side's counters grew by during the step.
#[derive(Default)]
struct Growth {
    /// The last value of each series seen, from the last successful scrape.
    last: Option<HashMap<(String, Labels), f64>>,
    grown: HashMap<(String, Labels), f64>,
    scrapes: u32,
    failed_scrapes: u32,
}

impl Growth {
    fn add(&mut self, scrape: Result<Vec<Sample>, String>) {
        let Ok(samples) = scrape else {
            self.failed_scrapes += 1;
            return;
        };
        self.scrapes += 1;
        let now: HashMap<(String, Labels), f64> = samples
            .into_iter()
            .map(|s| ((s.name, Labels::new(s.labels)), s.value))
            .collect();
        if let Some(before) = &self.last {
            for (key, value) in &now {
                let grew = match before.get(key) {
                    // A counter that went down was reset (the app restarted): it grew by
                    // its whole new value, as Prometheus's increase() counts it.
                    Some(old) if value >= old => value - old,
                    // Born during the step (a first 500): it grew from 0.
                    _ => *value,
                };
                *self.grown.entry(key.clone()).or_default() += grew;
            }
        }
        self.last = Some(now);
    }
}

/// One side's figures over the step.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    requests: f64,
    errors: f64,
    /// NaN without histogram data.
    latency: f64,
}

impl Figures {
    fn of(g: &Growth, args: &CheckArgs, failed: &Matcher) -> Figures {
        let r = &args.rules;
        let (mut requests, mut errors) = (0.0, 0.0);
        let mut buckets: HashMap<Labels, f64> = HashMap::new();
        let bucket = format!("{}_bucket", r.duration_metric);
        for ((name, labels), grew) in &g.grown {
            if *name == r.requests_metric {
                requests += grew;
                if failed.matches(labels) {
                    errors += grew;
                }
            } else if *name == bucket {
                if let Some(le) = labels.get("le") {
                    *buckets.entry(Labels::new([("le", le)])).or_default() += grew;
                }
            }
        }
        let latency = histogram_quantile(
            r.latency_quantile,
            buckets.into_iter().collect(),
            args.prometheus_version,
        )
        .first()
        .map_or(f64::NAN, |(_, v)| *v);
        Figures {
            requests,
            errors,
            latency,
        }
    }

    fn share(&self) -> f64 {
        if self.requests > 0.0 {
            self.errors / self.requests
        } else {
            0.0
        }
    }

    /// The side's part of the record's `analysis`.
    fn section(&self, g: &Growth, s: &Scraper) -> AnalysisSide {
        AnalysisSide {
            url: s.url.clone(),
            requests: self.requests,
            errors: self.errors,
            error_share: round(self.share()),
            latency_seconds: (!self.latency.is_nan()).then(|| round(self.latency)),
            scrapes: g.scrapes,
            failed_scrapes: g.failed_scrapes,
            extra: Extra::new(),
        }
    }
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Why the candidate fails, judged on both sides' figures; `data` is false when a side has
/// fewer than `min` requests (which fails only at the end of the step).
fn judge(c: &Figures, b: &Figures, args: &CheckArgs, min: u64) -> (Vec<String>, bool) {
    let r = &args.rules;
    let mut why = Vec::new();
    let data = c.requests >= min as f64 && b.requests >= min as f64;
    for (side, f) in [("the canary", c), ("the live release", b)] {
        if f.requests < min as f64 {
            why.push(format!(
                "{side} answered {} requests in the step, fewer than {min}: no data is a failure",
                f.requests
            ));
        }
    }
    if c.requests > 0.0 && c.share() > r.error_ratio {
        why.push(format!(
            "the canary's error share {:.4} is above --error-ratio {}",
            c.share(),
            r.error_ratio
        ));
    }
    if c.requests > 0.0 && b.requests > 0.0 && c.share() > b.share() + args.canary.error_margin {
        why.push(format!(
            "the canary's error share {:.4} is above the live release's {:.4} + --error-margin {}",
            c.share(),
            b.share(),
            args.canary.error_margin
        ));
    }
    let threshold = r.latency_threshold.as_secs_f64();
    if c.requests > 0.0 && c.latency.is_nan() {
        why.push(format!(
            "the canary exposes no {}_bucket histogram: no latency data",
            r.duration_metric
        ));
    } else if c.latency > threshold {
        why.push(format!(
            "the canary's latency q{} {:.3}s is above --latency-threshold {threshold}s",
            r.latency_quantile, c.latency
        ));
    } else if c.latency > LATENCY_FLOOR && c.latency > b.latency * args.canary.latency_factor {
        why.push(format!(
            "the canary's latency q{} {:.3}s is above {} times the live release's {:.3}s",
            r.latency_quantile, c.latency, args.canary.latency_factor, b.latency
        ));
    }
    (why, data)
}

pub fn run(
    args: &CheckArgs,
    secrets: &EnvFile,
    record: &mut Record,
    progress: &Progress,
) -> Result<()> {
    let weight = weight(record)?;
    let url = |port: u16| format!("http://127.0.0.1:{port}{}", args.metrics_path);
    let every = args.every.min(Duration::from_secs(10));
    let sides = [
        Scraper::new(&url(record.port("swap.canary.port")?), every, secrets),
        Scraper::new(&url(record.port("swap.live.port")?), every, secrets),
    ];
    let failed = Matcher::regex(
        &args.rules.status_label,
        &args.rules.error_status,
        Version::V3,
    )
    .map_err(|e| Fail::usage(format!("--error-status: {e}")))?;
    let min = args.rules.min_requests.unwrap_or(GATE_MIN_REQUESTS);
    let watch = args.watch.unwrap_or(Duration::from_secs(60));
    progress.say(format!(
        "comparing the canary ({}, {weight} %) with the live release ({}) for {}s, every {}s, at least {min} requests each",
        sides[0].url,
        sides[1].url,
        watch.as_secs_f64(),
        args.every.as_secs_f64()
    ));
    let start = Instant::now();
    let growth = compare(args, &sides, &failed, min, watch, progress)?;
    let [c, b] = [&growth[0], &growth[1]].map(|g| Figures::of(g, args, &failed));
    let (why, _) = judge(&c, &b, args, min);
    let analysis = Analysis {
        passed: why.is_empty(),
        weight,
        seconds: round(start.elapsed().as_secs_f64()),
        canary: c.section(&growth[0], &sides[0]),
        baseline: b.section(&growth[1], &sides[1]),
        bounds: bounds(args, min),
        failures: why,
        extra: Extra::new(),
    };
    record.put(&analysis);
    if analysis.passed {
        progress.say(format!(
            "the canary passed: {} requests, error share {:.4} (live {:.4}), latency q{} {:.3}s (live {:.3}s)",
            c.requests,
            c.share(),
            b.share(),
            args.rules.latency_quantile,
            c.latency,
            b.latency
        ));
        Ok(())
    } else {
        Err(Fail::failed("canary", analysis.failures.join("; ")).into())
    }
}

/// The canary's share of the requests, from the record `mvk-swap --weight` wrote.
fn weight(record: &Record) -> Result<u8> {
    if record.is_standalone() {
        return Err(Fail::usage(
            "--canary needs the release record from `mvk-swap --weight` on stdin",
        )
        .into());
    }
    match record.u64("swap.weight")? {
        weight @ 1..=99 => Ok(weight as u8),
        weight => Err(Fail::usage(format!(
            "the record's `swap.weight` is {weight}: --canary analyses a canary (mvk-swap --weight 1 to 99)"
        ))
        .into()),
    }
}

/// Scrapes both sides every --every for `watch`, stopping early once the data supports a
/// failing verdict; returns what each side's counters grew by.
fn compare(
    args: &CheckArgs,
    sides: &[Scraper; 2],
    failed: &Matcher,
    min: u64,
    watch: Duration,
    progress: &Progress,
) -> Result<[Growth; 2]> {
    let mut growth = [Growth::default(), Growth::default()];
    repeat(args.every, watch, progress, |round| {
        for (g, s) in growth.iter_mut().zip(sides) {
            g.add(s.fetch());
        }
        let [c, b] = [&growth[0], &growth[1]].map(|g| Figures::of(g, args, failed));
        let verdict = judge(&c, &b, args, min);
        progress.live(format!(
            "round {round}: canary {} requests, error share {:.4}; live {} requests, error share {:.4}",
            c.requests,
            c.share(),
            b.requests,
            b.share()
        ));
        // Stop early only on a verdict the data supports.
        Ok(verdict.1 && !verdict.0.is_empty())
    })?;
    Ok(growth)
}

/// The bounds the step was judged by, for the record's `analysis`.
fn bounds(args: &CheckArgs, min: u64) -> AnalysisBounds {
    AnalysisBounds {
        min_requests: min,
        error_ratio: args.rules.error_ratio,
        error_margin: args.canary.error_margin,
        latency_quantile: args.rules.latency_quantile,
        latency_threshold_seconds: args.rules.latency_threshold.as_secs_f64(),
        latency_factor: args.canary.latency_factor,
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::sample;

    #[test]
    fn growth_counts_resets_and_series_born_in_the_step() {
        let mut g = Growth::default();
        let ok = |v: f64| sample("http_requests_total", &[("status", "200")], v);
        g.add(Ok(vec![ok(100.0)]));
        g.add(Err("down".into()));
        g.add(Ok(vec![
            ok(130.0),
            sample("http_requests_total", &[("status", "500")], 4.0),
        ]));
        // Restarted: 130 → 5 counts 5.
        g.add(Ok(vec![ok(5.0)]));
        let key = |s: &str| {
            (
                "http_requests_total".to_string(),
                Labels::new([("status", s)]),
            )
        };
        assert_eq!(g.grown[&key("200")], 35.0);
        assert_eq!(g.grown[&key("500")], 4.0);
        assert_eq!((g.scrapes, g.failed_scrapes), (3, 1));
    }

    fn args(extra: &[&str]) -> CheckArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            check: CheckArgs,
        }
        let mut argv = vec!["x"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).check
    }

    fn figures(requests: f64, errors: f64, latency: f64) -> Figures {
        Figures {
            requests,
            errors,
            latency,
        }
    }

    #[test]
    fn judges_absolute_and_relative_bounds_and_missing_data() {
        let a = args(&[]);
        let good = figures(100.0, 0.0, 0.01);
        assert_eq!(judge(&good, &good, &a, 20), (vec![], true));
        // 3 % errors: under the absolute 5 %, over the baseline's 0 % + 1 %.
        let (why, data) = judge(&figures(100.0, 3.0, 0.01), &good, &a, 20);
        assert!(data);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("--error-margin"), "{why:?}");
        let (why, _) = judge(&figures(100.0, 30.0, 0.01), &good, &a, 20);
        assert_eq!(why.len(), 2, "{why:?}");
        // Slower: 0.2 s against 0.05 s is 4 times, under the absolute 0.5 s.
        let (why, _) = judge(
            &figures(100.0, 0.0, 0.2),
            &figures(100.0, 0.0, 0.05),
            &a,
            20,
        );
        assert!(why[0].contains("times the live release's"), "{why:?}");
        let (why, _) = judge(&figures(100.0, 0.0, 0.9), &good, &a, 20);
        assert!(why[0].contains("--latency-threshold"), "{why:?}");
        // Tiny latencies are not compared as ratios.
        assert!(judge(
            &figures(100.0, 0.0, 0.02),
            &figures(100.0, 0.0, 0.004),
            &a,
            20
        )
        .0
        .is_empty());
        let (why, data) = judge(&figures(5.0, 0.0, 0.01), &good, &a, 20);
        assert!(!data);
        assert!(why[0].contains("no data is a failure"), "{why:?}");
        let (why, _) = judge(&figures(50.0, 0.0, f64::NAN), &good, &a, 20);
        assert!(why[0].contains("no latency data"), "{why:?}");
    }
}
