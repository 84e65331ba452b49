//! The release's behaviour, read from environment variables so that one binary makes every
//! kind of release a test needs.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// `DEMO_VERSION`: what `/` and `/api/v1/status` report.
    pub version: String,
    /// `DEMO_PORT`: the port to listen on inside the container.
    pub port: u16,
    /// `DEMO_CRASH`: exit 3 at start after printing this on stderr.
    pub crash: Option<String>,
    /// `DEMO_LOG_LINES`: print this many numbered lines on stdout at start (`log line N`).
    pub log_lines: u32,
    /// `DEMO_START_DELAY_MS`: wait this long before listening.
    pub start_delay: Duration,
    /// `DEMO_UNHEALTHY`: `/health` answers 503 forever.
    pub unhealthy: bool,
    /// `DEMO_ERROR_RATE`: this share of app requests (not `/health`, `/metrics`) answer 500.
    pub error_rate: f64,
    /// `DEMO_SLOW_MS`: app requests (not `/health`, `/metrics`) take this long.
    pub slow: Duration,
    /// `DEMO_IGNORE_SIGTERM`: keep serving on SIGTERM (a badly behaved app).
    pub ignore_sigterm: bool,
    /// `DEMO_NO_SIGNAL_HANDLER`: install no handler for SIGTERM/SIGINT. As PID 1 of a
    /// container the kernel then ignores them (as it does for busybox httpd and many Node or
    /// Python apps); under an init they kill the app at once.
    pub no_signal_handler: bool,
    /// `DEMO_ALLOC_MB`: allocate and touch this much memory at start (to be OOM-killed under a
    /// smaller memory limit).
    pub alloc_mb: usize,
    /// `DEMO_CRASH_AFTER_MS`: exit 3 this long after it starts listening (a release that
    /// crashes while serving, for Docker's restart policy to bring back).
    pub crash_after: Option<Duration>,
    /// `DEMO_METRICS_LINE`: a line appended to `/metrics` as it is (an app that echoes a value
    /// there, or whose exposition is malformed).
    pub metrics_line: Option<String>,
    /// `DEMO_ORPHANS`: at start, leave this many processes whose parent has exited, for PID 1
    /// to reap when they end (a worker pool or a shell script does so; an app that is PID 1
    /// itself and never waits leaves them as zombies).
    pub orphans: u32,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Ok(Config {
            version: var("DEMO_VERSION").unwrap_or_else(|| "dev".into()),
            port: parse("DEMO_PORT", 8000)?,
            crash: var("DEMO_CRASH"),
            log_lines: parse("DEMO_LOG_LINES", 0)?,
            start_delay: Duration::from_millis(parse("DEMO_START_DELAY_MS", 0)?),
            unhealthy: flag("DEMO_UNHEALTHY"),
            error_rate: parse("DEMO_ERROR_RATE", 0.0)?,
            slow: Duration::from_millis(parse("DEMO_SLOW_MS", 0)?),
            ignore_sigterm: flag("DEMO_IGNORE_SIGTERM"),
            no_signal_handler: flag("DEMO_NO_SIGNAL_HANDLER"),
            alloc_mb: parse("DEMO_ALLOC_MB", 0)?,
            crash_after: var("DEMO_CRASH_AFTER_MS")
                .map(|_| parse("DEMO_CRASH_AFTER_MS", 0).map(Duration::from_millis))
                .transpose()?,
            metrics_line: var("DEMO_METRICS_LINE"),
            orphans: parse("DEMO_ORPHANS", 0)?,
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn flag(name: &str) -> bool {
    var(name).is_some_and(|v| v != "0" && v != "false")
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("{name}={v} is not valid")),
    }
}
