//! `--swarm`: the idle slot is the Swarm service `<app>-<slot>` (mvk_core::swarm). The release
//! goes into it by creating the service, or by updating its spec (stop-first: nginx routes to
//! the other slot; Swarm rolls a failed update back itself); once Swarm runs the new task, it
//! is probed as a container candidate is. The live slot's service is never touched.

use crate::candidate::Candidate;
use crate::{probe, wait, Args, Fresh, LOG_LINES, TOOL};
use anyhow::Result;
use bollard::models::Service;
use mvk_core::containers::{describe, Status, LABEL_APP};
use mvk_core::docker::{Connecting, Engine};
use mvk_core::envfile::EnvFile;
use mvk_core::live::Live;
use mvk_core::section::{self, Health, Placed};
use mvk_core::state::Store;
use mvk_core::swarm::{self as services, recorded, service_name, Outcome, Spec, Swarm};
use mvk_core::{signal, time, validate, Fail, Progress, Record, Slot};
use std::time::{Duration, Instant};

/// The longest wait for Swarm to roll a slot's service back after a failed deploy (it stops
/// the new task and starts the previous spec's, health checks and monitoring included).
const ROLLBACK_WAIT: Duration = Duration::from_secs(120);

/// The release as the record names it.
struct Release {
    id: String,
    /// As Swarm pulls it: `repo:tag@sha256:…` when the record has the pushed digest.
    image: String,
    /// As the record names it (mvk-rollback names the tag, or the image id).
    named: String,
    image_id: Option<String>,
}

impl Release {
    /// Whether a service's spec image is this release's: the same reference, the tag the
    /// spec pins by digest, or the image id of the service's running task.
    fn runs_in(&self, spec_image: &str, task_image_id: Option<&str>) -> bool {
        spec_image == self.image
            || spec_image
                .strip_prefix(self.named.as_str())
                .is_some_and(|d| d.starts_with('@'))
            || (self.image_id.is_some() && self.image_id.as_deref() == task_image_id)
    }

    fn read(record: &Record) -> Result<Release, Fail> {
        let Some(fresh) = Fresh::read(record)? else {
            return Err(Fail::usage(
                "the record names a candidate container: with --swarm a slot is a service, so a release goes in by its image (or `mvk-rollback --restore-spec` for a recorded spec)",
            ));
        };
        let image = match &fresh.digest {
            Some(digest) if !fresh.image.contains('@') => format!("{}@{digest}", fresh.image),
            _ => fresh.image.clone(),
        };
        Ok(Release {
            id: fresh.release,
            named: fresh.image,
            image_id: fresh.image_id,
            image,
        })
    }
}

/// What this run did to the idle slot's service.
struct Placement {
    slot: Slot,
    port: u16,
    section: section::Swarm,
}

pub fn run(
    args: &Args,
    engine: Connecting,
    record: &mut Record,
    progress: &Progress,
) -> Result<()> {
    // A one-off needs a container of its own beside the service, and Swarm replaces a failed
    // task rather than keeping it.
    if args.before.is_some() || args.keep_failed {
        return Err(
            Fail::usage("--swarm cannot be combined with --before or --keep-failed").into(),
        );
    }
    let release = Release::read(record)?;
    let app = record.app().to_string();
    for slot in [Slot::Blue, Slot::Green] {
        validate::service(&service_name(&app, slot))
            .map_err(|e| Fail::usage(format!("app {app} cannot be a Swarm service: {e}")))?;
    }
    let env = args.env.load()?;
    let engine = engine.engine()?;
    let swarm = Swarm::connect(&engine)?;
    let started = Instant::now();
    let mut placement = place(&swarm, args, &app, &release, &env, progress)?;
    let name = placement.section.service.clone();
    let created = placement.section.placed == Placed::Created;
    let image = placement.section.image.clone();
    let outcome = swarm.converge(&name, &image, created, args.timeout, progress);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            let err = failed(&swarm, &mut placement, err, Vec::new(), progress);
            record.put(&placement.section);
            return Err(err);
        }
    };
    match outcome {
        Outcome::Running { task, container } => {
            progress.say(format!(
                "Swarm runs task {} of {name} after {:.1}s",
                short(&task),
                started.elapsed().as_secs_f64()
            ));
            let result = probe_task(
                &engine, args, &placement, &container, &env, record, progress,
            );
            if let Err(err) = result {
                let logs = logs(&engine, Some(&container), &env, progress);
                let err = failed(&swarm, &mut placement, err, logs, progress);
                record.put(&placement.section);
                return Err(err);
            }
            record.put(&placement.section);
            Ok(())
        }
        Outcome::Failed {
            rolled_back,
            kind,
            unhealthy,
            message,
            container,
        } => {
            // Swarm decided: the update failed and it is rolling back; done when the slot's
            // service runs the previous spec again.
            let mut message = message;
            if rolled_back {
                progress.say(format!(
                    "Swarm rolls service {name} back to its previous spec"
                ));
                match swarm.rolled_back(&name, ROLLBACK_WAIT) {
                    Ok(()) => placement.section.rolled_back = true,
                    Err(e) => message = format!("{message}; and {e:#}"),
                }
            }
            // Swarm stops an unhealthy task as it stops any (it then ends `complete`): its
            // container's last health says why.
            let unhealthy = unhealthy
                || container
                    .as_deref()
                    .is_some_and(|c| last_health(&engine, c));
            let kind = if unhealthy { "unhealthy" } else { kind };
            record.put(&Health {
                healthy: false,
                seconds: time::round_ms(started.elapsed().as_secs_f64()),
                polls: 0,
                http_status: None,
                docker_health: if unhealthy { "unhealthy" } else { "none" }.into(),
                extra: Default::default(),
            });
            record.put(&placement.section);
            let message = if placement.section.rolled_back {
                format!("the new task of {name} failed ({message}); Swarm rolled the service back to its previous spec; the live slot was not touched")
            } else {
                if created {
                    remove(&swarm, &name, progress);
                }
                format!("the task of {name} failed: {message}")
            };
            let logs = logs(&engine, container.as_deref(), &env, progress);
            Err(Fail::failed(kind, message).with("logs", logs).into())
        }
    }
}

/// Under the app's lock: picks the idle slot and puts the release into its service.
fn place(
    swarm: &Swarm,
    args: &Args,
    app: &str,
    release: &Release,
    env: &EnvFile,
    progress: &Progress,
) -> Result<Placement> {
    let store = Store::new(&args.state.state_dir, app);
    let lock = store.lock(TOOL)?;
    let live = Live::read(&lock.load()?, store.path(), args.nginx.upstream_file(app))?;
    let slot = live.idle();
    let port = args.slots.port(slot);
    let name = service_name(app, slot);
    let existing = swarm.service(&name)?;
    live.ensure_idle(slot, port, existing.is_some())?;
    if let Some(found) = &existing {
        ensure_ours(found, app, &name)?;
    }
    let spec = Spec {
        app,
        release: &release.id,
        slot,
        image: &release.image,
        port,
        container_port: args.slots.container_port,
        env: env.docker_env(),
        init: !args.no_init,
    }
    .service(&swarm.node);
    let running = match &existing {
        Some(found) => running_release(swarm, found, release)?,
        None => None,
    };
    let (id, placed, previous_spec, image) = match (existing, running) {
        (None, _) => {
            let id = swarm.create(spec)?;
            progress.say(format!(
                "created service {name} ({}) on port {port}",
                release.image
            ));
            (id, Placed::Created, None, release.image.clone())
        }
        (Some(found), Some(image)) => {
            progress.say(format!(
                "service {name} already runs release {} ({image}); waiting for it",
                release.id
            ));
            (found.id.unwrap_or_default(), Placed::Reused, None, image)
        }
        (Some(found), None) => {
            let before = found.spec.as_ref().map(recorded);
            let was = found
                .spec
                .as_ref()
                .and_then(services::spec_release)
                .unwrap_or("?")
                .to_string();
            swarm.update(&found, spec)?;
            progress.say(format!(
                "updated service {name} from release {was} to {} (stop-first; Swarm rolls back a failed update)",
                release.id
            ));
            (
                found.id.unwrap_or_default(),
                Placed::Updated,
                before,
                release.image.clone(),
            )
        }
    };
    let placement = Placement {
        slot,
        port,
        section: section::Swarm {
            service: name,
            service_id: id,
            image,
            placed,
            previous_spec,
            rolled_back: false,
            extra: Default::default(),
        },
    };
    if let Err(interrupted) = signal::check() {
        undo(swarm, &placement, progress);
        return Err(interrupted.into());
    }
    drop(lock);
    Ok(placement)
}

/// A service of our name that is not labelled as this app's is someone else's: exit 4.
fn ensure_ours(found: &Service, app: &str, name: &str) -> Result<(), Fail> {
    let owner = found
        .spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(LABEL_APP));
    if owner.map(String::as_str) == Some(app) {
        return Ok(());
    }
    Err(Fail::unavailable(
        "foreign-service",
        format!(
            "service {name} exists but is not labelled {LABEL_APP}={app}; refusing to change it"
        ),
    ))
}

/// The spec image of `found` when it runs the release already (its `mvk.release` label, its
/// image, and a task of it running): a rollback to the previous slot then changes nothing.
fn running_release(swarm: &Swarm, found: &Service, release: &Release) -> Result<Option<String>> {
    let Some(spec) = &found.spec else {
        return Ok(None);
    };
    let (Some(image), Some(name)) = (services::spec_image(spec), spec.name.as_deref()) else {
        return Ok(None);
    };
    if services::spec_release(spec) != Some(release.id.as_str()) {
        return Ok(None);
    }
    let Some((_, container)) = swarm.running(name, image)? else {
        return Ok(None);
    };
    let task_image = swarm.engine().container(&container)?.and_then(|c| c.image);
    Ok(release
        .runs_in(image, task_image.as_deref())
        .then(|| image.to_string()))
}

/// Swarm runs the task: now it must answer the health path as a candidate container must.
fn probe_task(
    engine: &Engine,
    args: &Args,
    placement: &Placement,
    container: &str,
    env: &EnvFile,
    record: &mut Record,
    progress: &Progress,
) -> Result<()> {
    let found = engine.container(container)?.ok_or_else(|| {
        Fail::unavailable(
            "replaced",
            format!("the task container {container} is gone (Swarm replaced it?)"),
        )
    })?;
    let name = found
        .name
        .as_deref()
        .unwrap_or(container)
        .trim_start_matches('/')
        .to_string();
    let candidate = Candidate {
        slot: placement.slot,
        port: placement.port,
        name,
        id: container.to_string(),
        image: placement.section.image.clone(),
        reused: placement.section.placed == Placed::Reused,
        started: placement.section.placed != Placed::Reused,
        restarts: found.restart_count.unwrap_or(0),
    };
    record.put(&candidate.section());
    let probe = probe(args, candidate.port);
    progress.say(format!(
        "waiting for {} to answer {}",
        describe(&candidate.name, &candidate.id),
        probe.url
    ));
    let (health, outcome) = wait::until_healthy(engine, &candidate, &probe, env, progress);
    record.put(&health);
    if outcome.is_ok() {
        progress.say(format!(
            "{} is healthy after {:.1}s ({} probes, docker health: {})",
            candidate.name, health.seconds, health.polls, health.docker_health
        ));
    }
    outcome
}

/// No task ran in time, or it did not pass the probe, or the wait was interrupted: the service
/// goes back to what it was, by Swarm's own rollback, and the task's logs go into `error.logs`.
fn failed(
    swarm: &Swarm,
    placement: &mut Placement,
    err: anyhow::Error,
    logs: Vec<String>,
    progress: &Progress,
) -> anyhow::Error {
    undo(swarm, placement, progress);
    if signal::caught().is_some() {
        return err;
    }
    let mut fail = Fail::classify(&err);
    if placement.section.placed == Placed::Updated {
        // Done when the slot's service is as it was: the next deploy finds it settled.
        match swarm.rolled_back(&placement.section.service, ROLLBACK_WAIT) {
            Ok(()) => placement.section.rolled_back = true,
            Err(e) => fail.message = format!("{}; and {e:#}", fail.message),
        }
    }
    if !logs.is_empty() {
        fail = fail.with("logs", logs);
    }
    fail.into()
}

/// Puts the service back as it was before this run: Swarm's rollback for an update, removal
/// for a service this run created; a reused one is left as it was.
fn undo(swarm: &Swarm, placement: &Placement, progress: &Progress) {
    let name = &placement.section.service;
    match placement.section.placed {
        Placed::Created => remove(swarm, name, progress),
        Placed::Updated => match swarm.roll_back(name) {
            Ok(()) => progress.say(format!(
                "Swarm rolls service {name} back to its previous spec"
            )),
            Err(e) => progress.error(format!("could not roll service {name} back: {e:#}")),
        },
        Placed::Reused | Placed::Restored => {}
    }
}

fn remove(swarm: &Swarm, name: &str, progress: &Progress) {
    match swarm.remove(name) {
        Ok(()) => progress.say(format!("removed service {name}")),
        Err(e) => progress.error(format!("could not remove service {name}: {e:#}")),
    }
}

/// The failed task's last log lines, the env file's values masked, also on stderr.
fn logs(
    engine: &Engine,
    container: Option<&str>,
    env: &EnvFile,
    progress: &Progress,
) -> Vec<String> {
    let Some(container) = container else {
        return Vec::new();
    };
    let lines = match engine.logs_tail(container, LOG_LINES) {
        Ok(lines) => env.mask_lines(lines),
        Err(e) => vec![format!("(cannot read the logs: {e:#})")],
    };
    progress.error(format!("the last {} log lines of the task:", lines.len()));
    for line in &lines {
        progress.error(format!("| {line}"));
    }
    lines
}

/// Whether Docker's HEALTHCHECK last found the container unhealthy.
fn last_health(engine: &Engine, container: &str) -> bool {
    engine
        .container(container)
        .ok()
        .flatten()
        .is_some_and(|c| Status::of(&c).docker_health == "unhealthy")
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
