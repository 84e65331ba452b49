//! The Docker engine: one connection with the API version negotiated, driven from sync code
//! through a current-thread runtime, and its failures sorted into exit codes.

use crate::Fail;
use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{LogsOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use std::future::Future;

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

    /// The container named `name`, or `None` when there is none.
    pub fn container(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.block_on(self.api.inspect_container(name, None)) {
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
