//! The two slots of blue/green (DESIGN.md §3).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    pub fn name(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }

    /// The container of `app` in this slot: `<app>-<slot>`.
    pub fn container(self, app: &str) -> String {
        format!("{app}-{}", self.name())
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Slot {
    type Err = String;
    fn from_str(s: &str) -> Result<Slot, String> {
        match s {
            "blue" => Ok(Slot::Blue),
            "green" => Ok(Slot::Green),
            _ => Err(format!("`{s}` is not a slot (blue or green)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_containers() {
        assert_eq!(Slot::Blue.other(), Slot::Green);
        assert_eq!("green".parse::<Slot>().unwrap(), Slot::Green);
        assert!("red".parse::<Slot>().is_err());
        assert_eq!(Slot::Green.container("shop"), "shop-green");
    }
}
