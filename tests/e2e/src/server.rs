//! A Debian server in a container, systemd as its PID 1, without `--privileged`: SYS_ADMIN (for
//! the units' own namespaces), tmpfs on /run, /run/lock and /tmp, and the host's cgroups.
//! It shares the host's network, so what it serves and the slots the host's engine publishes
//! are all on the one loopback; with the engine's socket mounted it deploys through the host's
//! engine as a server's own engine.

use crate::cmd::{docker, run_command, Run};
use crate::debian::Image;
use crate::demo::repo_root;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Server {
    pub name: String,
}

/// How a server gets Maverick from this checkout, as README's "By hand, without the package"
/// says (the package is tested on a clean server in package_server.rs): the built tools (here
/// the test build, mounted at /mnt/bin), the scripts and their library, the units (from the
/// checkout, mounted at /mnt/repo), the group the timed units write as, and the directories.
pub const INSTALL_FROM_CHECKOUT: &str = "set -e
cd /mnt/repo
for t in mvk-build mvk-healthwait mvk-swap mvk-verify mvk-rollback mvk-alerts mvk-init; do
  install -m 0755 /mnt/bin/$t /usr/local/bin/
done
install -m 0755 scripts/mvk-deploy scripts/mvk-undo scripts/mvk-canary scripts/mvk-rollout /usr/local/bin/
install -d /usr/local/lib/mvk && install -m 0644 scripts/lib/mvk.bash /usr/local/lib/mvk/
install -m 0644 scripts/systemd/*.service scripts/systemd/*.timer /etc/systemd/system/
systemctl daemon-reload
groupadd --system mvk
install -d -g mvk -m 2775 /var/lib/prometheus/node-exporter
install -d /etc/nginx/mvk /var/lib/mvk /etc/mvk
";

impl Server {
    /// Starts `image` (a systemd variant) as `<label>-server`, with the checkout and the
    /// built tools mounted read-only, and the engine's socket if `with_docker`; returns once
    /// systemd has finished booting.
    pub fn start(label: &str, image: Image, with_docker: bool) -> Server {
        let name = format!("{label}-server");
        let bin = crate::cmd::tool("mvk-build")
            .parent()
            .unwrap()
            .display()
            .to_string();
        let repo = repo_root().display().to_string();
        let tag = image.ensure();
        let mounts = [
            format!("{bin}:/mnt/bin:ro"),
            format!("{repo}:/mnt/repo:ro"),
            "/sys/fs/cgroup:/sys/fs/cgroup".to_string(),
        ];
        let mut args = vec!["run", "-d", "--name", &name, "--network", "host"];
        args.extend(["--cap-add", "SYS_ADMIN"]);
        args.extend(["--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp"]);
        for m in &mounts {
            args.extend(["-v", m]);
        }
        if with_docker {
            args.extend(["-v", "/var/run/docker.sock:/var/run/docker.sock"]);
        }
        args.push(&tag);
        docker(&args).unwrap_or_else(|e| panic!("docker run {tag}: {e}"));
        let server = Server { name };
        // `--wait` blocks until start-up is over; before systemd listens, exec fails: retry.
        let booted = server.wait_for("systemd to finish booting", Duration::from_secs(60), || {
            let run = server.exec(&["systemctl", "is-system-running", "--wait"]);
            run.stdout.contains("running") || run.stdout.contains("degraded")
        });
        let state = server.exec(&["systemctl", "is-system-running"]).stdout;
        assert!(
            booted && state.trim() == "running",
            "systemd in {} is {state}: {}",
            server.name,
            server.exec(&["systemctl", "--failed", "--no-pager"]).stdout
        );
        server
    }

    /// `docker exec` of `args` as root.
    pub fn exec(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("docker");
        cmd.args(["exec", &self.name]).args(args);
        run_command(cmd, "")
    }

    /// Runs a bash script in the server; panics with its output unless it succeeds.
    pub fn sh(&self, script: &str) -> String {
        let run = self.exec(&["bash", "-c", script]);
        assert_eq!(
            run.code, 0,
            "in {}: {script}\nstdout: {}\nstderr: {}",
            self.name, run.stdout, run.stderr
        );
        run.stdout
    }

    /// Writes `text` to `path` in the server (mode 0644, parent directories made).
    pub fn write(&self, path: &str, text: &str) {
        let mut cmd = Command::new("docker");
        cmd.args(["exec", "-i", &self.name, "bash", "-c"])
            .arg("install -D -m 0644 /dev/stdin \"$0\"")
            .arg(path);
        let run = run_command(cmd, text);
        assert_eq!(run.code, 0, "write {path}: {}", run.stderr);
    }

    /// Puts a demo-app context answering `demo <version>` at /srv/<app> in the server, its
    /// Dockerfile ending with `extra`.
    pub fn put_context(&self, app: &str, version: &str, extra: &str) {
        let ctx = crate::TempDir::new("ctx");
        crate::demo::write_context(
            ctx.path(),
            &[("MVK_E2E_APP", app), ("DEMO_VERSION", version)],
        );
        let dockerfile = ctx.join("Dockerfile");
        let text = std::fs::read_to_string(&dockerfile).unwrap() + extra;
        std::fs::write(&dockerfile, text).unwrap();
        self.sh(&format!("rm -rf /srv/{app} && mkdir -p /srv/{app}"));
        docker(&[
            "cp",
            &format!("{}/.", ctx.path().display()),
            &format!("{}:/srv/{app}", self.name),
        ])
        .unwrap();
    }

    /// Installs Maverick from this checkout ([`INSTALL_FROM_CHECKOUT`]).
    pub fn install_from_checkout(&self) {
        self.sh(INSTALL_FROM_CHECKOUT);
    }

    /// A unit's property (`systemctl show -P`).
    pub fn property(&self, unit: &str, property: &str) -> String {
        self.exec(&["systemctl", "show", "-P", property, unit])
            .stdout
            .trim()
            .to_string()
    }

    /// The unit's journal since boot.
    pub fn journal(&self, unit: &str) -> String {
        self.exec(&["journalctl", "--no-pager", "-o", "cat", "-u", unit])
            .stdout
    }

    /// Polls `ready` until it holds; false after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if ready() {
                return true;
            }
            if Instant::now() > end {
                eprintln!("{}: gave up waiting for {what}", self.name);
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::INSTALL_FROM_CHECKOUT;
    use crate::demo::repo_root;
    use crate::package::names;

    /// The by-hand install takes every tool and every script README's "By hand" names, and
    /// README names every script the checkout has.
    #[test]
    fn the_install_from_the_checkout_has_every_tool_and_script_readme_names() {
        let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
        let by_hand = readme
            .split("By hand, without the package")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .expect("README's by-hand install");
        let installed: Vec<&str> = INSTALL_FROM_CHECKOUT
            .lines()
            .find_map(|l| l.strip_prefix("for t in "))
            .and_then(|l| l.strip_suffix("; do"))
            .expect("the tools' loop")
            .split_whitespace()
            .collect();
        let mut tools = names("tools");
        tools.retain(|t| t != "mvk-core");
        let mut sorted = installed.clone();
        sorted.sort();
        assert_eq!(sorted, tools);
        let scripts: Vec<String> = names("scripts")
            .into_iter()
            .filter(|s| s.starts_with("mvk-") && repo_root().join("scripts").join(s).is_file())
            .collect();
        assert!(scripts.contains(&"mvk-rollout".to_string()), "{scripts:?}");
        for script in &scripts {
            assert!(
                INSTALL_FROM_CHECKOUT.contains(&format!("scripts/{script} ")),
                "{script} is not installed by hand"
            );
            assert!(by_hand.contains(&format!("{script}`")), "README: {script}");
        }
    }
}
