//! mvk-swap: puts a healthy candidate live behind nginx, drains the old release, stops it,
//! and records the release (DESIGN.md §4).

pub mod containers;
pub mod drain;
pub mod nginx;
pub mod procs;
pub mod prune;
pub mod swap;
pub mod upstream;

use clap::{CommandFactory, Parser};
use mvk_core::config::{NginxArgs, Output, SlotArgs, StateArgs};
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
    #[command(flatten)]
    pub nginx: NginxArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub slots: SlotArgs,
    #[command(flatten)]
    pub output: Output,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let progress = Progress::new("mvk-swap", args.output.quiet);
    step::run(&progress, Input::Record, |record, progress| {
        swap::run(&args, record, progress)
    })
}
