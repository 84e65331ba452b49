//! mvk-healthwait: starts a release's candidate container in the idle slot and waits until it
//! is healthy (DESIGN.md §4). It never touches the live slot, fails fast on a crash, and on
//! any failure leaves the live release as it was and no half-started candidate behind.

mod before;
mod candidate;
mod swarm;
mod wait;
mod withdraw;

use anyhow::Result;
use candidate::{Candidate, Spec};
use clap::{CommandFactory, Parser};
use mvk_core::config::{EnvFileArgs, NginxArgs, Output, SlotArgs, StateArgs};
use mvk_core::containers::describe;
use mvk_core::docker::{Connecting, Engine};
use mvk_core::envfile::EnvFile;
use mvk_core::live::Live;
use mvk_core::section::Health;
use mvk_core::state::Store;
use mvk_core::step::{self, Input};
use mvk_core::{signal, Fail, Progress, Record};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const TOOL: &str = "mvk-healthwait";
/// How many of a failed container's last log lines go into `error.logs`.
const LOG_LINES: usize = 50;

/// Start the release's candidate in the idle slot and wait until it is healthy.
///
/// Reads a release record on stdin (from mvk-build or mvk-rollback) and writes it on stdout
/// with `candidate` and `health` added. The candidate `<app>-<slot>` goes to the slot that is
/// not live (blue on the first deploy); a leftover container there is replaced. The live slot
/// is never touched: when the state and nginx's upstream file disagree about which slot is
/// live, it refuses (exit 4).
///
/// A record that already names a `candidate.container_id` (mvk-rollback's stopped previous
/// release) reuses that container: started if stopped, then waited for.
///
/// The candidate runs under Docker's init (tini, `docker run --init`) unless --no-init.
///
/// Healthy means --successes consecutive 2xx answers to GET --health-path (probed every
/// --interval, and every --confirm-interval once one has succeeded). A container that
/// exits, restarts or is OOM-killed, or that Docker's HEALTHCHECK reports unhealthy, fails
/// the step at once; so does --timeout. Docker's restart policy is `no` until the candidate
/// is healthy (so a crash stays visible with its exit code), `unless-stopped` after. On
/// failure the candidate's last 50 log lines are in `error.logs` and on stderr, and the
/// candidate is removed (unless --keep-failed).
///
/// The app's lock (<state-dir>/<app>/lock) is held while the slot is picked, --before runs
/// and the candidate starts, and released for the wait.
///
/// Exit codes: 0 healthy, 1 failed (crashed, unhealthy, timeout, before-failed), 2 bad input,
/// 3 an earlier step failed, 4 Docker unreachable, the app locked, a port taken, or the
/// slot live, 130 interrupted.
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    verbatim_doc_comment,
    after_help = "Example:\n  mvk-build ./app | mvk-healthwait --before migrate --env-file /etc/mvk/shop.app.env | mvk-swap"
)]
pub struct Args {
    /// Path the health probe GETs on the candidate
    #[arg(long, env = "MVK_HEALTH_PATH", default_value = "/health", value_name = "PATH", value_parser = health_path)]
    pub health_path: String,

    /// Header sent with every probe, `Name: value` (repeatable), e.g. `X-Forwarded-Proto: https`
    #[arg(long = "health-header", env = "MVK_HEALTH_HEADER", value_name = "HEADER", value_parser = mvk_core::validate::Quiet(mvk_core::validate::header))]
    pub health_headers: Vec<(String, String)>,

    /// Time between probes
    #[arg(long, env = "MVK_INTERVAL", default_value = "100ms", value_name = "DURATION", value_parser = mvk_core::time::parse_duration)]
    pub interval: Duration,

    /// Time between probes once one has succeeded, until --successes answers in a row (at most
    /// --interval): the streak is the same, confirmed without a whole interval per answer
    #[arg(long, env = "MVK_CONFIRM_INTERVAL", default_value = "50ms", value_name = "DURATION", value_parser = mvk_core::time::parse_duration)]
    pub confirm_interval: Duration,

    /// Consecutive 2xx answers that make the candidate healthy
    #[arg(long, env = "MVK_SUCCESSES", default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub successes: u32,

    /// Give up when the candidate is not healthy after this long (also `--timeout`; its own
    /// name keeps MVK_HEALTH_TIMEOUT apart from mvk-verify's per-request MVK_TIMEOUT)
    #[arg(long = "health-timeout", visible_alias = "timeout", env = "MVK_HEALTH_TIMEOUT", default_value = "60s", value_name = "DURATION", value_parser = mvk_core::time::parse_duration)]
    pub timeout: Duration,

    /// Run this first in a one-off container of the new image (migrations); if it fails,
    /// nothing is started. A command line split on white space, or a JSON array of strings;
    /// no shell. As with `docker run IMAGE CMD…`, the image's ENTRYPOINT stays.
    #[arg(long, env = "MVK_BEFORE", value_name = "CMD", value_parser = before::Command::parse, verbatim_doc_comment)]
    pub before: Option<before::Command>,

    #[command(flatten)]
    pub env: EnvFileArgs,

    /// Print the variables of this env file as KEY=VALUE, each ended by a NUL byte, and do
    /// nothing else: how mvk-deploy and mvk-undo read /etc/mvk/<app>.env without executing it
    #[arg(long, value_name = "FILE")]
    pub print_env: Option<PathBuf>,

    /// Withdraw the candidate that the release record in FILE names, when its swap did not
    /// put it live (failed or interrupted before nginx's reload), and do nothing else: how
    /// mvk-deploy and mvk-undo leave no unrouted candidate behind. Only that container (name
    /// and id), labelled as this app's candidate slot, never in the live slot: one new for
    /// the release is removed, a reused one the wait started is stopped again, one that
    /// already ran is left; gone already is fine. Prints no record
    #[arg(long, value_name = "FILE", conflicts_with = "print_env")]
    pub withdraw: Option<PathBuf>,

    /// Host address the slot's port is published on
    #[arg(
        long,
        env = "MVK_BIND",
        default_value = "127.0.0.1",
        value_name = "ADDR"
    )]
    pub bind: IpAddr,

    /// Run the app as PID 1 itself, without Docker's init (tini), in the candidate and the
    /// --before one-off. By default the init is PID 1: an app with no SIGTERM handler (which a
    /// PID 1 ignores) then stops at once on `docker stop` instead of after mvk-swap's
    /// --stop-timeout, and zombies are reaped; an app with a handler still drains
    #[arg(long, env = "MVK_NO_INIT", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_init: bool,

    /// Keep a failed candidate for debugging (stopped if it crashed; never restarted)
    #[arg(long, env = "MVK_KEEP_FAILED", value_parser = clap::builder::BoolishValueParser::new())]
    pub keep_failed: bool,

    /// When the record's image is not on this host, pull it by the digest mvk-build --push
    /// recorded (build.digest) and tag it as the record names it: how a release built once
    /// reaches each host of a rollout (credentials from the Docker config, as for
    /// mvk-build --push). Without a digest in the record the image must already be here
    #[arg(long, env = "MVK_PULL", value_parser = clap::builder::BoolishValueParser::new())]
    pub pull: bool,

    /// Deploy into Docker Swarm: the idle slot is the service `<app>-<slot>` (one task on this
    /// node, published in host mode on the slot's port), created, or updated stop-first with
    /// Swarm rolling a failed update back itself; its task is then probed as a candidate
    /// container is. The engine must be a Swarm manager; Swarm pulls the image (by the
    /// record's build.digest when there is one), so --pull is not needed; --before and
    /// --keep-failed are refused (exit 2)
    #[arg(long, env = "MVK_SWARM", value_parser = clap::builder::BoolishValueParser::new())]
    pub swarm: bool,

    #[command(flatten)]
    pub slots: SlotArgs,

    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub nginx: NginxArgs,

    #[command(flatten)]
    pub output: Output,
}

fn health_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && !s.contains(char::is_whitespace) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a URL path (it must start with `/`)"))
    }
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let progress = Progress::new(TOOL, args.output.quiet);
    if let Some(path) = &args.print_env {
        return step::run_plain(&progress, || print_env(path));
    }
    if let Some(file) = &args.withdraw {
        return step::run_plain(&progress, || {
            withdraw::run(&args.state, &args.nginx, file, &progress)
        });
    }
    // Connected while the record is on its way (a build before takes seconds).
    let engine = Connecting::start();
    step::run(&progress, Input::Record, |record, progress| {
        healthwait(&args, engine, record, progress)
    })
}

/// `--print-env`: the file's variables, NUL-terminated, for `read -d ''` in bash. A value
/// holds no NUL (the parser refuses one), so the output splits back exactly.
fn print_env(path: &std::path::Path) -> Result<()> {
    let vars = mvk_core::envfile::load(path).map_err(Fail::usage)?;
    let mut out = Vec::new();
    for var in vars {
        out.extend_from_slice(format!("{}={}\0", var.key, var.value).as_bytes());
    }
    mvk_core::step::write_out(&mut std::io::stdout().lock(), &out)
}

fn healthwait(
    args: &Args,
    engine: Connecting,
    record: &mut Record,
    progress: &Progress,
) -> Result<()> {
    if args.slots.blue_port == args.slots.green_port {
        return Err(Fail::usage(format!(
            "the blue and green slots both use port {}",
            args.slots.blue_port
        ))
        .into());
    }
    if args.swarm {
        return swarm::run(args, engine, record, progress);
    }
    // Everything in the input is checked before anything is changed.
    let fresh = Fresh::read(record)?;
    let env = args.env.load()?;
    let engine = engine.engine()?;
    if let Some(fresh) = &fresh {
        if args.pull {
            pull_missing(&engine, fresh, progress)?;
        }
        check_image(&engine, &fresh.image, fresh.image_id.as_deref())?;
    }
    let candidate = place(&engine, args, record, fresh.as_ref(), &env, progress)?;
    record.put(&candidate.section());
    let (health, outcome) = wait(&engine, args, &candidate, &env, progress);
    record.put(&health);
    match outcome {
        Ok(()) => {
            progress.say(format!(
                "{} is healthy after {:.1}s ({} probes, docker health: {})",
                candidate.name, health.seconds, health.polls, health.docker_health
            ));
            Ok(())
        }
        Err(err) => Err(failed(&engine, &candidate, err, args, &env, progress)),
    }
}

/// The release to start a new candidate of; `None` when the record names an existing one.
pub(crate) struct Fresh {
    release: String,
    image: String,
    image_id: Option<String>,
    digest: Option<String>,
}

impl Fresh {
    pub(crate) fn read(record: &Record) -> Result<Option<Fresh>, Fail> {
        if record.get("candidate.container_id").is_some() {
            return Ok(None);
        }
        Ok(Some(Fresh {
            release: record.str("release")?.to_string(),
            image: record.str("image")?.to_string(),
            image_id: record
                .get("image_id")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            digest: record
                .get("build.digest")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        }))
    }
}

/// Under the app's lock: reads what is live and starts the candidate in the idle slot (or
/// the existing one the record names). Interrupted meanwhile, it undoes that at once, while
/// the lock still keeps other deploys out.
fn place(
    engine: &Engine,
    args: &Args,
    record: &Record,
    fresh: Option<&Fresh>,
    env: &EnvFile,
    progress: &Progress,
) -> Result<Candidate> {
    let app = record.app();
    let store = Store::new(&args.state.state_dir, app);
    let lock = store.lock(TOOL)?;
    let live = Live::read(&lock.load()?, store.path(), args.nginx.upstream_file(app))?;
    let candidate = match fresh {
        None => reuse(engine, args, record, &live, progress)?,
        Some(fresh) => {
            let spec = Spec {
                app,
                release: &fresh.release,
                image: &fresh.image,
                env,
                bind: args.bind,
                slots: &args.slots,
                init: !args.no_init,
            };
            start_new(engine, args, &live, &spec, progress)?
        }
    };
    if let Err(interrupted) = signal::check() {
        undo(engine, &candidate, progress);
        return Err(interrupted.into());
    }
    drop(lock);
    Ok(candidate)
}

/// The existing candidate the record names, started if it was stopped.
fn reuse(
    engine: &Engine,
    args: &Args,
    record: &Record,
    live: &Live,
    progress: &Progress,
) -> Result<Candidate> {
    let c = candidate::reuse(engine, record, live, &args.slots, args.bind)?;
    let how = if c.started {
        "started the stopped"
    } else {
        "waiting for the running"
    };
    progress.say(format!(
        "{how} candidate {} in the {} slot ({})",
        describe(&c.name, &c.id),
        c.slot,
        c.image
    ));
    Ok(c)
}

/// Waits until the candidate is healthy, then makes Docker restart it from then on. Returns
/// the `health` section in every case, and the failure if there is one.
fn wait(
    engine: &Engine,
    args: &Args,
    candidate: &Candidate,
    env: &EnvFile,
    progress: &Progress,
) -> (Health, Result<()>) {
    let probe = probe(args, candidate.port);
    progress.say(format!(
        "waiting for {} to answer {} (timeout {:.0?})",
        candidate.name, probe.url, args.timeout
    ));
    let (mut health, outcome) = wait::until_healthy(engine, candidate, &probe, env, progress);
    let outcome = outcome.and_then(|()| candidate.arm(engine));
    // Healthy, but not made restartable: not a candidate to swap to.
    health.healthy &= outcome.is_ok();
    (health, outcome)
}

/// The health probe of the slot on `port`.
fn probe(args: &Args, port: u16) -> wait::Probe {
    wait::Probe {
        url: format!(
            "http://{}:{port}{}",
            probe_host(args.bind),
            args.health_path
        ),
        headers: args.health_headers.clone(),
        interval: args.interval,
        confirm_interval: args.confirm_interval,
        successes: args.successes,
        timeout: args.timeout,
    }
}

/// `--pull`: the release's image, pulled by its pushed digest when this engine lacks it.
fn pull_missing(engine: &Engine, fresh: &Fresh, progress: &Progress) -> Result<()> {
    match engine.block_on(engine.api.inspect_image(&fresh.image)) {
        Ok(_) => return Ok(()),
        Err(e) if mvk_core::docker::is_not_found(&e) => {}
        Err(e) => {
            let doing = format!("inspecting image {}", fresh.image);
            return Err(mvk_core::docker::api_error(e, &doing));
        }
    }
    let Some(digest) = &fresh.digest else {
        return Err(Fail::usage(format!(
            "image {} is not in the Docker engine and the record has no build.digest to pull it by (mvk-build --push records one)",
            fresh.image
        ))
        .into());
    };
    progress.say(format!("pulling {}@{digest}", fresh.image));
    let id = mvk_core::pull::pull_digest(engine, &fresh.image, digest)?;
    progress.say(format!("pulled {} as {id}", fresh.image));
    Ok(())
}

/// The image must be in the engine (without --pull this tool does not pull), and be the one the record
/// was built as when it says which.
fn check_image(engine: &Engine, image: &str, image_id: Option<&str>) -> Result<()> {
    let found = match engine.block_on(engine.api.inspect_image(image)) {
        Ok(found) => found,
        Err(e) if mvk_core::docker::is_not_found(&e) => {
            return Err(Fail::usage(format!(
                "image {image} is not in the Docker engine (build it here, `docker pull` it first, or give --pull with a record from mvk-build --push)"
            ))
            .into())
        }
        Err(e) => return Err(mvk_core::docker::api_error(e, &format!("inspecting image {image}"))),
    };
    let id = found.id.unwrap_or_default();
    match image_id {
        Some(want) if !want.is_empty() && want != id => Err(Fail::usage(format!(
            "image {image} is now {id}, but the record was built as {want} (the tag moved?)"
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Under the lock: picks the idle slot, runs `--before`, replaces the leftover there and
/// starts the candidate. Until the candidate is created nothing is changed on a refusal.
fn start_new(
    engine: &Engine,
    args: &Args,
    live: &Live,
    spec: &Spec,
    progress: &Progress,
) -> Result<Candidate> {
    let slot = live.idle();
    let port = args.slots.port(slot);
    let name = slot.container(spec.app);
    let leftover = candidate::leftover(engine, spec.app, slot)?;
    let leftover_up = leftover.as_ref().is_some_and(|l| l.up);
    live.ensure_idle(slot, port, leftover_up)?;
    // A leftover that is up may hold the port itself: then it is checked once it is gone.
    if !leftover_up {
        candidate::ensure_port_free(args.bind, port, &name)?;
    }
    match (live.slot, live.release()) {
        (Some(l), Some(r)) => progress.say(format!(
            "live: {l} (release {r}); deploying {} to {slot}",
            spec.release
        )),
        _ => progress.say(format!("first deploy: {} to {slot}", spec.release)),
    }
    if let Some(path) = &spec.env.path {
        progress.say(format!(
            "passing {} variables from {}",
            spec.env.count(),
            path.display()
        ));
    }
    if let Some(command) = &args.before {
        let job = before::OneOff {
            app: spec.app,
            release: spec.release,
            image: spec.image,
            env: spec.env,
            log_lines: LOG_LINES,
            init: spec.init,
        };
        before::run(engine, command, &job, progress)?;
    }
    signal::check()?;
    if let Some(old) = leftover {
        engine.remove_container(&old.id)?;
        progress.say(format!(
            "removed the leftover {} ({})",
            describe(&name, &old.id),
            old.what
        ));
        candidate::ensure_port_free(args.bind, port, &name)?;
    }
    let c = candidate::create(engine, spec, slot)?;
    progress.say(format!(
        "started {} from {} on {}:{port}",
        describe(&c.name, &c.id),
        c.image,
        probe_host(args.bind)
    ));
    Ok(c)
}

/// Where the probe reaches a port published on `bind`: loopback for a wildcard address.
fn probe_host(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".into(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

fn undo(engine: &Engine, candidate: &Candidate, progress: &Progress) {
    let name = describe(&candidate.name, &candidate.id);
    match candidate.undo(engine) {
        Ok(what) => progress.say(format!("{name} {what}")),
        Err(e) => progress.error(format!("could not undo {name}: {e:#}")),
    }
}

/// A candidate that did not become healthy: its logs go to `error.logs` and stderr, and it is
/// removed (or kept with --keep-failed). After an interrupt it is only undone.
fn failed(
    engine: &Engine,
    candidate: &Candidate,
    err: anyhow::Error,
    args: &Args,
    env: &EnvFile,
    progress: &Progress,
) -> anyhow::Error {
    if signal::caught().is_some() {
        undo(engine, candidate, progress);
        return err;
    }
    let fail = Fail::classify(&err);
    if fail.kind == "replaced" {
        // Another deploy owns the slot now: nothing here is ours to clean up.
        return err;
    }
    let name = describe(&candidate.name, &candidate.id);
    let logs = match engine.logs_tail(&candidate.id, LOG_LINES) {
        Ok(lines) => env.mask_lines(lines),
        Err(e) => vec![format!("(cannot read the logs: {e:#})")],
    };
    progress.error(format!("the last {} log lines of {name}:", logs.len()));
    for line in &logs {
        progress.error(format!("| {line}"));
    }
    if args.keep_failed {
        match candidate.keep(engine) {
            Ok(()) => progress.error(format!(
                "kept {name} for debugging; remove it with `docker rm -f {}`",
                candidate.name
            )),
            Err(e) => progress.error(format!("kept {name}, but {e:#}")),
        }
    } else {
        match engine.remove_container(&candidate.id) {
            Ok(()) => progress.say(format!("removed {name}")),
            Err(e) => progress.error(format!("could not remove {name}: {e:#}")),
        }
    }
    fail.with("logs", logs).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reaches_wildcard_binds_on_loopback() {
        assert_eq!(probe_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(probe_host("0.0.0.0".parse().unwrap()), "127.0.0.1");
        assert_eq!(probe_host("::".parse().unwrap()), "[::1]");
        assert_eq!(probe_host("10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(probe_host("fd00::1".parse().unwrap()), "[fd00::1]");
    }

    #[test]
    fn options_parse_and_read_their_variables() {
        let args = Args::try_parse_from([
            "mvk-healthwait",
            "--interval",
            "50ms",
            "--health-header",
            "X-A: 1",
        ])
        .unwrap();
        assert_eq!(args.interval, Duration::from_millis(50));
        assert_eq!(args.confirm_interval, Duration::from_millis(50));
        assert_eq!(args.timeout, Duration::from_secs(60));
        assert_eq!(args.successes, 2);
        assert_eq!(args.health_path, "/health");
        assert_eq!(args.health_headers, [("X-A".to_string(), "1".to_string())]);
        assert_eq!(args.bind, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(!args.no_init, "the init is on by default");
        for bad in [
            &["--successes", "0"][..],
            &["--health-path", "health"],
            &["--timeout", "soon"],
            &["--bind", "localhost"],
            &["--before", "[]"],
        ] {
            let argv = std::iter::once("mvk-healthwait").chain(bad.iter().copied());
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }
}
