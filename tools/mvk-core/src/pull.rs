//! Pulling an image from its registry: what mvk-rollback --pull and mvk-healthwait --pull share.

use crate::docker::{api_error, Engine};
use crate::registry::Auth;
use crate::Fail;
use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{CreateImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

/// `repo:tag` split where the tag starts (a registry's `host:port/` holds a colon too).
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (reference, None),
    }
}

/// The repository of a reference, without its tag or digest.
pub fn repository(reference: &str) -> &str {
    let name = reference
        .split_once('@')
        .map_or(reference, |(name, _)| name);
    split_reference(name).0
}

/// Pulls `reference` (`repo:tag`, `repo` or `repo@digest`) with the registry's credentials.
pub fn pull(engine: &Engine, reference: &str, auth: Auth) -> Result<()> {
    let (repo, tag) = split_reference(reference);
    let mut options = CreateImageOptionsBuilder::default().from_image(repo);
    if let Some(tag) = tag {
        options = options.tag(tag);
    }
    let from = format!("{} ({})", auth.registry, auth.describe());
    let mut stream = engine
        .api
        .create_image(Some(options.build()), None, auth.credentials);
    // A registry that stalls sends nothing more: the signal must not wait for its next line.
    engine.until_interrupted(async {
        while let Some(item) = stream.next().await {
            item.map_err(|e| pull_error(e, reference, &from))?;
        }
        Ok(())
    })?
}

/// A registry that cannot be reached, or refuses our credentials (or their absence), is the
/// environment (exit 4); one that answers that it has no such image is the step failing
/// (exit 1). `from` names the registry and where the credentials came from.
fn pull_error(e: DockerError, reference: &str, from: &str) -> anyhow::Error {
    let message = match &e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        _ => return api_error(e, &format!("pulling {reference} from {from}")),
    };
    let unavailable = [
        "dial tcp",
        "connection refused",
        "no such host",
        "timeout",
        "network is unreachable",
        "unauthorized",
        "no basic auth credentials",
        "authentication required",
    ]
    .iter()
    .any(|m| message.contains(m));
    let text = format!("pulling {reference} from {from}: {}", message.trim());
    if unavailable {
        Fail::unavailable("registry", text).into()
    } else {
        Fail::failed("pull", text).into()
    }
}

/// Pulls `repo@digest` and tags it as `reference` (`repo:tag`): a release pushed once is the
/// very same image on every host, whatever the tag says there. Returns the image id.
/// A reference that is itself `repo@digest` (a release pulled with mvk-build --image) is
/// pulled as it is, with no tag to set.
pub fn pull_digest(engine: &Engine, reference: &str, digest: &str) -> Result<String> {
    let (repo, tag) = (repository(reference), split_reference(reference).1);
    let pinned = format!("{repo}@{digest}");
    let auth = Auth::for_reference(reference).map_err(Fail::usage)?;
    pull(engine, &pinned, auth)?;
    let doing = format!("inspecting the pulled image {pinned}");
    let id = engine
        .block_on(engine.api.inspect_image(&pinned))
        .map_err(|e| api_error(e, &doing))?
        .id
        .unwrap_or_default();
    if reference.contains('@') {
        return Ok(id);
    }
    let mut options = TagImageOptionsBuilder::default().repo(repo);
    if let Some(tag) = tag {
        options = options.tag(tag);
    }
    engine
        .block_on(engine.api.tag_image(&id, Some(options.build())))
        .map_err(|e| api_error(e, &format!("tagging {pinned} as {reference}")))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag() {
        assert_eq!(split_reference("shop:3f2c1ab"), ("shop", Some("3f2c1ab")));
        assert_eq!(
            split_reference("127.0.0.1:5000/shop:v1"),
            ("127.0.0.1:5000/shop", Some("v1"))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/shop"),
            ("127.0.0.1:5000/shop", None)
        );
        assert_eq!(split_reference("shop"), ("shop", None));
        assert_eq!(split_reference("shop@sha256:ab"), ("shop@sha256:ab", None));
        assert_eq!(
            repository("127.0.0.1:5000/shop@sha256:ab"),
            "127.0.0.1:5000/shop"
        );
        assert_eq!(repository("127.0.0.1:5000/shop:v1"), "127.0.0.1:5000/shop");
    }
}
