//! Drives the engine's classic builder (`buildkit` drives BuildKit): streams the context up, the build log out to stderr
//! line by line as it arrives, and sorts failures into exit codes.

use crate::context::Entry;
use crate::interrupt::Interrupted;
use crate::tar::TarStream;
use anyhow::Result;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::future::{select, Either};
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
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(spec.dockerfile)
        .t(spec.tag)
        .rm(true)
        // Remove intermediate containers of a failed build too: nothing half-done stays.
        .forcerm(true)
        .nocache(spec.no_cache)
        .buildargs(spec.build_args)
        .labels(spec.labels);
    if let Some(target) = spec.target {
        options = options.target(target);
    }

    // The upload error, if the context cannot be read: the HTTP error alone would hide it.
    let upload_error: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = Arc::clone(&upload_error);
    let chunks = TarStream::new(entries).map(move |chunk| {
        if let Err(e) = &chunk {
            *seen.lock().unwrap() = Some(e.to_string());
        }
        chunk.map(Into::into)
    });
    let body = bollard::body_try_stream(futures_util::stream::iter(chunks));

    let mut log = Log::new(progress);
    let outcome = engine.block_on(async {
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
        futures_util::pin_mut!(run);
        match select(run, Interrupted::new()).await {
            Either::Left((result, _)) => Ok(result),
            Either::Right((signal, _)) => Err(signal),
        }
    });
    let logs = log.finish();
    let result = match outcome {
        Ok(result) => result,
        Err(signal) => return Err(Fail::interrupted(signal).into()),
    };
    match result {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(Fail::failed(
            "build",
            "the engine ended the build without reporting an image",
        )
        .with("logs", logs)
        .into()),
        Err(DockerError::DockerStreamError { error }) => Err(Fail::failed(
            "build",
            format!("the build failed: {}", error.trim()),
        )
        .with("logs", logs)
        .into()),
        Err(DockerError::DockerResponseServerError {
            status_code,
            message,
        }) => Err(Fail::failed(
            "build",
            format!(
                "the engine refused the build ({status_code}): {}",
                message.trim()
            ),
        )
        .with("logs", logs)
        .into()),
        Err(e) => match upload_error.lock().unwrap().take() {
            Some(cause) => Err(Fail::failed(
                "context",
                format!("sending the build context failed: {cause}"),
            )
            .into()),
            None => Err(api_error(e, "building the image")),
        },
    }
}
