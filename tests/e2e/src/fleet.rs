//! Several "hosts" on this machine for SSH rollouts: each host is its own Docker engine (an
//! extra `dockerd` with its own bridge, data root, exec root, pid file and socket) reached
//! through its own `sshd` on a loopback port, whose sessions get `DOCKER_HOST` and a `PATH`
//! with the built tools and scripts. A test names the hosts in an ssh_config file (given to the
//! scripts as `MVK_SSH="ssh -F FILE"`) with each host's own env file (`SetEnv MVK_CONFIG=…`),
//! so every host has its own state, ports and nginx.
//!
//! The engines and sshds are started once for all the tests of a binary that run at the same
//! time ([`Fleet::get`] hands out a shared handle; the last handle dropped stops everything:
//! the sshds, the engines, their bridges and directories). A binary killed
//! before that leaves its directory `/tmp/mvk-fleet-<pid>-<n>` behind: the next one sweeps such
//! leftovers of dead processes first.

use crate::cmd::tool;
use crate::demo::repo_root;
use crate::net::{free_port, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How many hosts the fleet has.
pub const HOSTS: usize = 3;

pub struct Fleet {
    pub dir: PathBuf,
    pub hosts: Vec<Host>,
    /// The client key the sshds accept, and their host keys as known_hosts.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

/// One host: an engine and the sshd that reaches it; dropped, it stops both (the sshd first).
pub struct Host {
    pub ssh_port: u16,
    sshd: Child,
    engine: Engine,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

/// The `T` in `slot` while any test of this process holds it, else a new one from `start`:
/// what is costly to start (engines, sshd, a swarm) is started once for the tests that run
/// together, and stopped when the last of them drops it.
pub(crate) fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut held = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = held.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *held = Arc::downgrade(&started);
    started
}

static SHARED: Mutex<Weak<Fleet>> = Mutex::new(Weak::new());
/// Fleets this process has started: a fleet started while the last one is still being torn
/// down (its last handle was just dropped) gets names of its own, not the dying one's.
static STARTED: AtomicU32 = AtomicU32::new(0);

impl Fleet {
    /// The running fleet, started if no test holds it now.
    pub fn get() -> Arc<Fleet> {
        shared(&SHARED, || {
            sweep();
            Fleet::start()
        })
    }

    fn start() -> Fleet {
        let generation = STARTED.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!(
            "/tmp/mvk-fleet-{}-{generation}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("client_key");
        keygen(&key);
        let host_key = dir.join("host_key");
        keygen(&host_key);
        let mut fleet = Fleet {
            known_hosts: dir.join("known_hosts"),
            key,
            hosts: Vec::new(),
            dir,
        };
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut known = String::new();
        for i in 0..HOSTS {
            let host = fleet.start_host(i, &host_key);
            known += &format!("[127.0.0.1]:{} {host_pub}", host.ssh_port);
            fleet.hosts.push(host);
        }
        std::fs::write(&fleet.known_hosts, known).unwrap();
        fleet
    }

    fn start_host(&self, i: usize, host_key: &Path) -> Host {
        let engine_dir = self.dir.join(format!("h{i}"));
        std::fs::create_dir_all(&engine_dir).unwrap();
        let generation = STARTED.load(Ordering::SeqCst) % 100;
        let bridge = format!("mvkf{}g{generation}h{i}", std::process::id() % 100_000);
        // Stopped again if what follows fails.
        let engine = start_engine(&engine_dir, &bridge, &[]);
        let ssh_port = free_port();
        let config = engine_dir.join("sshd_config");
        let bin = tool("mvk-rollback").parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            bin.display(),
            repo_root().join("scripts").display()
        );
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{ssh_port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 AcceptEnv MVK_CONFIG\nSetEnv DOCKER_HOST={} PATH={path}\n",
                host_key.display(),
                self.key.with_extension("pub").display(),
                engine_dir.join("sshd.pid").display(),
                engine.docker_host,
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(engine_dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd (scripts/setup installs openssh-server)");
        let host = Host {
            ssh_port,
            sshd,
            engine,
        };
        assert!(
            wait_for_port(ssh_port, Duration::from_secs(10)),
            "sshd did not listen on {ssh_port}: {}",
            std::fs::read_to_string(engine_dir.join("sshd.log")).unwrap_or_default()
        );
        host
    }

    /// An ssh_config naming each host `web<N>` (N from 1) with its env file from `env_files`,
    /// plus `down`, a host whose port nothing listens on. Returns the `MVK_SSH` value.
    pub fn ssh_config(&self, file: &Path, env_files: &[PathBuf]) -> String {
        let mut text = String::new();
        let closed = free_port();
        let mut entries: Vec<(String, u16, Option<&PathBuf>)> = env_files
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("web{}", i + 1), self.hosts[i].ssh_port, Some(f)))
            .collect();
        entries.push(("down".into(), closed, None));
        for (name, port, env) in entries {
            text += &format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  \
                 ConnectTimeout 5\n  LogLevel ERROR\n",
                self.key.display(),
                self.known_hosts.display()
            );
            if let Some(env) = env {
                text += &format!("  SetEnv MVK_CONFIG={}\n", env.display());
            }
        }
        std::fs::write(file, text).unwrap();
        format!("ssh -F {}", file.display())
    }

    /// `docker -H <host N's engine> args…`, its stdout.
    pub fn docker(&self, host: usize, args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker")
            .arg("-H")
            .arg(&self.hosts[host].engine.docker_host)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// Removes app `name`'s containers and images from every host's engine.
    pub fn clean_app(&self, name: &str) {
        for i in 0..self.hosts.len() {
            let filter = format!("label=mvk.app={name}");
            let ids = self
                .docker(i, &["ps", "-aq", "--filter", &filter])
                .unwrap_or_default();
            for id in ids.lines() {
                let _ = self.docker(i, &["rm", "-f", "-v", id]);
            }
            let images = self
                .docker(i, &["images", "--format", "{{.Repository}}:{{.Tag}}"])
                .unwrap_or_default();
            for image in images.lines().filter(|r| r.contains(&format!("/{name}:"))) {
                let _ = self.docker(i, &["rmi", "-f", image]);
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.hosts.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An extra engine ([`start_engine`]); dropped, it is stopped, its bridge deleted and its
/// directory removed.
pub(crate) struct Engine {
    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub docker_host: String,
    dir: PathBuf,
    bridge: String,
    /// Our child, waited for once stopped; `None` until it is spawned.
    dockerd: Option<Child>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        stop_engine(&self.dir, &self.bridge, self.dockerd.as_mut());
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "mvk-e2e", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (scripts/setup installs openssh-client)")
        .success();
    assert!(ok, "ssh-keygen failed");
}

/// A free 172.31.X.0/24 for a bridge: one no route uses yet.
pub(crate) fn free_subnet() -> u8 {
    let routes = Command::new("ip")
        .args(["-4", "route"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let start = (std::process::id() % 200) as u8;
    (0..200u8)
        .map(|k| 20 + (start.wrapping_add(k) % 200))
        .find(|x| !routes.contains(&format!("172.31.{x}.")))
        .expect("a free 172.31.X.0/24")
}

/// An extra engine: a bridge of its own first (never `--bridge none`: that deletes docker0),
/// then dockerd with its own config file, data root, exec root, pid file and socket, no
/// iptables. Its pulls from the registry on 127.0.0.1 work: dockerd runs in this network
/// namespace. `extra` are more dockerd options. A failed start stops what it started.
pub(crate) fn start_engine(dir: &Path, bridge: &str, extra: &[&str]) -> Engine {
    let sock = dir.join("docker.sock");
    let mut engine = Engine {
        docker_host: format!("unix://{}", sock.display()),
        dir: dir.to_path_buf(),
        bridge: bridge.to_string(),
        dockerd: None,
    };
    let x = free_subnet();
    let ip = |args: &[&str]| {
        let ok = Command::new("ip").args(args).status().unwrap().success();
        assert!(ok, "ip {args:?} failed");
    };
    ip(&["link", "add", bridge, "type", "bridge"]);
    std::fs::write(dir.join("bridge"), bridge).unwrap();
    ip(&["addr", "add", &format!("172.31.{x}.1/24"), "dev", bridge]);
    ip(&["link", "set", bridge, "up"]);
    std::fs::write(dir.join("daemon.json"), "{}").unwrap();
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let dockerd = Command::new("dockerd")
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("-H")
        .arg(&engine.docker_host)
        .args(["--bridge", bridge, "--iptables=false"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start dockerd");
    let dockerd = engine.dockerd.insert(dockerd);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = Command::new("docker")
            .args(["-H", &engine.docker_host, "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            return engine;
        }
        let exited = dockerd.try_wait().ok().flatten();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "the extra engine in {} did not answer ({}): {}",
            dir.display(),
            exited.map_or("still starting".into(), |s| format!("dockerd {s}")),
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops the engine of `dir` (it stops its containers: SIGTERM, SIGKILL after 30 s), deletes
/// its bridge and its directory. `dockerd` is the engine as our child, reaped here; without it
/// (an engine of a test binary that died), the engine is found by its pid file.
pub(crate) fn stop_engine(dir: &Path, bridge: &str, dockerd: Option<&mut Child>) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if let Some(child) = dockerd {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        wait_while(|| matches!(child.try_wait(), Ok(None)));
        // Already reaped, it is not signalled again.
        let _ = child.kill();
        let _ = child.wait();
    } else if let Some(pid) = std::fs::read_to_string(dir.join("dockerd.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .map(Pid::from_raw)
    {
        let alive = || kill(pid, None).is_ok();
        if kill(pid, Signal::SIGTERM).is_ok() {
            wait_while(alive);
            if alive() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }
    delete_link(bridge);
    // Mounts an engine killed hard may leave under its roots.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "grep -o ' {}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
            dir.display()
        ))
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

/// Deletes a network interface, if it is there.
pub(crate) fn delete_link(name: &str) {
    let _ = Command::new("ip")
        .args(["link", "delete", name])
        .stderr(Stdio::null())
        .status();
}

/// Polls `running` until it is false, for at most 30 s (an engine stopping its containers).
fn wait_while(mut running: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Leftovers of fleets whose test binary died before stopping them: their sshds, engines,
/// bridges and directories.
fn sweep() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("mvk-fleet-")
            .and_then(|p| p.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32
            || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        {
            continue;
        }
        for i in 0..HOSTS {
            let dir = entry.path().join(format!("h{i}"));
            if let Some(sshd) = std::fs::read_to_string(dir.join("sshd.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(sshd),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let bridge = std::fs::read_to_string(dir.join("bridge")).unwrap_or_default();
            if !bridge.is_empty() {
                stop_engine(&dir, bridge.trim(), None);
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
