//! Waiting for the candidate: an HTTP probe of its health path until enough answers in a row
//! are 2xx, while every poll also asks Docker how the container is, so a release that crashes,
//! restarts, is OOM-killed or fails its HEALTHCHECK fails the wait at once, not at the timeout.

use crate::candidate::Candidate;
use anyhow::Result;
use bollard::models::ContainerStateStatusEnum;
use mvk_core::containers::{describe, Status};
use mvk_core::docker::Engine;
use mvk_core::envfile::EnvFile;
use mvk_core::section::Health;
use mvk_core::{http, signal, time, Fail, Progress};
use std::time::{Duration, Instant};

/// How long one probe may take; a hung health endpoint counts as a failed probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Probe {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub interval: Duration,
    /// Time between probes while a streak of successes is being confirmed.
    pub confirm_interval: Duration,
    pub successes: u32,
    pub timeout: Duration,
}

impl Probe {
    /// How long after a probe the next one comes: sooner while a streak is being confirmed.
    fn pause(&self, streak: u32) -> Duration {
        if streak > 0 {
            self.confirm_interval.min(self.interval)
        } else {
            self.interval
        }
    }
}

/// Why the container is no longer a candidate, if it is not: `(kind, what happened)`.
/// `restarts` is the restart count it had when the wait began.
fn failure(status: &Status, restarts: i64) -> Option<(&'static str, String)> {
    use ContainerStateStatusEnum::*;
    let exit = if status.oom_killed {
        format!(
            "was killed for running out of memory (exit code {})",
            status.exit_code
        )
    } else {
        format!("crashed with exit code {}", status.exit_code)
    };
    match status.state {
        EXITED | DEAD => Some(("crashed", exit)),
        // Docker's restart policy already brought it back: its exit code is gone.
        RUNNING if status.restarts > restarts => Some((
            "crashed",
            format!(
                "crashed and Docker restarted it ({} restarts)",
                status.restarts - restarts
            ),
        )),
        RUNNING => None,
        RESTARTING => Some(("crashed", format!("{exit}; Docker is restarting it"))),
        other => Some(("not-running", format!("is {other}, not running"))),
    }
}

/// Polls until the candidate is healthy. Returns the `health` section in every case, and
/// the failure (crashed, unhealthy, timeout, replaced, interrupted) if there is one.
pub fn until_healthy(
    engine: &Engine,
    candidate: &Candidate,
    probe: &Probe,
    env: &EnvFile,
    progress: &Progress,
) -> (Health, Result<()>) {
    let started = Instant::now();
    let mut health = Health {
        healthy: false,
        seconds: 0.0,
        polls: 0,
        http_status: None,
        docker_health: "none".into(),
        extra: Default::default(),
    };
    let result = poll(
        engine,
        candidate,
        probe,
        env,
        progress,
        started,
        &mut health,
    );
    health.seconds = time::round_ms(started.elapsed().as_secs_f64());
    (health, result)
}

fn poll(
    engine: &Engine,
    candidate: &Candidate,
    probe: &Probe,
    env: &EnvFile,
    progress: &Progress,
    started: Instant,
    health: &mut Health,
) -> Result<()> {
    let agent = http::agent(PROBE_TIMEOUT.min(probe.timeout.max(Duration::from_millis(100))));
    let name = &candidate.name;
    let mut streak = 0;
    loop {
        signal::check()?;
        let tick = Instant::now();
        let status = current(engine, candidate)?;
        health.docker_health = status.docker_health.clone();
        still_a_candidate(&status, candidate, env)?;
        health.polls += 1;
        let last = match http::get(&agent, &probe.url, &probe.headers) {
            Ok(reply) => {
                health.http_status = Some(reply.status);
                let ok = (200..300).contains(&reply.status);
                streak = if ok { streak + 1 } else { 0 };
                format!("HTTP {} in {} ms", reply.status, reply.elapsed.as_millis())
            }
            Err(e) => {
                streak = 0;
                e
            }
        };
        health.seconds = started.elapsed().as_secs_f64();
        if streak >= probe.successes {
            health.healthy = true;
            return Ok(());
        }
        if started.elapsed() >= probe.timeout {
            return Err(Fail::failed(
                "timeout",
                format!(
                    "{name} is not healthy after {:.1}s ({} probes); the last probe of {}: {last}",
                    health.seconds, health.polls, probe.url
                ),
            )
            .into());
        }
        progress.live(format!(
            "waiting for {name}: {:.1}s, {} probes, last: {last}, docker health: {}",
            health.seconds, health.polls, health.docker_health
        ));
        let left = probe.timeout.saturating_sub(started.elapsed());
        signal::sleep(probe.pause(streak).saturating_sub(tick.elapsed()).min(left))?;
    }
}

/// The candidate's status; an error once it was removed (or is being removed).
fn current(engine: &Engine, candidate: &Candidate) -> Result<Status> {
    let name = &candidate.name;
    let found = engine.container(&candidate.id)?.map(|c| Status::of(&c));
    let Some(status) = found.filter(|s| s.state != ContainerStateStatusEnum::REMOVING) else {
        return Err(Fail::unavailable(
            "replaced",
            format!(
                "{} was removed while it was being checked (by another deploy?)",
                describe(name, &candidate.id)
            ),
        )
        .into());
    };
    Ok(status)
}

/// Fails once the container is no candidate any more: crashed, or reported unhealthy by its
/// HEALTHCHECK.
fn still_a_candidate(status: &Status, candidate: &Candidate, env: &EnvFile) -> Result<()> {
    let name = &candidate.name;
    if let Some((kind, what)) = failure(status, candidate.restarts) {
        return Err(Fail::failed(kind, format!("{name} {what}")).into());
    }
    if status.docker_health == "unhealthy" {
        let check = match &status.health_check {
            Some((code, out)) if !out.trim().is_empty() => {
                format!(
                    " (exit code {code}: {})",
                    env.mask(out.trim()).replace('\n', " ")
                )
            }
            Some((code, _)) => format!(" (exit code {code})"),
            None => String::new(),
        };
        return Err(Fail::failed(
            "unhealthy",
            format!("Docker reports {name} unhealthy: its HEALTHCHECK failed{check}"),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerInspectResponse, ContainerState};

    #[test]
    fn a_streak_is_confirmed_at_the_shorter_interval() {
        let probe = |interval, confirm| Probe {
            url: String::new(),
            headers: Vec::new(),
            interval: Duration::from_millis(interval),
            confirm_interval: Duration::from_millis(confirm),
            successes: 2,
            timeout: Duration::from_secs(60),
        };
        let p = probe(200, 50);
        assert_eq!(p.pause(0), Duration::from_millis(200));
        assert_eq!(p.pause(1), Duration::from_millis(50));
        assert_eq!(probe(20, 50).pause(1), Duration::from_millis(20));
    }

    fn inspect(
        status: ContainerStateStatusEnum,
        exit: i64,
        oom: bool,
        restarts: i64,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(exit),
                oom_killed: Some(oom),
                ..Default::default()
            }),
            restart_count: Some(restarts),
            ..Default::default()
        }
    }

    #[test]
    fn running_without_restarts_is_fine() {
        assert_eq!(
            failure(
                &Status::of(&inspect(ContainerStateStatusEnum::RUNNING, 0, false, 0)),
                0
            ),
            None
        );
        // A reused container that restarted before this wait began.
        assert_eq!(
            failure(
                &Status::of(&inspect(ContainerStateStatusEnum::RUNNING, 0, false, 4)),
                4
            ),
            None
        );
    }

    #[test]
    fn crashes_say_the_exit_code() {
        let s = Status::of(&inspect(ContainerStateStatusEnum::EXITED, 3, false, 0));
        assert_eq!(
            failure(&s, 0),
            Some(("crashed", "crashed with exit code 3".into()))
        );
        let s = Status::of(&inspect(ContainerStateStatusEnum::RESTARTING, 3, false, 1));
        assert_eq!(
            failure(&s, 0).unwrap().1,
            "crashed with exit code 3; Docker is restarting it"
        );
        let s = Status::of(&inspect(ContainerStateStatusEnum::EXITED, 137, true, 0));
        assert!(failure(&s, 0)
            .unwrap()
            .1
            .contains("out of memory (exit code 137)"));
        let s = Status::of(&inspect(ContainerStateStatusEnum::RUNNING, 0, false, 2));
        assert_eq!(
            failure(&s, 0).unwrap().1,
            "crashed and Docker restarted it (2 restarts)"
        );
        let s = Status::of(&inspect(ContainerStateStatusEnum::PAUSED, 0, false, 0));
        assert_eq!(
            failure(&s, 0),
            Some(("not-running", "is paused, not running".into()))
        );
    }
}
