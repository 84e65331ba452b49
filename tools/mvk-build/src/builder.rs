//! Drives the engine's classic builder: streams the context up, the build log out to stderr
//! line by line as it arrives, and sorts failures into exit codes (`buildkit` drives BuildKit
//! with the same upload, log and outcomes).

use crate::context::Entry;
use crate::tar::TarStream;
use anyhow::Result;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use mvk_core::docker::{api_error, Engine};
use mvk_core::{Fail, Progress};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How many of the last log lines a failed build carries in `error.logs`.
const LOG_TAIL: usize = 20;

pub struct Spec<'a> {
    pub tag: &'a str,
    pub dockerfile: &'a str,
    pub target: Option<&'a str>,
    pub no_cache: bool,
    pub build_args: &'a HashMap<String, String>,
    pub labels: &'a HashMap<String, String>,
    /// Registry credentials for pulling base images.
    pub credentials: HashMap<String, DockerCredentials>,
}

impl Spec<'_> {
    /// The build options both builders take from the spec.
    pub fn options(&self) -> BuildImageOptionsBuilder {
        let options = BuildImageOptionsBuilder::new()
            .dockerfile(self.dockerfile)
            .t(self.tag)
            .nocache(self.no_cache)
            .buildargs(self.build_args)
            .labels(self.labels);
        match self.target {
            Some(target) => options.target(target),
            None => options,
        }
    }
}

/// The build log as it arrives: whole lines to stderr, and the last few kept for the error.
pub struct Log<'a> {
    progress: &'a Progress,
    partial: String,
    tail: VecDeque<String>,
}

impl<'a> Log<'a> {
    pub fn new(progress: &'a Progress) -> Log<'a> {
        Log {
            progress,
            partial: String::new(),
            tail: VecDeque::new(),
        }
    }

    pub fn push(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(line.trim_end());
        }
    }

    pub fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        self.progress.say(line);
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }

    pub fn finish(&mut self) -> Vec<String> {
        let rest = std::mem::take(&mut self.partial);
        self.line(rest.trim_end());
        self.tail.iter().cloned().collect()
    }
}

/// Builds `entries` as the context; returns the image id the engine reported.
pub fn build(
    engine: &Engine,
    spec: &Spec,
    entries: Vec<Entry>,
    progress: &Progress,
) -> Result<String> {
    let options = spec
        .options()
        .rm(true)
        // Remove intermediate containers of a failed build too: nothing half-done stays.
        .forcerm(true);

    let (chunks, upload_error) = upload(entries);
    let body = bollard::body_try_stream(futures_util::stream::iter(chunks));

    let mut log = Log::new(progress);
    let outcome = engine.until_interrupted(async {
        let mut stream =
            engine
                .api
                .build_image(options.build(), Some(spec.credentials.clone()), Some(body));
        let run = async {
            let mut id = None;
            while let Some(item) = stream.next().await {
                let info = item?;
                if let Some(text) = &info.stream {
                    log.push(text);
                }
                // Pull progress (byte counts) is noise; the layers' outcomes are not.
                if let Some(status) = &info.status {
                    if info
                        .progress_detail
                        .as_ref()
                        .is_none_or(|p| p.current.is_none())
                    {
                        log.push(&format!("{status}\n"));
                    }
                }
                if let Some(aux) = info.aux.and_then(|a| a.id) {
                    id = Some(aux);
                }
            }
            Ok::<_, DockerError>(id)
        };
        run.await.map_err(|e| match e {
            DockerError::DockerStreamError { error } => Failure::Build(error),
            DockerError::DockerResponseServerError {
                status_code,
                message,
            } => Failure::Refused(status_code, message),
            e => Failure::Transport(api_error(e, "building the image")),
        })
    });
    finish(outcome, log.finish(), &upload_error)
}

/// Why the context could not be sent, if a chunk of it could not be read: the HTTP error it
/// causes would hide it.
#[derive(Default)]
pub struct UploadError(Arc<Mutex<Option<String>>>);

/// The context as a stream of tar chunks, and where a read error is kept.
pub fn upload(
    entries: Vec<Entry>,
) -> (
    impl Iterator<Item = std::io::Result<Bytes>> + Send + 'static,
    UploadError,
) {
    let error = UploadError::default();
    let seen = Arc::clone(&error.0);
    let chunks = TarStream::new(entries).map(move |chunk| {
        if let Err(e) = &chunk {
            *seen.lock().unwrap() = Some(e.to_string());
        }
        chunk.map(Bytes::from)
    });
    (chunks, error)
}

/// Why a build went wrong, whichever builder ran it.
pub enum Failure {
    /// The build ran and failed (an error in the stream).
    Build(String),
    /// The engine answered the request with an error status.
    Refused(u16, String),
    /// The exchange with the engine failed, already sorted into an exit code.
    Transport(anyhow::Error),
}

/// The image id of a build that ended, or its failure with the log's tail in `error.logs`.
pub fn finish(
    outcome: Result<Result<Option<String>, Failure>, Fail>,
    logs: Vec<String>,
    upload_error: &UploadError,
) -> Result<String> {
    let failed = |message: String| Err(Fail::failed("build", message).with("logs", logs).into());
    match outcome? {
        Ok(Some(id)) => Ok(id),
        Ok(None) => failed("the engine ended the build without reporting an image".into()),
        Err(Failure::Build(error)) => failed(format!("the build failed: {}", error.trim())),
        Err(Failure::Refused(status, message)) => failed(format!(
            "the engine refused the build ({status}): {}",
            message.trim()
        )),
        Err(Failure::Transport(e)) => match upload_error.0.lock().unwrap().take() {
            Some(cause) => Err(Fail::failed(
                "context",
                format!("sending the build context failed: {cause}"),
            )
            .into()),
            None => Err(e),
        },
    }
}
