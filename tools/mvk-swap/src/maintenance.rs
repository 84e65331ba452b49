//! `mvk-swap --app APP --maintenance on|off`: sends every request to the maintenance page
//! (for a risky migration) and back, with a swap's validation, restore and drain. The live
//! release keeps running, marked `down` in the upstream, so `off` is instant; a swap to a new
//! release also ends maintenance.

use crate::reroute::{live_release, reroute};
use crate::routing;
use crate::traffic::Traffic;
use crate::upstream::UpstreamFile;
use crate::Args;
use anyhow::Result;
use mvk_core::state::Store;
use mvk_core::{Progress, Record};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn name(self) -> &'static str {
        match self {
            Switch::On => "on",
            Switch::Off => "off",
        }
    }
}

pub fn run(args: &Args, switch: Switch, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = record.app().to_string();
    let store = Store::new(&args.state.state_dir, &app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    let live = live_release(&state, "deploy one first")?;
    let mut traffic = Traffic::load(&state)?;
    traffic.maintenance = switch == Switch::On;
    let upstream = UpstreamFile::open(&args.nginx.upstream_file(&app))?;
    let conf = routing::prepare(args, &app, &upstream.path, &traffic.routing(live.port))?;
    let mut section = json!({
        "maintenance": switch.name(),
        "live": {"slot": live.slot, "port": live.port, "release": live.release},
        "upstream_file": upstream.path.display().to_string(),
                "drained_seconds": 0.0,
        "drained": true,
    });
    if upstream.holds(&conf) && Traffic::load(&state)? == traffic {
        progress.say(format!(
            "maintenance is already {} for {app}; nothing to do",
            switch.name()
        ));
        record.set("swap", section);
        return Ok(());
    }
    traffic.store(&mut state);
    let what = match switch {
        Switch::On => format!("maintenance on: every request to {app} gets the maintenance page"),
        Switch::Off => format!(
            "maintenance off: {app} routes to release {} again",
            live.release
        ),
    };
    let drained = reroute(args, &upstream, &conf, &lock, &state, &what, progress)?;
    section["drained_seconds"] = drained.seconds.into();
    section["drained"] = drained.complete.into();
    record.set("swap", section);
    Ok(())
}
