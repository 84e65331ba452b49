//! A single-node Docker Swarm for the tests, never the main engine: an extra `dockerd` (its own
//! bridge, config file, data root, exec root, pid file and socket; `--ip 127.0.0.1`, so ports
//! its services publish in host mode listen on loopback only) made a manager with
//! `docker swarm init --advertise-addr 127.0.0.1`. Swarm would make a host interface named
//! `docker_gwbridge`, shared by every swarm engine on the machine; the harness makes that
//! network first under a bridge name of its own. The swarm listens on a free port and uses
//! its own VXLAN port.
//!
//! Started once for the tests of a binary that run at the same time ([`SwarmEngine::get`]);
//! the last handle dropped stops the engine (the swarm with it) and deletes its bridges and
//! directory. A binary killed first leaves `/tmp/mvk-swarm-<pid>-<n>` behind: the next one
//! sweeps such leftovers of dead processes.

use crate::fleet::{delete_link, free_subnet, shared, start_engine, stop_engine, Engine};
use crate::net::free_port;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub struct SwarmEngine {
    /// The manager. Fields drop in order: the engine stops before its gateway bridge goes.
    engine: Engine,
    gw_bridge: Link,
}

/// A network interface the engine made, deleted when dropped.
struct Link(String);

impl Drop for Link {
    fn drop(&mut self) {
        delete_link(&self.0);
    }
}

static SHARED: Mutex<Weak<SwarmEngine>> = Mutex::new(Weak::new());
static STARTED: AtomicU32 = AtomicU32::new(0);

impl SwarmEngine {
    /// The running swarm, started if no test holds it now.
    pub fn get() -> Arc<SwarmEngine> {
        shared(&SHARED, || {
            sweep();
            SwarmEngine::start()
        })
    }

    fn start() -> SwarmEngine {
        let generation = STARTED.fetch_add(1, Ordering::SeqCst) % 100;
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/mvk-swarm-{pid}-{generation}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bridge = format!("mvks{}g{generation}", pid % 100_000);
        let gw_bridge = format!("mvksg{}g{generation}", pid % 100_000);
        std::fs::write(dir.join("bridge"), &bridge).unwrap();
        std::fs::write(dir.join("gw_bridge"), &gw_bridge).unwrap();
        // Stops the engine and deletes the bridges if what follows fails.
        let engine = SwarmEngine {
            engine: start_engine(&dir, &bridge, &["--ip", "127.0.0.1"]),
            gw_bridge: Link(gw_bridge),
        };
        let subnet = format!("172.31.{}.0/24", free_subnet());
        let gw_name = format!("com.docker.network.bridge.name={}", engine.gw_bridge.0);
        engine
            .docker(&[
                "network",
                "create",
                "--driver",
                "bridge",
                "--subnet",
                &subnet,
                "--opt",
                &gw_name,
                "--opt",
                "com.docker.network.bridge.enable_icc=false",
                "docker_gwbridge",
            ])
            .unwrap_or_else(|e| panic!("creating docker_gwbridge: {e}"));
        let listen = format!("127.0.0.1:{}", free_port());
        let vxlan = free_udp_port().to_string();
        engine
            .docker(&[
                "swarm",
                "init",
                "--advertise-addr",
                &listen,
                "--listen-addr",
                &listen,
                "--data-path-port",
                &vxlan,
            ])
            .unwrap_or_else(|e| panic!("docker swarm init: {e}"));
        engine
    }

    /// `docker -H <the manager> args…`, its stdout.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker")
            .arg("-H")
            .arg(&self.engine.docker_host)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// `("DOCKER_HOST", <the manager>)`, for a tool's environment.
    pub fn env(&self) -> (&'static str, &str) {
        ("DOCKER_HOST", &self.engine.docker_host)
    }

    /// The services of app `name` (by their `mvk.app` label).
    pub fn services(&self, name: &str) -> Vec<String> {
        let filter = format!("label=mvk.app={name}");
        self.docker(&["service", "ls", "-q", "--filter", &filter])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A service's field, through `docker service inspect --format`.
    pub fn inspect(&self, service: &str, format: &str) -> Result<String, String> {
        self.docker(&["service", "inspect", "--format", format, service])
    }

    /// Removes app `name`'s services (their tasks' containers go with them).
    pub fn remove_app(&self, name: &str) {
        let ids = self.services(name);
        if !ids.is_empty() {
            let mut args = vec!["service", "rm"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
    }
}

/// A UDP port nothing uses, for the swarm's VXLAN (Swarm takes 1024 to 49151).
fn free_udp_port() -> u16 {
    let start = 20_000 + (std::process::id() % 20_000) as u16;
    (0..20_000u16)
        .map(|k| 1024 + (start - 1024 + k) % 48_000)
        .find(|p| UdpSocket::bind(("0.0.0.0", *p)).is_ok())
        .expect("a free UDP port")
}

/// Swarm engines of test binaries that died before stopping them.
fn sweep() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("mvk-swarm-")
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
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).unwrap_or_default();
        let (bridge, gw) = (read("bridge"), read("gw_bridge"));
        if !bridge.trim().is_empty() {
            // Its swarm state goes with its data root.
            stop_engine(&entry.path(), bridge.trim(), None);
            delete_link(gw.trim());
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
