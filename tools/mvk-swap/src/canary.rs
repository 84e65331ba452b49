//! `mvk-swap --weight N`: a canary. The healthy candidate takes about N % of requests beside
//! the live release (weighted `server` lines); the state keeps the live release live and
//! remembers the canary, so running again moves it, a plain swap promotes it, and
//! `--weight 0` takes it out: nginx routes everything to the live release again, the requests
//! in flight to the candidate finish, and its container is stopped and removed.

use crate::containers;
use crate::reroute::{live_release, reroute};
use crate::routing;
use crate::swap::Candidate;
use crate::traffic::{self, Traffic};
use crate::upstream::UpstreamFile;
use crate::Args;
use anyhow::Result;
use mvk_core::docker::Engine;
use mvk_core::live;
use mvk_core::state::Store;
use mvk_core::{Fail, Progress, Record};
use serde_json::json;

pub fn run(args: &Args, weight: u8, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = record.app().to_string();
    let cand = Candidate::read(record, args)?;
    let env = args.env.load()?;
    let release = record.str("release")?.to_string();
    let engine = Engine::connect()?;
    let store = Store::new(&args.state.state_dir, &app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    let live = live_release(
        &state,
        "a canary shares the traffic with it; deploy without --weight first",
    )?;
    let live_slot = live::state_slot(&state, &store.path())?;
    if live_slot == Some(cand.slot) {
        return Err(Fail::usage(format!(
            "the candidate is in the {} slot, which is live: a canary goes to the other slot",
            cand.slot
        ))
        .into());
    }
    let live_up = match live_slot {
        Some(slot) => {
            containers::inspect(&engine, &slot.container(&app))?.is_some_and(|c| c.running)
        }
        None => false,
    };
    let mut traffic = Traffic::load(&state)?;
    if traffic.maintenance {
        return Err(Fail::failed(
            "maintenance",
            format!("{app} is in maintenance: `mvk-swap --app {app} --maintenance off` first"),
        )
        .into());
    }
    if weight > 0 {
        if !live_up {
            return Err(Fail::failed("live-down", format!("the live release {} is not running: a canary needs it to take the rest of the traffic", live.release)).into());
        }
        containers::candidate(&engine, &cand.container, &cand.container_id, &env)?;
        traffic.canary = Some(traffic::Canary {
            release: release.clone(),
            slot: cand.slot.name().into(),
            port: cand.port,
            container: cand.container.clone(),
            weight,
            sticky: args.routing.sticky,
        });
        // The candidate replaced whatever was kept warm in its slot.
        traffic.warm = traffic.warm.filter(|w| w.slot != cand.slot.name());
    } else {
        traffic.canary = None;
    }
    let upstream = UpstreamFile::open(&args.nginx.upstream_file(&app))?;
    let conf = routing::prepare(args, &app, &upstream.path, &traffic.routing(live.port))?;
    traffic.store(&mut state);
    let what = match weight {
        0 => format!("canary {release} out: {} takes every request", live.release),
        w => format!(
            "canary {release} takes {w} % of requests, {} the rest",
            live.release
        ),
    };
    let drained = reroute(args, &upstream, &conf, &lock, &state, &what, progress)?;
    let mut section = json!({
        "live": {"slot": live.slot, "port": live.port, "release": live.release},
        "canary": {"slot": cand.slot.name(), "port": cand.port, "release": release, "container": cand.container},
        "weight": weight,
        "sticky": args.routing.sticky && weight > 0,
        "upstream_file": upstream.path.display().to_string(),
        "drained_seconds": drained.seconds,
        "drained": drained.complete,
        "warnings": [],
    });
    if weight == 0 {
        section["candidate_removed"] =
            remove_candidate(&engine, &cand, args, progress, &mut section).into();
    }
    record.set("swap", section);
    Ok(())
}

/// Stops and removes the aborted candidate; a failure is a warning (nginx no longer routes
/// to it).
fn remove_candidate(
    engine: &Engine,
    cand: &Candidate,
    args: &Args,
    progress: &Progress,
    section: &mut serde_json::Value,
) -> bool {
    let result = match containers::inspect(engine, &cand.container) {
        Ok(Some(c)) if c.id.starts_with(&cand.container_id) => {
            progress.say(format!("stopping and removing the canary {}", c.name));
            containers::stop(engine, &c, args.stop_timeout)
                .and_then(|()| engine.remove_container(&c.name))
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
            section["warnings"]
                .as_array_mut()
                .expect("an array")
                .push(message.into());
            false
        }
    }
}
