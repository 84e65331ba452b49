//! The fast path: the release we roll back to usually still sits, stopped, in the idle slot
//! (mvk-swap stops the old container rather than removing it). If it runs the very same
//! image and publishes the slot's port, mvk-healthwait only has to start it again.

use anyhow::Result;
use mvk_core::docker::Engine;
use mvk_core::{Progress, Slot};
use serde_json::{json, Value};

/// The slot and ports the stopped container must match.
pub struct Wanted<'a> {
    pub app: &'a str,
    pub slot: Slot,
    pub port: u16,
    pub container_port: u16,
    pub image_id: &'a str,
}

/// The `candidate` section for the stopped container to start, or `None` (with the reason on
/// stderr) when a new container is needed.
pub fn stopped_candidate(
    engine: &Engine,
    want: &Wanted,
    progress: &Progress,
) -> Result<Option<Value>> {
    let name = want.slot.container(want.app);
    let Some(c) = engine.container(&name)? else {
        progress.say(format!(
            "no stopped container in the idle slot ({name}): a new one will be started"
        ));
        return Ok(None);
    };
    let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    let label = |key: &str| {
        c.config
            .as_ref()
            .and_then(|cfg| cfg.labels.as_ref())
            .and_then(|l| l.get(key).cloned())
    };
    let key = format!("{}/tcp", want.container_port);
    let port = want.port.to_string();
    let publishes = c
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref())
        .and_then(|b| b.get(&key).cloned().flatten())
        .is_some_and(|bindings| {
            bindings
                .iter()
                .any(|b| b.host_port.as_deref() == Some(port.as_str()))
        });
    // The labels every slot container carries (DESIGN.md §3); mvk-healthwait checks them too.
    let why_not = if label("mvk.app").as_deref() != Some(want.app)
        || label("mvk.slot").as_deref() != Some(want.slot.name())
    {
        Some(format!(
            "is not labelled as app {}'s {} slot",
            want.app, want.slot
        ))
    } else if running {
        Some("is running".to_string())
    } else if c.image.as_deref() != Some(want.image_id) {
        Some(format!("runs another image than {}", want.image_id))
    } else if !publishes {
        Some(format!("does not publish {key} on port {port}"))
    } else {
        None
    };
    if let Some(why) = why_not {
        progress.say(format!("{name} {why}: a new container will be started"));
        return Ok(None);
    }
    progress.say(format!(
        "{name} still holds this release, stopped: it will be started again (fast path)"
    ));
    Ok(Some(json!({
        "slot": want.slot.name(),
        "port": want.port,
        "container": name,
        "container_id": c.id,
        // As the container was created from it: mvk-healthwait holds the two to agree.
        "image": c.config.as_ref().and_then(|cfg| cfg.image.clone()),
    })))
}
