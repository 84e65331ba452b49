//! `--restore-spec FILE`: puts back on a slot's Swarm service the spec a deploy's record kept
//! (`swarm.previous_spec`, written by mvk-healthwait --swarm when it updated the service),
//! even after Swarm's own one-step `PreviousSpec` has moved on. The service keeps its current
//! environment (the record holds none: it is the env file's). Only an idle slot's service is
//! changed: the update is stop-first, so a live one would drop requests.

use crate::{Args, TOOL};
use anyhow::Result;
use bollard::models::ServiceSpec;
use mvk_core::containers::LABEL_APP;
use mvk_core::docker::Engine;
use mvk_core::section::{self, Placed};
use mvk_core::state::Store;
use mvk_core::swarm::{
    env_of, recorded, service_name, spec_image, spec_release, with_env, Outcome, Swarm,
};
use mvk_core::{live, validate, Fail, Progress, Record, Slot};
use std::path::Path;
use std::time::Duration;

/// How long Swarm gets to run the restored spec's task.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The spec to put back, as the deploy's record holds it.
struct Recorded {
    service: String,
    slot: Slot,
    spec: ServiceSpec,
    image: String,
    release: String,
}

impl Recorded {
    fn read(path: &Path, app: &str) -> Result<Recorded, Fail> {
        let bad = |why: String| Fail::usage(format!("--restore-spec {}: {why}", path.display()));
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let deploy = Record::parse(&text).map_err(|e| bad(e.message))?;
        if deploy.app() != app {
            return Err(bad(format!(
                "it is a record of app {}, not {app}",
                deploy.app()
            )));
        }
        let service = deploy.str("swarm.service").map_err(|e| bad(e.message))?;
        let slot = [Slot::Blue, Slot::Green]
            .into_iter()
            .find(|s| service_name(app, *s) == service)
            .ok_or_else(|| bad(format!("service {service} is not a slot of app {app}")))?;
        let previous = deploy
            .get("swarm.previous_spec")
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                bad(format!(
                    "it keeps no previous spec of {service} (that deploy created the service or found it running the release)"
                ))
            })?;
        let spec: ServiceSpec = serde_json::from_value(previous.clone()).map_err(|e| {
            bad(format!(
                "field `swarm.previous_spec` is not a service spec: {e}"
            ))
        })?;
        let owner = spec.labels.as_ref().and_then(|l| l.get(LABEL_APP));
        if spec.name.as_deref() != Some(service) || owner.map(String::as_str) != Some(app) {
            return Err(bad(format!(
                "field `swarm.previous_spec` is not a spec of service {service} of app {app}"
            )));
        }
        let field = |what: &str, value: Option<&str>, check: fn(&str) -> Result<String, String>| {
            let value = value.ok_or_else(|| bad(format!("the previous spec names no {what}")))?;
            check(value).map_err(|e| bad(format!("the previous spec's {what}: {e}")))
        };
        let image = field("image", spec_image(&spec), validate::image)?;
        let release = field(
            "release (mvk.release label)",
            spec_release(&spec),
            validate::release,
        )?;
        Ok(Recorded {
            service: service.to_string(),
            slot,
            spec,
            image,
            release,
        })
    }
}

pub fn run(args: &Args, path: &Path, record: &mut Record, progress: &Progress) -> Result<()> {
    let wanted = Recorded::read(path, &args.app)?;
    let name = &wanted.service;
    let engine = Engine::connect()?;
    let swarm = Swarm::connect(&engine)?;
    let store = Store::new(&args.state.state_dir, &args.app);
    let lock = store.lock(TOOL)?;
    let state = lock.load()?;
    if live::state_slot(&state, &store.path())? == Some(wanted.slot) {
        return Err(Fail::unavailable(
            "live-slot",
            format!(
                "refusing to restore service {name}: the {} slot is live; route traffic to the other slot first (mvk-rollback --app {} | mvk-healthwait --swarm | mvk-swap); nothing was changed",
                wanted.slot, args.app
            ),
        )
        .into());
    }
    let current = swarm.service(name)?.ok_or_else(|| {
        Fail::failed(
            "service-gone",
            format!("service {name} is gone; nothing to restore"),
        )
    })?;
    let current_spec = current.spec.clone().unwrap_or_default();
    let from = spec_release(&current_spec).unwrap_or("?").to_string();
    let spec = with_env(wanted.spec, env_of(&current_spec));
    swarm.update(&current, spec)?;
    drop(lock);
    progress.say(format!(
        "restoring service {name} from release {from} to its recorded spec (release {}, {})",
        wanted.release, wanted.image
    ));
    if let Outcome::Failed { kind, message, .. } =
        swarm.converge(name, &wanted.image, false, TIMEOUT, progress)?
    {
        return Err(Fail::failed(
            kind,
            format!("the restored spec of {name} did not run: {message}"),
        )
        .into());
    }
    progress.say(format!(
        "service {name} runs release {} again",
        wanted.release
    ));
    record.set("release", wanted.release.as_str());
    record.set("image", wanted.image.as_str());
    record.put(&section::Rollback {
        from: Some(from),
        to: Some(wanted.release.clone()),
        pulled: Some(false),
        cause: None,
        extra: Default::default(),
    });
    record.put(&section::Swarm {
        service: name.clone(),
        service_id: current.id.unwrap_or_default(),
        image: wanted.image,
        placed: Placed::Restored,
        previous_spec: Some(recorded(&current_spec)),
        rolled_back: false,
        extra: Default::default(),
    });
    Ok(())
}
