//! The swap, in the order that keeps nginx and the state in agreement whenever a SIGINT or
//! SIGTERM lands (each step is a window):
//!
//! 1. Check the record, take the app's lock, check the candidate, find nginx's master.
//!    Nothing has changed yet: an interruption just exits.
//! 2. Write the upstream file and validate it with `nginx -T`. nginx still runs the old
//!    configuration: a failed check or an interruption puts the old file back byte for byte.
//! 3. Note the master's workers, send it SIGHUP (a reload), and wait for new workers. Once the
//!    reload is sent only nginx knows whether it took, so this wait is not cut short by a signal.
//!    No new workers: nginx kept the old configuration, so the old file goes back (with
//!    another reload, in case the master was merely slow).
//! 4. Save the state with the candidate live. From the reload on, finishing is the consistent
//!    outcome, so this happens even when interrupted; if the state cannot be written, nginx
//!    is routed back to the old file so the two agree again.
//! 5. Drain: wait for the old workers to exit. An interruption stops the wait and leaves the
//!    old container running: it may still be answering requests, and nginx no longer routes
//!    to it; the next deploy replaces it.
//! 6. Stop the old container, 7. prune old images. By now the release is live and recorded;
//!    an interruption only skips what is left.
//!
//! The lock is held to the end, so the next deploy cannot reuse the old slot while it drains.

use crate::containers::{self, Container};
use crate::nginx::Nginx;
use crate::procs::{self, Proc};
use crate::traffic::Traffic;
use crate::upstream::UpstreamFile;
use crate::{drain, prune, routing, Args};
use anyhow::{Context, Result};
use mvk_core::docker::Engine;
use mvk_core::live::Live;
use mvk_core::section::{self, SwapLive, SwapPrevious};
use mvk_core::state::{Deployed, Store, HISTORY_LIMIT};
use mvk_core::{signal, time, Exit, Fail, Progress, Record, Slot};
use serde_json::Map;
use std::time::{Duration, Instant, SystemTime};

/// How long nginx gets to start workers on the new configuration after a reload (it takes
/// tens of milliseconds; a loaded host may take longer).
const RELOAD_BOUND: Duration = Duration::from_secs(5);

/// The candidate as the record names it.
pub(crate) struct Candidate {
    pub slot: Slot,
    pub port: u16,
    pub container: String,
    pub container_id: String,
}

impl Candidate {
    pub(crate) fn read(record: &Record, args: &Args) -> Result<Candidate, Fail> {
        record.require("candidate")?;
        if !record.bool("health.healthy")? {
            return Err(Fail::usage(
                "the candidate is not healthy (`health.healthy` is false): only a candidate that mvk-healthwait found healthy goes live",
            ));
        }
        let slot: Slot = record
            .str("candidate.slot")?
            .parse()
            .map_err(|e| Fail::usage(format!("field `candidate.slot`: {e}")))?;
        let port = record.port("candidate.port")?;
        if port != args.slots.port(slot) {
            return Err(Fail::usage(format!(
                "field `candidate.port` is {port}, but the {slot} slot's port is {} (--{slot}-port / MVK_{}_PORT): the tools disagree on the slots",
                args.slots.port(slot),
                slot.name().to_uppercase()
            )));
        }
        let container = record.str("candidate.container")?.to_string();
        if container != slot.container(record.app()) {
            return Err(Fail::usage(format!(
                "field `candidate.container` is {container:?}, but the {slot} slot's container is {:?}",
                slot.container(record.app())
            )));
        }
        Ok(Candidate {
            slot,
            port,
            container,
            container_id: record.str("candidate.container_id")?.to_string(),
        })
    }
}

/// The release nginx routed to before the swap.
pub(crate) struct Previous {
    pub slot: Slot,
    pub port: u16,
    pub release: Option<String>,
    /// Its container, unless it is stopped (or is the candidate).
    pub container: Option<Container>,
}

impl Previous {
    fn section(&self) -> SwapPrevious {
        SwapPrevious {
            slot: self.slot,
            port: self.port,
            release: self.release.clone(),
            extra: Map::new(),
        }
    }
}

pub fn run(args: &Args, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = record.app().to_string();
    let cand = Candidate::read(record, args)?;
    let release = record.str("release")?.to_string();
    let image = record.str("image")?.to_string();
    let env = args.env.load()?;

    // 1. Nothing changes before the upstream file is written.
    let engine = Engine::connect()?;
    let store = Store::new(&args.state.state_dir, &app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    let candidate = containers::candidate(&engine, &cand.container, &cand.container_id, &env)?;
    let upstream = UpstreamFile::open(&args.nginx.upstream_file(&app))?;
    let live = Live::new(
        &state,
        store.path(),
        upstream.port_before(),
        upstream.path.clone(),
    )?;
    let previous = previous(&engine, &app, args, &live, &cand, &candidate)?;
    let traffic = Traffic::after_swap(args.routing.keep_warm, previous.as_ref());
    let conf = routing::prepare(args, &app, &upstream.path, &traffic.routing(cand.port))?;
    let mut report = section::Swap {
        live: SwapLive {
            slot: cand.slot,
            port: cand.port,
            release: release.clone(),
            container: cand.container.clone(),
            extra: Map::new(),
        },
        previous: None,
        drained_seconds: 0.0,
        drained: true,
        previous_stopped: false,
        kept_warm: traffic.warm.is_some(),
        weight: 100,
        upstream_file: upstream.path.display().to_string(),
        pruned_images: Vec::new(),
        warnings: Vec::new(),
        extra: Map::new(),
    };
    let already_live = live.slot == Some(cand.slot)
        && live
            .deployed
            .as_ref()
            .is_some_and(|l| l.release == release && l.image_id == candidate.image_id);
    if already_live && upstream.holds(&conf) {
        progress.say(format!(
            "release {release} is already live in {}; nothing to do",
            cand.container
        ));
        record.put(&report);
        return Ok(());
    }
    report.previous = previous.as_ref().map(Previous::section);
    let nginx = Nginx::new(&args.nginx);
    let master = nginx.master()?;
    interrupted("nothing was changed")?;

    // 2 and 3.
    progress.say(format!(
        "routing {} to {} ({}, 127.0.0.1:{})",
        args.nginx.upstream_name(&app),
        cand.container,
        release,
        cand.port
    ));
    let (old_workers, reloaded) = route(&nginx, &upstream, &conf, master, progress)?;

    // 4. The candidate serves: the state must say so.
    let deployed = Deployed {
        release: release.clone(),
        image,
        image_id: candidate.image_id.clone(),
        slot: cand.slot.name().to_string(),
        port: cand.port,
        deployed_at: time::rfc3339(SystemTime::now()),
        extra: Map::new(),
    };
    state.record_deploy(deployed.clone(), HISTORY_LIMIT);
    traffic.store(&mut state);
    if let Err(e) = lock.save(&state) {
        let back = unroute(&nginx, &upstream, master);
        return Err(e.context(match back {
            Ok(()) => "cannot record the release, so nginx was routed back to the previous release"
                .to_string(),
            Err(b) => {
                format!("cannot record the release, and routing nginx back failed too ({b:#})")
            }
        }));
    }
    progress.say(format!(
        "{release} is live; recorded in {}",
        store.path().display()
    ));
    record.put(&report);

    // 5 and 6.
    let to_stop = previous.as_ref().and_then(|p| p.container.as_ref());
    if let Some(old) = to_stop.filter(|_| report.kept_warm) {
        progress.say(format!(
            "{} stays running as nginx's first backup (--keep-warm)",
            old.name
        ));
    }
    if let Some(old) = to_stop.filter(|_| !report.kept_warm) {
        progress.say(format!(
            "draining: waiting for {} nginx worker(s) from before the reload (up to {})",
            old_workers.len(),
            seconds(args.drain)
        ));
        let left_running = format!(
            "{release} is live (nginx and the state agree); {} was left running to finish its requests",
            old.name
        );
        match drain::old_workers(&old_workers, reloaded, args.drain) {
            Ok(d) => {
                report.drained_seconds = d.seconds;
                report.drained = d.complete;
                if !d.complete {
                    warn(&mut report, progress, format!(
                        "requests to the old release were still in flight after {}; stopping {} anyway",
                        seconds(args.drain),
                        old.name
                    ));
                }
            }
            Err(_) => {
                record.put(&report);
                interrupted(left_running.clone())?;
            }
        }
        record.put(&report);
        interrupted(left_running)?;
        progress.say(format!(
            "drained in {} s; stopping {}",
            report.drained_seconds, old.name
        ));
        match containers::stop(&engine, old, args.stop_timeout) {
            Ok(()) => report.previous_stopped = true,
            Err(e) => warn(
                &mut report,
                progress,
                format!("cannot stop {}: {e:#}", old.name),
            ),
        }
    }
    record.put(&report);

    // 7.
    let skipped = format!("{release} is live and recorded; old images were not pruned");
    interrupted(skipped.clone())?;
    let mut policy = prune::Policy::new(
        &app,
        &deployed,
        &state.history,
        usize::from(args.keep_images),
    );
    policy.keep_other_apps(&args.state.state_dir);
    match prune::prune(&engine, &policy, progress) {
        Ok(removed) => {
            if !removed.is_empty() {
                progress.say(format!("removed old images: {}", removed.join(", ")));
            }
            report.pruned_images = removed;
        }
        Err(_) if signal::caught().is_some() => interrupted(skipped)?,
        Err(e) => warn(
            &mut report,
            progress,
            format!("cannot prune old images: {e:#}"),
        ),
    }
    record.put(&report);
    Ok(())
}

/// What nginx routes to now: the slot that serves, other than the candidate's.
fn previous(
    engine: &Engine,
    app: &str,
    args: &Args,
    live: &Live,
    cand: &Candidate,
    candidate: &Container,
) -> Result<Option<Previous>> {
    let Some(slot) = live.serving(&args.slots, cand.slot) else {
        return Ok(None);
    };
    let container = containers::inspect(engine, &slot.container(app))?
        .filter(|c| !c.stopped && c.id != candidate.id);
    let recorded = live.release_in(slot).map(str::to_string);
    if recorded.is_none() && container.is_none() {
        // Routed to a slot where nothing runs and nothing was deployed: no previous release.
        return Ok(None);
    }
    Ok(Some(Previous {
        slot,
        port: args.slots.port(slot),
        release: recorded.or_else(|| container.as_ref().and_then(|c| c.release.clone())),
        container,
    }))
}

/// Steps 2 and 3: routes nginx to the new upstream file. Returns the workers from before the
/// reload and when it was sent; on any failure the old file is back.
pub(crate) fn route(
    nginx: &Nginx,
    upstream: &UpstreamFile,
    conf: &str,
    master: Proc,
    progress: &Progress,
) -> Result<(Vec<Proc>, Instant)> {
    upstream.write(conf)?;
    let checked = nginx
        .check(&upstream.path)
        .and_then(|()| Ok(interrupted("")?));
    if let Err(e) = checked {
        return Err(restored(e, upstream));
    }
    let old = procs::children(master);
    let sent = Instant::now();
    if let Err(e) = nginx.reload(master) {
        return Err(restored(e, upstream));
    }
    match drain::new_workers(master, &old, RELOAD_BOUND) {
        Ok(fresh) => {
            if !drain::handed_over(&old, RELOAD_BOUND) {
                progress.error(
                    "warning: nginx's old workers still take new connections after the reload",
                );
            }
            progress.say(format!(
                "nginx reloaded in {} ms ({} new worker(s); the old ones take no new connections)",
                sent.elapsed().as_millis(),
                fresh.len()
            ));
            Ok((old, sent))
        }
        Err(e) => {
            let e = restored(e, upstream);
            if procs::alive(master) {
                // A master that was only slow would otherwise end up on the new file.
                let _ = nginx.reload(master);
            }
            Err(e)
        }
    }
}

/// Puts the old upstream file back after `e`, and says so in the message.
fn restored(e: anyhow::Error, upstream: &UpstreamFile) -> anyhow::Error {
    let mut fail = Fail::classify(&e);
    let path = upstream.path.display();
    let outcome = match upstream.restore() {
        Ok(()) => format!("{path} was restored; nginx still routes to the previous release"),
        Err(r) => format!("restoring {path} failed too: {r:#}"),
    };
    fail.message = if fail.exit == Exit::Interrupted {
        outcome
    } else {
        format!("{}; {outcome}", fail.message)
    };
    fail.into()
}

/// `Err(interrupted)` saying what the interruption left behind, once a signal has arrived
/// (the step runner prefixes "interrupted by <signal>: ").
pub(crate) fn interrupted(outcome: impl Into<String>) -> Result<(), Fail> {
    match signal::caught() {
        Some(_) => Err(Fail::new(Exit::Interrupted, "interrupted", outcome)),
        None => Ok(()),
    }
}

/// Routes nginx back to the old file after a reload (the state could not be written).
pub(crate) fn unroute(nginx: &Nginx, upstream: &UpstreamFile, master: Proc) -> Result<()> {
    upstream.restore()?;
    let before = procs::children(master);
    nginx.reload(master)?;
    drain::new_workers(master, &before, RELOAD_BOUND)
        .map(|_| ())
        .context("nginx did not reload the old file")
}

fn warn(report: &mut section::Swap, progress: &Progress, message: String) {
    progress.error(format!("warning: {message}"));
    report.warnings.push(message);
}

pub(crate) fn seconds(d: Duration) -> String {
    format!("{} s", time::round_ms(d.as_secs_f64()))
}
