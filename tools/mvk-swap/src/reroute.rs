//! Re-routing without a new live release (a canary's weight, maintenance): the swap's steps
//! 2 to 5 with the same windows. The upstream file is written, checked and reloaded (restored
//! on any failure), the state saved (nginx routed back if it cannot be), and the requests in
//! flight under the old routing drained. No container is stopped here.

use crate::drain::{self, Drained};
use crate::nginx::Nginx;
use crate::swap::{handed_over, interrupted, route, seconds, unroute};
use crate::upstream::UpstreamFile;
use crate::Args;
use anyhow::Result;
use mvk_core::live;
use mvk_core::section::SwapLive;
use mvk_core::state::{Deployed, Lock, State, Store};
use mvk_core::{Exit, Fail, Progress, Slot};
use serde_json::Map;

/// Routes nginx to `conf`, saves `state`, and waits for the old workers (at most --drain).
/// `what` says what the new routing does, for the messages.
pub fn reroute(
    args: &Args,
    upstream: &UpstreamFile,
    conf: &str,
    lock: &Lock,
    state: &State,
    what: &str,
    progress: &Progress,
) -> Result<Drained> {
    let nginx = Nginx::new(&args.nginx, args.handover);
    let master = nginx.master()?;
    interrupted("nothing was changed")?;
    progress.say(format!("{what}: rewriting {}", upstream.path.display()));
    let (old_workers, reloaded) = route(&nginx, upstream, conf, master, progress)?;
    if let Err(e) = lock.save(state) {
        let back = unroute(&nginx, upstream, master);
        return Err(e.context(match back {
            Ok(()) => "cannot record the new routing, so nginx was routed back".to_string(),
            Err(b) => {
                format!("cannot record the new routing, and routing nginx back failed too ({b:#})")
            }
        }));
    }
    handed_over(&old_workers, reloaded, progress);
    progress.say(format!(
        "{what}: done; waiting for {} nginx worker(s) from before the reload (up to {})",
        old_workers.len(),
        seconds(args.drain)
    ));
    // It fails only on a signal.
    drain::old_workers(&old_workers, reloaded, args.drain).map_err(|_| {
        Fail::new(
            Exit::Interrupted,
            "interrupted",
            format!(
                "{what}: in place and recorded; requests in flight before it were not waited for"
            ),
        )
        .into()
    })
}

/// The live release, which re-routing keeps live.
pub struct LiveRelease {
    pub deployed: Deployed,
    pub slot: Slot,
}

impl LiveRelease {
    /// The live release, which re-routing needs (exit 1 `nothing-live` saying `why` without
    /// one).
    pub fn of(state: &State, store: &Store, why: &str) -> Result<LiveRelease, Fail> {
        let deployed = state.live.clone().ok_or_else(|| {
            Fail::failed(
                "nothing-live",
                format!("no release of {} is live: {why}", state.app),
            )
        })?;
        let slot = live::state_slot(state, &store.path())?.expect("a live release has a slot");
        Ok(LiveRelease { deployed, slot })
    }

    pub fn port(&self) -> u16 {
        self.deployed.port
    }

    pub fn release(&self) -> &str {
        &self.deployed.release
    }

    /// `swap.live`.
    pub fn section(&self, app: &str) -> SwapLive {
        SwapLive {
            slot: self.slot,
            port: self.deployed.port,
            release: self.deployed.release.clone(),
            container: self.slot.container(app),
            extra: Map::new(),
        }
    }
}
