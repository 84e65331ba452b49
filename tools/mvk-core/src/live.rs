//! Which slot is live. The state says which slot holds the live release; nginx's upstream
//! file says where traffic really goes. A deploy only replaces a slot that both agree is idle,
//! so the live container is never touched; the swap drains whichever of the two serves now.

use crate::config::SlotArgs;
use crate::state::{Deployed, State};
use crate::{Fail, Slot};
use std::path::{Path, PathBuf};

/// What is live, as the state and nginx see it.
#[derive(Debug, Clone)]
pub struct Live {
    /// The live slot per the state; `None` before the first deploy.
    pub slot: Option<Slot>,
    /// The live release per the state.
    pub deployed: Option<Deployed>,
    /// The port nginx routes the app to, per the upstream file (`None`: no file).
    pub nginx_port: Option<u16>,
    pub state_file: PathBuf,
    pub upstream_file: PathBuf,
}

/// The slot of the state's live release (`None` before the first deploy); a slot that is
/// neither blue nor green is a broken state (exit 4).
pub fn state_slot(state: &State, state_file: &Path) -> Result<Option<Slot>, Fail> {
    let Some(d) = &state.live else {
        return Ok(None);
    };
    d.slot().map(Some).ok_or_else(|| {
        Fail::unavailable(
            "state",
            format!(
                "{}: the live release is in slot `{}`, which is neither blue nor green",
                state_file.display(),
                d.slot
            ),
        )
    })
}

impl Live {
    pub fn new(
        state: &State,
        state_file: PathBuf,
        nginx_port: Option<u16>,
        upstream_file: PathBuf,
    ) -> Result<Live, Fail> {
        Ok(Live {
            slot: state_slot(state, &state_file)?,
            deployed: state.live.clone(),
            nginx_port,
            state_file,
            upstream_file,
        })
    }

    /// As [`Live::new`], reading nginx's port from `upstream_file` (exit 4 if unreadable).
    pub fn read(state: &State, state_file: PathBuf, upstream_file: PathBuf) -> Result<Live, Fail> {
        let nginx_port = crate::nginx::live_port(&upstream_file)
            .map_err(|e| Fail::unavailable("nginx", format!("{e:#}")))?;
        Live::new(state, state_file, nginx_port, upstream_file)
    }

    /// The live release per the state.
    pub fn release(&self) -> Option<&str> {
        self.deployed.as_ref().map(|d| d.release.as_str())
    }

    /// The slot a new release goes to: the one not live; blue on the first deploy.
    pub fn idle(&self) -> Slot {
        self.slot.map_or(Slot::Blue, Slot::other)
    }

    /// The slot that serves traffic now, other than `except` (the candidate's): the one
    /// nginx routes to, else the state's live slot.
    pub fn serving(&self, slots: &SlotArgs, except: Slot) -> Option<Slot> {
        let routed = self.nginx_port.and_then(|p| slots.slot_of(p));
        [routed, self.slot]
            .into_iter()
            .flatten()
            .find(|s| *s != except)
    }

    /// The release the state records in `slot`, if that slot is live.
    pub fn release_in(&self, slot: Slot) -> Option<&str> {
        self.release().filter(|_| self.slot == Some(slot))
    }

    /// Refuses (exit 4) to use `slot` (host port `port`) when the state or nginx says it is
    /// live. Before the first deploy nginx's upstream is a placeholder pointing at an empty
    /// slot; it only counts when our container there is `up`, not stopped (the state was
    /// lost, the traffic was not).
    pub fn ensure_idle(&self, slot: Slot, port: u16, up: bool) -> Result<(), Fail> {
        let refuse = |why: String| {
            Fail::unavailable(
                "live-slot",
                format!("refusing to replace the {slot} slot: {why}"),
            )
        };
        if self.slot == Some(slot) {
            return Err(refuse(format!(
                "it is live (release {}, per {})",
                self.release().unwrap_or("?"),
                self.state_file.display()
            )));
        }
        if self.nginx_port == Some(port) && (self.slot.is_some() || up) {
            let (state_says, fix) = match self.slot {
                Some(live) => (
                    format!(
                        "the state ({}) says {live} is live",
                        self.state_file.display()
                    ),
                    "make them agree (mvk-swap writes both) before deploying",
                ),
                None => (
                    format!(
                        "its container is running and the state ({}) has no live release",
                        self.state_file.display()
                    ),
                    "if it is a first deploy that never went live, remove that container \
                     (or make it live with mvk-swap) and deploy again",
                ),
            };
            return Err(refuse(format!(
                "nginx routes traffic to its port 127.0.0.1:{port} ({}), but {state_says}; {fix}",
                self.upstream_file.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;

    fn slots() -> SlotArgs {
        SlotArgs {
            blue_port: 8000,
            green_port: 8001,
            container_port: 8000,
        }
    }

    fn deployed(slot: &str) -> Deployed {
        Deployed {
            release: "r1".into(),
            image: "shop:r1".into(),
            image_id: String::new(),
            slot: slot.into(),
            port: 8000,
            deployed_at: "2026-11-26T14:00:00Z".into(),
            extra: Default::default(),
        }
    }

    fn live(slot: Option<&str>, nginx_port: Option<u16>) -> Live {
        let mut state = State::empty("shop");
        state.live = slot.map(deployed);
        Live::new(
            &state,
            "/s/state.json".into(),
            nginx_port,
            "/n/shop.upstream".into(),
        )
        .unwrap()
    }

    #[test]
    fn first_deploy_is_blue_even_behind_a_placeholder_upstream() {
        let l = live(None, Some(8000));
        assert_eq!(l.idle(), Slot::Blue);
        assert!(l
            .ensure_idle(Slot::Blue, slots().port(Slot::Blue), false)
            .is_ok());
    }

    #[test]
    fn the_idle_slot_is_the_other_one() {
        assert_eq!(live(Some("blue"), Some(8000)).idle(), Slot::Green);
        assert_eq!(live(Some("green"), Some(8001)).idle(), Slot::Blue);
        assert!(live(Some("blue"), Some(8000))
            .ensure_idle(Slot::Green, slots().port(Slot::Green), true)
            .is_ok());
        assert!(live(Some("blue"), None)
            .ensure_idle(Slot::Green, slots().port(Slot::Green), true)
            .is_ok());
    }

    #[test]
    fn nginx_routing_to_the_idle_slot_is_refused() {
        let e = live(Some("blue"), Some(8001))
            .ensure_idle(Slot::Green, slots().port(Slot::Green), false)
            .unwrap_err();
        assert_eq!((e.exit, e.kind.as_str()), (Exit::Unavailable, "live-slot"));
        assert!(
            e.message.contains("127.0.0.1:8001") && e.message.contains("says blue is live"),
            "{}",
            e.message
        );
        // No state, but our container serves there: the state was lost, traffic was not.
        let e = live(None, Some(8000))
            .ensure_idle(Slot::Blue, slots().port(Slot::Blue), true)
            .unwrap_err();
        assert!(e.message.contains("no live release"), "{}", e.message);
    }

    #[test]
    fn the_live_slot_is_refused() {
        let e = live(Some("green"), Some(8001))
            .ensure_idle(Slot::Green, slots().port(Slot::Green), false)
            .unwrap_err();
        assert_eq!(e.exit, Exit::Unavailable);
        assert!(
            e.message.contains("it is live (release r1"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_state_with_an_unknown_slot_is_refused() {
        let mut state = State::empty("shop");
        state.live = Some(deployed("red"));
        let e = Live::new(&state, "/s".into(), None, "/n".into()).unwrap_err();
        assert!(e.message.contains("`red`"), "{}", e.message);
    }

    #[test]
    fn the_serving_slot_is_nginx_s_else_the_state_s() {
        let s = slots();
        assert_eq!(
            live(Some("blue"), Some(8000)).serving(&s, Slot::Green),
            Some(Slot::Blue)
        );
        // nginx still routes to green although the state says blue: green serves.
        assert_eq!(
            live(Some("blue"), Some(8001)).serving(&s, Slot::Blue),
            Some(Slot::Green)
        );
        assert_eq!(
            live(Some("blue"), None).serving(&s, Slot::Green),
            Some(Slot::Blue)
        );
        assert_eq!(
            live(None, Some(8000)).serving(&s, Slot::Green),
            Some(Slot::Blue)
        );
        assert_eq!(live(None, None).serving(&s, Slot::Blue), None);
        assert_eq!(
            live(Some("green"), Some(8001)).serving(&s, Slot::Green),
            None
        );
        assert_eq!(
            live(Some("blue"), Some(8000)).release_in(Slot::Blue),
            Some("r1")
        );
        assert_eq!(live(Some("blue"), Some(8000)).release_in(Slot::Green), None);
    }
}
