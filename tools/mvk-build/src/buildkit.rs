//! The engine's own BuildKit, through the API: `POST /build?version=2` with the context as
//! the request body, as the classic builder gets it (so `.dockerignore` is applied exactly as
//! before, by `context`). No client session is needed for an uploaded context, so no gRPC
//! stack is built in (bollard's `buildkit` feature would add tonic, prost and ~50 crates for
//! one); the flip side is that BuildKit cannot ask for registry credentials, so `auto`
//! leaves builds that have credentials to the classic builder.
//!
//! Labels are image metadata to BuildKit, not steps: a rebuild of an unchanged context under
//! a new release id is all cache hits. bollard cannot read BuildKit's progress messages without
//! that feature either, so this module sends the request itself over the engine's Unix socket
//! (hyper, which bollard already builds) and reads the stream with `trace`.

use crate::builder::{finish, upload, Failure, Log, Spec};
use crate::context::{BuildFiles, Context, Entry};
use crate::trace::Trace;
use anyhow::Result;
use bollard::query_parameters::BuilderVersion;
use futures_util::future::{select, Either};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper_util::rt::TokioIo;
use mvk_core::docker::Engine;
use mvk_core::{Fail, Progress};
use serde_json::Value;
use std::path::PathBuf;

/// The oldest API that takes `version=2` builds (Docker 18.09).
const MIN_API: (usize, usize) = (1, 39);

/// The engine's Unix socket, or why BuildKit cannot be reached this way.
pub fn socket() -> Result<PathBuf, String> {
    match std::env::var("DOCKER_HOST") {
        Err(_) => Ok(PathBuf::from("/var/run/docker.sock")),
        Ok(host) => match host.strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(format!(
                "DOCKER_HOST is {host}: mvk-build reaches BuildKit over a Unix socket only"
            )),
        },
    }
}

/// Whether this engine offers BuildKit through the API; if not, why.
pub fn offered(engine: &Engine) -> Result<(), String> {
    socket()?;
    let v = engine.api.client_version();
    if (v.major_version, v.minor_version) < MIN_API {
        return Err(format!(
            "the engine speaks API {}.{}; BuildKit builds need {}.{}",
            v.major_version, v.minor_version, MIN_API.0, MIN_API.1
        ));
    }
    Ok(())
}

/// `--builder`: which of the engine's builders runs the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Builder {
    /// BuildKit where the engine offers it and the base images need no registry credentials,
    /// else the classic builder
    Auto,
    /// The engine's BuildKit (labels cost no step; a rebuild of an unchanged context is all
    /// cache hits)
    Buildkit,
    /// The engine's classic builder (deprecated by Docker). It gets the labels in a copy of the
    /// Dockerfile, where they take one step, unless the context holds a .dockerignore that
    /// does not leave itself out, the --build-target stage is not found, the Dockerfile's last
    /// line continues, or a value has a quote, `$`, backslash, space or non-ASCII character:
    /// then they take one step each
    Classic,
}

/// Whether to build with BuildKit, and why not when `auto` picks the classic builder.
/// `credentials` are the registries the Docker config has credentials for.
pub fn chosen(
    builder: Builder,
    engine: &Engine,
    context: &Context,
    credentials: &[String],
) -> Result<(bool, Option<String>), Fail> {
    // BuildKit reads the Dockerfile from the uploaded context and cannot drop it afterwards.
    let dockerfile_kept = context.only_for_the_builder.dockerfile.then(|| {
        "the Dockerfile is outside the context or in .dockerignore, and BuildKit through the API would leave it in the context".to_string()
    });
    match builder {
        Builder::Classic => Ok((false, None)),
        Builder::Buildkit => match dockerfile_kept {
            Some(why) => Err(Fail::usage(format!("--builder buildkit: {why}"))),
            None => offered(engine)
                .map(|()| (true, None))
                .map_err(|why| Fail::unavailable("docker", format!("--builder buildkit: {why}"))),
        },
        Builder::Auto => {
            let dockerfile = context.dockerfile_text()?;
            let private = base_images(&dockerfile).into_iter().find(|image| {
                let registry = mvk_core::registry::of(image);
                credentials
                    .iter()
                    .any(|c| mvk_core::registry::normalize(c) == registry)
            });
            let why = offered(engine).err().or(dockerfile_kept).or_else(|| {
                private.map(|image| format!(
                    "{image} comes from a registry the Docker config has credentials for, which BuildKit through the API cannot use"
                ))
            });
            Ok((why.is_none(), why))
        }
    }
}

/// The archive BuildKit gets: the context without a `.dockerignore` that leaves itself out
/// (it is applied already; the classic builder would drop it, BuildKit would keep it).
pub fn entries(entries: Vec<Entry>, only_for_the_builder: BuildFiles) -> Vec<Entry> {
    let drop = only_for_the_builder.dockerignore;
    entries
        .into_iter()
        .filter(|e| !(drop && e.name == b".dockerignore"))
        .collect()
}

/// The images a Dockerfile's `FROM` lines name (not its own stages, not `scratch`). A name
/// built from an `ARG` is taken as written.
pub fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("from")) {
            continue;
        }
        let mut words = words.skip_while(|w| w.starts_with("--"));
        let Some(image) = words.next() else { continue };
        let lower = image.to_ascii_lowercase();
        if lower != "scratch" && !stages.contains(&lower) {
            images.push(image.to_string());
        }
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("as")) {
            if let Some(stage) = words.next() {
                stages.push(stage.to_ascii_lowercase());
            }
        }
    }
    images
}

/// Builds `entries` as the context with BuildKit; returns the image id the engine reported.
pub fn build(
    engine: &Engine,
    spec: &Spec,
    entries: Vec<Entry>,
    progress: &Progress,
) -> Result<String> {
    let socket = socket().map_err(|why| Fail::unavailable("docker", why))?;
    let options = spec.options().version(BuilderVersion::BuilderBuildKit);
    let query = serde_urlencoded::to_string(options.build())
        .map_err(|e| anyhow::anyhow!("encoding the build options: {e}"))?;
    let v = engine.api.client_version();
    let path = format!("/v{}.{}/build?{query}", v.major_version, v.minor_version);

    let (chunks, upload_error) = upload(entries);
    let body = StreamBody::new(futures_util::stream::iter(
        chunks.map(|chunk| chunk.map(Frame::data)),
    ));
    let mut log = Log::new(progress);
    let mut trace = Trace::default();
    let outcome = engine.until_interrupted(request(&socket, &path, body, &mut log, &mut trace));
    finish(outcome, log.finish(), &upload_error)
}

/// Sends the build request and follows its stream; the image id, if one was reported.
async fn request<S>(
    socket: &PathBuf,
    path: &str,
    body: StreamBody<S>,
    log: &mut Log<'_>,
    trace: &mut Trace,
) -> Result<Option<String>, Failure>
where
    S: futures_util::Stream<Item = std::io::Result<Frame<Bytes>>> + Send + 'static,
{
    let transport = |e: &dyn std::fmt::Display| {
        Failure::Transport(
            Fail::unavailable(
                "docker",
                format!(
                    "building with BuildKit at {}: {e}",
                    mvk_core::docker::endpoint()
                ),
            )
            .into(),
        )
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| transport(&format!("cannot connect to {}: {e}", socket.display())))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(&e))?;
    let request = hyper::Request::post(path)
        .header("Host", "docker")
        .header("Content-Type", "application/x-tar")
        .body(body)
        .map_err(|e| transport(&e))?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut pending = Vec::new();
        let mut id = None;
        let mut refused = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transport(&e))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            if status >= 400 {
                refused.push_str(&String::from_utf8_lossy(data));
                continue;
            }
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                message(&line, log, trace, &mut id)?;
            }
        }
        if status >= 400 {
            let message = serde_json::from_str::<Value>(&refused)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or(refused);
            return Err(Failure::Refused(status, message));
        }
        message(&pending, log, trace, &mut id)?;
        Ok(id)
    };
    futures_util::pin_mut!(exchange);
    futures_util::pin_mut!(connection);
    match select(exchange, connection).await {
        Either::Left((result, _)) => result,
        // The connection ended first: whatever the exchange had, it cannot finish.
        Either::Right((Err(e), _)) => Err(transport(&e)),
        Either::Right((Ok(()), exchange)) => exchange.await,
    }
}

/// One JSON message of the build stream: progress to the log, the image id, or the error.
fn message(
    line: &[u8],
    log: &mut Log,
    trace: &mut Trace,
    id: &mut Option<String>,
) -> Result<(), Failure> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let Ok(m) = serde_json::from_slice::<Value>(line) else {
        return Ok(());
    };
    if let Some(error) = m["errorDetail"]["message"]
        .as_str()
        .or_else(|| m["error"].as_str())
    {
        return Err(Failure::Build(error.to_string()));
    }
    match (m["id"].as_str(), &m["aux"]) {
        (Some("moby.buildkit.trace"), Value::String(aux)) => {
            for line in trace.lines(aux) {
                log.line(&line);
            }
        }
        (Some("moby.image.id"), aux) => {
            if let Some(image) = aux["ID"].as_str() {
                *id = Some(image.to_string());
            }
        }
        _ => {}
    }
    if let Some(text) = m["stream"].as_str() {
        log.push(text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_leave_out_stages_and_scratch() {
        let dockerfile = "# syntax comment\nFROM --platform=linux/amd64 127.0.0.1:5000/base:1 AS build\nRUN make\nfrom build as test\nFROM scratch\nFROM debian:bookworm\nFROM BUILD\n";
        assert_eq!(
            base_images(dockerfile),
            ["127.0.0.1:5000/base:1", "debian:bookworm"]
        );
        assert!(base_images("FROM\n").is_empty());
    }

    #[test]
    fn docker_host_must_be_a_unix_socket() {
        std::env::set_var("DOCKER_HOST", "unix:///tmp/mvk-docker.sock");
        assert_eq!(socket(), Ok(PathBuf::from("/tmp/mvk-docker.sock")));
        std::env::set_var("DOCKER_HOST", "tcp://127.0.0.1:2375");
        assert!(socket().unwrap_err().contains("Unix socket"));
        std::env::remove_var("DOCKER_HOST");
        assert_eq!(socket(), Ok(PathBuf::from("/var/run/docker.sock")));
    }
}
