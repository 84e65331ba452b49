//! Making sure the image of the release we roll back to is on this host: found by the id the
//! state recorded, or pulled again by its recorded `repo:tag` when asked to (`--pull`).

use anyhow::Result;
use bollard::query_parameters::{RemoveImageOptions, TagImageOptionsBuilder};
use mvk_core::docker::{api_error, is_not_found, Engine};
use mvk_core::registry::Auth;
use mvk_core::state::Deployed;
use mvk_core::{Fail, Progress};

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
    mvk_core::pull::pull(engine, &target.image, auth)?;
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

/// Puts the tag back where it was before a pull brought the wrong image under it.
fn restore_tag(engine: &Engine, reference: &str, before: Option<&str>) -> Result<()> {
    let doing = format!("restoring the tag {reference}");
    match before {
        Some(id) => {
            let (repo, tag) = mvk_core::pull::split_reference(reference);
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
