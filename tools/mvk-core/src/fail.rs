//! A step's failure: which exit code, what kind, and a message for a person.
//!
//! Tools return `anyhow::Result`; a `Fail` anywhere in the chain decides the exit code and
//! `error.kind`, and any context added on the way becomes part of the message.

use crate::Exit;
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone)]
pub struct Fail {
    pub exit: Exit,
    pub kind: String,
    pub message: String,
    /// Extra fields for the record's `error` object (for example `logs`).
    pub details: Vec<(String, Value)>,
}

impl Fail {
    pub fn new(exit: Exit, kind: &str, message: impl Into<String>) -> Fail {
        Fail {
            exit,
            kind: kind.to_string(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Exit 1: the step ran and failed.
    pub fn failed(kind: &str, message: impl Into<String>) -> Fail {
        Fail::new(Exit::Failed, kind, message)
    }

    /// Exit 2: bad input or usage; nothing was changed.
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail::new(Exit::Usage, "bad-input", message)
    }

    /// Exit 4: something the step needs is not there (Docker, nginx, a registry, the lock).
    pub fn unavailable(kind: &str, message: impl Into<String>) -> Fail {
        Fail::new(Exit::Unavailable, kind, message)
    }

    pub fn interrupted(signal: &str) -> Fail {
        Fail::new(
            Exit::Interrupted,
            "interrupted",
            format!("interrupted by {signal}"),
        )
    }

    /// Adds a field to the record's `error` object.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Fail {
        self.details.push((key.to_string(), value.into()));
        self
    }

    /// The exit code, kind, full message and details of any error a tool returns.
    /// An error with no `Fail` in its chain is a plain failure of the step (exit 1).
    pub fn classify(err: &anyhow::Error) -> Fail {
        let message = format!("{err:#}");
        match err.chain().find_map(|e| e.downcast_ref::<Fail>()) {
            Some(fail) => Fail {
                message,
                ..fail.clone()
            },
            None => Fail::failed("error", message),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn classify_keeps_exit_and_kind_under_context() {
        let err = Err::<(), _>(Fail::unavailable("docker", "engine down"))
            .context("starting the candidate")
            .unwrap_err();
        let fail = Fail::classify(&err);
        assert_eq!(fail.exit, Exit::Unavailable);
        assert_eq!(fail.kind, "docker");
        assert_eq!(fail.message, "starting the candidate: engine down");
    }

    #[test]
    fn classify_plain_error_is_a_failed_step() {
        let fail = Fail::classify(&anyhow::anyhow!("boom"));
        assert_eq!(fail.exit, Exit::Failed);
        assert_eq!(fail.kind, "error");
    }
}
