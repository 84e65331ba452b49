//! `mvk-swap --weight N`: a canary. The healthy candidate takes about N % of requests beside
//! the live release (weighted `server` lines); the state keeps the live release live and
//! remembers the canary, so running again moves it, a plain swap promotes it, and
//! `--weight 0` takes it out: nginx routes everything to the live release again, the requests
//! in flight to the candidate finish, and its container is stopped and removed.

use crate::containers;
use crate::reroute::{reroute, LiveRelease};
use crate::routing;
use crate::swap::Candidate;
use crate::traffic::{self, Traffic};
use crate::upstream::UpstreamFile;
use crate::Args;
use anyhow::Result;
use mvk_core::docker::Engine;
use mvk_core::envfile::EnvFile;
use mvk_core::section::{SwapCanary, SwapLive};
use mvk_core::state::Store;
use mvk_core::{Fail, Progress, Record};
use serde_json::Map;

pub fn run(args: &Args, weight: u8, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = record.app().to_string();
    let cand = Candidate::read(record, args)?;
    let release = record.str("release")?.to_string();
    let env = args.env.load()?;
    let engine = Engine::connect()?;
    let store = Store::new(&args.state.state_dir, &app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    let live = LiveRelease::of(
        &state,
        &store,
        "a canary shares the traffic with it; deploy without --weight first",
    )?;
    let mut traffic = Traffic::load(&state)?;
    refuse(&app, &cand, &live, &traffic)?;
    if weight > 0 {
        admit(&engine, &app, &cand, &live, &env)?;
    }
    share(&mut traffic, args, &cand, &release, weight);
    let upstream = UpstreamFile::open(&args.nginx.upstream_file(&app))?;
    let conf = routing::prepare(args, &app, &upstream.path, &traffic.routing(live.port()))?;
    traffic.store(&mut state);
    let what = describe(weight, &release, &live);
    let drained = reroute(args, &upstream, &conf, &lock, &state, &what, progress)?;
    let mut report = SwapCanary {
        live: live.section(&app),
        canary: SwapLive {
            slot: cand.slot,
            port: cand.port,
            release,
            container: cand.container.clone(),
            extra: Map::new(),
        },
        weight,
        sticky: args.routing.sticky && weight > 0,
        upstream_file: upstream.path.display().to_string(),
        drained_seconds: drained.seconds,
        drained: drained.complete,
        warnings: Vec::new(),
        candidate_removed: None,
        extra: Map::new(),
    };
    if weight == 0 {
        let removed = remove_candidate(&engine, &cand, args, progress, &mut report.warnings);
        report.candidate_removed = Some(removed);
    }
    record.put(&report);
    Ok(())
}

/// A canary needs the other slot than the live one, and no maintenance.
fn refuse(app: &str, cand: &Candidate, live: &LiveRelease, traffic: &Traffic) -> Result<()> {
    if live.slot == cand.slot {
        return Err(Fail::usage(format!(
            "the candidate is in the {} slot, which is live: a canary goes to the other slot",
            cand.slot
        ))
        .into());
    }
    if traffic.maintenance {
        return Err(Fail::failed(
            "maintenance",
            format!("{app} is in maintenance: `mvk-swap --app {app} --maintenance off` first"),
        )
        .into());
    }
    Ok(())
}

/// Both sides of a canary must run: the live release takes the rest of the traffic, and the
/// candidate must still be the container the record names.
fn admit(
    engine: &Engine,
    app: &str,
    cand: &Candidate,
    live: &LiveRelease,
    env: &EnvFile,
) -> Result<()> {
    let live_up =
        containers::inspect(engine, &live.slot.container(app))?.is_some_and(|c| c.running);
    if !live_up {
        return Err(Fail::failed(
            "live-down",
            format!(
                "the live release {} is not running: a canary needs it to take the rest of the traffic",
                live.release()
            ),
        )
        .into());
    }
    containers::candidate(
        engine,
        containers::inspect(engine, &cand.container)?,
        &cand.container,
        &cand.container_id,
        env,
    )?;
    Ok(())
}

/// The routing the state keeps: the candidate at `weight` %, or no canary at 0.
fn share(traffic: &mut Traffic, args: &Args, cand: &Candidate, release: &str, weight: u8) {
    if weight == 0 {
        traffic.canary = None;
        return;
    }
    traffic.canary = Some(traffic::Canary {
        release: release.to_string(),
        slot: cand.slot.name().into(),
        port: cand.port,
        container: cand.container.clone(),
        weight,
        sticky: args.routing.sticky,
    });
    // The candidate replaced whatever was kept warm in its slot.
    traffic.warm = traffic.warm.take().filter(|w| w.slot != cand.slot.name());
}

/// What the new routing does, for the messages.
fn describe(weight: u8, release: &str, live: &LiveRelease) -> String {
    match weight {
        0 => format!(
            "canary {release} out: {} takes every request",
            live.release()
        ),
        w => format!(
            "canary {release} takes {w} % of requests, {} the rest",
            live.release()
        ),
    }
}

/// Stops and removes the aborted candidate; a failure is a warning (nginx no longer routes
/// to it).
fn remove_candidate(
    engine: &Engine,
    cand: &Candidate,
    args: &Args,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> bool {
    let result = match containers::inspect(engine, &cand.container) {
        Ok(Some(c)) if c.id.starts_with(&cand.container_id) => {
            progress.say(format!("stopping and removing the canary {}", c.name));
            engine
                .stop(&c.id, &c.name, args.stop_timeout)
                .and_then(|_| engine.remove_container(&c.name))
        }
        // Gone, or replaced by another deploy: not ours to remove.
        Ok(_) => return false,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            let message = format!("cannot remove the canary {}: {e:#}", cand.container);
            progress.error(format!("warning: {message}"));
            warnings.push(message);
            false
        }
    }
}
