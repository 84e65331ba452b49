//! A private Docker registry (`docker-registry`, the distribution project's server) on a free
//! loopback port, storing into a temp dir; Docker treats 127.0.0.1 registries as insecure-
//! allowed, so no TLS is needed. Stopped on drop.

use crate::net::{free_port, get, wait_for_port};
use crate::tmp::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Registry {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (is it installed? scripts/setup installs it)");
        let registry = Registry {
            port,
            child,
            _dir: dir,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "docker-registry did not listen on {port}"
        );
        assert_eq!(
            get(&format!("http://127.0.0.1:{port}/v2/")).map(|r| r.0),
            Ok(200)
        );
        registry
    }

    /// `127.0.0.1:<port>/<name>`, the repository to tag and push as.
    pub fn repo(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
