//! scripts/mvk-rollout: one release built and pushed once, deployed host by host over a real
//! sshd to hosts that each have their own Docker engine (pulling from a real registry by
//! digest), state and nginx; a host failing rolls the earlier ones back and leaves the later
//! ones alone; an unreachable host is exit 4 with nothing changed. mvk-undo --hosts puts every
//! host back (or, when one fails, gives the ones already rolled back their release back), and
//! --list shows what each host runs and can go back to.

use mvk_e2e::demo::app_context as context;
use mvk_e2e::fleet::Fleet;
use mvk_e2e::{
    free_port, get, script_command, Hey, Interrupt, Interruptible, Nginx, Registry, TempDir,
    TestApp,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A rollout setup: the build machine (the main engine), `n` hosts of the fleet running the
/// same app, a registry, and the ssh_config naming the hosts web1… (and `down`).
struct Setup {
    fleet: Arc<Fleet>,
    build: TestApp,
    hosts: Vec<TestApp>,
    registry: Registry,
    dir: TempDir,
    ssh: String,
}

impl Setup {
    fn new(label: &str, n: usize) -> Setup {
        let fleet = Fleet::get();
        let build = TestApp::new(label);
        let hosts: Vec<TestApp> = (0..n)
            .map(|_| {
                let blue_port = free_port();
                TestApp {
                    name: build.name.clone(),
                    blue_port,
                    green_port: free_port(),
                    state: TempDir::new("host-state"),
                    nginx: Nginx::start(&build.name, blue_port),
                }
            })
            .collect();
        let dir = TempDir::new("rollout");
        let files: Vec<PathBuf> = (0..n)
            .map(|i| dir.join(&format!("web{}.env", i + 1)))
            .collect();
        let ssh = fleet.ssh_config(&dir.join("ssh_config"), &files);
        let setup = Setup {
            fleet,
            build,
            hosts,
            registry: Registry::start(),
            dir,
            ssh,
        };
        for i in 0..n {
            setup.configure(i, &[]);
        }
        setup
    }

    /// A setup whose `n` hosts have had `a`, then `b` rolled out to them: an undo has
    /// somewhere to go.
    fn with_a_then_b(label: &str, n: usize) -> Setup {
        let s = Setup::new(label, n);
        let hosts: Vec<String> = (1..=n).map(|i| format!("web{i}")).collect();
        for release in ["a", "b"] {
            let (code, _, stderr) = s.rollout(&hosts.join(","), release);
            assert_eq!(code, 0, "{stderr}");
        }
        s
    }

    /// Writes host `i`'s env file: its app's variables, a short alert gate, and `extra`.
    fn configure(&self, i: usize, extra: &[(&str, &str)]) {
        let mut text = String::new();
        for (k, v) in self.hosts[i].env() {
            text += &format!("{k}={v}\n");
        }
        text += "MVK_WATCH=2s\nMVK_EVERY=1s\n";
        for (k, v) in extra {
            text += &format!("{k}={v}\n");
        }
        std::fs::write(self.dir.join(&format!("web{}.env", i + 1)), text).unwrap();
    }

    fn rollout(&self, hosts: &str, release: &str) -> (i32, Vec<Value>, String) {
        self.rollout_with(hosts, release, &[])
    }

    /// `mvk-rollout --hosts HOSTS OPTIONS… --release RELEASE --repo … CONTEXT`.
    fn rollout_with(
        &self,
        hosts: &str,
        release: &str,
        options: &[&str],
    ) -> (i32, Vec<Value>, String) {
        let (mut cmd, _ctx) = self.rollout_command(hosts, release, options);
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
            .collect();
        (out.status.code().unwrap_or(-1), lines, stderr)
    }

    /// The command of [`Setup::rollout_with`], and the build context it needs.
    fn rollout_command(&self, hosts: &str, release: &str, options: &[&str]) -> (Command, TempDir) {
        let ctx = context(&self.build, release, &[]);
        let repo = self.registry.repo(&self.build.name);
        let mut args = vec!["--hosts", hosts];
        args.extend_from_slice(options);
        args.extend_from_slice(&["--release", release, "--repo", &repo]);
        let mut cmd: Command = script_command(
            &self.build,
            "mvk-rollout",
            &args,
            &[("MVK_SSH", self.ssh.as_str()), ("MVK_NO_CACHE", "true")],
        );
        cmd.arg(ctx.path());
        (cmd, ctx)
    }

    /// `mvk-undo ARGS…` from the build machine, over the same ssh_config; `extra` on top of the
    /// build app's environment. Every host's record is checked against the schema.
    fn undo(&self, args: &[&str], extra: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
        let mut env = vec![("MVK_SSH", self.ssh.as_str())];
        env.extend_from_slice(extra);
        let out = script_command(&self.build, "mvk-undo", args, &env)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let code = out.status.code().unwrap_or(-1);
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
            .collect();
        for line in &lines {
            if let Some(record) = line.get("record").filter(|r| !r.is_null()) {
                mvk_e2e::schema::check_output(&record.to_string(), code);
            }
        }
        (code, lines, stderr)
    }

    /// Host `i`'s live release by its own state (`mvk-rollback --live` there).
    fn live(&self, i: usize) -> String {
        let run = self.hosts[i].run("mvk-rollback", &["--live"], &[], "");
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().to_string()
    }

    fn serving(&self, i: usize) -> String {
        get(&self.hosts[i].nginx.url("/"))
            .map(|(_, body)| body)
            .unwrap_or_else(|e| e)
    }

    /// The app's images on host `i`'s engine.
    fn images(&self, i: usize) -> String {
        self.fleet
            .docker(i, &["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .unwrap()
            .lines()
            .filter(|l| l.contains(&self.build.name))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.fleet.clean_app(&self.build.name);
        let images = mvk_e2e::docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .unwrap_or_default();
        let repo = self.registry.repo(&self.build.name);
        for image in images.lines().filter(|i| i.starts_with(&repo)) {
            let _ = mvk_e2e::docker(&["rmi", "-f", image]);
        }
    }
}

fn outcomes(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["host"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(host: &str, outcome: &str) -> (String, String) {
    (host.to_string(), outcome.to_string())
}

#[test]
fn a_release_rolls_out_to_two_hosts_under_load_and_no_request_fails() {
    let s = Setup::new("mh-good", 2);
    let (code, lines, stderr) = s.rollout("web1,web2", "a");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "deployed"), pair("web2", "deployed")]
    );
    let digest = lines[0]["record"]["build"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["exit_code"], 0);
        assert_eq!(line["record"]["swap"]["live"]["release"], "a", "{line}");
        assert_eq!(line["record"]["build"]["digest"], digest.as_str());
        assert_eq!(s.serving(i), "demo a\n");
        // Each host's own engine pulled the pushed image; the main engine runs none of it.
        assert!(s.images(i).contains(":a"), "{}", s.images(i));
    }
    assert!(
        s.build.containers().is_empty(),
        "nothing runs on the build machine"
    );

    let loads: Vec<Hey> = s
        .hosts
        .iter()
        .map(|h| Hey::start(&h.nginx.url("/"), 120))
        .collect();
    // Both at once this time.
    let (code, lines, stderr) = s.rollout_with("web1,web2", "b", &["--parallel", "2"]);
    let outcomes_b = outcomes(&lines);
    for load in loads {
        load.interrupt().assert_only(&[200], 20);
    }
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        outcomes_b,
        [pair("web1", "deployed"), pair("web2", "deployed")]
    );
    assert_eq!(s.serving(0), "demo b\n");
    assert_eq!(s.serving(1), "demo b\n");
    assert!(stderr.contains("b is live on every host"), "{stderr}");
}

#[test]
fn a_release_failing_on_the_second_host_rolls_the_first_back_and_never_touches_the_third() {
    let s = Setup::new("mh-fail", 3);
    let (code, _, stderr) = s.rollout("web1,web2,web3", "a");
    assert_eq!(code, 0, "{stderr}");
    // web2 cannot pass the health check of release b (its health path answers 404 there).
    s.configure(
        1,
        &[("MVK_HEALTH_PATH", "/nope"), ("MVK_HEALTH_TIMEOUT", "3s")],
    );
    let (code, lines, stderr) = s.rollout("web1,web2,web3", "b");
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [
            pair("web1", "rolled-back"),
            pair("web2", "failed"),
            pair("web3", "not-reached")
        ],
        "{stderr}"
    );
    assert_eq!(lines[0]["record"]["rollback"]["to"], "a", "{}", lines[0]);
    assert_eq!(lines[1]["record"]["error"]["tool"], "mvk-healthwait");
    assert!(lines[2]["record"].is_null());
    for i in 0..3 {
        assert_eq!(s.serving(i), "demo a\n", "host {i}");
    }
    assert!(
        !s.images(2).contains(":b"),
        "web3 never pulled b: {}",
        s.images(2)
    );
    assert!(stderr.contains("rolling web1 back"), "{stderr}");
}

/// `lock` is free (flock) and names no holder.
fn assert_lock_free(lock: &std::path::Path) {
    let free = Command::new("flock")
        .args(["--nonblock", lock.to_str().unwrap(), "true"])
        .status()
        .unwrap();
    assert!(free.success(), "{} is still held", lock.display());
    assert_eq!(
        std::fs::read_to_string(lock).unwrap(),
        "",
        "{}",
        lock.display()
    );
}

/// Runs `cmd`, a fleet run on web1 alone, interrupts it `how` once web1's health wait runs, and
/// checks that it exited 130 with web1 failed there, interrupted in mvk-healthwait. Returns
/// the run's stderr and web1's record.
fn interrupted_in_the_health_wait(cmd: Command, how: Interrupt) -> (String, Value) {
    let wait = Duration::from_secs(300);
    let mut fleet = Interruptible::start(cmd, Stdio::null());
    fleet.wait_for_line("mvk-healthwait: waiting for", wait);
    fleet.interrupt(how);
    let run = fleet.finish(wait);
    assert_eq!(run.code, 130, "{how:?}: {}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outcomes(&lines), [pair("web1", "failed")], "{how:?}");
    assert_eq!(lines[0]["exit_code"], 130, "{how:?}: {}", lines[0]);
    let record = lines[0]["record"].clone();
    assert_eq!(record["error"]["kind"], "interrupted", "{how:?}: {record}");
    assert_eq!(
        record["error"]["tool"], "mvk-healthwait",
        "{how:?}: {record}"
    );
    (run.stderr, record)
}

#[test]
fn a_rollout_interrupted_during_a_hosts_deploy_interrupts_it_there_and_leaves_nothing() {
    let s = Setup::new("mh-int", 1);
    let (code, _, stderr) = s.rollout("web1", "a");
    assert_eq!(code, 0, "{stderr}");
    // No later release is healthy within the test: web1's deploy waits in its health check.
    s.configure(
        0,
        &[("MVK_HEALTH_PATH", "/nope"), ("MVK_HEALTH_TIMEOUT", "600s")],
    );
    // A release each: a rebuilt b would be another image under a tag web1 already pulled.
    for (how, release) in [(Interrupt::Kill, "b"), (Interrupt::CtrlC, "c")] {
        let (cmd, _ctx) = s.rollout_command("web1", release, &[]);
        let (_, record) = interrupted_in_the_health_wait(cmd, how);
        mvk_e2e::schema::check_output(&record.to_string(), 130);
        // web1 keeps a, its candidate is gone, and no deploy runs there any more.
        assert_eq!(s.live(0), "a", "{how:?}");
        assert_eq!(s.serving(0), "demo a\n", "{how:?}");
        let filter = format!("label=mvk.app={}", s.build.name);
        let green = s
            .fleet
            .docker(
                0,
                &[
                    "ps",
                    "-aq",
                    "--filter",
                    &filter,
                    "--filter",
                    "label=mvk.slot=green",
                ],
            )
            .unwrap();
        assert_eq!(green, "", "{how:?}: the candidate is left on web1");
        let app = &s.build.name;
        assert_lock_free(&s.hosts[0].state.path().join(app).join("deploy.lock"));
        assert_lock_free(&s.build.state.path().join(app).join("fleet.lock"));
    }
}

#[test]
fn an_unreachable_host_is_exit_4_and_nothing_is_built_or_changed() {
    let s = Setup::new("mh-down", 1);
    let (code, lines, stderr) = s.rollout("web1,down", "a");
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "not-reached"), pair("down", "unreachable")]
    );
    assert!(stderr.contains("cannot reach down"), "{stderr}");
    assert!(s.images(0).is_empty(), "{}", s.images(0));
    assert!(
        mvk_e2e::docker(&["images", "-q", &s.registry.repo(&s.build.name)])
            .unwrap()
            .is_empty(),
        "nothing was built"
    );
    assert!(!s.serving(0).contains("demo"));
}

#[test]
fn host_names_that_ssh_would_read_as_options_are_refused() {
    let s = Setup::new("mh-names", 1);
    for hosts in [
        "web1,-oProxyCommand=touch /tmp/x",
        "web1,,web1",
        "web1,web1",
        "a b",
    ] {
        let (code, lines, stderr) = s.rollout(hosts, "a");
        assert_eq!(code, 2, "{hosts}: {stderr}");
        assert!(lines.is_empty(), "{hosts}");
    }
    for parallel in ["0", "x", "-1"] {
        let (code, lines, stderr) = s.rollout_with("web1", "a", &["--parallel", parallel]);
        assert_eq!(code, 2, "--parallel {parallel}: {stderr}");
        assert!(lines.is_empty(), "--parallel {parallel}");
    }
    assert!(s.images(0).is_empty());
}

/// `(host, live, candidates)` of each line of `mvk-undo --hosts … --list`.
fn listed(lines: &[Value]) -> Vec<(String, Value, Value)> {
    lines
        .iter()
        .map(|l| {
            (
                l["host"].as_str().unwrap().to_string(),
                l["live"].clone(),
                l["candidates"].clone(),
            )
        })
        .collect()
}

#[test]
fn undo_across_hosts_puts_each_host_back_and_the_listing_shows_it() {
    let s = Setup::with_a_then_b("mh-undo", 2);
    let (code, lines, stderr) = s.undo(&["--hosts", "web1,web2", "--list"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        listed(&lines),
        [
            ("web1".into(), "b".into(), serde_json::json!(["a"])),
            ("web2".into(), "b".into(), serde_json::json!(["a"]))
        ],
        "{stderr}"
    );
    assert_eq!(lines[0]["outcome"], "listed");
    assert_eq!(lines[0]["history"][0]["release"], "b");
    assert!(stderr.contains("live: b  can go back to: a"), "{stderr}");

    // Run from a machine that is itself web1 (its state dir): the run's own lock is
    // fleet.lock, so web1's mvk-undo still gets web1's deploy.lock.
    let web1_state = s.hosts[0].state.path().display().to_string();
    let (code, lines, stderr) = s.undo(
        &["--hosts", "web1,web2"],
        &[("MVK_STATE_DIR", web1_state.as_str())],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "rolled-back"), pair("web2", "rolled-back")]
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["exit_code"], 0);
        assert_eq!(line["record"]["rollback"]["from"], "b", "{line}");
        assert_eq!(line["record"]["swap"]["live"]["release"], "a", "{line}");
        assert_eq!(s.serving(i), "demo a\n", "host {i}");
        assert_eq!(s.live(i), "a", "host {i}");
    }
    assert!(stderr.contains("every host was rolled back"), "{stderr}");

    let (code, lines, stderr) = s.undo(&["--hosts", "web2,web1", "--list"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        listed(&lines),
        [
            ("web2".into(), "a".into(), serde_json::json!(["b"])),
            ("web1".into(), "a".into(), serde_json::json!(["b"]))
        ]
    );
}

#[test]
fn an_undo_failing_on_the_second_host_gives_the_first_its_release_back() {
    let s = Setup::with_a_then_b("mh-undo-fail", 2);
    // web2 cannot bring a back: its health path answers 404.
    s.configure(
        1,
        &[("MVK_HEALTH_PATH", "/nope"), ("MVK_HEALTH_TIMEOUT", "3s")],
    );
    let (code, lines, stderr) = s.undo(&["--hosts", "web1,web2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "restored"), pair("web2", "failed")],
        "{stderr}"
    );
    // web1's last record is the restore: from a back to b.
    assert_eq!(lines[0]["record"]["rollback"]["to"], "b", "{}", lines[0]);
    assert_eq!(lines[0]["exit_code"], 0);
    assert_eq!(lines[1]["record"]["error"]["tool"], "mvk-healthwait");
    for i in 0..2 {
        assert_eq!(s.serving(i), "demo b\n", "host {i}");
        assert_eq!(s.live(i), "b", "host {i}");
    }
    assert!(stderr.contains("putting b back on web1"), "{stderr}");
}

#[test]
fn a_host_not_ready_stops_the_undo_before_any_host_changes() {
    let s = Setup::new("mh-undo-down", 2);
    let (code, _, stderr) = s.rollout("web1,web2", "a");
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = s.rollout("web1", "b");
    assert_eq!(code, 0, "{stderr}");

    // Unreachable: exit 4, web1 (checked first and ready) untouched.
    let (code, lines, stderr) = s.undo(&["--hosts", "web1,down"], &[]);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "not-reached"), pair("down", "unreachable")]
    );
    assert!(lines[0]["record"].is_null());
    assert!(stderr.contains("cannot reach down"), "{stderr}");
    // web2 ran only a: nothing to go back to there, exit 1, web1 untouched.
    let (code, lines, stderr) = s.undo(&["--hosts", "web1,web2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        outcomes(&lines),
        [pair("web1", "not-reached"), pair("web2", "failed")]
    );
    assert_eq!(
        lines[1]["record"]["error"]["tool"], "mvk-rollback",
        "{}",
        lines[1]
    );
    // A release web1 never ran: refused by the check on web1.
    let (code, lines, stderr) = s.undo(&["--hosts", "web1", "--to", "zz"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(outcomes(&lines), [pair("web1", "failed")]);
    assert_eq!((s.serving(0), s.live(0)), ("demo b\n".into(), "b".into()));
    assert_eq!((s.serving(1), s.live(1)), ("demo a\n".into(), "a".into()));

    // The listing goes on past an unreachable host, and says which one it was.
    let (code, lines, stderr) = s.undo(&["--hosts", "down,web2,web1", "--list"], &[]);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(
        listed(&lines),
        [
            ("down".into(), Value::Null, serde_json::json!([])),
            ("web2".into(), "a".into(), serde_json::json!([])),
            ("web1".into(), "b".into(), serde_json::json!(["a"]))
        ]
    );
    assert_eq!(lines[0]["outcome"], "unreachable");
    assert_eq!(lines[0]["exit_code"], 4);
}

/// An undo across hosts interrupted while a host's undo runs (its health wait never ends here)
/// interrupts it there: the host keeps its release, the stopped container the undo started is
/// stopped again, no lock is left held, and the run exits 130 saying so.
#[test]
fn an_undo_across_hosts_interrupted_during_a_hosts_undo_interrupts_it_there() {
    let s = Setup::with_a_then_b("mh-undo-int", 1);
    s.configure(
        0,
        &[("MVK_HEALTH_PATH", "/nope"), ("MVK_HEALTH_TIMEOUT", "600s")],
    );
    let filter = format!("label=mvk.app={}", s.build.name);
    let running = || {
        s.fleet
            .docker(0, &["ps", "-q", "--filter", &filter])
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(running(), 1, "only b runs on web1");
    for how in [Interrupt::Kill, Interrupt::CtrlC] {
        let cmd = script_command(
            &s.build,
            "mvk-undo",
            &["--hosts", "web1"],
            &[("MVK_SSH", s.ssh.as_str())],
        );
        let (stderr, _) = interrupted_in_the_health_wait(cmd, how);
        assert!(
            stderr.contains("interrupted: the hosts rolled back stay so"),
            "{how:?}: {stderr}"
        );
        assert_eq!(s.live(0), "b", "{how:?}");
        assert_eq!(s.serving(0), "demo b\n", "{how:?}");
        assert_eq!(running(), 1, "{how:?}: a's container was left running");
        let app = &s.build.name;
        assert_lock_free(&s.hosts[0].state.path().join(app).join("deploy.lock"));
        assert_lock_free(&s.build.state.path().join(app).join("fleet.lock"));
    }
}

#[test]
fn bad_host_names_and_options_for_undo_are_exit_2_and_change_nothing() {
    let s = Setup::new("mh-undo-names", 1);
    let refused: &[&[&str]] = &[
        &["--hosts", "web1,-oProxyCommand=touch /tmp/x"],
        &["--hosts", "web1,-oProxyCommand=touch /tmp/x", "--list"],
        &["--hosts", "web1,,web1"],
        &["--hosts", "web1,web1", "--list"],
        &["--hosts", "a b"],
        &["--hosts", "web1\n-oProxyCommand=x"],
        &["--hosts", ""],
        &["--hosts", "web1", "--to", "a;touch /tmp/mvk-undo-x"],
        &["--hosts", "web1", "--to", "-x"],
        &["--hosts", "web1", "--parallel", "0"],
        &["--hosts", "web1", "--state-dir", "/tmp"],
        &["--hosts", "web1", "--list", "--to", "a"],
        &["--list", "--to", "a"],
        &["--parallel", "2"],
    ];
    for args in refused {
        let (code, lines, stderr) = s.undo(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(lines.is_empty(), "{args:?}");
    }
    assert!(!std::path::Path::new("/tmp/mvk-undo-x").exists());
    // Nothing was made here (no log dir, no lock) nor on the host.
    let made = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    assert_eq!(made(s.build.state.path()), 0);
    assert_eq!(made(s.hosts[0].state.path()), 0);
    assert!(s.images(0).is_empty());
}

/// The three-host figures of `scripts/bench rollout` (which runs this ignored test): a rollout
/// to web1..web3 while hey loads each host's nginx; prints failed requests and seconds per
/// host. Figures, not targets: nothing here is asserted beyond the rollout succeeding.
#[test]
#[ignore = "a benchmark: scripts/bench rollout runs it and prints its figures"]
fn bench_three_host_rollout_under_load() {
    let s = Setup::new("mh-bench", 3);
    let (code, _, stderr) = s.rollout("web1,web2,web3", "a");
    assert_eq!(code, 0, "{stderr}");
    let loads: Vec<Hey> = s
        .hosts
        .iter()
        .map(|h| Hey::start(&h.nginx.url("/"), 300))
        .collect();
    let clock = std::time::Instant::now();
    let (code, lines, stderr) = s.rollout("web1,web2,web3", "b");
    let total = clock.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{stderr}");
    println!("bench rollout: three hosts (own dockerd, sshd, nginx each), build+push once, then host by host");
    for (line, load) in lines.iter().zip(loads) {
        let outcome = load.interrupt();
        let requests: u64 = outcome.statuses.values().sum();
        println!(
            "bench rollout: {}  {:>7}s  {} requests through its nginx, {} failed",
            line["host"].as_str().unwrap_or("?"),
            line["seconds"],
            requests,
            outcome.failed()
        );
    }
    println!("bench rollout: whole rollout (build, push, three hosts) {total:.2}s");
}
