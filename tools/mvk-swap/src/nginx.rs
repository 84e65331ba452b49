//! Driving nginx: validate the configuration, find its master process and make it reload.

use crate::procs::{self, Proc};
use crate::Handover;
use anyhow::Result;
use mvk_core::config::NginxArgs;
use mvk_core::{signal, Fail};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Nginx {
    bin: PathBuf,
    conf: Option<PathBuf>,
    handover: Handover,
}

impl Nginx {
    pub fn new(args: &NginxArgs, handover: Handover) -> Nginx {
        Nginx {
            bin: args.nginx.clone(),
            conf: args.nginx_conf.clone(),
            handover,
        }
    }

    /// Runs nginx with `args` to its end, or until a signal arrives: then it is killed and the
    /// result is `Err(interrupted)`. A signal that came just before the spawn would otherwise
    /// wait out a config test that hangs (a stuck include on a network mount, say).
    fn run(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        if let Some(conf) = &self.conf {
            cmd.arg("-c").arg(conf);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Fail::unavailable("nginx", format!("cannot run {}: {e}", self.bin.display()))
            })?;
        // Read on threads, so a large `-T` dump never fills a pipe while we poll.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        loop {
            if let Some(status) = child.try_wait()? {
                let joined = |t: JoinHandle<Vec<u8>>| t.join().unwrap_or_default();
                return Ok(Output {
                    status,
                    stdout: joined(stdout),
                    stderr: joined(stderr),
                });
            }
            if let Err(interrupted) = signal::check() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(interrupted.into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// `nginx -T`: the configuration must be valid and must include `upstream_file` (a site
    /// that does not include it would keep routing to the old release after the "swap").
    pub fn check(&self, upstream_file: &Path) -> Result<()> {
        let out = self.run(&["-T", "-q"])?;
        if !out.status.success() {
            return Err(Fail::failed(
                "nginx-config",
                format!(
                    "nginx -t rejects the configuration: {}",
                    messages(&out.stderr)
                ),
            )
            .into());
        }
        let dump = String::from_utf8_lossy(&out.stdout);
        if !includes(&dump, upstream_file) {
            return Err(Fail::failed(
                "nginx-config",
                format!(
                    "nginx's configuration never includes {}: add `include {};` to the http block and `proxy_pass http://<upstream name>;` to the site",
                    upstream_file.display(),
                    upstream_file.display()
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Asks the master to re-read its configuration: SIGHUP, which is all `nginx -s reload`
    /// sends after parsing the whole configuration again only to find the pid file (a process
    /// and a parse less per swap). The master is the one `master()` found, by pid and start
    /// time, so a pid the kernel has handed out again is never signalled.
    pub fn reload(&self, master: Proc) -> Result<()> {
        let gone = || {
            not_running(format!(
                "its master process {} exited before the reload",
                master.pid
            ))
        };
        if !procs::alive(master) {
            return Err(gone());
        }
        match kill(Pid::from_raw(master.pid), Signal::SIGHUP) {
            Ok(()) => Ok(()),
            Err(Errno::ESRCH) => Err(gone()),
            Err(e) => Err(Fail::failed(
                "nginx-reload",
                format!(
                    "cannot signal nginx's master process {} to reload: {e}",
                    master.pid
                ),
            )
            .into()),
        }
    }

    /// With `--handover quick`, tells nginx's workers from before a reload to stop taking
    /// connections now: SIGQUIT, a worker's graceful shutdown (it closes its listening
    /// sockets and finishes what it serves). The master tells them the same only after a
    /// fixed 100 ms sleep that follows the start of the new workers, and until then the old
    /// workers, first in the kernel's queue, take most new connections. Call it only once new
    /// workers run: the master blocks SIGCHLD through that sleep, so an old worker that exits
    /// early is still its (unreaped) child when the master tells it to quit, and is never
    /// respawned. Workers already shutting down, gone, or no longer the processes `old` names
    /// are left alone.
    pub fn hand_over(&self, old: &[Proc]) {
        if self.handover == Handover::Nginx {
            return;
        }
        for &worker in old {
            let title = procs::cmdline(worker.pid);
            if procs::alive(worker)
                && title.contains("worker process")
                && !title.contains("shutting down")
            {
                // ESRCH: it exited meanwhile, which is what was asked.
                let _ = kill(Pid::from_raw(worker.pid), Signal::SIGQUIT);
            }
        }
    }

    /// The running master process, or exit 4 saying why there is none.
    pub fn master(&self) -> Result<Proc> {
        let pid_file = self.pid_file()?;
        let text = std::fs::read_to_string(&pid_file).map_err(|e| {
            not_running(format!(
                "cannot read its pid file {}: {e}",
                pid_file.display()
            ))
        })?;
        let pid: i32 = text.trim().parse().map_err(|_| {
            not_running(format!(
                "its pid file {} holds {:?}, not a pid",
                pid_file.display(),
                text.trim()
            ))
        })?;
        let master = procs::find(pid).ok_or_else(|| {
            not_running(format!(
                "no process {pid} (from {}) is running",
                pid_file.display()
            ))
        })?;
        if !procs::cmdline(pid).contains("master process") {
            return Err(not_running(format!(
                "process {pid} (from {}) is not an nginx master process",
                pid_file.display()
            )));
        }
        Ok(master)
    }

    /// Where the master writes its pid: the `pid` directive of the main configuration, else
    /// the compiled-in `--pid-path`, else /run/nginx.pid.
    fn pid_file(&self) -> Result<PathBuf> {
        // An absolute `pid` in the given configuration needs nothing from `nginx -V` (one
        // process less per swap).
        let absolute = self
            .conf
            .as_ref()
            .and_then(|conf| std::fs::read_to_string(conf).ok())
            .and_then(|text| main_directive(&text, "pid"))
            .map(PathBuf::from)
            .filter(|pid| pid.is_absolute());
        if let Some(pid) = absolute {
            return Ok(pid);
        }
        let built = self.run(&["-V"])?;
        let built = String::from_utf8_lossy(&built.stderr).into_owned();
        let prefix = configure_arg(&built, "--prefix").unwrap_or_else(|| "/usr/local/nginx".into());
        let conf = self
            .conf
            .clone()
            .or_else(|| configure_arg(&built, "--conf-path").map(PathBuf::from))
            .unwrap_or_else(|| Path::new(&prefix).join("conf/nginx.conf"));
        let from_conf = std::fs::read_to_string(&conf)
            .ok()
            .and_then(|text| main_directive(&text, "pid"));
        let pid = from_conf
            .or_else(|| configure_arg(&built, "--pid-path"))
            .unwrap_or_else(|| "/run/nginx.pid".into());
        // Relative paths are relative to nginx's prefix.
        Ok(Path::new(&prefix).join(pid))
    }
}

/// Everything `pipe` yields, read on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn not_running(why: String) -> anyhow::Error {
    Fail::unavailable("nginx", format!("nginx is not running: {why}")).into()
}

/// nginx's own error lines, without the `nginx: ` prefix and joined on one line.
fn messages(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_start_matches("nginx: "))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "no message".into()
    } else {
        lines.join("; ")
    }
}

/// A `./configure` argument from `nginx -V` (`--pid-path=/run/nginx.pid`).
fn configure_arg(built: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    built
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix(&key))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
}

/// The argument of a directive in the main context (outside every block) of an nginx
/// configuration.
fn main_directive(conf: &str, name: &str) -> Option<String> {
    let code: String = conf
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut depth = 0usize;
    let mut statement = String::new();
    for c in code.chars() {
        match c {
            '{' => {
                depth += 1;
                statement.clear();
            }
            '}' => {
                depth = depth.saturating_sub(1);
                statement.clear();
            }
            ';' => {
                let mut words = statement.split_whitespace();
                if depth == 0 && words.next() == Some(name) {
                    return words
                        .next()
                        .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_string());
                }
                statement.clear();
            }
            c => statement.push(c),
        }
    }
    None
}

/// True when `nginx -T`'s dump lists `file` among the files it read.
fn includes(dump: &str, file: &Path) -> bool {
    let wanted = [Some(file.to_path_buf()), file.canonicalize().ok()];
    dump.lines()
        .filter_map(|l| l.strip_prefix("# configuration file ")?.strip_suffix(':'))
        .map(Path::new)
        .any(|read| {
            let real = read.canonicalize().ok();
            wanted
                .iter()
                .flatten()
                .any(|w| w == read || Some(w) == real.as_ref())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_pid_directive_in_the_main_context_only() {
        let conf = "user www-data;\n# pid /commented;\nevents { pid /in-a-block; }\npid  /run/x.pid ;\nhttp { }\n";
        assert_eq!(main_directive(conf, "pid"), Some("/run/x.pid".into()));
        assert_eq!(
            main_directive("pid \"logs/n.pid\";", "pid"),
            Some("logs/n.pid".into())
        );
        assert_eq!(main_directive("http { pid /x; }", "pid"), None);
        assert_eq!(main_directive("pidfile /x;", "pid"), None);
    }

    #[test]
    fn an_absolute_pid_in_the_configuration_needs_no_nginx_run() {
        let dir = std::env::temp_dir().join(format!("mvk-swap-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("nginx.conf");
        // No such binary: only a relative pid path would need `nginx -V`.
        let nginx = Nginx {
            bin: dir.join("no-nginx"),
            conf: Some(conf.clone()),
            handover: Handover::Quick,
        };
        std::fs::write(&conf, "pid /run/mvk-test.pid;\nhttp { }\n").unwrap();
        assert_eq!(nginx.pid_file().unwrap(), Path::new("/run/mvk-test.pid"));
        std::fs::write(&conf, "pid logs/nginx.pid;\n").unwrap();
        assert!(nginx.pid_file().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_configure_arguments() {
        let v = "nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --pid-path=/run/nginx.pid";
        assert_eq!(
            configure_arg(v, "--prefix"),
            Some("/usr/share/nginx".into())
        );
        assert_eq!(
            configure_arg(v, "--pid-path"),
            Some("/run/nginx.pid".into())
        );
        assert_eq!(configure_arg(v, "--lock-path"), None);
    }

    #[test]
    fn sees_whether_the_dump_includes_the_file() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nhttp {}\n\n# configuration file /etc/nginx/mvk/shop.upstream:\nupstream shop {}\n";
        assert!(includes(dump, Path::new("/etc/nginx/mvk/shop.upstream")));
        assert!(!includes(dump, Path::new("/etc/nginx/mvk/other.upstream")));
    }

    #[test]
    fn keeps_nginx_messages_short() {
        let err = b"nginx: [emerg] unexpected \";\" in /x/a.upstream:2\nnginx: configuration file /x/nginx.conf test failed\n";
        assert_eq!(
            messages(err),
            "[emerg] unexpected \";\" in /x/a.upstream:2; configuration file /x/nginx.conf test failed"
        );
    }
}
