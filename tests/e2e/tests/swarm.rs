//! Docker Swarm as the engine (mvk-healthwait --swarm, mvk-rollback --restore-spec): each slot
//! a service on a real single-node swarm (a dockerd of its own, tests/e2e/src/swarm.rs), the
//! images built on the main engine and pushed to a real registry (mvk-build --push), pulled
//! by Swarm by digest; the host's nginx in front, driven by mvk-swap; verified and gated by
//! mvk-verify and mvk-alerts as on one host.

use mvk_e2e::demo::app_context;
use mvk_e2e::registry::{docker_config, RemoveRepo};
use mvk_e2e::swarm::SwarmEngine;
use mvk_e2e::{get, Hey, Registry, Run, TempDir, TestApp};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// A value of the app's env file: it reaches the service, never a record.
const SECRET: &str = "hunter2-swarm-secret";

/// One test's app on the swarm: its services are removed on drop, its pushed images too.
struct Setup {
    swarm: Arc<SwarmEngine>,
    app: TestApp,
    registry: Registry,
    config: TempDir,
    env_file: std::path::PathBuf,
    _repo: RemoveRepo,
}

impl Setup {
    fn new(label: &str) -> Setup {
        let swarm = SwarmEngine::get();
        let app = TestApp::new(label);
        let registry = Registry::start();
        let repo = RemoveRepo(registry.repo(&app.name));
        let env_file = app.state.path().join("app.env");
        std::fs::write(&env_file, format!("APP_SECRET={SECRET}\n")).unwrap();
        Setup {
            swarm,
            app,
            registry,
            config: docker_config("{}"),
            env_file,
            _repo: repo,
        }
    }

    /// mvk-build --push of the demo app at `version` (on the main engine): its record.
    fn build(&self, version: &str, env: &[(&str, &str)]) -> String {
        let ctx = app_context(&self.app, version, env);
        // Unlike Docker alone, Swarm replaces a task its HEALTHCHECK calls unhealthy, the live
        // one too: the demo image's 1 s timeout and 2 retries are missed under the suite's
        // load, which would take the live release away in the middle of a test. A release
        // that answers unhealthy still fails within seconds.
        let dockerfile = ctx.path().join("Dockerfile");
        let mut text = std::fs::read_to_string(&dockerfile).unwrap();
        text.push_str(
            "HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD [\"/demo-app\", \"healthcheck\"]\n",
        );
        std::fs::write(&dockerfile, text).unwrap();
        let repo = self.registry.repo(&self.app.name);
        let run = self.app.run(
            "mvk-build",
            &[
                "--release",
                version,
                "--repo",
                &repo,
                "--push",
                ctx.path().to_str().unwrap(),
            ],
            &[("DOCKER_CONFIG", self.config.path().to_str().unwrap())],
            "",
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    }

    /// A tool run against the swarm's manager.
    fn run(&self, tool: &str, args: &[&str], stdin: &str) -> Run {
        let (key, host) = self.swarm.env();
        let env_file = self.env_file.to_str().unwrap();
        let run = self.app.run(
            tool,
            args,
            &[(key, host), ("MVK_EVERY", "1s"), ("MVK_ENV_FILE", env_file)],
            stdin,
        );
        assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
        run
    }

    /// healthwait --swarm, swap, verify and a short alert gate, as mvk-deploy runs them:
    /// each step's run, up to the first that fails.
    fn deploy(&self, record: &str) -> Vec<Run> {
        let steps: [(&str, &[&str]); 4] = [
            ("mvk-healthwait", &["--swarm"]),
            ("mvk-swap", &[]),
            ("mvk-verify", &[]),
            ("mvk-alerts", &["--watch", "2s"]),
        ];
        let mut runs: Vec<Run> = Vec::new();
        let mut input = record.to_string();
        for (tool, args) in steps {
            let run = self.run(tool, args, &input);
            let failed = run.code != 0;
            input = run.stdout.clone();
            runs.push(run);
            if failed {
                break;
            }
        }
        runs
    }

    /// Deploys `record` and asserts every step passed: the final record.
    fn deployed(&self, record: &str) -> Value {
        let runs = self.deploy(record);
        for run in &runs {
            assert_eq!(run.code, 0, "{}", run.stderr);
        }
        assert_eq!(runs.len(), 4);
        runs[3].record()
    }

    fn serving(&self) -> String {
        get(&self.app.nginx.url("/"))
            .map(|(_, body)| body)
            .unwrap_or_else(|e| e)
    }

    fn service(&self, slot: &str) -> String {
        format!("{}-{slot}", self.app.name)
    }

    /// The image a slot's service runs, and its release label.
    fn spec(&self, slot: &str) -> (String, String) {
        let image = self
            .swarm
            .inspect(
                &self.service(slot),
                "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            )
            .unwrap();
        let release = self
            .swarm
            .inspect(
                &self.service(slot),
                "{{index .Spec.Labels \"mvk.release\"}}",
            )
            .unwrap();
        (image, release)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.swarm.remove_app(&self.app.name);
    }
}

/// The image as the record pins it for Swarm: `repo:tag@digest`.
fn pinned(build: &str) -> String {
    let r: Value = serde_json::from_str(build).unwrap();
    format!(
        "{}@{}",
        r["image"].as_str().unwrap(),
        r["build"]["digest"].as_str().unwrap()
    )
}

#[test]
fn a_deploy_updates_the_idle_slot_service_and_traffic_moves_with_no_failed_request() {
    let s = Setup::new("sw-deploy");
    let v1 = s.build("v1", &[]);
    let r = s.deployed(&v1);
    assert_eq!(r["swarm"]["placed"], "created", "{r}");
    assert_eq!(r["swarm"]["image"], pinned(&v1).as_str());
    assert_eq!(r["candidate"]["slot"], "blue");
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(s.serving(), "demo v1\n");
    // Nothing of it runs on the main engine: Swarm pulled the pushed image by digest.
    assert!(s.app.containers().is_empty());

    let v2 = s.build("v2", &[]);
    let v3 = s.build("v3", &[]);
    let load = Hey::start(&s.app.nginx.url("/"), 300);
    let r2 = s.deployed(&v2);
    let r3 = s.deployed(&v3);
    let outcome = load.interrupt();
    outcome.assert_only(&[200], 50);
    assert_eq!(r2["swarm"]["placed"], "created");
    assert_eq!(r2["swap"]["live"]["slot"], "green");
    // The third release goes into blue's existing service: an update, its spec before kept.
    assert_eq!(r3["swarm"]["placed"], "updated", "{r3}");
    assert_eq!(r3["swap"]["live"]["slot"], "blue");
    assert_eq!(r3["swap"]["previous"]["release"], "v2");
    let before = &r3["swarm"]["previous_spec"];
    assert_eq!(
        before["TaskTemplate"]["ContainerSpec"]["Image"],
        pinned(&v1).as_str()
    );
    assert_eq!(before["Labels"]["mvk.release"], "v1");
    assert_eq!(r3["alerts"]["firing"], serde_json::json!([]));
    assert_eq!(s.serving(), "demo v3\n");
    assert_eq!(s.spec("blue"), (pinned(&v3), "v3".to_string()));
    let env = s
        .swarm
        .inspect(
            &s.service("blue"),
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        )
        .unwrap();
    assert!(
        env.contains(SECRET),
        "the env file reaches the service: {env}"
    );
    // The previous release keeps running in the other slot: the fast way back.
    assert_eq!(s.spec("green"), (pinned(&v2), "v2".to_string()));
    let running = s
        .swarm
        .docker(&[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            &s.service("green"),
        ])
        .unwrap();
    assert_eq!(running.lines().count(), 1, "{running}");
}

#[test]
fn a_broken_release_is_rolled_back_by_swarm_and_the_old_keeps_serving() {
    let s = Setup::new("sw-broken");
    let v1 = s.build("v1", &[]);
    let v2 = s.build("v2", &[]);
    let bad = s.build("v3", &[("DEMO_UNHEALTHY", "1")]);
    s.deployed(&v1);
    s.deployed(&v2);
    assert_eq!(s.serving(), "demo v2\n");

    let load = Hey::start(&s.app.nginx.url("/"), 300);
    let clock = Instant::now();
    let runs = s.deploy(&bad);
    let outcome = load.interrupt();
    eprintln!(
        "the broken release was refused after {:.1}s",
        clock.elapsed().as_secs_f64()
    );
    // Shown with a failure: whether Swarm replaced the live task meanwhile.
    let history = s
        .swarm
        .docker(&["service", "ps", "--no-trunc", &s.service("green")]);
    eprintln!("{}", history.unwrap_or_else(|e| e));
    outcome.assert_only(&[200], 20);
    assert_eq!(runs.len(), 1, "nothing after the health wait ran");
    let run = &runs[0];
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "unhealthy", "{r}");
    assert_eq!(r["swarm"]["placed"], "updated");
    assert_eq!(r["swarm"]["rolled_back"], true);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Swarm rolled the service back"),
        "{r}"
    );
    assert_eq!(r["health"]["healthy"], false);
    // Swarm put blue's previous spec back; green, live, was never touched.
    assert_eq!(s.spec("blue"), (pinned(&v1), "v1".to_string()));
    assert_eq!(s.spec("green"), (pinned(&v2), "v2".to_string()));
    assert_eq!(s.serving(), "demo v2\n");
    let state =
        std::fs::read_to_string(s.app.state.path().join(&s.app.name).join("state.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["live"]["release"], "v2", "{state}");

    // A task Swarm runs and calls healthy, but that fails mvk-healthwait's own probe (404):
    // rolled back with Swarm's rollback, waited for.
    let v4 = s.build("v4", &[]);
    let run = s.run(
        "mvk-healthwait",
        &[
            "--swarm",
            "--health-path",
            "/nowhere",
            "--health-timeout",
            "20s",
        ],
        &v4,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "timeout", "{r}");
    assert_eq!(r["swarm"]["rolled_back"], true, "{r}");
    assert_eq!(s.spec("blue"), (pinned(&v1), "v1".to_string()));
    assert_eq!(s.serving(), "demo v2\n");
}

#[test]
fn an_interrupted_health_wait_removes_the_service_it_created() {
    let s = Setup::new("sw-int");
    let slow = s.build("v1", &[("DEMO_START_DELAY_MS", "60000")]);
    let (key, host) = s.swarm.env();
    let env_file = s.env_file.to_str().unwrap();
    let child = s.app.spawn(
        "mvk-healthwait",
        &["--swarm"],
        &[(key, host), ("MVK_ENV_FILE", env_file)],
        &slow,
    );
    mvk_e2e::wait_until(
        "the service exists",
        std::time::Duration::from_secs(30),
        || !s.swarm.services(&s.app.name).is_empty(),
    );
    mvk_e2e::signal(&child, nix::sys::signal::Signal::SIGTERM);
    let run = mvk_e2e::finish(child);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "interrupted");
    assert!(
        s.swarm.services(&s.app.name).is_empty(),
        "the service was removed"
    );
}

#[test]
fn restore_spec_puts_back_the_recorded_previous_spec() {
    let s = Setup::new("sw-restore");
    let v1 = s.build("v1", &[]);
    let v2 = s.build("v2", &[]);
    let v3 = s.build("v3", &[]);
    s.deployed(&v1);
    s.deployed(&v2);
    let r3 = s.deployed(&v3);
    let record = s.app.state.path().join("v3.json");
    std::fs::write(&record, r3.to_string()).unwrap();
    let restore = ["--restore-spec", record.to_str().unwrap()];

    // Blue is live: its service is not changed under traffic.
    let refused = s.run("mvk-rollback", &restore, "");
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains("live"), "{}", refused.stderr);
    assert_eq!(s.spec("blue"), (pinned(&v3), "v3".to_string()));

    // Traffic back to green, which still runs v2: nothing is updated, the service is reused.
    let back = s.deployed(&v2);
    assert_eq!(back["swarm"]["placed"], "reused", "{back}");
    assert_eq!(s.serving(), "demo v2\n");

    // Now blue is idle: the spec it had before v3 goes back on, and then live.
    let out = s.run("mvk-rollback", &restore, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.record();
    assert_eq!(r["release"], "v1");
    assert_eq!(r["image"], pinned(&v1).as_str());
    assert_eq!(r["rollback"]["from"], "v3");
    assert_eq!(r["rollback"]["to"], "v1");
    assert_eq!(r["swarm"]["placed"], "restored");
    assert_eq!(
        r["swarm"]["previous_spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
        pinned(&v3).as_str()
    );
    assert_eq!(s.spec("blue"), (pinned(&v1), "v1".to_string()));
    let live = s.deployed(&out.stdout);
    assert_eq!(live["swarm"]["placed"], "reused");
    assert_eq!(live["swap"]["live"]["release"], "v1");
    assert_eq!(s.serving(), "demo v1\n");
}

#[test]
fn mvk_deploy_with_mvk_swarm_gates_and_rolls_a_failing_release_back_to_the_previous_slot() {
    let s = Setup::new("sw-script");
    let (key, host) = s.swarm.env();
    let env_file = s.env_file.to_str().unwrap();
    let config = s.config.path().to_str().unwrap();
    let deploy = |record: &str, extra: &[(&str, &str)]| {
        let mut env = vec![
            (key, host),
            ("MVK_SWARM", "1"),
            ("MVK_ENV_FILE", env_file),
            ("DOCKER_CONFIG", config),
            ("MVK_WATCH", "3s"),
            ("MVK_EVERY", "1s"),
        ];
        env.extend_from_slice(extra);
        mvk_e2e::run_script(&s.app, "mvk-deploy", &["--built"], &env, record)
    };
    let run = deploy(&s.build("v1", &[]), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["swarm"]["placed"], "created");
    assert_eq!(s.serving(), "demo v1\n");

    // Healthy, but half of its app requests fail: the alert gate, watching the traffic,
    // catches it after the swap, and mvk-deploy's rollback routes back to v1's slot, whose
    // service still runs: nothing is started again.
    let bad = s.build("v2", &[("DEMO_ERROR_RATE", "0.5")]);
    let load = Hey::start(&s.app.nginx.url("/"), 300);
    let run = deploy(&bad, &[("MVK_WATCH", "20s"), ("MVK_CHECK", "/health")]);
    let outcome = load.interrupt();
    eprintln!("{}", outcome.text);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["rollback"]["cause"]["tool"], "mvk-alerts", "{r}");
    assert_eq!(r["rollback"]["to"], "v1");
    assert_eq!(r["swarm"]["placed"], "reused", "{r}");
    assert_eq!(r["swap"]["live"]["release"], "v1", "{r}\n{}", run.stderr);
    assert_eq!(s.serving(), "demo v1\n");
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
}

#[test]
fn bad_input_and_no_swarm_give_the_contract_codes_and_change_nothing() {
    let s = Setup::new("sw-bad");
    let v1 = s.build("v1", &[]);

    // The main engine is no swarm manager: exit 4, nothing started there.
    let out = s.app.run("mvk-healthwait", &["--swarm"], &[], &v1);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(out.record()["error"]["kind"], "swarm");
    assert!(s.app.containers().is_empty());

    // An app whose slot services would not be valid Swarm names.
    let long = "a".repeat(60);
    let record = serde_json::json!({
        "schema": "mvk.release/v1", "app": long, "release": "v1",
        "image": "127.0.0.1:5000/x:v1", "steps": [], "error": null
    });
    let out = s.run("mvk-healthwait", &["--swarm"], &record.to_string());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("Swarm service"), "{}", out.stderr);
    let services = s.swarm.docker(&["service", "ls", "-q"]).unwrap();
    assert!(!services.contains(&long), "{services}");

    // A record whose swarm.service is no service name.
    let mut bad: Value = serde_json::from_str(&v1).unwrap();
    bad["swarm"] = serde_json::json!({"service": "x;rm -rf /", "placed": "created"});
    let out = s.run("mvk-healthwait", &["--swarm"], &bad.to_string());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("swarm.service"), "{}", out.stderr);

    // --swarm with --before: a usage error.
    let out = s.run("mvk-healthwait", &["--swarm", "--before", "migrate"], &v1);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // --restore-spec of a deploy that created its service: no previous spec to put back.
    let first = s.deployed(&v1);
    let file = s.app.state.path().join("first.json");
    std::fs::write(&file, first.to_string()).unwrap();
    let out = s.run(
        "mvk-rollback",
        &["--restore-spec", file.to_str().unwrap()],
        "",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no previous spec"), "{}", out.stderr);
    // One of another app's service.
    let mut other = first.clone();
    other["swarm"]["service"] = "someone-else-blue".into();
    std::fs::write(&file, other.to_string()).unwrap();
    let out = s.run(
        "mvk-rollback",
        &["--restore-spec", file.to_str().unwrap()],
        "",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);

    // mvk-swap refuses a record whose service is not the candidate's slot's.
    let mut wrong = first.clone();
    wrong["swarm"]["service"] = format!("{}-green", s.app.name).into();
    wrong["alerts"] = Value::Null;
    let out = s.run("mvk-swap", &[], &wrong.to_string());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("swarm.service"), "{}", out.stderr);
    assert_eq!(s.serving(), "demo v1\n");
    assert_eq!(s.swarm.services(&s.app.name).len(), 1);
}

/// The Swarm figures of `scripts/bench swarm` (which runs this ignored test), under the load
/// of `scripts/bench deploy` (400 requests/s): deploys through the slot services behind the
/// host's nginx, then Swarm's own start-first rolling update of one service published through
/// the routing mesh, hit directly and through a host nginx in front of it. Figures, not
/// targets: nothing is asserted beyond the deploys succeeding.
#[test]
#[ignore = "a benchmark: scripts/bench swarm runs it and prints its figures"]
fn bench_swarm_deploys_and_the_routing_mesh_under_load() {
    let s = Setup::new("sw-bench");
    let builds: Vec<String> = ["v1", "v2", "v3", "v4"]
        .iter()
        .map(|v| s.build(v, &[]))
        .collect();
    s.deployed(&builds[0]);
    println!("bench swarm: slot services (one host-mode task each) behind the host's nginx, hey at 400 requests/s through it");
    for build in &builds[1..] {
        let load = Hey::start(&s.app.nginx.url("/"), 300);
        let clock = Instant::now();
        let r = s.deployed(build);
        let whole = clock.elapsed().as_secs_f64();
        let outcome = load.interrupt();
        let step = |tool: &str| -> f64 {
            let steps = r["steps"].as_array().unwrap();
            let found = steps.iter().rev().find(|st| st["tool"] == tool);
            found.and_then(|st| st["seconds"].as_f64()).unwrap_or(0.0)
        };
        println!(
            "bench swarm: {} {} the {} slot's service: live after {:.2}s (health wait {:.2}s, swap {:.2}s), {:.2}s with verify and a 2s alert gate; {} requests, {} failed",
            r["release"].as_str().unwrap_or("?"),
            r["swarm"]["placed"].as_str().unwrap_or("?"),
            r["candidate"]["slot"].as_str().unwrap_or("?"),
            step("mvk-healthwait") + step("mvk-swap"),
            step("mvk-healthwait"),
            step("mvk-swap"),
            whole,
            outcome.sent(),
            outcome.failed()
        );
    }
    routing_mesh(
        &s,
        &pinned(&builds[0]),
        &[pinned(&builds[1]), pinned(&builds[2])],
    );
}

/// One service published through the routing mesh (ingress), updated start-first as Swarm
/// does a rolling update, under load sent to its port and then through a host nginx in front.
fn routing_mesh(s: &Setup, first: &str, next: &[String]) {
    let port = mvk_e2e::free_port();
    let name = format!("{}-mesh", s.app.name);
    let label = format!("mvk.app={}", s.app.name);
    let publish = format!("published={port},target=8000");
    let created = s.swarm.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &name,
        "--label",
        &label,
        "--publish",
        &publish,
        "--update-order",
        "start-first",
        "--update-failure-action",
        "rollback",
        first,
    ]);
    if let Err(e) = created {
        println!(
            "bench swarm: routing mesh: the service could not be created: {}",
            e.trim()
        );
        return;
    }
    mvk_e2e::wait_until(
        "the mesh service runs",
        std::time::Duration::from_secs(60),
        || {
            let state = s.swarm.docker(&[
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}",
                &name,
            ]);
            state.is_ok_and(|st| st.starts_with("Running"))
        },
    );
    let front = mvk_e2e::Nginx::start(&name, port);
    let targets = [
        (
            "routing mesh (ingress publish), hit directly",
            format!("http://127.0.0.1:{port}/"),
        ),
        ("host nginx in front of the routing mesh", front.url("/")),
    ];
    for ((what, url), image) in targets.iter().zip(next) {
        let load = Hey::start(url, 300);
        let clock = Instant::now();
        let update = s
            .swarm
            .docker(&["service", "update", "--quiet", "--image", image, &name]);
        let seconds = clock.elapsed().as_secs_f64();
        let outcome = load.interrupt();
        let first_error = outcome
            .errors
            .first()
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default();
        println!(
            "bench swarm: {what}, Swarm's start-first update {}: {seconds:.2}s; {} requests, {} failed, answers by status {:?}{first_error}",
            if update.is_ok() { "done" } else { "failed" },
            outcome.sent(),
            outcome.failed(),
            outcome.statuses,
        );
    }
    let ipvs = std::path::Path::new("/proc/net/ip_vs").exists();
    println!("bench swarm: this kernel has IPVS (/proc/net/ip_vs): {ipvs}");
}
