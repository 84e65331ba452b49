//! A private nginx on a free loopback port, configured as DESIGN.md §3 lays out a site: it
//! `include`s the app's upstream file and proxies to it.

use crate::net::{free_port, wait_for_port};
use crate::tmp::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    pub port: u16,
    /// `http`, or `https` for [`Nginx::start_tls`].
    pub scheme: &'static str,
    pub conf: PathBuf,
    pub upstream_file: PathBuf,
    child: Child,
    dir: TempDir,
}

impl Nginx {
    /// Starts nginx for `app`, its upstream pointing at `127.0.0.1:<upstream_port>`.
    pub fn start(app: &str, upstream_port: u16) -> Nginx {
        Nginx::launch(app, upstream_port, None, "close")
    }

    /// Like [`Nginx::start`], but proxying as a site with upstream keepalive must: HTTP/1.1
    /// with no `Connection` header (mvk-swap's `--keepalive` adds `keepalive N` to the
    /// upstream), as mvk-init's site does.
    pub fn start_keepalive(app: &str, upstream_port: u16) -> Nginx {
        Nginx::launch(app, upstream_port, None, "\"\"")
    }

    /// Like [`Nginx::start`], but serving https with this certificate (chain) and key.
    pub fn start_tls(app: &str, upstream_port: u16, cert: &Path, key: &Path) -> Nginx {
        Nginx::launch(app, upstream_port, Some((cert, key)), "close")
    }

    /// `plain_connection`: the `Connection` header sent upstream with requests that are no
    /// WebSocket upgrade.
    fn launch(
        app: &str,
        upstream_port: u16,
        tls: Option<(&Path, &Path)>,
        plain_connection: &str,
    ) -> Nginx {
        let dir = TempDir::new("nginx");
        // Workers run as nobody when nginx starts as root: let them reach their temp paths.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = free_port();
        let d = dir.path().display();
        let upstream_file = dir.join(&format!("{app}.upstream"));
        std::fs::write(
            &upstream_file,
            format!("upstream {app} {{\n    server 127.0.0.1:{upstream_port};\n}}\n"),
        )
        .unwrap();
        let listen = match tls {
            None => format!("listen 127.0.0.1:{port};"),
            Some((cert, key)) => format!(
                "listen 127.0.0.1:{port} ssl;\n        ssl_certificate {};\n        ssl_certificate_key {};",
                cert.display(),
                key.display()
            ),
        };
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {upstream};
    # WebSockets: forward the upgrade, keep other requests as they were.
    map $http_upgrade $connection_upgrade {{ default upgrade; '' {plain_connection}; }}
    server {{
        {listen}
        location / {{
            proxy_pass http://{app};
            proxy_read_timeout 60s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
",
                upstream = upstream_file.display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-e",
                &format!("{d}/error.log"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (is it installed? scripts/test installs it)");
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "nginx did not start listening on {port}"
        );
        Nginx {
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            conf,
            upstream_file,
            child,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn master_pid(&self) -> u32 {
        self.child.id()
    }

    /// How many worker processes the master runs that take connections (not shutting down).
    pub fn accepting_workers(&self) -> usize {
        crate::procs::children(self.master_pid())
            .iter()
            .filter(|p| {
                p.state != 'Z'
                    && p.cmdline.contains("worker process")
                    && !p.cmdline.contains("shutting down")
            })
            .count()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
