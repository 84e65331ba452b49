//! Making sure the image of the release we roll back to is on this host: found by the id the
//! state recorded, or pulled again by its recorded `repo:tag` when asked to (`--pull`).

use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, RemoveImageOptions, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use mvk_core::docker::{api_error, is_not_found, Engine};
use mvk_core::registry::Auth;
use mvk_core::state::Deployed;
use mvk_core::{signal, Fail, Progress};

/// The image a rollback starts, as the record carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// What the container is created from: the recorded `repo:tag`, or the image id when the
    /// tag has since been moved to another image.
    pub reference: String,
    pub id: String,
    pub pulled: bool,
}

/// Finds the release's image on the host, pulling it first when it is gone and `pull` is set.
pub fn ensure(
    engine: &Engine,
    target: &Deployed,
    pull: bool,
    progress: &Progress,
) -> Result<Image> {
    let tagged = image_id(engine, &target.image)?;
    let want = (!target.image_id.is_empty()).then_some(target.image_id.as_str());
    match (want, &tagged) {
        (Some(want), Some(id)) if id == want => return Ok(found(&target.image, id)),
        (None, Some(id)) => return Ok(found(&target.image, id)),
        (Some(want), _) => {
            // The engine also resolves a prefix of an id: only the very image counts.
            if let Some(id) = image_id(engine, want)?.filter(|id| id == want) {
                progress.say(format!(
                    "{} no longer names the image release {} ran; using that image by its id",
                    target.image, target.release
                ));
                return Ok(found(&id, &id));
            }
        }
        (None, None) => {}
    }
    let what = match want {
        Some(id) => format!("{} ({id})", target.image),
        None => target.image.clone(),
    };
    if !pull {
        return Err(Fail::failed(
            "image-gone",
            format!(
                "the image of release {} is no longer on this host (pruned?): {what}; \
                 run with --pull to pull it again from its registry",
                target.release
            ),
        )
        .into());
    }
    let auth = Auth::for_reference(&target.image).map_err(Fail::usage)?;
    progress.say(format!(
        "the image of release {} is gone; pulling {} from {} ({})",
        target.release,
        target.image,
        auth.registry,
        auth.describe()
    ));
    pull_image(engine, &target.image, auth)?;
    let id = image_id(engine, &target.image)?.ok_or_else(|| {
        Fail::failed(
            "pull",
            format!("pulled {} but the engine does not list it", target.image),
        )
    })?;
    if let Some(want) = want.filter(|want| *want != id) {
        restore_tag(engine, &target.image, tagged.as_deref())?;
        return Err(Fail::failed(
            "image-changed",
            format!(
                "the registry's {} is now image {id}, not {want} that release {} ran; \
                 it was not used (the tag was pushed again since)",
                target.image, target.release
            ),
        )
        .into());
    }
    Ok(Image {
        reference: target.image.clone(),
        id,
        pulled: true,
    })
}

fn found(reference: &str, id: &str) -> Image {
    Image {
        reference: reference.to_string(),
        id: id.to_string(),
        pulled: false,
    }
}

/// The id of the image `reference` names on this host, if any.
fn image_id(engine: &Engine, reference: &str) -> Result<Option<String>> {
    match engine.block_on(engine.api.inspect_image(reference)) {
        Ok(image) => Ok(image.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error(e, &format!("inspecting image {reference}"))),
    }
}

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

fn pull_image(engine: &Engine, reference: &str, auth: Auth) -> Result<()> {
    let (repo, tag) = split_reference(reference);
    let mut options = CreateImageOptionsBuilder::default().from_image(repo);
    if let Some(tag) = tag {
        options = options.tag(tag);
    }
    let from = format!("{} ({})", auth.registry, auth.describe());
    let mut stream = engine
        .api
        .create_image(Some(options.build()), None, auth.credentials);
    engine.block_on(async {
        while let Some(item) = stream.next().await {
            signal::check()?;
            item.map_err(|e| pull_error(e, reference, &from))?;
        }
        Ok(())
    })
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

/// Puts the tag back where it was before a pull brought the wrong image under it.
fn restore_tag(engine: &Engine, reference: &str, before: Option<&str>) -> Result<()> {
    let doing = format!("restoring the tag {reference}");
    match before {
        Some(id) => {
            let (repo, tag) = split_reference(reference);
            let mut options = TagImageOptionsBuilder::default().repo(repo);
            if let Some(tag) = tag {
                options = options.tag(tag);
            }
            engine
                .block_on(engine.api.tag_image(id, Some(options.build())))
                .map_err(|e| api_error(e, &doing))
        }
        None => engine
            .block_on(
                engine
                    .api
                    .remove_image(reference, None::<RemoveImageOptions>, None),
            )
            .map(drop)
            .map_err(|e| api_error(e, &doing)),
    }
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
    }
}
