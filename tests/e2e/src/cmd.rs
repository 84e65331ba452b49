//! Running the tools under test and the docker CLI.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The path of a built tool binary (`cargo build --workspace` builds them).
pub fn tool(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; the tools in target/<profile>.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test does)",
        path.display()
    );
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as the one JSON record it must be.
    pub fn record(&self) -> Value {
        assert_eq!(
            self.stdout.matches('\n').count(),
            1,
            "stdout is not one line: {:?}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs a tool with `args`, `env` and `stdin`, and waits for it.
pub fn run_tool(name: &str, args: &[&str], env: &[(String, String)], stdin: &str) -> Run {
    finish(spawn_tool(name, args, env, stdin))
}

/// Starts a tool with `args`, `env` and `stdin`, without waiting for it (to signal it).
pub fn spawn_tool(name: &str, args: &[&str], env: &[(String, String)], stdin: &str) -> Child {
    let mut cmd = Command::new(tool(name));
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    spawn(cmd, stdin)
}

/// Runs a prepared command with `stdin`, capturing its output, and waits for it.
pub fn run_command(cmd: Command, stdin: &str) -> Run {
    finish(spawn(cmd, stdin))
}

/// Starts a prepared command with stdout and stderr piped and `stdin` written to it, then
/// closed.
pub fn spawn(mut cmd: Command, stdin: &str) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_string();
    // Written from a thread, so a command that writes before it has read all its input
    // cannot deadlock against the test.
    std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    child
}

/// Waits for a spawned tool (stdout and stderr piped) and collects what it wrote. Every
/// release record in its stdout must follow docs/release.schema.json.
pub fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    crate::schema::check_output(&String::from_utf8_lossy(&out.stdout), code);
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Sends `signal` to a spawned tool, as Ctrl-C or systemd would.
pub fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// Runs the docker CLI; returns trimmed stdout, or `Err(stderr)`.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Tries `flock -n LOCK true` as the user nobody: the tests run as root, and whoever else can
/// open a lock file could take the lock and stall every deploy.
pub fn flock_as_nobody(lock: &Path) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "flock",
            "-n",
        ])
        .arg(lock)
        .arg("true")
        .output()
        .unwrap()
}
