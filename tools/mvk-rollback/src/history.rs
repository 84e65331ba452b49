//! Which release a rollback goes to, and the history as `--list` prints it: all read from the
//! app's state, without Docker.

use mvk_core::state::{Deployed, State};
use mvk_core::Fail;
use serde_json::{json, Value};

/// The live release and the one to roll back to: `to`, or else the newest release in the
/// history that differs from the live one (so a second undo undoes the first).
pub fn target<'a>(
    state: &'a State,
    to: Option<&str>,
) -> Result<(&'a Deployed, &'a Deployed), Fail> {
    let app = &state.app;
    let live = state.live.as_ref().ok_or_else(|| {
        Fail::failed(
            "nothing-to-roll-back",
            format!(
                "app {app} has no live release (nothing was deployed yet): nothing to roll back to"
            ),
        )
    })?;
    let found = match to {
        Some(to) if to == live.release => {
            return Err(Fail::failed("already-live", format!("release {to} of app {app} is already live")))
        }
        Some(to) => state.history.iter().find(|d| d.release == to).ok_or_else(|| {
            Fail::failed(
                "unknown-release",
                format!(
                    "release {to} is not in the history of app {app} (it holds: {}); see mvk-rollback --list",
                    releases(state)
                ),
            )
        })?,
        None => state.history.iter().find(|d| d.release != live.release).ok_or_else(|| {
            Fail::failed(
                "nothing-to-roll-back",
                format!(
                    "app {app} has only ever run release {}: there is no earlier release to roll back to",
                    live.release
                ),
            )
        })?,
    };
    Ok((live, found))
}

/// The history's distinct releases, newest first, for messages.
fn releases(state: &State) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for d in &state.history {
        if !seen.contains(&d.release.as_str()) {
            seen.push(&d.release);
        }
    }
    if seen.is_empty() {
        "nothing".into()
    } else {
        seen.join(", ")
    }
}

/// One JSON object per history entry, newest first; `live` marks the entry nginx routes to.
pub fn list(state: &State) -> Vec<Value> {
    let live_at = state.live.as_ref().and_then(|live| {
        state
            .history
            .iter()
            .position(|d| d == live || d.release == live.release)
    });
    state
        .history
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "release": d.release,
                "image": d.image,
                "image_id": d.image_id,
                "slot": d.slot,
                "deployed_at": d.deployed_at,
                "live": live_at == Some(i),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvk_core::state::HISTORY_LIMIT;
    use mvk_core::Exit;
    use serde_json::Map;

    fn deployed(release: &str, slot: &str) -> Deployed {
        Deployed {
            release: release.into(),
            image: format!("shop:{release}"),
            image_id: format!("sha256:{release}"),
            slot: slot.into(),
            port: if slot == "blue" { 8000 } else { 8001 },
            deployed_at: "2026-11-26T14:00:00Z".into(),
            extra: Map::new(),
        }
    }

    fn state(releases: &[&str]) -> State {
        let mut s = State::empty("shop");
        for (i, r) in releases.iter().enumerate() {
            s.record_deploy(
                deployed(r, if i % 2 == 0 { "blue" } else { "green" }),
                HISTORY_LIMIT,
            );
        }
        s
    }

    fn fail(state: &State, to: Option<&str>) -> Fail {
        let f = target(state, to).unwrap_err();
        assert_eq!(f.exit, Exit::Failed, "{}", f.message);
        f
    }

    #[test]
    fn previous_is_the_release_before_the_live_one() {
        let s = state(&["a", "b", "c"]);
        let (live, to) = target(&s, None).unwrap();
        assert_eq!((live.release.as_str(), to.release.as_str()), ("c", "b"));
    }

    #[test]
    fn a_second_undo_undoes_the_first() {
        // a, b deployed; rolled back to a: the history reads a, b, a.
        let s = state(&["a", "b", "a"]);
        assert_eq!(target(&s, None).unwrap().1.release, "b");
    }

    #[test]
    fn redeploys_of_the_live_release_are_skipped() {
        let s = state(&["a", "b", "b"]);
        assert_eq!(target(&s, None).unwrap().1.release, "a");
    }

    #[test]
    fn to_picks_the_newest_entry_of_that_release() {
        let mut s = state(&["a", "b", "c"]);
        s.history[2].image_id = "sha256:old".into();
        s.record_deploy(deployed("a", "green"), HISTORY_LIMIT);
        s.record_deploy(deployed("d", "blue"), HISTORY_LIMIT);
        let to = target(&s, Some("a")).unwrap().1;
        assert_eq!((to.release.as_str(), to.slot.as_str()), ("a", "green"));
    }

    #[test]
    fn nothing_to_roll_back_to() {
        let f = fail(&State::empty("shop"), None);
        assert!(
            f.message.contains("nothing was deployed yet"),
            "{}",
            f.message
        );
        let f = fail(&state(&["a"]), None);
        assert!(
            f.message.contains("only ever run release a"),
            "{}",
            f.message
        );
        let f = fail(&state(&["a", "a"]), None);
        assert_eq!(f.kind, "nothing-to-roll-back");
    }

    #[test]
    fn to_unknown_or_live_is_refused() {
        let s = state(&["a", "b", "a"]);
        let f = fail(&s, Some("zzz"));
        assert_eq!(f.kind, "unknown-release");
        assert!(
            f.message
                .contains("release zzz is not in the history of app shop (it holds: a, b)"),
            "{}",
            f.message
        );
        let f = fail(&s, Some("a"));
        assert!(f.message.contains("already live"), "{}", f.message);
    }

    #[test]
    fn list_is_newest_first_marking_the_live_entry_once() {
        let lines = list(&state(&["a", "b", "a"]));
        let shown: Vec<_> = lines
            .iter()
            .map(|l| (l["release"].as_str().unwrap(), l["live"].as_bool().unwrap()))
            .collect();
        assert_eq!(shown, [("a", true), ("b", false), ("a", false)]);
        assert_eq!(lines[1]["image_id"], "sha256:b");
        assert_eq!(lines[1]["slot"], "green");
        let keys: Vec<_> = lines[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "release",
                "image",
                "image_id",
                "slot",
                "deployed_at",
                "live"
            ]
        );
        assert!(list(&State::empty("shop")).is_empty());
    }
}
