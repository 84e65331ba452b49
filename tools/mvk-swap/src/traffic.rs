//! What the state remembers about routing besides the live release (`traffic` in state.json):
//! a warm previous release, a canary and its weight, maintenance. Every mode of mvk-swap
//! rebuilds the upstream file from the live release and this.

use crate::routing::Routing;
use crate::swap::Previous;
use anyhow::Result;
use mvk_core::state::State;
use mvk_core::Fail;
use serde::{Deserialize, Serialize};

const KEY: &str = "traffic";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Every request goes to the maintenance page.
    #[serde(default)]
    pub maintenance: bool,
    /// The previous release, left running as nginx's first backup (--keep-warm).
    #[serde(default)]
    pub warm: Option<Side>,
    /// A candidate taking part of the traffic (--weight).
    #[serde(default)]
    pub canary: Option<Canary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub release: Option<String>,
    pub slot: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub release: String,
    pub slot: String,
    pub port: u16,
    pub container: String,
    pub weight: u8,
    pub sticky: bool,
}

impl Traffic {
    pub fn load(state: &State) -> Result<Traffic, Fail> {
        match state.extra.get(KEY) {
            None | Some(serde_json::Value::Null) => Ok(Traffic::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Fail::unavailable(
                    "state",
                    format!("the state's `{KEY}` section is not valid: {e}"),
                )
            }),
        }
    }

    pub fn store(&self, state: &mut State) {
        let value = serde_json::to_value(self).expect("the traffic section serializes");
        state.extra.insert(KEY.into(), value);
    }

    /// After a full swap: no canary, no maintenance, and the previous release warm when it
    /// runs and --keep-warm asks for it.
    pub(crate) fn after_swap(keep_warm: bool, previous: Option<&Previous>) -> Traffic {
        let warm = previous
            .filter(|p| keep_warm && p.container.is_some())
            .map(|p| Side {
                release: p.release.clone(),
                slot: p.slot.name().into(),
                port: p.port,
            });
        Traffic {
            maintenance: false,
            warm,
            canary: None,
        }
    }

    /// How nginx routes with `live` as the live release's port.
    pub fn routing(&self, live: u16) -> Routing {
        Routing {
            live,
            canary: self.canary.as_ref().map(|c| (c.port, c.weight)),
            warm: self.warm.as_ref().map(|w| w.port),
            maintenance: self.maintenance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_state_and_keeps_other_fields() {
        let mut state = State::empty("shop");
        state.extra.insert("x-user".into(), 1.into());
        assert_eq!(Traffic::load(&state).unwrap(), Traffic::default());
        let t = Traffic {
            maintenance: false,
            warm: Some(Side {
                release: Some("r1".into()),
                slot: "blue".into(),
                port: 8000,
            }),
            canary: None,
        };
        t.store(&mut state);
        assert_eq!(Traffic::load(&state).unwrap(), t);
        assert_eq!(state.extra["x-user"], 1);
        assert_eq!(t.routing(8001).warm, Some(8000));
        state
            .extra
            .insert(KEY.into(), serde_json::json!({"canary": 3}));
        assert_eq!(
            Traffic::load(&state).unwrap_err().exit,
            mvk_core::Exit::Unavailable
        );
    }
}
