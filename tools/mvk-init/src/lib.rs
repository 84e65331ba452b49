//! mvk-init: sets an app up on a server in one command. It writes the app's env file, the
//! nginx upstream (blue slot) and site, the Prometheus rules and scrape job (mvk-alerts'
//! own), checks the result with `nginx -t` and `promtool`, and only then reloads nginx and
//! enables the app's verification and alert timers. Run again, it changes nothing; a file the
//! user edited is never overwritten.

mod activate;
mod check;
mod enable;
mod files;
mod plan;

use clap::{CommandFactory, Parser};
use mvk_core::config::{app_name, port, Output, SlotArgs, StateArgs};
use mvk_core::{step, Progress};
use std::path::PathBuf;
use std::process::ExitCode;

const TOOL: &str = "mvk-init";

/// Set an app up on this server: env file, nginx site and upstream, Prometheus rules and
/// scrape job, and the verification and alert timers
///
/// Writes /etc/mvk/APP.env, /etc/nginx/mvk/APP.upstream (pointing at the blue slot until the
/// first deploy; mvk-swap owns it after), the site /etc/nginx/conf.d/mvk-APP.conf, and
/// /etc/prometheus/mvk/APP.rules.yml and APP.scrape.yml (mvk-alerts' rules and scrape job).
/// The result must pass `nginx -t` and `promtool check`, else every file is put back as it
/// was. Only then is nginx reloaded and are mvk-verify@APP.timer and mvk-alerts@APP.timer
/// enabled (when systemd runs; below --root, in the root, when its units are installed there).
/// Run again, it changes nothing; a file you changed is never
/// overwritten: its difference is shown and the exit code is 1. The env file sets
/// MVK_TEXTFILE_DIR=/var/lib/prometheus/node-exporter (deploys write mvk_deploy_APP.prom there)
/// when that directory is there (on the server, it is made for group mvk when missing). No
/// directory or file is reached through a symlink: one planted on the way is refused, naming
/// it, before anything is written.
///
/// Exit codes: 0 set up (or already), 1 a file you changed was kept, the result did not
/// validate or a symlink was planted on the way (nothing changed), 2 bad input, 4 nginx
/// missing.
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    after_help = "Examples:\n  \
                  mvk-init shop --server-name shop.example.com\n  \
                  mvk-init shop --server-name shop.example.com --tls-cert /etc/ssl/shop.pem --tls-key /etc/ssl/shop.key\n  \
                  mvk-init shop --server-name shop.example.com --dry-run\n  \
                  mvk-init shop --server-name shop.example.com --root /srv/image"
)]
pub struct Args {
    /// The app to set up
    #[arg(value_parser = app_name, value_name = "APP")]
    pub app: String,
    /// Host name the site answers to (nginx server_name); repeatable, the first is the URL
    /// mvk-verify checks
    #[arg(long = "server-name", required = true, value_parser = files::server_name, value_name = "NAME")]
    pub server_names: Vec<String>,
    /// Certificate chain for https (with --tls-key); without both, an existing Let's Encrypt
    /// certificate of the first name (/etc/letsencrypt/live/NAME/) is used
    #[arg(long, requires = "tls_key", value_parser = files::conf_path, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert
    #[arg(long, requires = "tls_cert", value_parser = files::conf_path, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Where the site listens for http: PORT or ADDRESS:PORT
    #[arg(long, default_value = "80", value_parser = files::listen, value_name = "[ADDRESS:]PORT")]
    pub http_listen: String,
    /// Where the site listens for https (with a certificate): PORT or ADDRESS:PORT
    #[arg(long, default_value = "443", value_parser = files::listen, value_name = "[ADDRESS:]PORT")]
    pub https_listen: String,
    /// Loopback port on which nginx serves the live release's /metrics to Prometheus
    /// [default: the blue port + 2]
    #[arg(long, value_parser = port, value_name = "PORT")]
    pub metrics_port: Option<u16>,
    /// The Prometheus that mvk-alerts@APP.timer asks (written to the env file)
    #[arg(long, default_value = "http://127.0.0.1:9090", value_parser = files::http_url, value_name = "URL")]
    pub prometheus_url: String,
    /// Write under this directory instead of / (an image, a test): nothing is validated
    /// against the running nginx, reloaded or started; the timers are enabled in it (links in
    /// its etc/systemd/system/timers.target.wants/) when its units are installed there
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Print what would be written (and the differences), write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub slots: SlotArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub output: Output,
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let progress = Progress::new(TOOL, args.output.quiet);
    step::run_plain(&progress, || plan::run(&args, &progress))
}
