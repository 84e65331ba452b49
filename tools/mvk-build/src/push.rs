//! Pushes the release image to the registry its repository names, and returns the digest
//! the registry stored it under.

use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::PushImageOptionsBuilder;
use futures_util::StreamExt;
use mvk_core::docker::{api_error, Engine};
use mvk_core::registry::Auth;
use mvk_core::{Fail, Progress};

pub fn push(engine: &Engine, repo: &str, tag: &str, progress: &Progress) -> Result<String> {
    let auth = Auth::for_reference(repo).map_err(Fail::usage)?;
    let registry = &auth.registry;
    progress.say(format!(
        "pushing {repo}:{tag} to {registry} ({})",
        auth.describe()
    ));
    let credentials = auth.credentials;
    let options = PushImageOptionsBuilder::new().tag(tag).build();
    let mut stream = engine.api.push_image(repo, Some(options), credentials);
    let outcome = engine.until_interrupted(async {
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item?;
            let Some(status) = info.status else { continue };
            if let Some(d) = digest_of(&status) {
                digest = Some(d);
            }
            // Per-layer byte counts are noise in a log; the layer's outcome is not.
            if info
                .progress_detail
                .as_ref()
                .is_none_or(|p| p.current.is_none())
            {
                progress.say(status);
            }
        }
        Ok::<_, DockerError>(digest)
    });
    let failed = |why: String| {
        Fail::unavailable(
            "registry",
            format!("pushing {repo}:{tag} to {registry} failed: {why}"),
        )
    };
    match outcome? {
        Ok(Some(digest)) => Ok(digest),
        Ok(None) => Err(failed("the engine reported no digest".into()).into()),
        Err(DockerError::DockerStreamError { error }) => {
            Err(failed(error.trim().to_string()).into())
        }
        Err(DockerError::DockerResponseServerError { message, .. }) => {
            Err(failed(message.trim().to_string()).into())
        }
        Err(e) => Err(api_error(e, &format!("pushing {repo}:{tag}"))),
    }
}

/// The digest in the engine's last push line: `v1: digest: sha256:… size: 528`.
fn digest_of(status: &str) -> Option<String> {
    let rest = status.split_once("digest: ")?.1;
    let digest = rest.split_whitespace().next()?;
    (digest.starts_with("sha256:") && digest.len() == 71).then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_from_the_status_line() {
        let d = format!("sha256:{}", "a1".repeat(32));
        assert_eq!(digest_of(&format!("v1: digest: {d} size: 528")), Some(d));
        assert_eq!(digest_of("Pushed"), None);
        assert_eq!(digest_of("digest: sha256:short size: 1"), None);
    }
}
