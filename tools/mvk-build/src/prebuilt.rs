//! `--image`: a release built elsewhere (CI), pulled from its registry with the Docker
//! config's credentials, pinned by digest, checked as a build is, and recorded as a build's
//! fresh record, so the rest of the pipeline cannot tell the difference.

use crate::Args;
use anyhow::Result;
use bollard::models::ImageInspect;
use clap::parser::ValueSource;
use clap::ArgMatches;
use mvk_core::containers::LABEL_RELEASE;
use mvk_core::docker::{api_error, Engine};
use mvk_core::registry::Auth;
use mvk_core::time::round_ms;
use mvk_core::{signal, Fail, Progress, Record};
use std::time::Instant;

/// The options only a build here uses (Args' ids).
const BUILD_ONLY: &[&str] = &[
    "context",
    "context_arg",
    "file",
    "build_args",
    "target",
    "no_cache",
    "repo",
    "push",
];

/// With --image, the options of a build here: given on the command line they contradict it
/// (exit 2); from the environment they are what an env file shared with builds on the server
/// (MVK_REPO, MVK_PUSH=true) sets for those, and are left unused, said once.
pub fn build_options(matches: &ArgMatches, progress: &Progress) -> Result<()> {
    let Some(image) = matches.value_source("image") else {
        return Ok(());
    };
    let cmd = crate::command();
    let mut unused = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| BUILD_ONLY.contains(&a.get_id().as_str()))
    {
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => "a context directory".to_string(),
        };
        match matches.value_source(arg.get_id().as_str()) {
            Some(ValueSource::CommandLine) if image == ValueSource::CommandLine => {
                return Err(Fail::usage(format!(
                    "{name} cannot be used with --image: --image deploys an image built \
                     elsewhere, so nothing is built or pushed here"
                ))
                .into());
            }
            Some(ValueSource::CommandLine) => {
                return Err(Fail::usage(format!(
                    "{name} asks for a build here, but MVK_IMAGE (from the environment) names \
                     an image built elsewhere to deploy instead: unset MVK_IMAGE to build"
                ))
                .into());
            }
            Some(ValueSource::EnvVariable) => {
                unused.extend(arg.get_env().map(|e| e.to_string_lossy().into_owned()));
            }
            _ => {}
        }
    }
    if !unused.is_empty() {
        progress.say(format!(
            "--image: {} from the environment left unused (they configure builds here)",
            unused.join(", ")
        ));
    }
    Ok(())
}

/// The label CI sets to the commit it built; the release when the image has no `mvk.release`.
const LABEL_REVISION: &str = "org.opencontainers.image.revision";

pub fn run(args: &Args, reference: &str, record: &mut Record, progress: &Progress) -> Result<()> {
    let auth = Auth::for_reference(reference).map_err(Fail::usage)?;
    signal::check()?;
    let engine = Engine::connect()?;
    let clock = Instant::now();
    progress.say(format!(
        "pulling {reference} from {} ({})",
        auth.registry,
        auth.describe()
    ));
    mvk_core::pull::pull(&engine, reference, auth)?;
    let seconds = round_ms(clock.elapsed().as_secs_f64());
    let inspect = engine
        .block_on(engine.api.inspect_image(reference))
        .map_err(|e| api_error(e, &format!("inspecting the pulled image {reference}")))?;
    let repo = mvk_core::pull::repository(reference);
    let digest = digest(reference, repo, &inspect)?;
    let image = format!("{repo}@{digest}");
    let release = release(args, &inspect, &digest)?;
    progress.say(format!(
        "pulled {image} ({}) in {seconds}s: release {release}",
        inspect.id.as_deref().unwrap_or_default()
    ));
    crate::record_image(
        args,
        record,
        (&release, &image),
        &inspect,
        seconds,
        Some(digest),
        progress,
    )
    .map(drop)
}

/// The registry digest the image is pinned by: the reference's own, else the one the engine
/// recorded for the repository when it pulled the tag.
fn digest(reference: &str, repo: &str, inspect: &ImageInspect) -> Result<String> {
    if let Some((_, digest)) = reference.split_once('@') {
        return Ok(digest.to_string());
    }
    let short = |r: &str| {
        r.strip_prefix("docker.io/")
            .map(|r| r.strip_prefix("library/").unwrap_or(r).to_string())
            .unwrap_or_else(|| r.to_string())
    };
    inspect
        .repo_digests
        .iter()
        .flatten()
        .filter_map(|d| d.split_once('@'))
        .find(|(r, _)| short(r) == short(repo))
        .map(|(_, digest)| digest.to_string())
        .ok_or_else(|| {
            Fail::failed(
                "pull",
                format!("the engine has no registry digest of {reference} after pulling it"),
            )
            .into()
        })
}

/// --release, else the image's `mvk.release` or revision label, else the digest's short form.
fn release(args: &Args, inspect: &ImageInspect, digest: &str) -> Result<String> {
    if let Some(release) = &args.release {
        return Ok(release.clone());
    }
    let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
    for key in [LABEL_RELEASE, LABEL_REVISION] {
        if let Some(value) = labels.and_then(|l| l.get(key)) {
            return mvk_core::validate::release(value).map_err(|e| {
                Fail::usage(format!("the image's label {key}: {e}; give --release")).into()
            });
        }
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    Ok(hex.chars().take(12).collect())
}
