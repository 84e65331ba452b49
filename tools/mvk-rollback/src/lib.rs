//! mvk-rollback: reads the app's state and writes a fresh release record for the release before
//! the live one (or `--to RELEASE`), ready for `mvk-rollback | mvk-healthwait | mvk-swap`.
//! `--list` prints the release history instead.

mod history;
mod image;
mod restore;
mod reuse;

use anyhow::Result;
use clap::{CommandFactory, Parser};
use mvk_core::config::{app_name, Output, SlotArgs, StateArgs};
use mvk_core::docker::Engine;
use mvk_core::state::Store;
use mvk_core::step::{self, Input};
use mvk_core::{live, section, signal, Fail, Progress, Record};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const TOOL: &str = "mvk-rollback";

/// Write the release record of an earlier release, to deploy it again
///
/// Reads the app's state and writes a fresh release record for the release before the live
/// one (or --to RELEASE), with `rollback: {from, to, pulled}`, ready for
/// `mvk-rollback | mvk-healthwait | mvk-swap`; a second rollback undoes the first. When that
/// release's stopped container still sits in the idle slot with the same image, the record
/// names it as the `candidate`, and mvk-healthwait only starts it again (the fast path).
/// --list prints the history instead, one JSON object per line, newest first; --live the
/// live release. Under Docker Swarm, --restore-spec puts a slot service's recorded spec back.
///
/// Exit codes: 0 record written, 1 nothing to roll back to, --to unknown or already live, the
/// image gone (without --pull) or changed in the registry, 2 bad input, 4 Docker, the registry
/// or the state unavailable, 130 interrupted.
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    after_help = "Examples:\n  mvk-rollback --app shop | mvk-healthwait | mvk-swap\n  \
                  mvk-rollback --app shop --to 9ab12cd --pull | mvk-healthwait | mvk-swap\n  \
                  mvk-rollback --app shop --list | jq -r .release"
)]
pub struct Args {
    /// The app to roll back
    #[arg(long, env = "MVK_APP", value_parser = app_name)]
    pub app: String,
    /// Roll back to this release (from the history) instead of the one before the live one
    #[arg(long, env = "MVK_TO", value_name = "RELEASE", conflicts_with = "list")]
    pub to: Option<String>,
    /// Print the release history as JSON Lines, newest first, and change nothing
    #[arg(long, env = "MVK_LIST", value_parser = clap::builder::BoolishValueParser::new())]
    pub list: bool,
    /// Print the live release (nothing before the first deploy) and change nothing: how the
    /// deploy scripts ask, instead of reading JSON themselves
    #[arg(long, conflicts_with_all = ["list", "to"])]
    pub live: bool,
    /// Pull the image by its recorded repo:tag when it is no longer on this host (credentials
    /// from the Docker config, as for mvk-build --push)
    #[arg(long, env = "MVK_PULL", value_parser = clap::builder::BoolishValueParser::new())]
    pub pull: bool,
    /// The failed deploy's release record that made this rollback necessary; its `error` is
    /// kept as `rollback.cause` (mvk-deploy passes it)
    #[arg(long, env = "MVK_CAUSE", value_name = "FILE")]
    pub cause: Option<PathBuf>,
    /// Docker Swarm: put back on its slot's service the spec that this deploy record (FILE)
    /// kept in `swarm.previous_spec` (mvk-healthwait --swarm updated the service), and write
    /// the record of that release, for `| mvk-healthwait --swarm | mvk-swap`. The service
    /// keeps its current environment; a live slot's service is refused (exit 4)
    #[arg(long, env = "MVK_RESTORE_SPEC", value_name = "FILE", conflicts_with_all = ["list", "live", "to"])]
    pub restore_spec: Option<PathBuf>,
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
    let progress = Progress::new(TOOL, args.output.quiet);
    if args.list {
        return step::run_plain(&progress, || list(&args));
    }
    if args.live {
        return step::run_plain(&progress, || live(&args));
    }
    step::run(
        &progress,
        Input::Fresh(args.app.clone()),
        |record, progress| match &args.restore_spec {
            Some(path) => restore::run(&args, path, record, progress),
            None => rollback(&args, record, progress),
        },
    )
}

fn list(args: &Args) -> Result<()> {
    let state = Store::new(&args.state.state_dir, &args.app).load()?;
    let mut out = std::io::stdout().lock();
    for line in history::list(&state) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// `--live`: the release name alone on a line. It went through the state's checks (no
/// blank, quote or control character), so a script can take it as it is.
fn live(args: &Args) -> Result<()> {
    let state = Store::new(&args.state.state_dir, &args.app).load()?;
    let line = state.live.map(|d| d.release + "\n").unwrap_or_default();
    step::write_out(&mut std::io::stdout().lock(), line.as_bytes())
}

fn rollback(args: &Args, record: &mut Record, progress: &Progress) -> Result<()> {
    let cause = args.cause.as_deref().map(cause).transpose()?;
    let done = roll_back(args, record, progress, cause.clone());
    if done.is_err() && cause.is_some() {
        // The record says why the rollback was needed even when it failed itself.
        record.put(&section::Rollback {
            cause,
            ..Default::default()
        });
    }
    done
}

fn roll_back(
    args: &Args,
    record: &mut Record,
    progress: &Progress,
    cause: Option<Value>,
) -> Result<()> {
    let store = Store::new(&args.state.state_dir, &args.app);
    let state = store.load()?;
    let (live, target) = history::target(&state, args.to.as_deref())?;
    let live_slot = live::state_slot(&state, &store.path())?.ok_or_else(|| {
        Fail::unavailable(
            "state",
            format!(
                "the state of app {} names no slot for the live release",
                args.app
            ),
        )
    })?;
    progress.say(format!(
        "rolling back from {} to {}",
        live.release, target.release
    ));
    let engine = Engine::connect()?;
    let image = image::ensure(&engine, target, args.pull, progress)?;
    signal::check()?;
    let idle = live_slot.other();
    let want = reuse::Wanted {
        app: &args.app,
        slot: idle,
        port: args.slots.port(idle),
        container_port: args.slots.container_port,
        image_id: &image.id,
    };
    let candidate = reuse::stopped_candidate(&engine, &want, progress)?;

    record.set("release", target.release.as_str());
    record.set("image", image.reference.as_str());
    record.set("image_id", image.id.as_str());
    record.put(&section::Rollback {
        from: Some(live.release.clone()),
        to: Some(target.release.clone()),
        pulled: Some(image.pulled),
        cause,
        extra: Default::default(),
    });
    if let Some(candidate) = candidate {
        record.put(&candidate);
    }
    Ok(())
}

/// The `error` of the failed deploy's record in `path`.
fn cause(path: &Path) -> Result<Value, Fail> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("cannot read --cause {}: {e}", path.display())))?;
    let failed = Record::parse(&text)
        .map_err(|e| Fail::usage(format!("--cause {}: {e}", path.display())))?;
    Ok(failed.error().cloned().unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn list_excludes_to_but_not_settings_from_the_env_file() {
        let parse = |extra: &[&str]| {
            let mut argv = vec![TOOL, "--app", "shop", "--list"];
            argv.extend(extra);
            Args::try_parse_from(argv)
        };
        assert!(parse(&["--to", "a"]).is_err());
        // MVK_PULL=true in /etc/mvk/<app>.env must not break `mvk-rollback --list`.
        assert!(parse(&["--pull", "--cause", "f"]).is_ok());
    }
}
