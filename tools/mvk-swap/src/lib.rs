//! mvk-swap: puts a healthy candidate live behind nginx, drains the old release, stops it,
//! and records the release (DESIGN.md §4).

mod canary;
mod containers;
mod drain;
mod fallback;
mod long_lived;
mod maintenance;
mod metrics;
mod nginx;
mod procs;
mod prune;
mod reroute;
mod routing;
mod swap;
mod traffic;
mod upstream;

use clap::{CommandFactory, Parser};
use mvk_core::config::{EnvFileArgs, NginxArgs, Output, SlotArgs, StateArgs};
use mvk_core::docker::Connecting;
use mvk_core::step::{self, Input};
use mvk_core::time::parse_duration;
use mvk_core::Progress;
use std::process::ExitCode;
use std::time::Duration;

/// Point nginx at the healthy candidate of a release record, wait until every request in
/// flight to the old release has finished, stop the old container, record the release.
///
/// Reads the record from mvk-healthwait on stdin and writes it, with `swap` added, on stdout.
/// Exit codes: 0 live, 1 failed (nginx rejected the change, candidate down), 2 bad input,
/// 3 an earlier step failed, 4 Docker/nginx unavailable or another deploy holds the lock,
/// 130 interrupted.
#[derive(Parser, Debug)]
#[command(
    name = "mvk-swap",
    version,
    after_help = "Example:\n  mvk-build --app shop ./shop | mvk-healthwait | mvk-swap | mvk-verify"
)]
pub struct Args {
    /// Also writes mvk_deploy_<app>.prom here (the live release, last deploy and rollback
    /// times, deploy count and duration), for node_exporter's textfile collector
    #[arg(long, env = "MVK_TEXTFILE_DIR", value_name = "DIR")]
    pub textfile_dir: Option<std::path::PathBuf>,
    /// Longest wait for requests in flight to the old release to finish
    #[arg(long, env = "MVK_DRAIN", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub drain: Duration,
    /// How long the old container gets to exit after SIGTERM before SIGKILL
    #[arg(long, env = "MVK_STOP_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub stop_timeout: Duration,
    /// How many of the newest releases keep their images (the live one included)
    #[arg(long, env = "MVK_KEEP_IMAGES", default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=mvk_core::state::HISTORY_LIMIT as i64))]
    pub keep_images: u16,
    /// Send N % (1-99) of requests to the candidate and keep the live release on the rest
    /// (a canary; run again to move it); 0 takes the canary out and removes its container
    #[arg(long, value_name = "N", conflicts_with = "maintenance",
          value_parser = clap::value_parser!(u8).range(0..=99))]
    pub weight: Option<u8>,
    /// Send every request to the maintenance page (on) or back to the live release (off);
    /// needs --app and no record
    #[arg(long, value_name = "on|off", requires = "app")]
    pub maintenance: Option<mvk_core::section::Switch>,
    /// The app, for --maintenance
    #[arg(long, env = "MVK_APP", value_parser = mvk_core::config::app_name)]
    pub app: Option<String>,
    #[command(flatten)]
    pub routing: routing::RoutingArgs,
    #[command(flatten)]
    pub env: EnvFileArgs,
    #[command(flatten)]
    pub nginx: NginxArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub slots: SlotArgs,
    #[command(flatten)]
    pub output: Output,
    /// Who tells nginx's workers from before the reload to stop taking connections: quick,
    /// mvk-swap as soon as the new workers run (SIGQUIT, a worker's graceful shutdown); nginx,
    /// its master, about 100 ms later (until then the old workers take most new connections)
    #[arg(long, env = "MVK_HANDOVER", value_enum, default_value = "quick")]
    pub handover: Handover,
    /// Print on stderr when each phase of the step ended and how long it took (where a swap
    /// spends its time), even with --quiet
    #[arg(long, env = "MVK_TIMINGS", value_parser = clap::builder::BoolishValueParser::new())]
    pub timings: bool,
}

/// Who ends the old nginx workers' accepting after a reload (`--handover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Handover {
    Quick,
    Nginx,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let progress = Progress::new("mvk-swap", args.output.quiet).with_timings(args.timings);
    if let (Some(switch), Some(app)) = (args.maintenance, &args.app) {
        return step::run(&progress, Input::Fresh(app.clone()), |record, progress| {
            maintenance::run(&args, switch, record, progress)
        });
    }
    let exit = match args.weight {
        Some(weight) => step::run(&progress, Input::Record, |record, progress| {
            canary::run(&args, weight, record, progress)
        }),
        None => {
            // Connected while the record is on its way (the steps before take seconds).
            let engine = Connecting::start();
            step::run(&progress, Input::Record, |record, progress| {
                progress.phase("record read");
                swap::run(&args, engine, record, progress)
            })
        }
    };
    progress.phase("record written");
    exit
}
