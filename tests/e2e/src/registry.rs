//! A private Docker registry (`docker-registry`, the distribution project's server) on a free
//! loopback port, storing into a temp dir, open or htpasswd-protected; Docker treats 127.0.0.1
//! registries as insecure-allowed, so no TLS is needed. Stopped on drop. And Docker client
//! configs (`DOCKER_CONFIG` dirs) holding credentials for it. And a proxy in front of it that
//! stalls every blob download, for pulls interrupted halfway.

use crate::net::{free_port, get, wait_for_port};
use crate::tmp::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
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

/// A proxy on a free loopback port in front of a [`Registry`] that passes every request on but
/// holds each blob download (`GET /v2/<name>/blobs/sha256:…`) unanswered, as a registry that
/// stalls in the middle of a pull would: a pull through it gets the manifest and then waits.
/// Pushes (which only `HEAD` blobs) pass. Images are named through it by [`StalledBlobs::repo`].
pub struct StalledBlobs {
    pub port: u16,
    held: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StalledBlobs {
    pub fn start(registry: &Registry) -> StalledBlobs {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (held, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (h, s, upstream) = (held.clone(), stop.clone(), registry.port);
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (h, s) = (h.clone(), s.clone());
                        std::thread::spawn(move || relay(conn, upstream, &h, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        StalledBlobs { port, held, stop }
    }

    /// `127.0.0.1:<port>/<name>`: a repository of the registry, reached through the proxy.
    pub fn repo(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }

    /// How many blob downloads it has held so far.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

impl Drop for StalledBlobs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One connection: its first request is read; a blob download is held until the proxy stops,
/// anything else (an HTTP request, made the connection's only one with `Connection: close`, or
/// the TLS handshake Docker tries first) is passed to the registry and the bytes relayed.
fn relay(mut conn: TcpStream, upstream: u16, held: &AtomicUsize, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let http = loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if !head[0].is_ascii_uppercase() {
            break false;
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > 64 << 10 {
            break true;
        }
    };
    // The head alone is text; what follows it (a body) is relayed as it came.
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |i| i + 4);
    let body = head.split_off(end);
    let text = String::from_utf8_lossy(&head).into_owned();
    let request = text.lines().next().unwrap_or("");
    if http && request.starts_with("GET ") && request.contains("/blobs/sha256:") {
        held.fetch_add(1, Ordering::SeqCst);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    if http {
        let (first, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
        let rest: String = rest
            .split_inclusive("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        head = format!("{first}\r\nConnection: close\r\n{rest}").into_bytes();
    }
    head.extend_from_slice(&body);
    let Ok(mut registry) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if registry.write_all(&head).is_err() {
        return;
    }
    let (mut from_registry, mut to_client) =
        (registry.try_clone().unwrap(), conn.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_registry, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut conn, &mut registry);
    let _ = registry.shutdown(Shutdown::Write);
    let _ = back.join();
}
