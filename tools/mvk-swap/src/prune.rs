//! Pruning this app's old images once a release is live.
//!
//! Only images Maverick made for the app (labelled `mvk.app=<app>`, as mvk-build labels them)
//! are candidates: an image merely tagged in the app's repository may be anyone's. Of those,
//! none is removed that is live, in the newest `--keep-images` history entries, referenced by
//! another app's state, used by any container at all (running or stopped), or at least as new
//! as the live image (it may be the next deploy's build, made while this one ran). Only the
//! app's own tags are removed, so an image another repository also tags survives under that
//! tag.

use anyhow::Result;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use mvk_core::containers::LABEL_APP;
use mvk_core::docker::{api_error, Engine};
use mvk_core::state::{Deployed, Store};
use mvk_core::Progress;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// An image as pruning sees it.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub tags: Vec<String>,
    /// Its `mvk.app` label.
    pub app: Option<String>,
    /// Seconds since the epoch.
    pub created: i64,
}

/// What must survive, and whose images are candidates.
pub struct Policy {
    pub app: String,
    pub repos: BTreeSet<String>,
    pub live_id: String,
    /// Image ids and references that stay whatever else holds.
    pub keep_ids: HashSet<String>,
    pub keep_refs: HashSet<String>,
}

/// The repository part of an image reference: `reg:5000/shop:abc` → `reg:5000/shop`.
pub fn repo(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

impl Policy {
    /// `deployed`: the app's history, newest first; the first `keep` entries stay.
    pub fn new(app: &str, live: &Deployed, history: &[Deployed], keep: usize) -> Policy {
        let window = history.iter().take(keep).chain(std::iter::once(live));
        let mut policy = Policy {
            app: app.to_string(),
            repos: history
                .iter()
                .chain(std::iter::once(live))
                .map(|d| repo(&d.image).to_string())
                .collect(),
            live_id: live.image_id.clone(),
            keep_ids: HashSet::new(),
            keep_refs: HashSet::new(),
        };
        policy.keep_all(window);
        policy
    }

    fn keep_all<'a>(&mut self, deployed: impl Iterator<Item = &'a Deployed>) {
        for d in deployed {
            if !d.image_id.is_empty() {
                self.keep_ids.insert(d.image_id.clone());
            }
            self.keep_refs.insert(d.image.clone());
        }
    }

    /// Protects every image any other app under `state_dir` has in its history.
    pub fn keep_other_apps(&mut self, state_dir: &Path) {
        let Ok(entries) = std::fs::read_dir(state_dir) else {
            return;
        };
        for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
            if name == self.app {
                continue;
            }
            if let Ok(state) = Store::new(state_dir, &name).load() {
                let deployed: Vec<Deployed> = state.history.into_iter().chain(state.live).collect();
                self.keep_all(deployed.iter());
            }
        }
    }

    /// The references to remove (the app's tags, or the id of an untagged image of the app).
    pub fn plan(&self, images: &[Image], in_use: &HashSet<String>) -> Vec<String> {
        let live_created = images
            .iter()
            .find(|i| i.id == self.live_id)
            .map(|i| i.created);
        let mut remove = Vec::new();
        for image in images {
            let ours = image.app.as_deref() == Some(self.app.as_str());
            let our_tags: Vec<&String> = image
                .tags
                .iter()
                .filter(|t| self.repos.contains(repo(t)))
                .collect();
            let kept = image.id == self.live_id
                || self.keep_ids.contains(&image.id)
                || image.tags.iter().any(|t| self.keep_refs.contains(t))
                || in_use.contains(&image.id)
                // Without the live image's age, nothing can be shown to be older: keep all.
                || live_created.is_none_or(|live| image.created >= live);
            if !ours || kept {
                continue;
            }
            if image.tags.is_empty() {
                remove.push(image.id.clone());
            } else {
                remove.extend(our_tags.into_iter().cloned());
            }
        }
        remove.sort();
        remove
    }
}

/// Removes what `policy` allows; returns the references removed. A reference that cannot be
/// removed is a warning: the deploy is done by now.
pub fn prune(engine: &Engine, policy: &Policy, progress: &Progress) -> Result<Vec<String>> {
    let listed = engine
        .block_on(
            engine
                .api
                .list_images(Some(ListImagesOptionsBuilder::new().build())),
        )
        .map_err(|e| api_error(e, "listing images"))?;
    let images: Vec<Image> = listed
        .into_iter()
        .map(|i| Image {
            app: i.labels.get(LABEL_APP).cloned(),
            tags: i
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect(),
            id: i.id,
            created: i.created,
        })
        .collect();
    let containers = engine
        .block_on(
            engine
                .api
                .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build())),
        )
        .map_err(|e| api_error(e, "listing containers"))?;
    let in_use: HashSet<String> = containers.into_iter().filter_map(|c| c.image_id).collect();
    let mut removed = Vec::new();
    for reference in policy.plan(&images, &in_use) {
        mvk_core::signal::check()?;
        let options = RemoveImageOptionsBuilder::new()
            .force(false)
            .noprune(false)
            .build();
        match engine.block_on(engine.api.remove_image(&reference, Some(options), None)) {
            Ok(_) => removed.push(reference),
            Err(e) => progress.error(format!("warning: cannot remove image {reference}: {e}")),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn deployed(image: &str, id: &str) -> Deployed {
        Deployed {
            release: image.rsplit(':').next().unwrap().into(),
            image: image.into(),
            image_id: id.into(),
            slot: "blue".into(),
            port: 8000,
            deployed_at: "2026-11-26T14:00:00Z".into(),
            extra: Map::new(),
        }
    }

    fn image(id: &str, tags: &[&str], app: Option<&str>, created: i64) -> Image {
        Image {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            app: app.map(str::to_string),
            created,
        }
    }

    #[test]
    fn repos_of_references() {
        assert_eq!(repo("shop:abc"), "shop");
        assert_eq!(
            repo("reg.example:5000/team/shop:abc"),
            "reg.example:5000/team/shop"
        );
        assert_eq!(repo("reg.example:5000/shop"), "reg.example:5000/shop");
        assert_eq!(repo("shop@sha256:0123"), "shop");
    }

    #[test]
    fn keeps_live_window_in_use_newer_and_foreign_images() {
        let history: Vec<Deployed> = (1..=4)
            .rev()
            .map(|n| deployed(&format!("shop:v{n}"), &format!("id{n}")))
            .collect();
        let live = history[0].clone();
        let mut policy = Policy::new("shop", &live, &history, 2);
        policy.keep_refs.insert("shop:pinned".into());
        let images = vec![
            image("id4", &["shop:v4"], Some("shop"), 40),
            image("id3", &["shop:v3"], Some("shop"), 30),
            image("id2", &["shop:v2"], Some("shop"), 20),
            image("id1", &["shop:v1", "mirror/shop:v1"], Some("shop"), 10),
            image("old", &["shop:old"], Some("shop"), 5),
            image("dangling", &[], Some("shop"), 5),
            image("used", &["shop:used"], Some("shop"), 5),
            image("next", &["shop:next"], Some("shop"), 41),
            image("sametime", &["shop:same"], Some("shop"), 40),
            image("pinned", &["shop:pinned"], Some("shop"), 5),
            image("other", &["other:v1"], Some("other"), 1),
            image("claimed", &["shop:claimed"], Some("other"), 1),
            image("unrelated", &["shopping:v1"], Some("shop"), 1),
            // Tagged in the app's repository, but not made by Maverick: not the app's.
            image("unlabelled", &["shop:handmade"], None, 1),
            image("unlabelled-dangling", &[], None, 1),
        ];
        let in_use: HashSet<String> = ["used".to_string()].into();
        assert_eq!(
            policy.plan(&images, &in_use),
            ["dangling", "shop:old", "shop:v1", "shop:v2"]
        );
    }

    #[test]
    fn other_apps_states_protect_their_images() {
        let dir = std::env::temp_dir().join(format!("mvk-swap-prune-{}", std::process::id()));
        let other = Store::new(&dir, "other");
        let lock = other.lock("test").unwrap();
        let mut s = lock.load().unwrap();
        // What the state holds is validated when read: a real image id.
        let id1 = format!("sha256:{}", "1".repeat(64));
        s.record_deploy(deployed("shop:v1", &id1), 50);
        lock.save(&s).unwrap();
        drop(lock);
        let live = deployed("shop:v9", "id9");
        let mut policy = Policy::new("shop", &live, std::slice::from_ref(&live), 1);
        let images = vec![
            image("id9", &["shop:v9"], Some("shop"), 90),
            image(&id1, &["shop:v1"], Some("shop"), 10),
        ];
        assert_eq!(policy.plan(&images, &HashSet::new()), ["shop:v1"]);
        policy.keep_other_apps(&dir);
        assert!(policy.plan(&images, &HashSet::new()).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_the_live_image_nothing_is_removed() {
        let live = deployed("shop:v9", "id9");
        let policy = Policy::new("shop", &live, std::slice::from_ref(&live), 1);
        let images = vec![image("id1", &["shop:v1"], Some("shop"), 10)];
        assert!(policy.plan(&images, &HashSet::new()).is_empty());
    }
}
