//! The candidate container `<app>-<slot>`: created from the release's image in the idle slot,
//! or an existing one named by the record (mvk-rollback's stopped previous release) started
//! again. After creation it is only ever addressed by id, so a container that another deploy
//! put under the same name is never touched.

use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerUpdateBody, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, StopContainerOptionsBuilder};
use mvk_core::config::SlotArgs;
use mvk_core::containers::{
    self, label, labels, made_for, published_port, Status, LABEL_APP, LABEL_RELEASE, LABEL_SLOT,
};
use mvk_core::docker::{api_error, Engine};
use mvk_core::envfile::EnvFile;
use mvk_core::live::Live;
use mvk_core::{section, Fail, Record, Slot};
use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};

/// Seconds `docker stop` waits before SIGKILL when a reused candidate is put back as found.
const STOP_TIMEOUT: i32 = 10;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub slot: Slot,
    pub port: u16,
    pub name: String,
    pub id: String,
    pub image: String,
    /// An existing container named by the record, not one made by this run.
    pub reused: bool,
    /// This run started it (false: a reused container that was already running).
    pub started: bool,
    /// Its restart count when the wait began: a higher one means it crashed since.
    pub restarts: i64,
}

impl Candidate {
    /// The record's `candidate` section.
    pub fn section(&self) -> section::Candidate {
        section::Candidate {
            slot: self.slot,
            port: self.port,
            container: self.name.clone(),
            container_id: self.id.clone(),
            image: self.image.clone(),
            reused: self.reused,
            started: self.started,
            extra: Default::default(),
        }
    }

    /// The candidate a record's `candidate` section names.
    pub fn of(section: &section::Candidate) -> Candidate {
        Candidate {
            slot: section.slot,
            port: section.port,
            name: section.container.clone(),
            id: section.container_id.clone(),
            image: section.image.clone(),
            reused: section.reused,
            started: section.started,
            restarts: 0,
        }
    }

    /// Undoes this run's work after an interrupt: a container it made is removed, a reused
    /// one it started is stopped again (and restarted by Docker as before), one that was
    /// already running is left as it was.
    pub fn undo(&self, engine: &Engine) -> Result<&'static str> {
        if !self.reused {
            engine.remove_container(&self.id)?;
            Ok("removed")
        } else if self.started {
            let options = StopContainerOptionsBuilder::new().t(STOP_TIMEOUT).build();
            engine
                .block_on(engine.api.stop_container(&self.id, Some(options)))
                .map_err(|e| api_error(e, &format!("stopping {}", self.name)))?;
            self.arm(engine)?;
            Ok("stopped again")
        } else {
            Ok("left running as it was")
        }
    }

    /// Once healthy, Docker restarts it when it crashes and after a reboot. Until then its
    /// policy is `no`, so a crash leaves it exited with its exit code for the wait to see.
    pub fn arm(&self, engine: &Engine) -> Result<()> {
        restart_policy(
            engine,
            &self.id,
            &self.name,
            RestartPolicyNameEnum::UNLESS_STOPPED,
        )
    }

    /// Keeps a failed candidate for debugging without Docker restarting it forever.
    pub fn keep(&self, engine: &Engine) -> Result<()> {
        restart_policy(engine, &self.id, &self.name, RestartPolicyNameEnum::NO)
    }
}

fn restart_policy(
    engine: &Engine,
    id: &str,
    name: &str,
    policy: RestartPolicyNameEnum,
) -> Result<()> {
    let update = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy {
            name: Some(policy),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    engine
        .block_on(engine.api.update_container(id, update))
        .map_err(|e| {
            api_error(
                e,
                &format!("setting the restart policy of {name} to {policy}"),
            )
        })
}

/// What a new candidate is made of.
pub struct Spec<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub image: &'a str,
    pub env: &'a EnvFile,
    pub bind: IpAddr,
    pub slots: &'a SlotArgs,
    /// Run Docker's init (tini) as PID 1, the app under it.
    pub init: bool,
}

impl Spec<'_> {
    fn body(&self, slot: Slot) -> ContainerCreateBody {
        let port = format!("{}/tcp", self.slots.container_port);
        let binding = PortBinding {
            host_ip: Some(self.bind.to_string()),
            host_port: Some(self.slots.port(slot).to_string()),
        };
        ContainerCreateBody {
            image: Some(self.image.to_string()),
            env: Some(self.env.docker_env()),
            labels: Some(labels(self.app, self.release, &[(LABEL_SLOT, slot.name())])),
            exposed_ports: Some(vec![port.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(port, Some(vec![binding]))])),
                // `unless-stopped` once healthy (Candidate::arm).
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                // With docker-init as PID 1 the app gets SIGTERM with its default action
                // (a PID 1 without a handler ignores it and waits for SIGKILL), and zombies
                // are reaped; an app with a handler still drains gracefully.
                init: Some(self.init),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A container of ours that stands where a new one goes.
pub struct Leftover {
    pub id: String,
    /// Not stopped: it may hold the slot's port, or serve.
    pub up: bool,
    pub what: String,
}

/// The container in `slot`, if any. One that Maverick did not make for this app's slot
/// (someone else's container under our name) is refused rather than removed (exit 4).
pub fn leftover(engine: &Engine, app: &str, slot: Slot) -> Result<Option<Leftover>> {
    let name = slot.container(app);
    let Some(c) = engine.container(&name)? else {
        return Ok(None);
    };
    if !made_for(&c, app, LABEL_SLOT, slot.name()) {
        return Err(Fail::unavailable(
            "name-taken",
            format!(
                "a container named {name} exists that is not labelled {LABEL_APP}={app} and {LABEL_SLOT}={}; Maverick did not make it and will not remove it: rename or remove it",
                slot.name()
            ),
        )
        .into());
    }
    let status = Status::of(&c);
    Ok(Some(Leftover {
        id: c.id.clone().unwrap_or_default(),
        up: !status.stopped(),
        what: format!(
            "release {}, {}",
            label(&c, LABEL_RELEASE).unwrap_or("?"),
            status.state
        ),
    }))
}

/// Creates and starts the candidate in `slot`; a container that failed to start is removed.
pub fn create(engine: &Engine, spec: &Spec, slot: Slot) -> Result<Candidate> {
    let name = slot.container(spec.app);
    let port = spec.slots.port(slot);
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = engine
        .block_on(engine.api.create_container(Some(options), spec.body(slot)))
        .map_err(|e| api_error(e, &format!("creating container {name} from {}", spec.image)))?;
    if let Err(e) = start(engine, &created.id, &name, spec.bind, port) {
        // Best effort: the start error is what the user needs to see.
        let _ = engine.remove_container(&created.id);
        return Err(e);
    }
    Ok(Candidate {
        slot,
        port,
        name,
        id: created.id,
        image: spec.image.to_string(),
        reused: false,
        started: true,
        restarts: 0,
    })
}

/// Starts a container by id; a host port held by something else is exit 4 `port-taken`.
fn start(engine: &Engine, id: &str, name: &str, bind: IpAddr, port: u16) -> Result<()> {
    match engine.block_on(engine.api.start_container(id, None)) {
        Ok(()) => Ok(()),
        Err(DockerError::DockerResponseServerError { message, .. })
            if message.contains("address already in use")
                || message.contains("port is already allocated") =>
        {
            Err(port_taken(bind, port, name).into())
        }
        Err(e) => Err(api_error(e, &format!("starting container {name}"))),
    }
}

fn port_taken(bind: IpAddr, port: u16, name: &str) -> Fail {
    Fail::unavailable(
        "port-taken",
        format!(
            "cannot publish {name} on {}: the port is already in use by another program or container \
             (see `ss -ltnp 'sport = {port}'` and `docker ps`); free it or choose other slot ports",
            socket(bind, port)
        ),
    )
}

/// Fails with exit 4 `port-taken` when something already listens on the slot's host port:
/// checked before anything is changed, so a taken port leaves everything as it was.
pub fn ensure_port_free(bind: IpAddr, port: u16, name: &str) -> Result<(), Fail> {
    match TcpListener::bind((bind, port)) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(port_taken(bind, port, name)),
        // Anything else (an address this host lacks, say) is for Docker to report.
        _ => Ok(()),
    }
}

fn socket(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

/// The existing candidate the record names (`candidate.container_id`): it must be this
/// app's, not in the live slot, and agree with what the record says about it. A stopped
/// one is started; a running one is only waited for.
pub fn reuse(
    engine: &Engine,
    record: &Record,
    live: &Live,
    slots: &SlotArgs,
    bind: IpAddr,
) -> Result<Candidate> {
    let app = record.app();
    let id = record.str("candidate.container_id")?;
    let Some(c) = engine.container(id)? else {
        return Err(Fail::unavailable(
            "candidate-gone",
            format!("the container {id} named by candidate.container_id does not exist (any more); run the step before again"),
        )
        .into());
    };
    let name = containers::name(&c).unwrap_or(id).to_string();
    if !containers::is_app(&c, app) {
        return Err(Fail::usage(format!(
            "candidate.container_id names {name}, which is not a container of app {app} (label {LABEL_APP})"
        ))
        .into());
    }
    let slot: Slot = label(&c, LABEL_SLOT)
        .unwrap_or_default()
        .parse()
        .map_err(|e| {
            Fail::usage(format!(
                "candidate container {name} has no valid {LABEL_SLOT} label: {e}"
            ))
        })?;
    let port = published_port(&c, slots.container_port).unwrap_or(slots.port(slot));
    agree(record, "candidate.slot", slot.name(), &name)?;
    agree(record, "candidate.port", &port.to_string(), &name)?;
    agree(
        record,
        "release",
        label(&c, LABEL_RELEASE).unwrap_or_default(),
        &name,
    )?;
    // Image names differ (a registry prefix, a retag); the id says which image it runs.
    agree(
        record,
        "image_id",
        c.image.as_deref().unwrap_or_default(),
        &name,
    )?;
    let image = ["candidate.image", "image"]
        .iter()
        .find_map(|f| record.get(f).and_then(|v| v.as_str()))
        .or(c.config.as_ref().and_then(|cfg| cfg.image.as_deref()))
        .unwrap_or_default()
        .to_string();
    let status = Status::of(&c);
    live.ensure_idle(slot, port, !status.stopped())?;
    let running = status.running();
    let id = c.id.clone().unwrap_or_else(|| id.to_string());
    let mut restarts = status.restarts;
    if !running {
        ensure_port_free(bind, port, &name)?;
        restart_policy(engine, &id, &name, RestartPolicyNameEnum::NO)?;
        start(engine, &id, &name, bind, port)?;
        restarts = engine
            .container(&id)?
            .map_or(0, |c| Status::of(&c).restarts);
    }
    Ok(Candidate {
        slot,
        port,
        name,
        id,
        image,
        reused: true,
        started: !running,
        restarts,
    })
}

/// A field the record gives about the candidate must match the container (exit 2 if not).
fn agree(record: &Record, field: &str, actual: &str, name: &str) -> Result<(), Fail> {
    let Some(given) = record.get(field) else {
        return Ok(());
    };
    let given = given
        .as_str()
        .map_or_else(|| given.to_string(), str::to_string);
    if given == actual {
        Ok(())
    } else {
        Err(Fail::usage(format!(
            "field `{field}` is {given}, but container {name} has {actual}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slots() -> SlotArgs {
        SlotArgs {
            blue_port: 18000,
            green_port: 18001,
            container_port: 8000,
        }
    }

    #[test]
    fn the_container_is_published_restarted_and_labelled_as_designed() {
        let env = EnvFile::default();
        let spec = Spec {
            app: "shop",
            release: "abc",
            image: "shop:abc",
            env: &env,
            bind: "127.0.0.1".parse().unwrap(),
            slots: &slots(),
            init: true,
        };
        let body = serde_json::to_value(spec.body(Slot::Green)).unwrap();
        assert_eq!(body["Image"], "shop:abc");
        assert_eq!(body["ExposedPorts"], json!({"8000/tcp": {}}));
        assert_eq!(
            body["HostConfig"]["PortBindings"],
            json!({"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18001"}]})
        );
        assert_eq!(body["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(body["HostConfig"]["Init"], true);
        let plain = Spec {
            init: false,
            ..spec
        };
        let body = serde_json::to_value(plain.body(Slot::Green)).unwrap();
        assert_eq!(body["HostConfig"]["Init"], false, "--no-init");
        assert_eq!(
            body["Labels"],
            json!({LABEL_APP: "shop", LABEL_RELEASE: "abc", LABEL_SLOT: "green"})
        );
    }

    #[test]
    fn a_port_in_use_is_port_taken() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = ensure_port_free("127.0.0.1".parse().unwrap(), port, "shop-blue").unwrap_err();
        assert_eq!(
            (e.exit, e.kind.as_str()),
            (mvk_core::Exit::Unavailable, "port-taken")
        );
        assert!(
            e.message.contains(&format!("127.0.0.1:{port}")),
            "{}",
            e.message
        );
        drop(l);
        assert!(ensure_port_free("127.0.0.1".parse().unwrap(), port, "shop-blue").is_ok());
    }

    #[test]
    fn record_fields_must_agree_with_the_container() {
        let r = Record::parse(
            r#"{"schema":"mvk.release/v1","app":"shop","candidate":{"slot":"blue","port":18000}}"#,
        )
        .unwrap();
        assert!(agree(&r, "candidate.slot", "blue", "shop-blue").is_ok());
        assert!(agree(&r, "candidate.port", "18000", "shop-blue").is_ok());
        assert!(agree(&r, "candidate.image", "x", "shop-blue").is_ok());
        let e = agree(&r, "candidate.slot", "green", "shop-green").unwrap_err();
        assert_eq!(e.exit, mvk_core::Exit::Usage);
        assert!(
            e.message
                .contains("`candidate.slot` is blue, but container shop-green has green"),
            "{}",
            e.message
        );
    }
}
