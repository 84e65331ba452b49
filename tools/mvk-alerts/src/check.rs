//! `mvk-alerts check`: picks the samples' source, evaluates the rules over it, and reports
//! the outcome in the record (`alerts`), a textfile and Alertmanager.
//!
//! With a release record on stdin and no source on the command line it is a deploy gate: it
//! scrapes the live slot (`swap.live.port`) for the watch, over a window spanning the whole
//! watch, with no `for` (the window already asks "over the watch") and a minimum number of
//! requests, and stops at the first alert that fires.

use crate::alerting::{Rule, State};
use crate::alertmanager;
use crate::clock::{now_ms, rfc3339_ms};
use crate::engine::{Engine, Outcome};
use crate::prometheus::Prometheus;
use crate::promql::{duration, Version};
use crate::replay;
use crate::rules::{self, ms, Params, RuleArgs};
use crate::scrape::{Scraper, Target};
use crate::textfile;
use anyhow::Result;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use mvk_core::config::{EnvFileArgs, Output};
use mvk_core::step::{self, Input};
use mvk_core::time::parse_duration;
use mvk_core::{section, signal, Fail, Progress, Record};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Requests a deploy gate wants to have seen before it judges the error share or latency.
pub(crate) const GATE_MIN_REQUESTS: u64 = 20;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scrape this metrics endpoint every --every for --watch [needs --app]
    #[arg(long, env = "MVK_METRICS_URL", value_name = "URL", group = "source", value_parser = mvk_core::validate::Quiet(mvk_core::validate::url))]
    pub metrics_url: Option<String>,
    /// Have this Prometheus evaluate the same expressions (HTTP API) [needs --app]
    #[arg(long, env = "MVK_PROMETHEUS", value_name = "URL", group = "source", value_parser = mvk_core::validate::Quiet(mvk_core::validate::url))]
    pub prometheus: Option<String>,
    /// Evaluate a recorded scrape history, JSON Lines: {"ts": SECONDS, "metrics": TEXT or null},
    /// each line at most 32 MiB [needs --app]
    #[arg(long, env = "MVK_REPLAY", value_name = "FILE", group = "source")]
    pub replay: Option<PathBuf>,
    /// How long to scrape (or query) before answering; stops early when an alert fires
    /// [default: 60s, or one query with --prometheus]
    #[arg(long, env = "MVK_WATCH", value_parser = parse_duration, value_name = "DURATION")]
    pub watch: Option<Duration>,
    /// Time between two scrapes (or queries), each followed by an evaluation
    #[arg(long, env = "MVK_EVERY", default_value = "5s", value_parser = rules::positive_duration, value_name = "DURATION")]
    pub every: Duration,
    /// Path of the metrics endpoint on the record's live slot
    #[arg(long, env = "MVK_METRICS_PATH", default_value = "/metrics", value_parser = metrics_path, value_name = "PATH")]
    pub metrics_path: String,
    /// Post firing and resolved alerts to this Alertmanager (API v2)
    #[arg(long, env = "MVK_ALERTMANAGER", value_name = "URL", value_parser = mvk_core::validate::Quiet(mvk_core::validate::url))]
    pub alertmanager: Option<String>,
    /// Also write mvk_alerts_<app>.prom here, for node_exporter's textfile collector
    #[arg(long, env = "MVK_TEXTFILE_DIR", value_name = "DIR")]
    pub textfile_dir: Option<PathBuf>,
    /// Evaluate as this Prometheus major version does: 2 (as 2.42) or 3 (they differ at the
    /// edges of rate windows)
    #[arg(
        long,
        env = "MVK_PROMETHEUS_VERSION",
        default_value = "3",
        value_enum,
        value_name = "MAJOR"
    )]
    pub prometheus_version: Version,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub canary: crate::canary::CanaryArgs,
    // The app's env file: its values are masked where a scrape's failure quotes the app.
    #[command(flatten)]
    pub env: EnvFileArgs,
    #[command(flatten)]
    pub output: Output,
}

pub fn main(args: CheckArgs, matches: &ArgMatches) -> ExitCode {
    let progress = Progress::new(crate::TOOL, args.output.quiet);
    // A source in the environment (the env file's, for the systemd timer) does not turn a
    // deploy gate into something else; one on the command line does.
    let explicit = ["metrics_url", "prometheus", "replay"]
        .iter()
        .any(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
    step::run(&progress, Input::Optional, |record, progress| {
        check(&args, explicit, record, progress)
    })
}

enum Source {
    Replay(PathBuf),
    Url(String),
    /// The record's live slot: a deploy gate.
    Live(String),
    Prometheus(String),
}

fn check(args: &CheckArgs, explicit: bool, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = app(args, record)?;
    let secrets = args.env.load()?;
    if args.canary.canary {
        if explicit {
            return Err(Fail::usage(
                "--canary scrapes the slots the record names: it takes no --metrics-url, --prometheus or --replay",
            )
            .into());
        }
        return crate::canary::run(args, &secrets, record, progress);
    }
    let source = source(args, explicit, record)?;
    if let Some(dir) = args.textfile_dir.as_ref().filter(|d| !d.is_dir()) {
        return Err(Fail::usage(format!(
            "--textfile-dir {} is not a directory",
            dir.display()
        ))
        .into());
    }
    let watch = args.watch.unwrap_or(match source {
        Source::Prometheus(_) => Duration::ZERO,
        _ => Duration::from_secs(60),
    });
    let params = match source {
        Source::Live(_) => Params {
            args: &args.rules,
            job: &app,
            window_ms: ms(watch) + ms(args.every),
            holds_ms: [0; 3],
            min_requests: Some(args.rules.min_requests.unwrap_or(GATE_MIN_REQUESTS)),
        },
        _ => Params::standing(&args.rules, &app),
    };
    let built = rules::build(&params, args.prometheus_version).map_err(Fail::usage)?;
    let engine = |built, instance: &str| {
        let target = Target::new(&app, instance);
        Engine::new(built, target, args.prometheus_version, params.window_ms)
    };
    match &source {
        Source::Replay(path) => {
            let mut engine = engine(built, "replay");
            replay(path, &mut engine, progress)?;
            let evaluated = Evaluated::of(&engine, path.display().to_string())?;
            finish(args, &app, record, progress, &evaluated, None)
        }
        Source::Url(url) | Source::Live(url) => {
            let scraper = Scraper::new(url, args.every.min(Duration::from_secs(10)), &secrets);
            let mut engine = engine(built, &scraper.instance());
            let gate = matches!(source, Source::Live(_)).then_some(&params);
            scrape(args, &scraper, url, &mut engine, gate, watch, progress)?;
            let evaluated = Evaluated::of(&engine, url.clone())?;
            finish(args, &app, record, progress, &evaluated, None)
        }
        Source::Prometheus(url) => {
            let evaluated = ask(args, url, &built, &app, watch, progress)?;
            let prometheus = Some(url.trim_end_matches('/'));
            finish(args, &app, record, progress, &evaluated, prometheus)
        }
    }
}

/// Where the samples come from: the command line's source, else the record's live slot.
fn source(args: &CheckArgs, explicit: bool, record: &Record) -> Result<Source> {
    let use_record = !record.is_standalone() && !explicit;
    Ok(match (&args.replay, &args.metrics_url, &args.prometheus) {
        _ if use_record => {
            let port = record.port("swap.live.port")?;
            Source::Live(format!("http://127.0.0.1:{port}{}", args.metrics_path))
        }
        (Some(path), _, _) => Source::Replay(path.clone()),
        (_, Some(url), _) => Source::Url(url.clone()),
        (_, _, Some(url)) => Source::Prometheus(url.clone()),
        _ => {
            return Err(Fail::usage(
                "nothing to check: give --metrics-url, --prometheus or --replay, or pipe in a release record",
            )
            .into())
        }
    })
}

/// The rules' outcomes after the last evaluation.
struct Evaluated<'a> {
    outcomes: Vec<Outcome<'a>>,
    /// When the last evaluation was, in ms since the epoch.
    at: i64,
    evaluations: usize,
    /// Where the samples came from, for the record.
    from: String,
}

impl Evaluated<'_> {
    fn of(engine: &Engine, from: String) -> Result<Evaluated<'_>> {
        Ok(Evaluated {
            outcomes: engine.outcomes().map_err(anyhow::Error::msg)?,
            at: engine.last_t().unwrap_or_default(),
            evaluations: engine.evaluations(),
            from,
        })
    }
}

/// Evaluates a recorded scrape history.
fn replay(path: &Path, engine: &mut Engine, progress: &Progress) -> Result<()> {
    replay::run(path, engine)?;
    progress.say(format!(
        "replayed {} scrapes ({} samples) from {}",
        engine.evaluations(),
        engine.samples(),
        path.display()
    ));
    Ok(())
}

/// Scrapes `url` every --every for `watch`, evaluating after each scrape; stops early when
/// an alert fires. `gate`: the parameters of a deploy gate (the record's live slot).
fn scrape(
    args: &CheckArgs,
    scraper: &Scraper,
    url: &str,
    engine: &mut Engine,
    gate: Option<&Params>,
    watch: Duration,
    progress: &Progress,
) -> Result<()> {
    let gate = match gate {
        Some(params) => format!(
            " (deploy gate: window {}, at least {} requests)",
            duration(params.window_ms),
            params.min_requests.unwrap_or_default()
        ),
        None => String::new(),
    };
    progress.say(format!(
        "watching {url} for {}, every {}{gate}",
        duration(ms(watch)),
        duration(ms(args.every))
    ));
    repeat(args.every, watch, progress, |round| {
        let t = now_ms();
        let scrape = scraper.fetch();
        if let Err(why) = &scrape {
            progress.say(format!("scrape of {url} failed ({why}): up = 0"));
        }
        engine.scrape(t, scrape).map_err(anyhow::Error::msg)?;
        progress.live(format!(
            "evaluation {round}: {}",
            states(&engine.outcomes().map_err(anyhow::Error::msg)?)
        ));
        Ok(engine.any_firing())
    })
}

/// Has Prometheus evaluate the rules' expressions every --every for `watch` (once when 0).
fn ask<'a>(
    args: &CheckArgs,
    url: &str,
    built: &'a [Rule],
    app: &str,
    watch: Duration,
    progress: &Progress,
) -> Result<Evaluated<'a>> {
    let prometheus = Prometheus::new(url, Duration::from_secs(30));
    progress.say(format!("asking Prometheus at {url} (job=\"{app}\")"));
    let mut last = None;
    let mut evaluations = 0;
    repeat(args.every, watch, progress, |_| {
        let at = now_ms();
        let outcomes = prometheus.outcomes(built, at, ms(args.every).max(1000))?;
        let firing = outcomes.iter().any(|o| o.state == State::Firing);
        evaluations += 1;
        last = Some((outcomes, at));
        Ok(firing)
    })?;
    let (outcomes, at) = last.expect("repeat runs at least once");
    Ok(Evaluated {
        outcomes,
        at,
        evaluations,
        from: prometheus.base,
    })
}

/// Runs `round` every `every` for `watch` (at 0, every, 2 × every, …, watch), stopping
/// early when it says an alert fires.
pub(crate) fn repeat(
    every: Duration,
    watch: Duration,
    progress: &Progress,
    mut round: impl FnMut(u64) -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    let rounds = (watch.as_millis() / every.as_millis().max(1)) as u64;
    for k in 0..=rounds {
        if round(k + 1)? {
            progress.say(format!(
                "an alert fired after {:.1}s",
                start.elapsed().as_secs_f64()
            ));
            break;
        }
        if k < rounds {
            let next = start + every * (k as u32 + 1);
            signal::sleep(next.saturating_duration_since(Instant::now()))?;
        }
    }
    Ok(())
}

/// The app: the record's, or `--app`; both given, they must agree.
fn app(args: &CheckArgs, record: &Record) -> Result<String, Fail> {
    match (&args.rules.app, record.is_standalone()) {
        (Some(app), false) if app != record.app() => Err(Fail::usage(format!(
            "--app {app} (or MVK_APP) names another app than the record's `{}`",
            record.app()
        ))),
        (_, false) => Ok(record.app().to_string()),
        (Some(app), true) => Ok(app.clone()),
        (None, true) => Err(Fail::usage(
            "without a release record, --app (or MVK_APP) must name the app: the rules select job=\"APP\"",
        )),
    }
}

fn states(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| format!("{} {}", o.rule.name, o.state.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the outcome everywhere it goes; firing alerts make the step fail (exit 1).
fn finish(
    args: &CheckArgs,
    app: &str,
    record: &mut Record,
    progress: &Progress,
    evaluated: &Evaluated,
    prometheus: Option<&str>,
) -> Result<()> {
    let Evaluated {
        outcomes,
        at,
        evaluations,
        from,
    } = evaluated;
    let (outcomes, at) = (outcomes.as_slice(), *at);
    record.put(&alerts_section(outcomes, at, *evaluations, from));
    if let Some(dir) = &args.textfile_dir {
        textfile::write(dir, app, outcomes, now_ms())?;
        progress.say(format!("wrote {}", textfile::path(dir, app).display()));
    }
    let posted = match &args.alertmanager {
        Some(url) => {
            let alerts = alertmanager::body(outcomes, at, ms(args.every), prometheus);
            if alerts.is_empty() {
                Ok(())
            } else {
                alertmanager::post(url, &alerts)
                    .map(|()| progress.say(format!("posted {} alerts to {url}", alerts.len())))
            }
        }
        None => Ok(()),
    };
    let firing: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.alerts.iter().filter(|a| a.state == State::Firing))
        .map(|a| {
            let name = a.labels.get("alertname").unwrap_or_default();
            match a.annotations.iter().find(|(k, _)| k == "description") {
                Some((_, text)) => format!("{name} is firing: {text}"),
                None => format!("{name} is firing"),
            }
        })
        .collect();
    for o in outcomes {
        let value = o
            .value
            .map_or("no value".to_string(), |v| format!("value {v}"));
        progress.say(format!("{}: {} ({value})", o.rule.name, o.state.name()));
    }
    if !firing.is_empty() {
        if let Err(e) = posted {
            progress.error(format!("error: {e:#}"));
        }
        return Err(Fail::failed("alert", firing.join("; ")).into());
    }
    posted
}

/// The record's `alerts` section.
fn alerts_section(
    outcomes: &[Outcome],
    at: i64,
    evaluations: usize,
    source: &str,
) -> section::Alerts {
    let firing: Vec<Value> = outcomes
        .iter()
        .flat_map(|o| o.alerts.iter().filter(|a| a.state == State::Firing).map(move |a| (o, a)))
        .map(|(o, a)| {
            json!({
                "name": o.rule.name,
                "labels": alertmanager::object(a.labels.iter()),
                "value": number(a.value),
                "active_at": rfc3339_ms(a.active_at),
                "annotations": alertmanager::object(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            })
        })
        .collect();
    let evaluated: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({"name": o.rule.name, "state": o.state.name(), "value": o.value.map_or(Value::Null, number)}))
        .collect();
    section::Alerts {
        firing,
        evaluated,
        source: source.to_string(),
        evaluations: evaluations as u64,
        evaluated_at: rfc3339_ms(at),
        extra: Default::default(),
    }
}

/// A JSON number; JSON has no NaN or infinities, so those are null.
fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

pub fn metrics_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && !s.contains(char::is_whitespace) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a URL path (it starts with /)"))
    }
}
