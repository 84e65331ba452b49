//! Running the shell scripts under `scripts/` as a host runs them: the tools found on PATH
//! (the built ones first), the app configured through `MVK_*` variables; and interrupting a
//! running one the ways a user or systemd does.

use crate::app::TestApp;
use crate::cmd::{run_command, tool, Run};
use crate::demo::repo_root;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// How a test interrupts a running script or tool.
#[derive(Debug, Clone, Copy)]
pub enum Interrupt {
    /// SIGINT to its whole process group: Ctrl-C in a terminal.
    CtrlC,
    /// SIGTERM to it alone: `kill PID`, or systemd stopping a unit's main process.
    Kill,
    /// SIGINT to it alone: `kill -INT PID`.
    KillInt,
    /// SIGTERM to its whole process group: `systemctl stop` (KillMode=control-group).
    Stop,
}

impl Interrupt {
    pub fn signal(self) -> Signal {
        match self {
            Interrupt::CtrlC | Interrupt::KillInt => Signal::SIGINT,
            Interrupt::Kill | Interrupt::Stop => Signal::SIGTERM,
        }
    }

    pub fn name(self) -> &'static str {
        self.signal().as_str()
    }
}

/// A command started in a session of its own, so also its own process group (a signal to the
/// group reaches it and its children, never the test), its stderr collected as it comes.
/// Dropped before it was finished (a test failing on the way), every process of its session
/// is killed: the scripts run their pipelines in process groups of their own.
pub struct Interruptible {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
}

impl Interruptible {
    pub fn start(mut cmd: Command, stdin: Stdio) -> Interruptible {
        // SAFETY: setsid is async-signal-safe, and nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, seen) = (child.stderr.take().unwrap(), stderr.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        Interruptible {
            child,
            stderr,
            reader: Some(reader),
            stdout: Some(stdout),
        }
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its stderr so far, shared: to read inside a [`Interruptible::wait_until`] condition.
    pub fn stderr_handle(&self) -> Arc<Mutex<String>> {
        self.stderr.clone()
    }

    /// Waits (at most `timeout`) until `ready` holds; fails at once if the command ended.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        crate::wait_until(what, timeout, || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("it ended ({status}) before {what}:\n{}", self.stderr());
            }
            ready()
        });
    }

    /// Waits until it has written `text` on stderr.
    pub fn wait_for_line(&mut self, text: &str, timeout: Duration) {
        let seen = self.stderr_handle();
        self.wait_until(&format!("`{text}` on stderr"), timeout, || {
            seen.lock().unwrap().contains(text)
        });
    }

    pub fn interrupt(&self, how: Interrupt) {
        let pid = self.child.id() as i32;
        let target = match how {
            Interrupt::CtrlC | Interrupt::Stop => Pid::from_raw(-pid),
            Interrupt::Kill | Interrupt::KillInt => Pid::from_raw(pid),
        };
        nix::sys::signal::kill(target, how.signal()).unwrap();
    }

    /// Past `end`, kills what is left of its session and fails the test.
    fn kill_after(&self, end: Instant, what: &str) {
        if Instant::now() > end {
            kill_session(self.child.id());
            panic!("{what} after the signal:\n{}", self.stderr());
        }
    }

    /// Waits for it to end (at most `timeout`; then its group is killed and the test fails)
    /// and collects what it wrote. Every release record in its stdout must follow the schema.
    /// Its children must have ended with it: one still holding its stderr fails the test.
    pub fn finish(mut self, timeout: Duration) -> Run {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            self.kill_after(end, "it is still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        let (reader, stdout) = (self.reader.take().unwrap(), self.stdout.take().unwrap());
        while !(reader.is_finished() && stdout.is_finished()) {
            self.kill_after(
                end,
                "it ended, but left processes running that hold its output",
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
        let _ = reader.join();
        let code = status.code().unwrap_or(-1);
        crate::schema::check_output(&stdout, code);
        Run {
            code,
            stdout,
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for Interruptible {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            kill_session(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// SIGKILL to every process of the session `sid` (by /proc: its processes may sit in other
/// process groups, or have outlived its leader).
fn kill_session(sid: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        // State, ppid, process group, session.
        let session = crate::procs::stat_fields(pid)
            .get(3)
            .and_then(|s| s.parse::<u32>().ok());
        if session == Some(sid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}
