//! The two slot containers: the candidate must still be the one the record names, and the
//! old one is stopped (`Engine::stop`), not removed, so a rollback can start it again quickly.

use anyhow::Result;
use bollard::models::ContainerInspectResponse;
use mvk_core::containers::{label, short_id, Status, LABEL_RELEASE};
use mvk_core::docker::Engine;
use mvk_core::envfile::EnvFile;
use mvk_core::Fail;

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

/// The containers named `a` and `b`, inspected at the same time.
pub fn two(
    engine: &Engine,
    a: &str,
    b: &str,
) -> (Result<Option<Container>>, Result<Option<Container>>) {
    let (found_a, found_b) = engine.two_containers(a, b);
    let container = |name: &str, found: Result<Option<ContainerInspectResponse>>| {
        found.map(|c| c.map(|c| Container::from_inspect(name, c)))
    };
    (container(a, found_a), container(b, found_b))
}

/// The candidate, as `found` under its name, provided it is the container the record names
/// and it runs. When it no longer runs, its last log lines go into `error.logs`, the env
/// file's values masked.
pub fn candidate(
    engine: &Engine,
    found: Option<Container>,
    name: &str,
    id: &str,
    env: &EnvFile,
) -> Result<Container> {
    let found = found.ok_or_else(|| {
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
