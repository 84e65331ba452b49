//! Docker Swarm as the engine (`mvk-healthwait --swarm`, `mvk-rollback --restore-spec`): each
//! slot is a service `<app>-<slot>` with one task, published in host mode on the slot's port,
//! behind the host's nginx that mvk-swap drives as on one host.
//!
//! Why one service per slot: this kernel-independent design needs no routing mesh (IPVS), and
//! a host-mode port cannot be held by an old and a new task on one node, so Swarm's own
//! `start-first` cannot keep one published port serving. A slot's service is only ever updated
//! while nginx routes to the other slot, so its update runs `stop-first` without losing a
//! request, and `FailureAction=rollback` lets Swarm put the previous spec back on its own when
//! the new task fails.

use crate::containers::{LABEL_APP, LABEL_RELEASE, LABEL_SLOT};
use crate::docker::{api_error, endpoint, is_not_found, Engine};
use crate::{signal, Fail, Progress, Slot};
use anyhow::Result;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, LocalNodeState, Service,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, Task, TaskSpec,
    TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{ListTasksOptionsBuilder, UpdateServiceOptionsBuilder};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long Swarm watches a new task after it runs before it calls the update done: a task
/// that fails within it is rolled back by Swarm before any traffic reaches it.
const MONITOR: Duration = Duration::from_secs(2);
/// How often the service and its tasks are asked how the update goes.
const POLL: Duration = Duration::from_millis(200);
const NANOS: i64 = 1_000_000_000;

/// The service of one app's slot.
pub fn service_name(app: &str, slot: Slot) -> String {
    slot.container(app)
}

/// A manager of a swarm, reached through the local engine (or `DOCKER_HOST`).
pub struct Swarm<'a> {
    engine: &'a Engine,
    /// This node's id: the slot's task is placed here, where its nginx and probe are.
    pub node: String,
}

/// What a new service is made of.
pub struct Spec<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub slot: Slot,
    /// The image as Swarm pulls it, pinned by digest when the record has one.
    pub image: &'a str,
    pub port: u16,
    pub container_port: u16,
    /// `KEY=VALUE` from the env file.
    pub env: Vec<String>,
    pub init: bool,
}

/// How waiting for a service's new spec ended.
pub enum Outcome {
    /// A task of the spec runs (healthy, when the image has a HEALTHCHECK).
    Running { task: String, container: String },
    /// Its task failed: Swarm is rolling the service back to its previous spec (or has), or
    /// (a service created by this run, with none) keeps retrying it.
    Failed {
        rolled_back: bool,
        kind: &'static str,
        /// Docker's HEALTHCHECK failed it.
        unhealthy: bool,
        message: String,
        container: Option<String>,
    },
}

impl<'a> Swarm<'a> {
    /// The swarm of this engine: exit 4 unless the engine is an active manager.
    pub fn connect(engine: &'a Engine) -> Result<Swarm<'a>> {
        let info = engine
            .block_on(engine.api.info())
            .map_err(|e| api_error(e, "asking the engine about its swarm"))?;
        let swarm = info.swarm.unwrap_or_default();
        let active = swarm.local_node_state == Some(LocalNodeState::ACTIVE);
        if !active || swarm.control_available != Some(true) {
            return Err(Fail::unavailable(
                "swarm",
                format!(
                    "the Docker engine at {} is not a Swarm manager (`docker swarm init`, or point DOCKER_HOST at a manager); nothing was changed",
                    endpoint()
                ),
            )
            .into());
        }
        Ok(Swarm {
            engine,
            node: swarm.node_id.unwrap_or_default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        self.engine
    }

    pub fn service(&self, name: &str) -> Result<Option<Service>> {
        let api = &self.engine.api;
        match self.engine.block_on(api.inspect_service(name, None)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error(e, &format!("inspecting service {name}"))),
        }
    }

    pub fn create(&self, spec: ServiceSpec) -> Result<String> {
        let name = spec.name.clone().unwrap_or_default();
        let made = self
            .engine
            .block_on(self.engine.api.create_service(spec, None))
            .map_err(|e| api_error(e, &format!("creating service {name}")))?;
        Ok(made.id.unwrap_or_default())
    }

    /// Replaces the spec of `current` (at its version: a service changed meanwhile is refused
    /// by the engine rather than overwritten).
    pub fn update(&self, current: &Service, spec: ServiceSpec) -> Result<()> {
        let name = spec.name.clone().unwrap_or_default();
        let options = UpdateServiceOptionsBuilder::new()
            .version(version(current))
            .build();
        self.engine
            .block_on(self.engine.api.update_service(&name, spec, options, None))
            .map_err(|e| api_error(e, &format!("updating service {name}")))?;
        Ok(())
    }

    /// Swarm's own rollback (`docker service rollback`): back to the spec before the last update.
    pub fn roll_back(&self, name: &str) -> Result<()> {
        let current = self
            .service(name)?
            .ok_or_else(|| Fail::failed("service-gone", format!("service {name} is gone")))?;
        let options = UpdateServiceOptionsBuilder::new()
            .version(version(&current))
            .rollback("previous")
            .build();
        let spec = current.spec.unwrap_or_default();
        self.engine
            .block_on(self.engine.api.update_service(name, spec, options, None))
            .map_err(|e| api_error(e, &format!("rolling service {name} back")))?;
        Ok(())
    }

    /// Waits until Swarm has finished rolling service `name` back.
    pub fn rolled_back(&self, name: &str, timeout: Duration) -> Result<()> {
        use ServiceUpdateStatusStateEnum as U;
        let started = Instant::now();
        loop {
            let service = self.service(name)?;
            match service.as_ref().and_then(update_state) {
                Some(U::ROLLBACK_COMPLETED) | None => return Ok(()),
                Some(U::ROLLBACK_PAUSED | U::PAUSED) => {
                    let why = service.as_ref().map(update_message).unwrap_or_default();
                    return Err(Fail::failed(
                        "rollback-paused",
                        format!("Swarm paused the rollback of service {name}: {why}"),
                    )
                    .into());
                }
                _ if started.elapsed() >= timeout => {
                    return Err(Fail::failed(
                        "timeout",
                        format!("Swarm has not rolled service {name} back after {timeout:.0?}"),
                    )
                    .into())
                }
                _ => signal::sleep(POLL)?,
            }
        }
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        match self.engine.block_on(self.engine.api.delete_service(name)) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error(e, &format!("removing service {name}"))),
        }
    }

    fn tasks(&self, name: &str) -> Result<Vec<Task>> {
        let filters = HashMap::from([("service", vec![name])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        self.engine
            .block_on(self.engine.api.list_tasks(Some(options)))
            .map_err(|e| api_error(e, &format!("listing the tasks of service {name}")))
    }

    /// The running task of `image` in service `name`, if one runs and no update is under way.
    pub fn running(&self, name: &str, image: &str) -> Result<Option<(String, String)>> {
        let Some(service) = self.service(name)? else {
            return Ok(None);
        };
        let updating = matches!(
            update_state(&service),
            Some(
                ServiceUpdateStatusStateEnum::UPDATING
                    | ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
            )
        );
        if updating {
            return Ok(None);
        }
        Ok(self.tasks(name)?.iter().find_map(|t| running(t, image)))
    }

    /// Waits until a task of `image` runs in service `name` and Swarm calls its update done,
    /// or until Swarm rolled it back (or, for a service with no previous spec (`created`),
    /// its task failed).
    pub fn converge(
        &self,
        name: &str,
        image: &str,
        created: bool,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Outcome> {
        let started = Instant::now();
        loop {
            signal::check()?;
            let service = self.service(name)?.ok_or_else(|| {
                Fail::unavailable(
                    "replaced",
                    format!("service {name} was removed while it was being checked (by another deploy?)"),
                )
            })?;
            let tasks = self.tasks(name)?;
            if let Some(outcome) = settled(&service, &tasks, image, created) {
                return Ok(outcome);
            }
            if started.elapsed() >= timeout {
                return Err(Fail::failed(
                    "timeout",
                    format!(
                        "no task of {image} runs in service {name} after {:.1}s ({})",
                        started.elapsed().as_secs_f64(),
                        state_text(&service)
                    ),
                )
                .into());
            }
            progress.live(format!(
                "waiting for service {name}: {:.1}s, {}",
                started.elapsed().as_secs_f64(),
                state_text(&service)
            ));
            signal::sleep(POLL)?;
        }
    }
}

/// Whether the update of `service` to `image` has ended, and how.
fn settled(service: &Service, tasks: &[Task], image: &str, created: bool) -> Option<Outcome> {
    use ServiceUpdateStatusStateEnum as U;
    let of_image = || tasks.iter().filter(|t| task_image(t) == Some(image));
    let latest = |t: &&Task| t.updated_at.clone().map(|d| d.to_string());
    let error_of = |t: &Task| t.status.as_ref().and_then(|s| s.err.clone());
    let broken = of_image().any(|t| {
        matches!(
            t.status.as_ref().and_then(|s| s.state),
            Some(TaskState::FAILED | TaskState::REJECTED)
        )
    });
    // The task that says why: the latest with an error that had a container, else the latest
    // with an error, else the latest that had a container (an unhealthy one may end shut
    // down, without an error; Swarm's retry may have been shut down before it got a
    // container). A retry the scheduler rejected because the failed task still held the
    // host-mode port has an error but no container: a consequence, not the cause.
    let errored = || of_image().filter(|t| error_of(t).is_some_and(|e| !e.is_empty()));
    let failed = errored()
        .filter(|t| container_of(t).is_some())
        .max_by_key(latest)
        .or_else(|| errored().max_by_key(latest))
        .or_else(|| {
            of_image()
                .filter(|t| container_of(t).is_some())
                .max_by_key(latest)
        })
        .or_else(|| of_image().max_by_key(latest));
    let failure = |rolled_back: bool| {
        let err = failed.and_then(error_of).unwrap_or_default();
        let unhealthy = err.contains("unhealthy");
        let kind = if unhealthy { "unhealthy" } else { "crashed" };
        let why = match failed.and_then(|t| t.status.as_ref()) {
            _ if !err.is_empty() => err,
            Some(status) => format!(
                "its task ended {} ({})",
                status.state.map(|s| s.to_string()).unwrap_or_default(),
                status.message.clone().unwrap_or_default()
            ),
            None => update_message(service),
        };
        Outcome::Failed {
            rolled_back,
            kind,
            unhealthy,
            message: why,
            container: failed.and_then(container_of),
        }
    };
    match update_state(service) {
        Some(U::ROLLBACK_STARTED | U::ROLLBACK_COMPLETED) => Some(failure(true)),
        Some(U::PAUSED | U::ROLLBACK_PAUSED) => Some(Outcome::Failed {
            rolled_back: false,
            kind: "update-paused",
            unhealthy: false,
            message: update_message(service),
            container: failed.and_then(container_of),
        }),
        Some(U::UPDATING) => None,
        _ => {
            if let Some((task, container)) = tasks.iter().find_map(|t| running(t, image)) {
                return Some(Outcome::Running { task, container });
            }
            // Without a previous spec Swarm has nothing to roll back to: it would retry the
            // failing task for ever.
            (created && broken).then(|| failure(false))
        }
    }
}

fn update_state(service: &Service) -> Option<ServiceUpdateStatusStateEnum> {
    service.update_status.as_ref().and_then(|u| u.state)
}

fn update_message(service: &Service) -> String {
    service
        .update_status
        .as_ref()
        .and_then(|u| u.message.clone())
        .unwrap_or_else(|| "the task failed".into())
}

fn state_text(service: &Service) -> String {
    match update_state(service) {
        Some(state) => format!("update {state}"),
        None => "no update under way".into(),
    }
}

fn version(service: &Service) -> i32 {
    let index = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
    i32::try_from(index).unwrap_or(i32::MAX)
}

fn task_image(task: &Task) -> Option<&str> {
    task.spec
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
}

fn container_of(task: &Task) -> Option<String> {
    task.status
        .as_ref()?
        .container_status
        .as_ref()?
        .container_id
        .clone()
        .filter(|id| !id.is_empty())
}

/// `(task id, container id)` of a task of `image` that runs and is meant to.
fn running(task: &Task, image: &str) -> Option<(String, String)> {
    let runs = task.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)
        && task.desired_state == Some(TaskState::RUNNING)
        && task_image(task) == Some(image);
    runs.then(|| Some((task.id.clone()?, container_of(task)?)))
        .flatten()
}

/// The image of a service's spec.
pub fn spec_image(spec: &ServiceSpec) -> Option<&str> {
    spec.task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
}

/// The release a service's spec runs (its `mvk.release` label).
pub fn spec_release(spec: &ServiceSpec) -> Option<&str> {
    spec.labels.as_ref()?.get(LABEL_RELEASE).map(String::as_str)
}

/// A spec as the record keeps it: without the container's environment, which holds the env
/// file's values (never written to a record). A restore keeps the service's current one.
pub fn recorded(spec: &ServiceSpec) -> Value {
    let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Some(container) = value
        .pointer_mut("/TaskTemplate/ContainerSpec")
        .and_then(Value::as_object_mut)
    {
        container.remove("Env");
    }
    value
}

/// Sets the environment of `spec`'s container.
pub fn with_env(mut spec: ServiceSpec, env: Option<Vec<String>>) -> ServiceSpec {
    if let Some(container) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        container.env = env;
    }
    spec
}

/// The environment of a service's container.
pub fn env_of(spec: &ServiceSpec) -> Option<Vec<String>> {
    spec.task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .env
        .clone()
}

impl Spec<'_> {
    /// One task on this node, published in host mode on the slot's port; updated stop-first
    /// with Swarm rolling back a failed update itself.
    pub fn service(&self, node: &str) -> ServiceSpec {
        let labels = HashMap::from([
            (LABEL_APP.to_string(), self.app.to_string()),
            (LABEL_RELEASE.to_string(), self.release.to_string()),
            (LABEL_SLOT.to_string(), self.slot.name().to_string()),
        ]);
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        ServiceSpec {
            name: Some(service_name(self.app, self.slot)),
            labels: Some(labels.clone()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(self.image.to_string()),
                    labels: Some(labels),
                    env: Some(self.env.clone()),
                    init: Some(self.init),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                    delay: Some(NANOS),
                    ..Default::default()
                }),
                // The slot's nginx and the health probe are on this node.
                placement: Some(TaskSpecPlacement {
                    constraints: Some(vec![format!("node.id=={node}")]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(1),
                delay: Some(0),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
                monitor: Some(nanos(MONITOR)),
                max_failure_ratio: Some(0.0),
                // A host-mode port is held by one task at a time on a node.
                order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            }),
            rollback_config: Some(ServiceSpecRollbackConfig {
                parallelism: Some(1),
                delay: Some(0),
                failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
                monitor: Some(nanos(MONITOR)),
                max_failure_ratio: Some(0.0),
                order: Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST),
            }),
            endpoint_spec: Some(EndpointSpec {
                ports: Some(vec![EndpointPortConfig {
                    target_port: Some(i64::from(self.container_port)),
                    published_port: Some(i64::from(self.port)),
                    // The routing mesh (ingress) needs IPVS; host mode publishes on the
                    // node itself, on the engine's default bind address (dockerd --ip).
                    publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        Spec {
            app: "shop",
            release: "v2",
            slot: Slot::Green,
            image: "127.0.0.1:5000/shop:v2@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            port: 8001,
            container_port: 8000,
            env: vec!["SECRET=hunter22".into()],
            init: true,
        }
        .service("node1")
    }

    #[test]
    fn the_slot_service_is_one_host_mode_task_here_rolled_back_by_swarm() {
        let s = spec();
        assert_eq!(s.name.as_deref(), Some("shop-green"));
        assert_eq!(spec_release(&s), Some("v2"));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["Mode"]["Replicated"]["Replicas"], 1);
        assert_eq!(v["EndpointSpec"]["Ports"][0]["PublishMode"], "host");
        assert_eq!(v["EndpointSpec"]["Ports"][0]["PublishedPort"], 8001);
        assert_eq!(v["EndpointSpec"]["Ports"][0]["TargetPort"], 8000);
        assert_eq!(v["UpdateConfig"]["FailureAction"], "rollback");
        assert_eq!(v["UpdateConfig"]["Order"], "stop-first");
        assert_eq!(
            v["TaskTemplate"]["Placement"]["Constraints"][0],
            "node.id==node1"
        );
        assert_eq!(v["TaskTemplate"]["ContainerSpec"]["Init"], true);
    }

    fn task(image: &str, state: TaskState, desired: TaskState, err: &str, container: &str) -> Task {
        use bollard::models::{ContainerStatus, TaskStatus};
        Task {
            id: Some(format!("t-{container}")),
            spec: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(TaskStatus {
                state: Some(state),
                err: Some(err.into()),
                container_status: Some(ContainerStatus {
                    container_id: Some(container.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            desired_state: Some(desired),
            ..Default::default()
        }
    }

    fn service(state: Option<ServiceUpdateStatusStateEnum>) -> Service {
        Service {
            update_status: state.map(|state| bollard::models::ServiceUpdateStatus {
                state: Some(state),
                message: Some("update rolled back".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_update_is_settled_when_its_task_runs_or_swarm_rolls_it_back() {
        use ServiceUpdateStatusStateEnum as U;
        use TaskState::*;
        let old = task("app:1", RUNNING, RUNNING, "", "c1");
        let new = task("app:2", RUNNING, RUNNING, "", "c2");
        // The old task still runs while the update goes on: not settled.
        assert!(settled(
            &service(Some(U::UPDATING)),
            std::slice::from_ref(&old),
            "app:2",
            false
        )
        .is_none());
        assert!(settled(
            &service(Some(U::UPDATING)),
            std::slice::from_ref(&new),
            "app:2",
            false
        )
        .is_none());
        match settled(
            &service(Some(U::COMPLETED)),
            &[old.clone(), new],
            "app:2",
            false,
        ) {
            Some(Outcome::Running { container, .. }) => assert_eq!(container, "c2"),
            _ => panic!("the new task runs"),
        }
        // Swarm rolls back: the task that says why is the one that had a container.
        let died = task("app:2", SHUTDOWN, SHUTDOWN, "", "c3");
        let never = task("app:2", SHUTDOWN, SHUTDOWN, "", "");
        for state in [U::ROLLBACK_STARTED, U::ROLLBACK_COMPLETED] {
            let tasks = [old.clone(), died.clone(), never.clone()];
            match settled(&service(Some(state)), &tasks, "app:2", false) {
                Some(Outcome::Failed {
                    rolled_back,
                    container,
                    ..
                }) => {
                    assert!(rolled_back);
                    assert_eq!(container.as_deref(), Some("c3"));
                }
                _ => panic!("rolled back"),
            }
        }
        // A new service's failed task: Swarm would retry it for ever.
        let failed = task("app:2", FAILED, SHUTDOWN, "task: non-zero exit (3)", "c4");
        match settled(&service(None), std::slice::from_ref(&failed), "app:2", true) {
            Some(Outcome::Failed {
                rolled_back, kind, ..
            }) => assert!(!rolled_back && kind == "crashed"),
            _ => panic!("failed"),
        }
        // An update's failed task is Swarm's to roll back: wait for it.
        assert!(settled(&service(None), &[old, failed], "app:2", false).is_none());
    }

    #[test]
    fn a_recorded_spec_has_no_environment_and_reads_back() {
        let s = spec();
        let kept = recorded(&s);
        assert!(!kept.to_string().contains("hunter22"));
        let back: ServiceSpec = serde_json::from_value(kept).unwrap();
        assert_eq!(spec_image(&back), spec_image(&s));
        assert_eq!(env_of(&back), None);
        let restored = with_env(back, env_of(&s));
        assert_eq!(restored, s);
    }
}
