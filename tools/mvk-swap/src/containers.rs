//! The two slot containers: the candidate must still be the one the record names, and the
//! old one is stopped (not removed) so a rollback can start it again quickly.

use anyhow::Result;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::StopContainerOptionsBuilder;
use mvk_core::containers::{label, short_id, Status, LABEL_RELEASE};
use mvk_core::docker::{api_error, Engine};
use mvk_core::envfile::EnvFile;
use mvk_core::Fail;
use std::time::Duration;

/// A container as the swap needs it.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub id: String,
    /// The id of the image it runs.
    pub image_id: String,
    pub running: bool,
    /// Not running, and not going to by itself: nothing to drain or stop.
    pub stopped: bool,
    pub release: Option<String>,
}

impl Container {
    fn from_inspect(name: &str, c: ContainerInspectResponse) -> Container {
        let status = Status::of(&c);
        Container {
            name: name.to_string(),
            release: label(&c, LABEL_RELEASE).map(str::to_string),
            id: c.id.unwrap_or_default(),
            image_id: c.image.unwrap_or_default(),
            running: status.running(),
            stopped: status.stopped(),
        }
    }
}

pub fn inspect(engine: &Engine, name: &str) -> Result<Option<Container>> {
    Ok(engine
        .container(name)?
        .map(|c| Container::from_inspect(name, c)))
}

/// The candidate, provided it is the container the record names and it runs. When it no longer
/// runs, its last log lines go into `error.logs`, the env file's values masked.
pub fn candidate(engine: &Engine, name: &str, id: &str, env: &EnvFile) -> Result<Container> {
    let found = inspect(engine, name)?.ok_or_else(|| {
        Fail::unavailable(
            "candidate-gone",
            format!("the candidate container {name} is gone (removed by another deploy?); nothing was changed"),
        )
    })?;
    // Accept a record that carries a short id, as `docker ps` prints it.
    if id.len() < 12 || !found.id.starts_with(id) {
        return Err(Fail::unavailable(
            "candidate-replaced",
            format!(
                "{name} is now container {}, not the candidate {} this record names: another deploy replaced it; nothing was changed",
                short_id(&found.id),
                short_id(id)
            ),
        )
        .into());
    }
    if !found.running {
        let logs = env.mask_lines(engine.logs_tail(name, 50).unwrap_or_default());
        return Err(Fail::failed(
            "candidate-down",
            format!("the candidate {name} is no longer running; nothing was changed"),
        )
        .with("logs", logs)
        .into());
    }
    Ok(found)
}

/// Stops a container: SIGTERM, then SIGKILL after `timeout`. It stays, stopped, for a rollback.
pub fn stop(engine: &Engine, c: &Container, timeout: Duration) -> Result<()> {
    // The API takes whole seconds; round up so the app gets at least what was asked.
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    let options = StopContainerOptionsBuilder::new()
        .t(secs.min(i32::MAX as u64) as i32)
        .build();
    // The request lasts as long as the stop: give it room beyond the client's default.
    let api = engine
        .api
        .clone()
        .with_timeout(Duration::from_secs(secs + 30).max(engine.api.timeout()));
    engine
        .block_on(api.stop_container(&c.id, Some(options)))
        .map_err(|e| api_error(e, &format!("stopping {}", c.name)))
}
