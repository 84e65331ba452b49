//! Human progress on stderr: plain lines prefixed with the tool's name; a live, rewritten
//! status line only when stderr is a terminal; `--quiet` silences all but errors.

use std::cell::Cell;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    tool: &'static str,
    quiet: bool,
    tty: bool,
    /// A live line is on screen and must be cleared before the next plain line.
    live: Cell<bool>,
    /// `--timings`: when the tool started and when the last phase ended.
    timings: Option<(Instant, Cell<Instant>)>,
}

impl Progress {
    pub fn new(tool: &'static str, quiet: bool) -> Progress {
        Progress {
            tool,
            quiet,
            tty: std::io::stderr().is_terminal(),
            live: Cell::new(false),
            timings: None,
        }
    }

    /// Makes [`Progress::phase`] print (`--timings`).
    pub fn with_timings(mut self, on: bool) -> Progress {
        let now = Instant::now();
        self.timings = on.then(|| (now, Cell::new(now)));
        self
    }

    /// With `--timings`, a line saying that `phase` has ended, when (ms since the tool
    /// started) and how long it took (ms since the previous phase ended); printed even with
    /// `--quiet`, since it was asked for.
    pub fn phase(&self, phase: impl Display) {
        let Some((start, last)) = &self.timings else {
            return;
        };
        let now = Instant::now();
        let ms = |since: Instant| now.duration_since(since).as_secs_f64() * 1e3;
        self.line(format_args!(
            "timing {:8.1} ms {:+8.1} ms  {phase}",
            ms(*start),
            ms(last.replace(now))
        ));
    }

    pub fn tool(&self) -> &'static str {
        self.tool
    }

    /// A progress line: `mvk-swap: reloading nginx`.
    pub fn say(&self, msg: impl Display) {
        if !self.quiet {
            self.line(msg);
        }
    }

    /// A line printed even with `--quiet` (errors, the logs of a failed candidate).
    pub fn error(&self, msg: impl Display) {
        self.line(msg);
    }

    /// A status line that rewrites itself on a terminal, and is not printed otherwise.
    pub fn live(&self, msg: impl Display) {
        if self.quiet || !self.tty {
            return;
        }
        let _ = write!(std::io::stderr(), "\r\x1b[K{}: {msg}", self.tool);
        self.live.set(true);
    }

    fn line(&self, msg: impl Display) {
        let mut err = std::io::stderr().lock();
        if self.live.replace(false) {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "{}: {msg}", self.tool);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.live.get() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
