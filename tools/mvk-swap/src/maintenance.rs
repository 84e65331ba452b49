//! `mvk-swap --app APP --maintenance on|off`: sends every request to the maintenance page
//! (for a risky migration) and back, with a swap's validation, restore and drain. The live
//! release keeps running, marked `down` in the upstream, so `off` is instant; a swap to a new
//! release also ends maintenance.

use crate::reroute::{reroute, LiveRelease};
use crate::routing;
use crate::traffic::Traffic;
use crate::upstream::UpstreamFile;
use crate::Args;
use anyhow::Result;
use mvk_core::section::{SwapMaintenance, Switch};
use mvk_core::state::Store;
use mvk_core::{Progress, Record};
use serde_json::Map;

pub fn run(args: &Args, switch: Switch, record: &mut Record, progress: &Progress) -> Result<()> {
    let app = record.app().to_string();
    let store = Store::new(&args.state.state_dir, &app);
    let lock = store.lock("mvk-swap")?;
    let mut state = lock.load()?;
    let live = LiveRelease::of(&state, &store, "deploy one first")?;
    let mut traffic = Traffic::load(&state)?;
    traffic.maintenance = switch == Switch::On;
    let upstream = UpstreamFile::open(&args.nginx.upstream_file(&app))?;
    let conf = routing::prepare(args, &app, &upstream.path, &traffic.routing(live.port()))?;
    let mut report = SwapMaintenance {
        maintenance: switch,
        live: live.section(&app),
        upstream_file: upstream.path.display().to_string(),
        drained_seconds: 0.0,
        drained: true,
        extra: Map::new(),
    };
    if upstream.holds(&conf) && Traffic::load(&state)? == traffic {
        progress.say(format!(
            "maintenance is already {} for {app}; nothing to do",
            switch.name()
        ));
        record.put(&report);
        return Ok(());
    }
    traffic.store(&mut state);
    let what = match switch {
        Switch::On => format!("maintenance on: every request to {app} gets the maintenance page"),
        Switch::Off => format!(
            "maintenance off: {app} routes to release {} again",
            live.release()
        ),
    };
    let drained = reroute(args, &upstream, &conf, &lock, &state, &what, progress)?;
    report.drained_seconds = drained.seconds;
    report.drained = drained.complete;
    record.put(&report);
    Ok(())
}
