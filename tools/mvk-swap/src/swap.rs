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
//!    is routed back to the old file so the two agree again. Then wait until the old workers
//!    take no new connections (mvk-swap told them so as soon as the new workers ran; nginx's
//!    master would only tell them about 100 ms later).
//! 5. Drain: wait for the old workers to exit. An interruption stops the wait and leaves the
//!    old container running: it may still be answering requests, and nginx no longer routes
//!    to it; the next deploy replaces it.
//! 6. Stop the old container: done once its processes have exited (Docker's own teardown of
//!    its network and mounts goes on for a few hundred milliseconds, and any later request on
//!    the container waits for it). 7. Prune old images. By now the release is live and
//!    recorded; an interruption only skips what is left.
//!
//! The lock is held to the end, so the next deploy cannot reuse the old slot while it drains.

use crate::containers::{self, Container};
use crate::nginx::Nginx;
use crate::procs::{self, Proc};
use crate::traffic::Traffic;
use crate::upstream::UpstreamFile;
use crate::{drain, long_lived, prune, routing, Args};
use anyhow::{Context, Result};
use mvk_core::docker::{Connecting, Engine, Stopped};
use mvk_core::envfile::EnvFile;
use mvk_core::live::Live;
use mvk_core::section::{self, SwapLive, SwapPrevious};
use mvk_core::state::{Deployed, State, Store, HISTORY_LIMIT};
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
        // Under Swarm (mvk-healthwait --swarm) the slot is a service and the candidate is its
        // task's container, which Swarm names; the slot's service must be the one named.
        let (what, named, expected) = match record.get("swarm.service") {
            Some(_) => ("swarm.service", record.str("swarm.service")?, "service"),
            None => ("candidate.container", container.as_str(), "container"),
        };
        if named != slot.container(record.app()) {
            return Err(Fail::usage(format!(
                "field `{what}` is {named:?}, but the {slot} slot's {expected} is {:?}",
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

pub fn run(
    args: &Args,
    engine: Connecting,
    record: &mut Record,
    progress: &Progress,
) -> Result<()> {
    let cand = Candidate::read(record, args)?;
    let release = Release::read(record, args)?;
    // 1. Nothing changes before the upstream file is written.
    let engine = engine.engine()?;
    progress.phase("Docker connected");
    let store = Store::new(&args.state.state_dir, &release.app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    progress.phase("locked, state read");
    let mut swap = Swap::new(args, progress, engine, release, cand, &state, &store)?;
    progress.phase("candidate and previous inspected, upstream prepared");
    if swap.already_live() {
        progress.say(format!(
            "release {} is already live in {}; nothing to do",
            swap.release.id, swap.cand.container
        ));
        record.put(&swap.report);
        return Ok(());
    }
    swap.report.previous = swap.previous.as_ref().map(Previous::section);
    let nginx = Nginx::new(&args.nginx, args.handover);
    let master = nginx.master()?;
    progress.phase("nginx master found");
    interrupted("nothing was changed")?;

    // 2 and 3.
    let (old_workers, reloaded) = swap.route(&nginx, master)?;

    // 4. The candidate serves: the state must say so.
    let deployed = swap.deployed();
    state.record_deploy(deployed.clone(), HISTORY_LIMIT);
    swap.traffic.store(&mut state);
    if let Err(e) = lock.save(&state) {
        return Err(unrecorded(e, &nginx, &swap.upstream, master));
    }
    progress.phase("state saved");
    handed_over(&old_workers, reloaded, progress);
    progress.say(format!(
        "{} is live; recorded in {}",
        swap.release.id,
        store.path().display()
    ));
    record.put(&swap.report);
    if let Some(dir) = &args.textfile_dir {
        let slot = swap.cand.slot.name();
        if let Err(e) = crate::metrics::write(dir, record, slot, SystemTime::now()) {
            swap.warn(format!(
                "the deploy metrics were not written into {}: {e:#}",
                dir.display()
            ));
            record.put(&swap.report);
        }
    }

    // 5 and 6.
    swap.retire(record, &old_workers, reloaded)?;
    record.put(&swap.report);
    progress.phase("old release retired");

    // 7.
    swap.prune(&deployed, &state)?;
    record.put(&swap.report);
    progress.phase("old images pruned");
    Ok(())
}

/// The release the record puts live.
struct Release {
    app: String,
    id: String,
    image: String,
    /// The app's environment, whose values never show in the candidate's logs.
    env: EnvFile,
}

impl Release {
    fn read(record: &Record, args: &Args) -> Result<Release> {
        Ok(Release {
            app: record.app().to_string(),
            id: record.str("release")?.to_string(),
            image: record.str("image")?.to_string(),
            env: args.env.load()?,
        })
    }
}

/// One swap as it goes: what it works on, and the `swap` section it fills in.
struct Swap<'a> {
    args: &'a Args,
    progress: &'a Progress,
    engine: Engine,
    release: Release,
    cand: Candidate,
    /// The candidate's container, as the engine has it.
    container: Container,
    upstream: UpstreamFile,
    live: Live,
    previous: Option<Previous>,
    traffic: Traffic,
    /// The upstream file that routes to the candidate.
    conf: String,
    report: section::Swap,
}

impl<'a> Swap<'a> {
    /// Checks the candidate's container, reads what is live and prepares the new upstream
    /// file's content; changes nothing.
    fn new(
        args: &'a Args,
        progress: &'a Progress,
        engine: Engine,
        release: Release,
        cand: Candidate,
        state: &State,
        store: &Store,
    ) -> Result<Swap<'a>> {
        let app = release.app.as_str();
        let (found, other) =
            containers::two(&engine, &cand.container, &cand.slot.other().container(app));
        let container = containers::candidate(
            &engine,
            found?,
            &cand.container,
            &cand.container_id,
            &release.env,
        )?;
        let upstream = UpstreamFile::open(&args.nginx.upstream_file(app))?;
        let live = Live::new(
            state,
            store.path(),
            upstream.port_before(),
            upstream.path.clone(),
        )?;
        let previous = previous(args, &live, &cand, &container, other)?;
        let traffic = Traffic::after_swap(args.routing.keep_warm, previous.as_ref());
        let conf = routing::prepare(args, app, &upstream.path, &traffic.routing(cand.port))?;
        let report = section::Swap {
            live: SwapLive {
                slot: cand.slot,
                port: cand.port,
                release: release.id.clone(),
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
            long_lived: None,
            extra: Map::new(),
        };
        Ok(Swap {
            args,
            progress,
            engine,
            release,
            cand,
            container,
            upstream,
            live,
            previous,
            traffic,
            conf,
            report,
        })
    }

    /// The same release in the same container is live already, and nginx routes as it would.
    fn already_live(&self) -> bool {
        self.live.slot == Some(self.cand.slot)
            && self.live.deployed.as_ref().is_some_and(|l| {
                l.release == self.release.id && l.image_id == self.container.image_id
            })
            && self.upstream.holds(&self.conf)
    }

    /// Steps 2 and 3, see [`route`].
    fn route(&self, nginx: &Nginx, master: Proc) -> Result<(Vec<Proc>, Instant)> {
        self.progress.say(format!(
            "routing {} to {} ({}, 127.0.0.1:{})",
            self.args.nginx.upstream_name(&self.release.app),
            self.cand.container,
            self.release.id,
            self.cand.port
        ));
        route(nginx, &self.upstream, &self.conf, master, self.progress)
    }

    /// The state's entry for the candidate, live from now on.
    fn deployed(&self) -> Deployed {
        Deployed {
            release: self.release.id.clone(),
            image: self.release.image.clone(),
            image_id: self.container.image_id.clone(),
            slot: self.cand.slot.name().to_string(),
            port: self.cand.port,
            deployed_at: time::rfc3339(SystemTime::now()),
            extra: Map::new(),
        }
    }

    /// Steps 5 and 6: the previous release's container, if one runs, stays as nginx's backup
    /// (--keep-warm), or is drained and stopped.
    fn retire(
        &mut self,
        record: &mut Record,
        old_workers: &[Proc],
        reloaded: Instant,
    ) -> Result<()> {
        let Some(old) = self.previous.as_ref().and_then(|p| p.container.clone()) else {
            return Ok(());
        };
        if self.report.kept_warm {
            self.progress.say(format!(
                "{} stays running as nginx's first backup (--keep-warm)",
                old.name
            ));
            return Ok(());
        }
        self.drain(record, &old, old_workers, reloaded)?;
        let old_port = self.previous.as_ref().map_or(0, |p| p.port);
        let open = long_lived::open(old_workers, old_port);
        let stopping = Instant::now();
        match self.engine.stop(&old.id, &old.name, self.args.stop_timeout) {
            Ok(stopped) => {
                self.report.previous_stopped = true;
                self.progress.say(match stopped {
                    Stopped::Exited(code) => format!("{} exited with {code}", old.name),
                    Stopped::Answered => format!("{} stopped", old.name),
                });
            }
            Err(e) => self.warn(format!("cannot stop {}: {e:#}", old.name)),
        }
        self.progress.phase(format!("{} stopped", old.name));
        self.report.long_lived = Some(long_lived::ended(
            open,
            old_workers,
            old_port,
            stopping.elapsed(),
            self.args.stop_timeout,
        ));
        Ok(())
    }

    /// Step 5: waits for the old workers to finish their requests to `old`. Interrupted, it
    /// leaves `old` running.
    fn drain(
        &mut self,
        record: &mut Record,
        old: &Container,
        old_workers: &[Proc],
        reloaded: Instant,
    ) -> Result<()> {
        let drain = self.args.drain;
        self.progress.say(format!(
            "draining: waiting for {} nginx worker(s) from before the reload (up to {})",
            old_workers.len(),
            seconds(drain)
        ));
        // An interrupted drain is an error; the signal check below says what it left.
        let drained = drain::old_workers(old_workers, reloaded, drain);
        self.progress.phase("old nginx workers exited (drained)");
        if let Ok(d) = drained {
            self.report.drained_seconds = d.seconds;
            self.report.drained = d.complete;
            if !d.complete {
                self.warn(format!(
                    "requests to the old release were still in flight after {}; stopping {} anyway",
                    seconds(drain),
                    old.name
                ));
            }
        }
        record.put(&self.report);
        interrupted(format!(
            "{} is live (nginx and the state agree); {} was left running to finish its requests",
            self.release.id, old.name
        ))?;
        self.progress.say(format!(
            "drained in {} s; stopping {}",
            self.report.drained_seconds, old.name
        ));
        Ok(())
    }

    /// Step 7: removes this app's images beyond --keep-images; a failure is only a warning.
    fn prune(&mut self, deployed: &Deployed, state: &State) -> Result<()> {
        let skipped = format!(
            "{} is live and recorded; old images were not pruned",
            self.release.id
        );
        interrupted(skipped.clone())?;
        let mut policy = prune::Policy::new(
            &self.release.app,
            deployed,
            &state.history,
            usize::from(self.args.keep_images),
        );
        policy.keep_other_apps(&self.args.state.state_dir);
        match prune::prune(&self.engine, &policy, self.progress) {
            Ok(removed) => {
                if !removed.is_empty() {
                    (self.progress).say(format!("removed old images: {}", removed.join(", ")));
                }
                self.report.pruned_images = removed;
            }
            Err(_) if signal::caught().is_some() => interrupted(skipped)?,
            Err(e) => self.warn(format!("cannot prune old images: {e:#}")),
        }
        Ok(())
    }

    fn warn(&mut self, message: String) {
        self.progress.error(format!("warning: {message}"));
        self.report.warnings.push(message);
    }
}

/// The state could not be written after the reload: routes nginx back so the two agree.
fn unrecorded(
    e: anyhow::Error,
    nginx: &Nginx,
    upstream: &UpstreamFile,
    master: Proc,
) -> anyhow::Error {
    e.context(match unroute(nginx, upstream, master) {
        Ok(()) => "cannot record the release, so nginx was routed back to the previous release"
            .to_string(),
        Err(b) => format!("cannot record the release, and routing nginx back failed too ({b:#})"),
    })
}

/// What nginx routes to now: the slot that serves, other than the candidate's (so the other
/// slot, whose container is `other`).
fn previous(
    args: &Args,
    live: &Live,
    cand: &Candidate,
    candidate: &Container,
    other: Result<Option<Container>>,
) -> Result<Option<Previous>> {
    let Some(slot) = live.serving(&args.slots, cand.slot) else {
        return Ok(None);
    };
    let container = other?.filter(|c| !c.stopped && c.id != candidate.id);
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
    progress.phase("upstream file written");
    let checked = nginx
        .check(&upstream.path)
        .and_then(|()| Ok(interrupted("")?));
    progress.phase("nginx -T");
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
            progress.phase("reloaded: nginx runs new workers");
            // Before the state is saved: routing is settled once new workers run.
            nginx.hand_over(&old);
            progress.say(format!(
                "nginx reloaded in {} ms ({} new worker(s))",
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

/// Waits until nginx's workers from before the reload (`old`, reloaded at `sent`) take no new
/// connections, so that whatever comes after the step reaches the new routing (see
/// [`Nginx::hand_over`]). A warning if they still take connections after [`RELOAD_BOUND`].
pub(crate) fn handed_over(old: &[Proc], sent: Instant, progress: &Progress) {
    let done = drain::handed_over(old, RELOAD_BOUND);
    progress.phase("old nginx workers take no new connections");
    if done {
        progress.say(format!(
            "nginx's old workers take no new connections ({} ms after the reload)",
            sent.elapsed().as_millis()
        ));
    } else {
        progress.error("warning: nginx's old workers still take new connections after the reload");
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

pub(crate) fn seconds(d: Duration) -> String {
    format!("{} s", time::round_ms(d.as_secs_f64()))
}
