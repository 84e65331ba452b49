//! mvk-alerts: three alerts every service needs (HighErrorRate, HighLatency, ServiceDown),
//! written as Prometheus rules (`rules`, `scrape-config`) and evaluated exactly as Prometheus
//! evaluates them (`check`): over a live `/metrics` endpoint, the release record's live slot
//! (a deploy gate), a real Prometheus, or a recorded scrape history.

mod alerting;
mod alertmanager;
mod canary;
mod check;
mod clock;
mod dashboard;
mod engine;
pub mod exposition;
mod prometheus;
mod promql;
mod replay;
mod rules;
mod scrape;
mod template;
mod textfile;
mod tsdb;

// The parsers the fuzz targets (fuzz/) reach: keep them public.
pub use exposition::parse as parse_exposition;
pub use replay::parse_line as parse_replay_line;

use check::CheckArgs;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mvk_core::config::app_name;
use mvk_core::{step, Fail, Progress};
use rules::RuleArgs;
use std::process::ExitCode;
use std::time::Duration;

const TOOL: &str = "mvk-alerts";

/// Alert rules for an app, evaluated exactly as Prometheus would; a deploy gate
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand, mvk-alerts checks (see `mvk-alerts check --help`).\n\n\
                  Examples:\n  \
                  mvk-swap | mvk-verify | mvk-alerts --watch 60s\n  \
                  mvk-alerts rules --app shop > /etc/prometheus/rules/shop.yml\n  \
                  mvk-alerts scrape-config --app shop --target 127.0.0.1:8000\n  \
                  mvk-alerts dashboard --app shop > shop-dashboard.json\n  \
                  mvk-alerts check --app shop --metrics-url http://127.0.0.1:8000/metrics --watch 10m\n  \
                  mvk-alerts check --app shop --replay history.jsonl --error-ratio 0.02\n  \
                  mvk-alerts check --app shop --prometheus http://127.0.0.1:9090 --alertmanager http://127.0.0.1:9093"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluate the alerts (what a bare `mvk-alerts` does)
    Check(Box<CheckArgs>),
    /// Print the alerts as a Prometheus rule file
    Rules(RuleArgs),
    /// Print the Prometheus scrape job the rules expect
    ScrapeConfig(ScrapeArgs),
    /// Print a Grafana dashboard (JSON model) graphing the rules' own expressions, with the live
    /// release and deploys (mvk-swap --textfile-dir metrics)
    Dashboard(RuleArgs),
}

#[derive(Args, Debug)]
struct ScrapeArgs {
    /// The app: the scrape job's name, which the rules select
    #[arg(long, env = "MVK_APP", value_parser = app_name, value_name = "APP", required = true)]
    app: String,
    /// Where the app answers: HOST:PORT; repeatable
    #[arg(long = "target", env = "MVK_TARGET", value_parser = rules::target, value_name = "HOST:PORT", required = true)]
    targets: Vec<String>,
    /// How often Prometheus scrapes
    #[arg(long, env = "MVK_SCRAPE_INTERVAL", default_value = "15s", value_parser = rules::positive_duration, value_name = "DURATION")]
    scrape_interval: Duration,
    /// The path of the metrics endpoint
    #[arg(long, env = "MVK_METRICS_PATH", default_value = "/metrics", value_parser = check::metrics_path, value_name = "PATH")]
    metrics_path: String,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        None => check::main(cli.check, &matches),
        Some(Command::Check(args)) => {
            let sub: &ArgMatches = matches
                .subcommand_matches("check")
                .expect("parsed as check");
            check::main(*args, sub)
        }
        Some(Command::Rules(args)) => print(rules_file(&args)),
        Some(Command::Dashboard(args)) => print(dashboard_file(&args)),
        Some(Command::ScrapeConfig(args)) => print(Ok(rules::scrape_config(
            &args.app,
            &args.targets,
            args.scrape_interval,
            &args.metrics_path,
        ))),
    }
}

/// The rule file `mvk-alerts rules --app APP` prints: the default thresholds, or those the
/// `MVK_*` variables of the environment set, as for the tool (mvk-init installs it).
pub fn rule_file(app: &str) -> Result<String, Fail> {
    let mut rules = RuleArgs::try_parse_from([TOOL])
        .map_err(|e| Fail::usage(e.to_string().trim().to_string()))?;
    rules.app = Some(app.to_string());
    rules_file(&rules)
}

/// The scrape job `mvk-alerts scrape-config --app APP --target TARGET` prints, with its
/// defaults (every 15s, `/metrics`).
pub fn scrape_file(app: &str, targets: &[String]) -> String {
    rules::scrape_config(app, targets, Duration::from_secs(15), "/metrics")
}

fn rules_file(args: &RuleArgs) -> Result<String, Fail> {
    let app = args.app.as_deref().ok_or_else(|| {
        Fail::usage("`rules` needs --app (or MVK_APP): the rules select job=\"APP\"")
    })?;
    let params = rules::Params::standing(args, app);
    let built = rules::build(&params, promql::Version::V3).map_err(Fail::usage)?;
    Ok(rules::yaml(app, &built))
}

fn dashboard_file(args: &RuleArgs) -> Result<String, Fail> {
    let app = args.app.as_deref().ok_or_else(|| {
        Fail::usage("`dashboard` needs --app (or MVK_APP): its queries select job=\"APP\"")
    })?;
    let model = dashboard::model(args, app).map_err(Fail::usage)?;
    Ok(serde_json::to_string_pretty(&model).expect("a JSON value") + "\n")
}

/// Prints a generated file, or the error and its exit code.
fn print(text: Result<String, Fail>) -> ExitCode {
    step::run_plain(&Progress::new(TOOL, false), || {
        print!("{}", text?);
        Ok(())
    })
}
