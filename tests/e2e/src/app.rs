//! One test's app: a unique name, its own state dir, slot ports and nginx, configured for the
//! tools through `MVK_*` variables, and cleaned up on drop (containers, then images).

use crate::cmd::{docker, finish, spawn_tool, Run};
use crate::net::free_port;
use crate::nginx::Nginx;
use crate::tmp::TempDir;
use std::process::Child;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct TestApp {
    pub name: String,
    pub blue_port: u16,
    pub green_port: u16,
    pub state: TempDir,
    pub nginx: Nginx,
}

impl TestApp {
    /// A fresh app named `e2e-<label>-<unique>`, its nginx routed to the (empty) blue slot.
    pub fn new(label: &str) -> TestApp {
        TestApp::with_nginx(label, Nginx::start)
    }

    /// Like [`TestApp::new`], with the nginx `start(app, blue_port)` starts.
    pub fn with_nginx(label: &str, start: impl FnOnce(&str, u16) -> Nginx) -> TestApp {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("e2e-{label}-{}-{:x}", std::process::id(), nanos % 0xfffff);
        let blue_port = free_port();
        let green_port = free_port();
        TestApp {
            nginx: start(&name, blue_port),
            state: TempDir::new("state"),
            name,
            blue_port,
            green_port,
        }
    }

    /// The app's state file in its state dir.
    pub fn state_file(&self) -> std::path::PathBuf {
        self.state.path().join(&self.name).join("state.json")
    }

    /// The app's state, which must be there.
    pub fn state(&self) -> serde_json::Value {
        let path = self.state_file();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// What nginx answers on `/` (the body names the version), or why it did not answer.
    pub fn serving(&self) -> String {
        crate::get(&self.nginx.url("/")).map_or_else(|e| e, |(_, body)| body)
    }

    /// The environment that points every tool at this app's ports, state and nginx.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("MVK_APP", self.name.clone()),
            ("MVK_STATE_DIR", self.state.path().display().to_string()),
            ("MVK_BLUE_PORT", self.blue_port.to_string()),
            ("MVK_GREEN_PORT", self.green_port.to_string()),
            (
                "MVK_UPSTREAM_FILE",
                self.nginx.upstream_file.display().to_string(),
            ),
            ("MVK_NGINX_CONF", self.nginx.conf.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Runs a tool with this app's environment (plus `extra`).
    pub fn run(&self, tool: &str, args: &[&str], extra: &[(&str, &str)], stdin: &str) -> Run {
        finish(self.spawn(tool, args, extra, stdin))
    }

    /// Starts a tool with this app's environment (plus `extra`), without waiting for it.
    pub fn spawn(&self, tool: &str, args: &[&str], extra: &[(&str, &str)], stdin: &str) -> Child {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        spawn_tool(tool, args, &env, stdin)
    }

    /// The image tag `<app>:<version>`.
    pub fn tag(&self, version: &str) -> String {
        format!("{}:{version}", self.name)
    }

    /// IDs of this app's containers (any state), by label or by name.
    pub fn containers(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for filter in [
            format!("label=mvk.app={}", self.name),
            format!("name=^/{}-", self.name),
        ] {
            let out = docker(&["ps", "-aq", "--no-trunc", "--filter", &filter]).unwrap_or_default();
            ids.extend(out.lines().map(str::to_string));
        }
        ids.sort();
        ids.dedup();
        ids
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = docker(&["rm", "-f", "-v", &id]);
        }
        let images = docker(&["images", "-q", "--no-trunc", &self.name]).unwrap_or_default();
        for id in images.lines() {
            let _ = docker(&["rmi", "-f", id]);
        }
        // The classic builder leaves untagged intermediate images behind (and, for a build
        // cut short, its "created" containers); those of this app carry its name in an ENV
        // line or a label.
        for id in marked(
            self,
            &["ps", "-a", "-q", "--no-trunc", "--filter", "status=created"],
            "container",
        ) {
            let _ = docker(&["rm", "-f", &id]);
        }
        for id in marked(
            self,
            &[
                "images",
                "-a",
                "-q",
                "--no-trunc",
                "--filter",
                "dangling=true",
            ],
            "image",
        ) {
            let _ = docker(&["rmi", "-f", &id]);
        }
        // The records the scripts kept of each step (deploys/<run>/NN-<tool>.json) were
        // written by the tools too: they must follow the schema like those a test reads.
        // Checked last, so that a failure still leaves nothing behind.
        if !std::thread::panicking() {
            crate::schema::check_files(&self.state.path().join(&self.name).join("deploys"));
        }
    }
}

/// The ids `list` prints whose config names this app (in `Env` or `Labels`).
fn marked(app: &TestApp, list: &[&str], kind: &str) -> Vec<String> {
    let ids = docker(list).unwrap_or_default();
    if ids.is_empty() {
        return vec![];
    }
    let mut args = vec![
        kind,
        "inspect",
        "-f",
        "{{.Id}} {{json .Config.Env}} {{json .Config.Labels}}",
    ];
    args.extend(ids.lines());
    let in_env = format!("={}\"", app.name);
    let in_label = format!(":\"{}\"", app.name);
    docker(&args)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&in_env) || l.contains(&in_label))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect()
}
