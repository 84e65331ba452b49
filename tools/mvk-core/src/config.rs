//! Options every tool shares. Every option also reads `MVK_<OPTION>` (DESIGN.md §2), so one
//! env file per app configures all tools, the scripts and the systemd units.

pub use crate::validate::{app as app_name, port};
use crate::Slot;
use clap::builder::BoolishValueParser;
use clap::Args;
use std::path::PathBuf;

/// The app's env file, for the tools that start its containers or print their output.
#[derive(Args, Debug, Clone)]
pub struct EnvFileArgs {
    /// KEY=VALUE lines for the app's environment, read as systemd's EnvironmentFile= reads
    /// them (quotes, `\` continuations, `#` comments); the values are secrets: they never
    /// appear in the record, on stderr or in printed logs (shown as ***)
    #[arg(long, env = "MVK_ENV_FILE", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

impl EnvFileArgs {
    /// The file's variables (none without `--env-file`); exit 2 when it cannot be read.
    pub fn load(&self) -> Result<crate::envfile::EnvFile, crate::Fail> {
        match &self.env_file {
            Some(path) => crate::envfile::EnvFile::load(path),
            None => Ok(crate::envfile::EnvFile::default()),
        }
    }
}

/// `--quiet`, shared by every tool.
#[derive(Args, Debug, Clone)]
pub struct Output {
    /// Print no progress on stderr (errors are still printed)
    #[arg(long, short, env = "MVK_QUIET", value_parser = BoolishValueParser::new())]
    pub quiet: bool,
}

/// Where the per-app state and lock live.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// Directory holding <app>/state.json and <app>/lock
    #[arg(
        long,
        env = "MVK_STATE_DIR",
        default_value = "/var/lib/mvk",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
}

/// The slots' host ports and the port the app listens on inside its container.
#[derive(Args, Debug, Clone)]
pub struct SlotArgs {
    /// Host port of the blue slot
    #[arg(
        long,
        env = "MVK_BLUE_PORT",
        value_parser = port,
        default_value_t = 8000,
        value_name = "PORT"
    )]
    pub blue_port: u16,
    /// Host port of the green slot
    #[arg(
        long,
        env = "MVK_GREEN_PORT",
        value_parser = port,
        default_value_t = 8001,
        value_name = "PORT"
    )]
    pub green_port: u16,
    /// Port the app listens on inside the container
    #[arg(
        long,
        env = "MVK_CONTAINER_PORT",
        value_parser = port,
        default_value_t = 8000,
        value_name = "PORT"
    )]
    pub container_port: u16,
}

impl SlotArgs {
    pub fn port(&self, slot: Slot) -> u16 {
        match slot {
            Slot::Blue => self.blue_port,
            Slot::Green => self.green_port,
        }
    }

    /// The slot whose host port is `port`, if any.
    pub fn slot_of(&self, port: u16) -> Option<Slot> {
        [Slot::Blue, Slot::Green]
            .into_iter()
            .find(|s| self.port(*s) == port)
    }
}

/// Where the app's nginx upstream file is and how nginx is driven.
#[derive(Args, Debug, Clone)]
pub struct NginxArgs {
    /// Upstream file owned by mvk-swap [default: /etc/nginx/mvk/<app>.upstream]
    #[arg(long, env = "MVK_UPSTREAM_FILE", value_name = "FILE")]
    pub upstream_file: Option<PathBuf>,
    /// Name of the upstream block [default: the app name]
    #[arg(long, env = "MVK_UPSTREAM_NAME", value_name = "NAME", value_parser = crate::validate::upstream_name)]
    pub upstream_name: Option<String>,
    /// The nginx binary
    #[arg(long, env = "MVK_NGINX", default_value = "nginx", value_name = "PATH")]
    pub nginx: PathBuf,
    /// nginx's main config file, passed as `-c` [default: nginx's own]
    #[arg(long, env = "MVK_NGINX_CONF", value_name = "FILE")]
    pub nginx_conf: Option<PathBuf>,
}

impl NginxArgs {
    pub fn upstream_file(&self, app: &str) -> PathBuf {
        self.upstream_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/etc/nginx/mvk/{app}.upstream")))
    }

    pub fn upstream_name(&self, app: &str) -> String {
        self.upstream_name
            .clone()
            .unwrap_or_else(|| app.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        for (good, want) in [("1", 1), ("8000", 8000), ("65535", 65535)] {
            assert_eq!(port(good), Ok(want));
        }
        for bad in ["0", "65536", "-1", "", " 80", "80 ", "http", "8e3"] {
            assert!(port(bad).is_err(), "{bad}");
        }
    }
}
