//! `--withdraw FILE`: after a deploy whose swap did not put the candidate live (it failed, or
//! was interrupted, before nginx's reload), the healthy candidate still runs, unrouted, in the
//! idle slot. This undoes the health wait's work, as an interrupted wait does: only for the
//! container the record's `candidate` section names (by name and id), made by Maverick for
//! this app's slot, and never while its slot is the live one. One new for the release is
//! removed; a rollback's reused container is stopped again if the wait started it, and left
//! running if it already ran.

use crate::candidate::Candidate;
use anyhow::Result;
use mvk_core::config::{NginxArgs, StateArgs};
use mvk_core::containers::{describe, made_for, LABEL_SLOT};
use mvk_core::docker::Engine;
use mvk_core::live::Live;
use mvk_core::state::Store;
use mvk_core::{section, Fail, Progress, Record};
use std::path::Path;

pub fn run(state: &StateArgs, nginx: &NginxArgs, file: &Path, progress: &Progress) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Fail::usage(format!("cannot read the record {}: {e}", file.display())))?;
    let record = Record::parse(text.trim_end())?;
    let Some(cand) = record.section::<section::Candidate>()? else {
        progress.say("the record names no candidate: nothing to withdraw");
        return Ok(());
    };
    if cand.reused && !cand.started {
        progress.say(format!(
            "{} is an existing container the rollback reused, already running: left as it is",
            cand.container
        ));
        return Ok(());
    }
    let app = record.app();
    let store = Store::new(&state.state_dir, app);
    // Under the app's lock: no deploy may swap it live meanwhile.
    let lock = store.lock(crate::TOOL)?;
    let live = Live::read(&lock.load()?, store.path(), nginx.upstream_file(app))?;
    if live.slot == Some(cand.slot) {
        progress.say(format!(
            "{} is in the live slot ({}): left as it is",
            cand.container, cand.slot
        ));
        return Ok(());
    }
    let engine = Engine::connect()?;
    let ours = engine.container(&cand.container)?.filter(|c| {
        c.id.as_deref()
            .is_some_and(|id| id.starts_with(&cand.container_id))
            && made_for(c, app, LABEL_SLOT, cand.slot.name())
    });
    let name = describe(&cand.container, &cand.container_id);
    if ours.is_none() {
        // Gone, or another deploy's container under that name now: not ours to remove.
        progress.say(format!("{name} is no longer there: nothing to withdraw"));
        return Ok(());
    }
    let done = Candidate::of(&cand).undo(&engine)?;
    progress.say(format!("withdrew the candidate {name}: {done}"));
    Ok(())
}
