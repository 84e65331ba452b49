//! The exit codes of DESIGN.md §2, as the one type a tool's `main` returns.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The step did its job.
    Ok,
    /// The step ran and failed: unhealthy, check failed, alert firing, build failed.
    Failed,
    /// Usage error or bad input; nothing was changed.
    Usage,
    /// An earlier step failed; its record was passed through untouched.
    Upstream,
    /// The environment is unavailable: Docker, nginx or a registry unreachable, lock held.
    Unavailable,
    /// SIGINT or SIGTERM; the step undid its own half-done work.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Upstream => 3,
            Exit::Unavailable => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_design() {
        let codes: Vec<u8> = [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::Upstream,
            Exit::Unavailable,
            Exit::Interrupted,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130]);
    }
}
