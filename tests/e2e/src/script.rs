//! Running the shell scripts under `scripts/` as a host runs them: the tools found on PATH
//! (the built ones first), the app configured through `MVK_*` variables.

use crate::app::TestApp;
use crate::cmd::{run_command, tool, Run};
use crate::demo::repo_root;
use std::path::PathBuf;
use std::process::Command;

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// `scripts/<name> args` with the app's environment plus `extra`, target/<profile> first on PATH.
pub fn script_command(app: &TestApp, name: &str, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let bin = tool("mvk-rollback").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(script(name));
    cmd.args(args)
        .env("PATH", path)
        .envs(app.env())
        .envs(extra.iter().copied());
    cmd
}

/// Runs `scripts/<name>` to the end (see [`script_command`]).
pub fn run_script(
    app: &TestApp,
    name: &str,
    args: &[&str],
    extra: &[(&str, &str)],
    stdin: &str,
) -> Run {
    run_command(script_command(app, name, args, extra), stdin)
}
