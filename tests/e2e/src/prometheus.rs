//! A real Prometheus server on a free loopback port, with the configuration (and rule files)
//! a test gives it and its own temporary storage, stopped on drop.

use crate::net::{free_port, get, wait_for_port};
use crate::tmp::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
}

impl Prometheus {
    /// Starts `prometheus` with `config` as prometheus.yml; `files` (name, content) are written
    /// beside it, so `rule_files:` can name them relatively.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Prometheus {
        let dir = TempDir::new("prometheus");
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus (is it installed? scripts/setup installs it)");
        let p = Prometheus { port, dir, child };
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "prometheus did not listen:\n{}",
            p.log()
        );
        // It answers 503 until its storage is open.
        let end = Instant::now() + Duration::from_secs(20);
        while get(&format!("{}/-/ready", p.url())).map(|(s, _)| s) != Ok(200) {
            assert!(
                Instant::now() < end,
                "prometheus never got ready:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// GETs an API path (`/api/v1/alerts`) and returns its `data`.
    pub fn api(&self, path: &str) -> Value {
        let (status, body) =
            get(&format!("{}{path}", self.url())).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
        assert!(
            status == 200 && v["status"] == "success",
            "GET {path}: {status} {body}"
        );
        v["data"].clone()
    }

    /// An instant query's result list.
    pub fn query(&self, query: &str) -> Vec<Value> {
        self.api(&format!("/api/v1/query?query={}", encode(query)))["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `ready` holds for the query's result (polling every 200 ms).
    pub fn wait_for(
        &self,
        query: &str,
        timeout: Duration,
        ready: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + timeout;
        loop {
            let result = self.query(query);
            if ready(&result) {
                return result;
            }
            assert!(
                Instant::now() < end,
                "`{query}` never got ready: {result:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Percent-encodes a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// node_exporter's textfile collector, as far as Prometheus sees it: a loopback server whose
/// `/metrics` is the `*.prom` files of `dir` (what the tools write there), read afresh at
/// every scrape and served as they are.
pub fn textfile_exporter(dir: &std::path::Path) -> crate::StubServer {
    let dir = dir.to_path_buf();
    crate::StubServer::start(move |_| {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "prom"));
        files.sort();
        let text: String = files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect();
        (200, text)
    })
}
