//! The fast path: the release we roll back to usually still sits, stopped, in the idle slot
//! (mvk-swap stops the old container rather than removing it). If it runs the very same
//! image and publishes the slot's port, mvk-healthwait only has to start it again.

use anyhow::Result;
use mvk_core::containers::{is_app, label, published_port, Status, LABEL_SLOT};
use mvk_core::docker::Engine;
use mvk_core::{section, Progress, Slot};

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
) -> Result<Option<section::Candidate>> {
    let name = want.slot.container(want.app);
    let Some(c) = engine.container(&name)? else {
        progress.say(format!(
            "no stopped container in the idle slot ({name}): a new one will be started"
        ));
        return Ok(None);
    };
    let port = published_port(&c, want.container_port);
    // The labels every slot container carries (DESIGN.md §3); mvk-healthwait checks them too.
    let why_not = if !is_app(&c, want.app) || label(&c, LABEL_SLOT) != Some(want.slot.name()) {
        Some(format!(
            "is not labelled as app {}'s {} slot",
            want.app, want.slot
        ))
    } else if !Status::of(&c).stopped() {
        Some("is not stopped".to_string())
    } else if c.image.as_deref() != Some(want.image_id) {
        Some(format!("runs another image than {}", want.image_id))
    } else if port != Some(want.port) {
        Some(format!(
            "does not publish {}/tcp on port {}",
            want.container_port, want.port
        ))
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
    Ok(Some(section::Candidate {
        slot: want.slot,
        port: want.port,
        container: name,
        container_id: c.id.clone().unwrap_or_default(),
        // As the container was created from it: mvk-healthwait holds the two to agree.
        image: (c.config.as_ref())
            .and_then(|cfg| cfg.image.clone())
            .unwrap_or_default(),
        reused: true,
        // mvk-healthwait starts it, and says so.
        started: false,
        extra: Default::default(),
    }))
}
