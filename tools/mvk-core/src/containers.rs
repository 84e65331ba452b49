//! The app's containers (DESIGN.md §3): the labels that say whose they are, what state one is
//! in, the port it publishes, and how its id is shown. Every tool reads them through here, so
//! "running" means one thing everywhere.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use std::collections::HashMap;

/// The app a container or image belongs to.
pub const LABEL_APP: &str = "mvk.app";
/// The release it runs.
pub const LABEL_RELEASE: &str = "mvk.release";
/// The slot a slot container stands in (`blue` or `green`).
pub const LABEL_SLOT: &str = "mvk.slot";
/// What a container that is not a slot's is for (`before`: mvk-healthwait's one-off).
pub const LABEL_ROLE: &str = "mvk.role";

/// The `mvk.app` and `mvk.release` labels, plus `extra`.
pub fn labels(app: &str, release: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    [(LABEL_APP, app), (LABEL_RELEASE, release)]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of the label `key` of a container, if it has one.
pub fn label<'a>(c: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    c.config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// True when the container carries `mvk.app=<app>`.
pub fn is_app(c: &ContainerInspectResponse, app: &str) -> bool {
    label(c, LABEL_APP) == Some(app)
}

/// True when Maverick made the container for `app` as `key=value` (its slot, or its role): the
/// `mvk.app` label alone is no proof, since a container run by hand from an image mvk-build
/// labelled inherits it.
pub fn made_for(c: &ContainerInspectResponse, app: &str, key: &str, value: &str) -> bool {
    is_app(c, app) && label(c, key) == Some(value)
}

/// The container's name without the engine's leading `/`.
pub fn name(c: &ContainerInspectResponse) -> Option<&str> {
    c.name.as_deref().map(|n| n.trim_start_matches('/'))
}

/// The host port Docker publishes `container_port/tcp` on. It comes from the container's
/// configuration, so it is known while the container is stopped too (unlike the runtime
/// port list).
pub fn published_port(c: &ContainerInspectResponse, container_port: u16) -> Option<u16> {
    let bindings = c.host_config.as_ref()?.port_bindings.as_ref()?;
    let binding = bindings
        .get(&format!("{container_port}/tcp"))?
        .as_ref()?
        .first()?;
    binding.host_port.as_ref()?.parse().ok()
}

/// The first 12 characters of a container or image id, as `docker ps` shows it (without the
/// `sha256:` an image id starts with).
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

/// `<name> (<short id>)`, for messages.
pub fn describe(name: &str, id: &str) -> String {
    format!("{name} ({})", short_id(id))
}

/// What one inspection of a container says about its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: ContainerStateStatusEnum,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub restarts: i64,
    /// Docker's HEALTHCHECK status: healthy, starting, unhealthy, or none.
    pub docker_health: String,
    /// The last HEALTHCHECK run: its exit code and output.
    pub health_check: Option<(i64, String)>,
}

impl Status {
    pub fn of(c: &ContainerInspectResponse) -> Status {
        let state = c.state.clone().unwrap_or_default();
        let health = state.health.clone().unwrap_or_default();
        let docker_health = match health.status {
            Some(HealthStatusEnum::HEALTHY) => "healthy",
            Some(HealthStatusEnum::STARTING) => "starting",
            Some(HealthStatusEnum::UNHEALTHY) => "unhealthy",
            _ => "none",
        };
        Status {
            state: state.status.unwrap_or(ContainerStateStatusEnum::EMPTY),
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            restarts: c.restart_count.unwrap_or(0),
            docker_health: docker_health.to_string(),
            health_check: health
                .log
                .and_then(|log| log.last().cloned())
                .map(|r| (r.exit_code.unwrap_or(-1), r.output.unwrap_or_default())),
        }
    }

    /// Running: its process is up and neither paused nor being restarted (Docker's status
    /// `running`). Only a running container can answer requests.
    pub fn running(&self) -> bool {
        self.state == ContainerStateStatusEnum::RUNNING
    }

    /// Stopped: nothing of it runs and `docker start` would start it (created, exited or
    /// dead). A container that is not stopped may hold its port or come back by itself
    /// (running, paused, restarting, being removed).
    pub fn stopped(&self) -> bool {
        use ContainerStateStatusEnum::*;
        matches!(self.state, CREATED | EXITED | DEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerState, Health, HealthcheckResult, HostConfig, PortBinding,
    };

    fn in_state(status: ContainerStateStatusEnum) -> Status {
        Status::of(&ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn running_is_dockers_running_and_stopped_is_startable() {
        use ContainerStateStatusEnum::*;
        for (state, running, stopped) in [
            (RUNNING, true, false),
            (RESTARTING, false, false),
            (PAUSED, false, false),
            (REMOVING, false, false),
            (CREATED, false, true),
            (EXITED, false, true),
            (DEAD, false, true),
        ] {
            let s = in_state(state);
            assert_eq!((s.running(), s.stopped()), (running, stopped), "{state}");
        }
    }

    #[test]
    fn docker_health_and_its_last_check() {
        let mut c = ContainerInspectResponse {
            state: Some(ContainerState::default()),
            ..Default::default()
        };
        assert_eq!(Status::of(&c).docker_health, "none");
        c.state.as_mut().unwrap().health = Some(Health {
            status: Some(HealthStatusEnum::UNHEALTHY),
            log: Some(vec![HealthcheckResult {
                exit_code: Some(1),
                output: Some("db down".into()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let s = Status::of(&c);
        assert_eq!(s.docker_health, "unhealthy");
        assert_eq!(s.health_check, Some((1, "db down".into())));
    }

    #[test]
    fn labels_and_the_published_port_survive_a_stop() {
        let c = ContainerInspectResponse {
            name: Some("/shop-green".into()),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "8000/tcp".to_string(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some("18001".into()),
                    }]),
                )])),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                labels: Some(labels("shop", "abc", &[(LABEL_SLOT, "green")])),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(published_port(&c, 8000), Some(18001));
        assert_eq!(published_port(&c, 9000), None);
        assert_eq!(label(&c, LABEL_SLOT), Some("green"));
        assert_eq!(label(&c, LABEL_RELEASE), Some("abc"));
        assert_eq!(label(&c, LABEL_ROLE), None);
        assert!(is_app(&c, "shop") && !is_app(&c, "shop2"));
        assert_eq!(name(&c), Some("shop-green"));
    }

    #[test]
    fn short_ids_drop_the_digest_algorithm() {
        let id = "0123456789abcdef0123";
        assert_eq!(short_id(id), "0123456789ab");
        assert_eq!(short_id(&format!("sha256:{id}")), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(describe("shop-blue", id), "shop-blue (0123456789ab)");
    }
}
