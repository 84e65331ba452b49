//! mvk-verify: checks the endpoints of the live release (the record's `swap.live.port`, or
//! `--url`): status, body pattern, latency and, for https, the certificate's days left. Adds
//! `verify` to the record and, with `--textfile-dir`, writes the result for node_exporter.

mod cert;
mod check;
mod probe;
mod textfile;

// The parsers the fuzz targets (fuzz/) reach: keep them public.
pub use check::{parse_list as parse_checks_file, parse_spec as parse_check_spec, Check};

use anyhow::Result;
use clap::{CommandFactory, Parser};
use mvk_core::config::{app_name, Output};
use mvk_core::step::{self, Input};
use mvk_core::time::{parse_duration, round_ms};
use mvk_core::{section, Fail, Progress, Record};
use probe::{Outcome, Settings, Target};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

const TOOL: &str = "mvk-verify";

/// Check the endpoints of the live release: status, body, latency, certificate
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    after_help = "Checks default to /health, /api/v1/status and /metrics, each expecting 200.\n\n\
                  Examples:\n  \
                  mvk-build | mvk-healthwait | mvk-swap | mvk-verify\n  \
                  mvk-verify --url https://shop.example.com --check '/=200~Welcome' --check /health\n  \
                  mvk-verify --url http://127.0.0.1 --header 'Host: shop.example.com' --checks checks.json\n  \
                  mvk-verify --app shop --url http://127.0.0.1:8000 --textfile-dir /var/lib/prometheus/node-exporter"
)]
pub struct Args {
    /// Check this base URL instead of the record's live slot (http://127.0.0.1:<swap.live.port>)
    #[arg(long, env = "MVK_URL", value_name = "BASE", value_parser = mvk_core::validate::Quiet(mvk_core::validate::url))]
    pub url: Option<String>,
    /// A check: the path, the status expected (default 200) and a regex the body must match;
    /// repeatable
    #[arg(
        long = "check",
        env = "MVK_CHECK",
        value_name = "PATH[=STATUS][~REGEX]",
        value_parser = check::parse_spec
    )]
    pub checks: Vec<Check>,
    /// A JSON list of checks: [{"path", "status", "body_regex", "max_ms", "method", "headers"}]
    #[arg(long = "checks", env = "MVK_CHECKS", value_name = "FILE")]
    pub checks_file: Option<PathBuf>,
    /// Time allowed for each request
    #[arg(long, env = "MVK_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Tries again this many times while a check fails
    #[arg(long, env = "MVK_RETRIES", default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Pause before trying a failed check again
    #[arg(long, env = "MVK_RETRY_DELAY", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,
    /// Fails a check answered slower than this (a --checks entry's max_ms wins)
    #[arg(long, env = "MVK_MAX_LATENCY", value_parser = parse_duration, value_name = "DURATION")]
    pub max_latency: Option<Duration>,
    /// A request header for every check (e.g. 'Host: shop.example.com'); repeatable
    #[arg(long = "header", env = "MVK_HEADER", value_name = "NAME: VALUE", value_parser = mvk_core::validate::Quiet(mvk_core::validate::header))]
    pub headers: Vec<(String, String)>,
    /// For https: fails a check when the server certificate expires in fewer days
    #[arg(
        long,
        env = "MVK_MIN_CERT_DAYS",
        default_value_t = 14,
        value_name = "DAYS"
    )]
    pub min_cert_days: u32,
    /// For https: trusts the CA certificates in this PEM file instead of the system's
    #[arg(long, env = "MVK_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Also writes mvk_verify_<app>.prom here, for node_exporter's textfile collector
    #[arg(long, env = "MVK_TEXTFILE_DIR", value_name = "DIR")]
    pub textfile_dir: Option<PathBuf>,
    /// The app, naming the textfile [default: the record's app]
    #[arg(long, env = "MVK_APP", value_parser = app_name)]
    pub app: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let progress = Progress::new(TOOL, args.output.quiet);
    step::run(&progress, Input::Optional, |record, progress| {
        verify(&args, record, progress)
    })
}

fn verify(args: &Args, record: &mut Record, progress: &Progress) -> Result<()> {
    // Every input is checked before the first request, so bad input changes nothing.
    let target = target(args, record)?;
    let checks = checks(args)?;
    let textfile = match &args.textfile_dir {
        Some(dir) if !dir.is_dir() => {
            return Err(Fail::usage(format!(
                "--textfile-dir {} is not a directory",
                dir.display()
            ))
            .into())
        }
        Some(dir) => Some((dir, textfile_app(args, record)?)),
        None => None,
    };
    let settings = Settings {
        timeout: args.timeout,
        retries: args.retries,
        retry_delay: args.retry_delay,
        max_latency: args.max_latency,
        min_cert_days: i64::from(args.min_cert_days),
        headers: args.headers.clone(),
    };
    let agent = mvk_core::http::agent(args.timeout);
    let (started_at, started) = (SystemTime::now(), Instant::now());
    let mut outcomes: Vec<Outcome> = Vec::new();
    for check in &checks {
        let outcome = probe::run(&agent, &target, check, &settings, progress)?;
        progress.say(describe(&outcome));
        outcomes.push(outcome);
    }
    let took = started.elapsed();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    record.put(&section::Verify {
        ok: failed.is_empty(),
        target: target.base.clone(),
        seconds: round_ms(took.as_secs_f64()),
        checks: outcomes.iter().map(Outcome::to_json).collect(),
        extra: Default::default(),
    });
    if let Some((dir, app)) = textfile {
        textfile::write(dir, &app, &outcomes, took, started_at)?;
        progress.say(format!("wrote {}", textfile::path(dir, &app).display()));
    }
    if failed.is_empty() {
        progress.say(format!(
            "{} passed on {}",
            count(outcomes.len()),
            target.base
        ));
        return Ok(());
    }
    let why: Vec<String> = failed
        .iter()
        .map(|o| format!("{} {}: {}", o.method, o.path, o.problems.join(", ")))
        .collect();
    Err(Fail::failed(
        "verify",
        format!(
            "{} of {} failed on {}: {}",
            failed.len(),
            count(outcomes.len()),
            target.base,
            why.join("; ")
        ),
    )
    .into())
}

fn count(n: usize) -> String {
    format!("{n} check{}", if n == 1 { "" } else { "s" })
}

fn describe(o: &Outcome) -> String {
    let status = o.status.map_or("no answer".to_string(), |s| s.to_string());
    let verdict = if o.ok() {
        "ok".to_string()
    } else {
        format!("FAILED: {}", o.problems.join("; "))
    };
    format!(
        "{} {} -> {status} in {:.1} ms: {verdict}",
        o.method, o.url, o.ms
    )
}

/// The base URL: `--url`, else the record's live slot on loopback.
fn target(args: &Args, record: &Record) -> Result<Target, Fail> {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if record.is_standalone() => {
            return Err(Fail::usage(
                "nothing to verify: no release record on stdin and no --url \
                 (pipe a record with swap.live.port, or give --url BASE)",
            ))
        }
        None => format!("http://127.0.0.1:{}", record.port("swap.live.port")?),
    };
    let bad = |why: &str| Fail::usage(format!("--url `{base}`: {why}"));
    let uri: ureq::http::Uri = base.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad("use an http:// or https:// URL")),
    };
    if uri.query().is_some() || base.contains('#') {
        return Err(bad(
            "a base URL takes no query or fragment; put them in the checks",
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tls = if https {
        Some(cert::Tls::load(args.ca_file.as_deref())?)
    } else {
        None
    };
    Ok(Target {
        base,
        host,
        port,
        tls,
    })
}

fn checks(args: &Args) -> Result<Vec<Check>, Fail> {
    let mut checks = match &args.checks_file {
        Some(file) => check::load_file(file)?,
        None => Vec::new(),
    };
    checks.extend(args.checks.iter().cloned());
    if checks.is_empty() {
        checks = check::defaults();
    }
    Ok(checks)
}

/// The app naming the textfile: `--app`, which must agree with the record's, or the record's.
fn textfile_app(args: &Args, record: &Record) -> Result<String, Fail> {
    match (&args.app, record.is_standalone()) {
        (Some(app), false) if app != record.app() => Err(Fail::usage(format!(
            "--app {app} (or MVK_APP) names another app than the record's `{}`",
            record.app()
        ))),
        (Some(app), _) => Ok(app.clone()),
        (None, false) => Ok(record.app().to_string()),
        (None, true) => Err(Fail::usage(
            "--textfile-dir without a record needs --app to name the file",
        )),
    }
}
