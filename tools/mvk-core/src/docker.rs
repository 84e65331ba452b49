//! The Docker engine: one connection with the API version negotiated, driven from sync code
//! through a current-thread runtime, and its failures sorted into exit codes.

use crate::signal::Interrupted;
use crate::Fail;
use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    EventsOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::future::{self, Either};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct Engine {
    rt: tokio::runtime::Runtime,
    pub api: Docker,
}

/// Where the engine is expected, for messages.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl Engine {
    /// Connects to the local engine (or `DOCKER_HOST`) and negotiates the API version; an
    /// engine that does not answer is exit 4 with a plain message.
    pub fn connect() -> Result<Engine> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
        let unreachable = |e: DockerError| {
            Fail::unavailable(
                "docker",
                format!("the Docker engine at {} does not answer: {e}", endpoint()),
            )
        };
        let api = Docker::connect_with_local_defaults().map_err(unreachable)?;
        // The version request is the one round trip: an engine that answers it is up (a
        // separate ping would cost every tool another request before its first step).
        let api = rt.block_on(api.negotiate_version());
        Ok(Engine {
            rt,
            api: api.map_err(unreachable)?,
        })
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs `run` until it ends, or a signal arrives (exit 130): for the engine's streams,
    /// which may go quiet for minutes (a build step, a stalled registry).
    pub fn until_interrupted<T>(&self, run: impl Future<Output = T>) -> Result<T, Fail> {
        self.block_on(async {
            futures_util::pin_mut!(run);
            match future::select(run, Interrupted::new()).await {
                Either::Left((result, _)) => Ok(result),
                Either::Right((signal, _)) => Err(Fail::interrupted(signal)),
            }
        })
    }

    /// Stops container `id` (`name` for messages): SIGTERM, SIGKILL after `timeout`. Returns
    /// as soon as its processes have exited, without waiting for Docker's teardown.
    pub fn stop(&self, id: &str, name: &str, timeout: Duration) -> Result<Stopped> {
        // The API takes whole seconds; round up so the app gets at least what was asked.
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let options = StopContainerOptionsBuilder::new()
            .t(secs.min(i32::MAX as u64) as i32)
            .build();
        // The request lasts as long as the stop: give it room beyond the client's default.
        let api = self
            .api
            .clone()
            .with_timeout(Duration::from_secs(secs + 30).max(self.api.timeout()));
        // Events from just before the stop are replayed to a later subscription, so a `die`
        // that comes before the events request is in place is not missed.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let filters = HashMap::from([
            ("type", vec!["container"]),
            ("container", vec![id]),
            ("event", vec!["die"]),
        ]);
        let events = EventsOptionsBuilder::new()
            .since(&format!("{}.{:09}", since.as_secs(), since.subsec_nanos()))
            .filters(&filters)
            .build();
        let stopped = async {
            let events = api.events(Some(events));
            let died = async move {
                match pin!(events).next().await {
                    Some(Ok(event)) => event
                        .actor
                        .and_then(|a| a.attributes?.get("exitCode")?.parse().ok())
                        .unwrap_or(-1),
                    // No events to be had: the stop's own answer decides.
                    _ => future::pending().await,
                }
            };
            let stop = api.stop_container(id, Some(options));
            match future::select(pin!(stop), pin!(died)).await {
                Either::Left((answer, _)) => answer.map(|()| Stopped::Answered),
                Either::Right((code, _)) => Ok(Stopped::Exited(code)),
            }
        };
        self.block_on(stopped)
            .map_err(|e| api_error(e, &format!("stopping {name}")))
    }

    /// The container named `name`, or `None` when there is none.
    pub fn container(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        self.block_on(self.inspect(name))
    }

    /// [`Engine::container`] for two names, inspected at the same time (one round trip).
    pub fn two_containers(
        &self,
        a: &str,
        b: &str,
    ) -> (
        Result<Option<ContainerInspectResponse>>,
        Result<Option<ContainerInspectResponse>>,
    ) {
        self.block_on(future::join(self.inspect(a), self.inspect(b)))
    }

    async fn inspect(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.api.inspect_container(name, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error(e, &format!("inspecting container {name}"))),
        }
    }

    /// The last `lines` lines the container wrote, stdout and stderr interleaved.
    pub fn logs_tail(&self, name: &str, lines: usize) -> Result<Vec<String>> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut text = String::new();
        let mut stream = self.api.logs(name, Some(options));
        self.block_on(async {
            while let Some(chunk) = stream.next().await {
                text.push_str(
                    &chunk
                        .map_err(|e| api_error(e, &format!("reading logs of {name}")))?
                        .to_string(),
                );
            }
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// Removes a container (stopping it first); one that is already gone is fine.
    pub fn remove_container(&self, name: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.block_on(self.api.remove_container(name, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error(e, &format!("removing container {name}"))),
        }
    }
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The container's processes exited with this code (its `die` event). Docker then still
    /// releases its network and mounts for a few hundred milliseconds, which the stop request
    /// would wait for; any later request on the container waits for it instead.
    Exited(i64),
    /// The engine answered the stop first (the container was not running, say).
    Answered,
}

/// A connection to the engine being made on another thread, so that a step in a pipeline
/// connects while it waits for its record (the negotiation round trip is then off the path
/// from the record's arrival to the step's work).
pub struct Connecting(std::thread::JoinHandle<Result<Engine>>);

impl Connecting {
    pub fn start() -> Connecting {
        Connecting(std::thread::spawn(Engine::connect))
    }

    /// The engine, or why it could not be reached ([`Engine::connect`]'s error).
    pub fn engine(self) -> Result<Engine> {
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

pub fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// An engine answer that refuses the request is the step failing (exit 1); anything else
/// (socket gone, timeout, garbled stream) means the engine is unavailable (exit 4).
pub fn api_error(e: DockerError, doing: &str) -> anyhow::Error {
    match e {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => Fail::failed(
            "docker",
            format!("{doing}: the engine answered {status_code}: {message}"),
        )
        .into(),
        other => Fail::unavailable(
            "docker",
            format!(
                "{doing}: the Docker engine at {} failed: {other}",
                endpoint()
            ),
        )
        .into(),
    }
}
