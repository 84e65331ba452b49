//! A private Docker registry (`docker-registry`, the distribution project's server) on a free
//! loopback port, storing into a temp dir, open or htpasswd-protected; Docker treats 127.0.0.1
//! registries as insecure-allowed, so no TLS is needed. Stopped on drop. And Docker client
//! configs (`DOCKER_CONFIG` dirs) holding credentials for it.

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
    /// The user an htpasswd-protected registry ([`Registry::start_with_auth`]) accepts.
    pub const USER: &'static str = "mvk";
    /// Its password.
    pub const PASSWORD: &'static str = "s3cret-pw";
    /// base64 of `USER:PASSWORD`, a Docker config's `auth`.
    pub const AUTH: &'static str = "bXZrOnMzY3JldC1wdw==";
    /// `$2b$05$…` is bcrypt of PASSWORD (made with `perl -e 'print crypt(…)'`).
    const HTPASSWD: &'static str =
        "mvk:$2b$05$abcdefghijklmnopqrstuuzSvhclVSvY9ufOheOOhcPviTPFJlqIC\n";

    /// A registry anyone may push to and pull from.
    pub fn start() -> Registry {
        Self::spawn(false)
    }

    /// A registry that wants `USER`/`PASSWORD` (htpasswd) for every request.
    pub fn start_with_auth() -> Registry {
        Self::spawn(true)
    }

    fn spawn(auth: bool) -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let config = dir.join("config.yml");
        let mut text = format!(
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
        );
        if auth {
            std::fs::write(dir.join("htpasswd"), Self::HTPASSWD).unwrap();
            text += &format!(
                "auth:\n  htpasswd:\n    realm: mvk-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        std::fs::write(&config, text).unwrap();
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
            Ok(if auth { 401 } else { 200 })
        );
        registry
    }

    /// `127.0.0.1:<port>`, the registry's name in image references and Docker configs.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<name>`, the repository to tag and push as.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// A Docker config dir whose `auths` holds this registry's credentials (as `docker login`
    /// writes them), for `DOCKER_CONFIG` or `docker --config`.
    pub fn login_config(&self) -> TempDir {
        docker_config(&format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            self.host(),
            Self::AUTH
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A Docker config dir (for `DOCKER_CONFIG`) whose config.json is `json`.
pub fn docker_config(json: &str) -> TempDir {
    let dir = TempDir::new("docker-config");
    std::fs::write(dir.join("config.json"), json).unwrap();
    dir
}

/// Removes, on drop, every image of a repository: tagged, or pulled by digest only.
pub struct RemoveRepo(pub String);

impl Drop for RemoveRepo {
    fn drop(&mut self) {
        let images = crate::docker(&["images", "-q", "--no-trunc", "--digests", &self.0]);
        for id in images.unwrap_or_default().lines() {
            let _ = crate::docker(&["rmi", "-f", id]);
        }
    }
}
