//! mvk-swap on a real engine and a real nginx: going live, zero failed requests under load
//! with long requests in flight, every failure path leaving nginx and the state as they were,
//! interruptions, concurrency, and image pruning.

use mvk_e2e::{
    app_image, container_status, docker, finish, get, signal, sleeping_requests, start_candidate,
    wait_until, DemoImage, Run, TempDir, TestApp,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn swap(app: &TestApp, record: &Value, args: &[&str], extra: &[(&str, &str)]) -> Run {
    app.run("mvk-swap", args, extra, &format!("{record}\n"))
}

/// Starts mvk-swap without waiting for it.
fn spawn_swap(app: &TestApp, record: &Value, args: &[&str], extra: &[(&str, &str)]) -> Child {
    app.spawn("mvk-swap", args, extra, &format!("{record}\n"))
}

fn sigterm(child: &Child) {
    signal(child, nix::sys::signal::Signal::SIGTERM);
}

fn state_bytes(app: &TestApp) -> Option<Vec<u8>> {
    std::fs::read(app.state_file()).ok()
}

fn upstream_bytes(app: &TestApp) -> Vec<u8> {
    std::fs::read(&app.nginx.upstream_file).unwrap()
}

/// What nginx answers on `/` (the body names the version).
fn serving(app: &TestApp) -> String {
    match get(&app.nginx.url("/")) {
        Ok((200, body)) => body.trim().to_string(),
        other => panic!(
            "nginx did not answer 200: {other:?}\n{}",
            app.nginx.error_log()
        ),
    }
}

fn name(app: &TestApp, slot: &str) -> String {
    format!("{}-{slot}", app.name)
}

/// Deploys `version` into `slot` (blue first) and checks it went live.
fn deploy(app: &TestApp, slot: &str, image: &DemoImage) -> Value {
    let record = start_candidate(app, slot, image, &[]);
    let run = swap(app, &record, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    record
}

/// A request to `/sleep?ms=N` through nginx, returned once nginx has passed it on to the
/// slot on `port` (the demo app counts it among its sleeping requests).
fn long_request(app: &TestApp, port: u16, ms: u64) -> JoinHandle<Result<(u16, String), String>> {
    let before = sleeping_requests(port);
    let url = app.nginx.url(&format!("/sleep?ms={ms}"));
    let request = std::thread::spawn(move || get(&url));
    wait_until(
        "nginx to pass the request on",
        Duration::from_secs(20),
        || sleeping_requests(port) > before,
    );
    request
}

/// A nginx wrapper script that does `body` and then runs the real nginx with the arguments.
fn nginx_wrapper(dir: &TempDir, body: &str) -> String {
    let path = dir.join("nginx");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\nexec nginx \"$@\"\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Clients GETting `/` through nginx without pause, each request on a new connection.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    failed: Vec<String>,
    versions: BTreeMap<String, u64>,
}

impl Load {
    fn start(url: String, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let (stop, url) = (stop.clone(), url.clone());
                std::thread::spawn(move || {
                    let mut tally = Tally::default();
                    // Bounded in time and count whatever the test does.
                    let end = Instant::now() + Duration::from_secs(240);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < end && tally.ok < 200_000
                    {
                        std::thread::sleep(Duration::from_millis(2));
                        match get(&url) {
                            Ok((200, body)) => {
                                tally.ok += 1;
                                *tally.versions.entry(body.trim().to_string()).or_default() += 1;
                            }
                            Ok((status, body)) => {
                                tally.failed.push(format!("{status}: {}", body.trim()))
                            }
                            Err(e) => tally.failed.push(e),
                        }
                    }
                    tally
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Tally::default();
        for t in self.threads {
            let t = t.join().unwrap();
            all.ok += t.ok;
            all.failed.extend(t.failed);
            for (v, n) in t.versions {
                *all.versions.entry(v).or_default() += n;
            }
        }
        all
    }
}

#[test]
fn first_deploy_goes_live_and_is_recorded() {
    let app = TestApp::new("sw-first");
    let v1 = app_image(&app, "v1", &[]);
    let record = start_candidate(&app, "blue", &v1, &[]);
    let run = swap(&app, &record, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["swap"]["live"]["slot"], "blue");
    assert_eq!(r["swap"]["live"]["port"], app.blue_port);
    assert_eq!(r["swap"]["live"]["release"], "v1");
    assert_eq!(r["swap"]["live"]["container"], name(&app, "blue"));
    assert!(r["swap"]["previous"].is_null(), "{r}");
    assert_eq!(r["swap"]["previous_stopped"], false);
    assert_eq!(r["swap"]["weight"], 100, "a full swap");
    assert_eq!(
        r["swap"]["upstream_file"],
        app.nginx.upstream_file.display().to_string()
    );
    assert_eq!(r["candidate"], record["candidate"], "the record is kept");
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap()["tool"], "mvk-swap");
    assert_eq!(steps.last().unwrap()["ok"], true);

    // The live server with its circuit breaker, then the maintenance page as the last backup.
    let upstream = String::from_utf8(upstream_bytes(&app)).unwrap();
    assert!(
        upstream.starts_with(&format!(
            "# written by mvk-swap; do not edit\nupstream {} {{\n    server 127.0.0.1:{} max_fails=3 fail_timeout=10s;\n    server unix:",
            app.name, app.blue_port
        )),
        "{upstream}"
    );
    assert_eq!(serving(&app), "demo v1");
    let s = app.state();
    assert_eq!(s["live"]["release"], "v1");
    assert_eq!(s["live"]["slot"], "blue");
    assert_eq!(s["live"]["port"], app.blue_port);
    assert_eq!(s["live"]["image"], v1.tag);
    assert_eq!(s["live"]["image_id"], v1.id);
    assert!(s["live"]["deployed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["history"].as_array().unwrap().len(), 1);
    assert_eq!(container_status(&name(&app, "blue")), "running");

    // The same record again changes nothing.
    let again = swap(&app, &record, &[], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already live"), "{}", again.stderr);
    assert_eq!(app.state()["history"].as_array().unwrap().len(), 1);
}

#[test]
fn consecutive_deploys_under_load_fail_no_request() {
    let app = TestApp::new("sw-load");
    let versions = ["v1", "v2", "v3", "v4", "v5"];
    let images: Vec<DemoImage> = versions.iter().map(|v| app_image(&app, v, &[])).collect();
    deploy(&app, "blue", &images[0]);
    assert_eq!(serving(&app), "demo v1");

    let load = Load::start(app.nginx.url("/"), 3);
    let mut live = "blue";
    for (i, image) in images.iter().enumerate().skip(1) {
        let idle = if live == "blue" { "green" } else { "blue" };
        let record = start_candidate(&app, idle, image, &[]);
        // A 2-second request in flight to the old release at the swap.
        let old_port = if live == "blue" {
            app.blue_port
        } else {
            app.green_port
        };
        let long = long_request(&app, old_port, 2000);
        let run = swap(&app, &record, &[], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.record();
        let answer = long.join().unwrap();
        assert_eq!(
            answer,
            Ok((200, format!("demo {} slept 2000 ms\n", versions[i - 1]))),
            "the long request was cut"
        );
        let sw = &r["swap"];
        assert_eq!(sw["previous"]["slot"], live);
        assert_eq!(sw["previous"]["release"], versions[i - 1]);
        assert_eq!(sw["previous_stopped"], true);
        assert_eq!(sw["drained"], true);
        let drained = sw["drained_seconds"].as_f64().unwrap();
        // The long request had about 1.7 s to go: the drain waited for it, and not 30 s.
        assert!((1.2..20.0).contains(&drained), "drained_seconds {drained}");
        assert_eq!(serving(&app), format!("demo {}", versions[i]));
        assert_eq!(
            container_status(&name(&app, live)),
            "exited",
            "the old container is stopped, not removed"
        );
        assert_eq!(container_status(&name(&app, idle)), "running");
        assert_eq!(app.state()["live"]["release"], versions[i]);
        live = idle;
    }
    let tally = load.finish();
    eprintln!(
        "load: {} answered, {} failed, by version {:?}",
        tally.ok,
        tally.failed.len(),
        tally.versions
    );
    assert!(
        tally.failed.is_empty(),
        "{} of {} requests failed: {:?}",
        tally.failed.len(),
        tally.ok,
        &tally.failed[..tally.failed.len().min(10)]
    );
    assert!(tally.ok > 100, "the load hardly ran: {tally:?}");
    for v in &versions[1..] {
        assert!(
            tally.versions.contains_key(&format!("demo {v}")),
            "no request reached {v}: {tally:?}"
        );
    }
    let s = app.state();
    let history: Vec<&str> = s["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["release"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["v5", "v4", "v3", "v2", "v1"]);
}

#[test]
fn nginx_rejecting_the_upstream_file_restores_it_byte_for_byte() {
    let app = TestApp::new("sw-badconf");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    // A hand-edited file (comments, spacing) must come back exactly.
    let hand = format!(
        "# edited by hand\nupstream {}   {{ server 127.0.0.1:{};  }}\n\n",
        app.name, app.blue_port
    );
    std::fs::write(&app.nginx.upstream_file, &hand).unwrap();
    let before_state = state_bytes(&app);
    let record = start_candidate(&app, "green", &v2, &[]);

    // A valid name that nginx still rejects: the site already defines an upstream of that name.
    let conf = std::fs::read_to_string(&app.nginx.conf).unwrap();
    let decoy = "upstream mvk-decoy { server 127.0.0.1:9; }";
    std::fs::write(
        &app.nginx.conf,
        conf.replacen("http {", &format!("http {{\n    {decoy}"), 1),
    )
    .unwrap();
    let run = swap(&app, &record, &[], &[("MVK_UPSTREAM_NAME", "mvk-decoy")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-swap");
    assert_eq!(r["error"]["kind"], "nginx-config");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("[emerg]"),
        "nginx's own message: {message}"
    );
    assert!(message.contains("restored"), "{message}");
    assert_eq!(upstream_bytes(&app), hand.as_bytes());
    assert_eq!(state_bytes(&app), before_state);
    assert_eq!(serving(&app), "demo v1");
    assert_eq!(container_status(&name(&app, "blue")), "running");
    assert_eq!(container_status(&name(&app, "green")), "running");

    // An upstream file that nginx's configuration never includes would route nothing.
    let stray = app
        .nginx
        .upstream_file
        .with_file_name("not-included.upstream");
    let stray_env = stray.display().to_string();
    let run = swap(&app, &record, &[], &[("MVK_UPSTREAM_FILE", &stray_env)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let message = run.record()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("never includes"), "{message}");
    assert!(
        !stray.exists(),
        "a file that was not there is removed again"
    );
    assert_eq!(upstream_bytes(&app), hand.as_bytes());
    assert_eq!(state_bytes(&app), before_state);
    assert_eq!(serving(&app), "demo v1");

    // Once the configuration is right, the same record goes through.
    let run = swap(&app, &record, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serving(&app), "demo v2");
}

#[test]
fn two_deploys_at_once_one_wins_the_other_changes_nothing() {
    let app = TestApp::new("sw-race");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let record = start_candidate(&app, "green", &v2, &[]);
    // A long request keeps the first swap draining (and holding the lock) for a while.
    let long = long_request(&app, app.blue_port, 3000);
    let first = spawn_swap(&app, &record, &[], &[]);
    wait_until("the first swap to go live", Duration::from_secs(20), || {
        state_bytes(&app).is_some_and(|b| String::from_utf8_lossy(&b).contains("\"v2\""))
    });
    let state_during = state_bytes(&app);
    let upstream_during = upstream_bytes(&app);
    let second = swap(&app, &record, &[], &[]);
    assert_eq!(second.code, 4, "{}", second.stderr);
    let r = second.record();
    assert_eq!(r["error"]["kind"], "locked");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("mvk-swap (pid"), "{message}");
    assert!(r.get("swap").is_none(), "{r}");
    assert_eq!(state_bytes(&app), state_during);
    assert_eq!(upstream_bytes(&app), upstream_during);

    let first = finish(first);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.record()["swap"]["previous_stopped"], true);
    assert_eq!(long.join().unwrap().map(|(s, _)| s), Ok(200));
    assert_eq!(serving(&app), "demo v2");
    assert_eq!(app.state()["history"].as_array().unwrap().len(), 2);
}

#[test]
fn a_candidate_replaced_gone_or_down_is_refused_and_nothing_changes() {
    let app = TestApp::new("sw-cand");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let before_state = state_bytes(&app);
    let before_upstream = upstream_bytes(&app);
    let unchanged = |app: &TestApp| {
        assert_eq!(state_bytes(app), before_state);
        assert_eq!(upstream_bytes(app), before_upstream);
        assert_eq!(serving(app), "demo v1");
        assert_eq!(container_status(&name(app, "blue")), "running");
    };

    // Another deploy replaced the green container since this record was written.
    let stale = start_candidate(&app, "green", &v2, &[]);
    let fresh = start_candidate(&app, "green", &v2, &[]);
    let run = swap(&app, &stale, &[], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "candidate-replaced");
    unchanged(&app);
    assert_eq!(
        container_status(&name(&app, "green")),
        "running",
        "the other deploy's container is left alone"
    );

    // Stopped: exit 1, with its logs.
    docker(&["stop", "-t", "5", &name(&app, "green")]).unwrap();
    let run = swap(&app, &fresh, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "candidate-down");
    assert!(
        r["error"]["logs"].as_array().is_some_and(|l| !l.is_empty()),
        "{r}"
    );
    unchanged(&app);

    // Gone.
    docker(&["rm", "-f", &name(&app, "green")]).unwrap();
    let run = swap(&app, &fresh, &[], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "candidate-gone");
    unchanged(&app);
}

#[test]
fn sigterm_while_draining_ends_live_and_consistent() {
    let app = TestApp::new("sw-term-drain");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let record = start_candidate(&app, "green", &v2, &[]);
    let long = long_request(&app, app.blue_port, 4000);
    let child = spawn_swap(&app, &record, &[], &[]);
    wait_until("the swap to go live", Duration::from_secs(20), || {
        state_bytes(&app).is_some_and(|b| String::from_utf8_lossy(&b).contains("\"v2\""))
    });
    sigterm(&child);
    let run = finish(child);
    assert_eq!(run.code, 130, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("SIGTERM") && message.contains("left running"),
        "{message}"
    );
    // nginx, the state and the record agree: v2 is live.
    assert_eq!(r["swap"]["live"]["release"], "v2");
    assert_eq!(r["swap"]["previous_stopped"], false);
    assert_eq!(mvk_core_port(&app), Some(app.green_port));
    assert_eq!(app.state()["live"]["release"], "v2");
    for _ in 0..5 {
        assert_eq!(serving(&app), "demo v2", "{}", run.stderr);
    }
    assert_eq!(container_status(&name(&app, "green")), "running");
    // The old release finishes its request: it was not stopped under it.
    assert_eq!(
        long.join().unwrap(),
        Ok((200, "demo v1 slept 4000 ms\n".into()))
    );
    assert_eq!(container_status(&name(&app, "blue")), "running");
}

/// Swaps v1 (started with `env`) for v2 with `args` while a 6 s request is in flight to v1;
/// returns the swap's record, how long the swap took, and what the long request got.
fn swap_past_the_drain_deadline(
    label: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Value, Duration, Result<(u16, String), String>) {
    let app = TestApp::new(label);
    let v1 = app_image(&app, "v1", env);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let record = start_candidate(&app, "green", &v2, &[]);
    let long = long_request(&app, app.blue_port, 6000);
    let start = Instant::now();
    let run = swap(&app, &record, args, &[]);
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    let answer = long.join().unwrap();
    assert_eq!(r["swap"]["drained"], false, "{r}");
    let drained = r["swap"]["drained_seconds"].as_f64().unwrap();
    assert!(
        (0.9..3.0).contains(&drained),
        "the drain stops at its 1 s deadline, not when the request ends: {drained}"
    );
    assert_eq!(r["swap"]["long_lived"]["open_at_deadline"], 1, "{r}");
    assert_eq!(r["swap"]["previous_stopped"], true, "{r}");
    assert_eq!(container_status(&name(&app, "blue")), "exited");
    assert_eq!(serving(&app), "demo v2");
    assert_eq!(app.state()["live"]["release"], "v2");
    (r, took, answer)
}

#[test]
fn at_the_drain_deadline_the_old_release_is_stopped_and_finishes_its_request_on_sigterm() {
    let (r, took, answer) = swap_past_the_drain_deadline("sw-deadline", &[], &["--drain", "1s"]);
    // SIGTERM: the demo app, like any well-behaved one, finishes what it is serving.
    assert_eq!(answer, Ok((200, "demo v1 slept 6000 ms\n".into())));
    assert_eq!(r["swap"]["long_lived"]["closed_by_app"], 1, "{r}");
    assert_eq!(r["swap"]["long_lived"]["cut_by_sigkill"], 0, "{r}");
    println!("swap took {took:?}");
}

#[test]
fn at_the_drain_deadline_a_request_the_old_release_holds_past_the_stop_timeout_is_cut() {
    let (r, took, answer) = swap_past_the_drain_deadline(
        "sw-deadline-kill",
        &[("DEMO_IGNORE_SIGTERM", "1")],
        &["--drain", "1s", "--stop-timeout", "1s"],
    );
    // SIGKILL after the stop timeout cuts it: nginx answers the client 502.
    assert!(
        !matches!(answer, Ok((200, _))),
        "the request outlived SIGKILL: {answer:?}"
    );
    assert_eq!(r["swap"]["long_lived"]["cut_by_sigkill"], 1, "{r}");
    assert!(took < Duration::from_secs(5), "the swap took {took:?}");
}

/// The port the upstream file routes to.
fn mvk_core_port(app: &TestApp) -> Option<u16> {
    let text = String::from_utf8(upstream_bytes(app)).unwrap();
    let server = text.split("server 127.0.0.1:").nth(1)?;
    server
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

#[test]
fn sigterm_before_the_reload_restores_the_upstream_file() {
    let app = TestApp::new("sw-term-early");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let before_state = state_bytes(&app);
    let before_upstream = upstream_bytes(&app);
    let record = start_candidate(&app, "green", &v2, &[]);
    // A slow `nginx -T` holds the swap between writing the file and reloading.
    let bin = TempDir::new("wrap");
    let slow = nginx_wrapper(&bin, r#"[ "$1" = -T ] && sleep 3"#);
    let child = spawn_swap(&app, &record, &[], &[("MVK_NGINX", &slow)]);
    wait_until(
        "the upstream file to be written",
        Duration::from_secs(20),
        || upstream_bytes(&app) != before_upstream,
    );
    sigterm(&child);
    let run = finish(child);
    assert_eq!(run.code, 130, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("restored"),
        "{r}"
    );
    assert_eq!(upstream_bytes(&app), before_upstream);
    assert_eq!(state_bytes(&app), before_state);
    assert_eq!(serving(&app), "demo v1");
    assert_eq!(container_status(&name(&app, "blue")), "running");
}

#[test]
fn nginx_down_or_refusing_the_reload_restores_the_upstream_file() {
    let app = TestApp::new("sw-nginx");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1);
    let before_state = state_bytes(&app);
    let before_upstream = upstream_bytes(&app);
    let record = start_candidate(&app, "green", &v2, &[]);
    let unchanged = |app: &TestApp| {
        assert_eq!(upstream_bytes(app), before_upstream);
        assert_eq!(state_bytes(app), before_state);
        assert_eq!(container_status(&name(app, "blue")), "running");
        assert_eq!(container_status(&name(app, "green")), "running");
    };

    // nginx cannot apply the new configuration (`nginx -t` passes, but the master cannot bind
    // a port it now names), so it keeps the old one and starts no new worker: exit 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let main_conf = std::fs::read_to_string(&app.nginx.conf).unwrap();
    let unbindable = main_conf.replacen(
        "    server {",
        &format!(
            "    server {{ listen 127.0.0.1:{}; }}\n    server {{",
            taken.local_addr().unwrap().port()
        ),
        1,
    );
    std::fs::write(&app.nginx.conf, unbindable).unwrap();
    let run = swap(&app, &record, &[], &[]);
    std::fs::write(&app.nginx.conf, &main_conf).unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "nginx-reload");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no new worker"),
        "{r}"
    );
    unchanged(&app);
    assert_eq!(serving(&app), "demo v1");

    // nginx stops between the check and the reload (its master may still be on its way out
    // when the reload is sent): exit 4.
    let bin = TempDir::new("wrap");
    let pid_file = app.nginx.conf.with_file_name("nginx.pid");
    let dies = nginx_wrapper(
        &bin,
        &format!(
            r#"[ "$1" = -T ] && {{ kill -TERM "$(cat {})"; sleep 1; }}"#,
            pid_file.display()
        ),
    );
    let run = swap(&app, &record, &[], &[("MVK_NGINX", &dies)]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "nginx");
    assert!(
        run.record()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{}",
        run.stdout
    );
    unchanged(&app);

    // nginx not running at all: exit 4 before anything is touched.
    let run = swap(&app, &record, &[], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "nginx");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nginx is not running"),
        "{r}"
    );
    unchanged(&app);
}

#[test]
fn docker_unreachable_is_exit_4_and_creates_nothing() {
    let app = TestApp::new("sw-nodocker");
    let v1 = app_image(&app, "v1", &[]);
    let record = start_candidate(&app, "blue", &v1, &[]);
    let before_upstream = upstream_bytes(&app);
    let run = swap(
        &app,
        &record,
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "docker");
    assert_eq!(upstream_bytes(&app), before_upstream);
    assert!(
        !app.state.path().join(&app.name).exists(),
        "no state dir was created"
    );
}

#[test]
fn the_old_container_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let app = TestApp::new("sw-stubborn");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let r1 = start_candidate(&app, "blue", &v1, &[("DEMO_IGNORE_SIGTERM", "1")]);
    assert_eq!(swap(&app, &r1, &[], &[]).code, 0);
    let r2 = start_candidate(&app, "green", &v2, &[]);
    let start = Instant::now();
    let run = swap(&app, &r2, &["--stop-timeout", "1s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(run.record()["swap"]["previous_stopped"], true);
    // The stop ended at the container's `die` event, which carries the exit code.
    let said = format!("{} exited with 137", name(&app, "blue"));
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert_eq!(container_status(&name(&app, "blue")), "exited");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.ExitCode}}", &name(&app, "blue")]).unwrap(),
        "137"
    );
    assert_eq!(serving(&app), "demo v2");
}

#[test]
fn timings_say_when_each_phase_ended_even_when_quiet() {
    let app = TestApp::new("sw-timings");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let first = swap(&app, &start_candidate(&app, "blue", &v1, &[]), &[], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        !first.stderr.contains("mvk-swap: timing"),
        "{}",
        first.stderr
    );
    let record = start_candidate(&app, "green", &v2, &[]);
    let run = swap(&app, &record, &["--timings", "--quiet"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serving(&app), "demo v2");
    // `mvk-swap: timing <ms since start> ms <+ms since the last phase> ms  <phase>`, and
    // nothing else: --quiet still silences the progress lines.
    let phases: Vec<(f64, &str)> = run
        .stderr
        .lines()
        .map(|line| {
            let rest = line
                .strip_prefix("mvk-swap: timing ")
                .unwrap_or_else(|| panic!("not a timing line: {line:?}"));
            let (at, rest) = rest.trim_start().split_once(" ms ").unwrap();
            let (_, phase) = rest.trim_start().split_once(" ms  ").unwrap();
            (at.parse().unwrap(), phase)
        })
        .collect();
    let stopped = format!("{} stopped", name(&app, "blue"));
    let expected = [
        "record read",
        "Docker connected",
        "locked, state read",
        "candidate and previous inspected, upstream prepared",
        "nginx master found",
        "upstream file written",
        "nginx -T",
        "reloaded: nginx runs new workers",
        "state saved",
        "old nginx workers take no new connections",
        "old nginx workers exited (drained)",
        &stopped,
        "old release retired",
        "old images pruned",
        "record written",
    ];
    assert_eq!(
        phases.iter().map(|p| p.1).collect::<Vec<_>>(),
        expected,
        "{}",
        run.stderr
    );
    assert!(
        phases.windows(2).all(|w| w[0].0 <= w[1].0),
        "{}",
        run.stderr
    );
}

/// By default mvk-swap itself tells nginx's old workers to stop taking connections as soon as
/// the new ones run (each worker logs who sent it SIGQUIT), and the master, which tells them
/// the same later, respawns none of them: nginx ends with its two workers. With `--handover
/// nginx` the master alone tells them (over its channel, so no signal is logged).
#[test]
fn the_old_nginx_workers_are_told_to_quit_by_mvk_swap_unless_left_to_nginx() {
    let app = TestApp::new("sw-handover");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let v3 = app_image(&app, "v3", &[]);
    deploy(&app, "blue", &v1);
    let quit_by = |pid: u32| format!("signal 3 (SIGQUIT) received from {pid}");

    let quick = spawn_swap(&app, &start_candidate(&app, "green", &v2, &[]), &[], &[]);
    let pid = quick.id();
    let run = finish(quick);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serving(&app), "demo v2");
    let log = app.nginx.error_log();
    assert!(log.contains(&quit_by(pid)), "{log}");
    // A respawned worker would appear as soon as the master reaps the old one.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        app.nginx.accepting_workers(),
        2,
        "{}",
        app.nginx.error_log()
    );

    let left = spawn_swap(
        &app,
        &start_candidate(&app, "blue", &v3, &[]),
        &["--handover", "nginx"],
        &[],
    );
    let pid = left.id();
    let run = finish(left);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serving(&app), "demo v3");
    let log = app.nginx.error_log();
    assert!(!log.contains(&quit_by(pid)), "{log}");
    assert!(log.contains("gracefully shutting down"), "{log}");
    assert_eq!(app.nginx.accepting_workers(), 2, "{log}");
}

#[test]
fn a_failed_record_is_passed_on_with_exit_3_even_when_docker_is_unreachable() {
    // mvk-swap connects while its record is on its way: a failed connection only counts when
    // the step has work to do.
    let app = TestApp::new("sw-upstream-nodocker");
    let failed = json!({
        "schema": "mvk.release/v1", "app": app.name, "release": "v1", "steps": [],
        "error": {"tool": "mvk-healthwait", "kind": "unhealthy", "message": "no answer"}
    });
    let run = swap(
        &app,
        &failed,
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.record(), failed);
    assert!(!app.state.path().join(&app.name).exists());
}

#[test]
fn bad_input_is_exit_2_or_3_and_changes_nothing() {
    let app = TestApp::new("sw-input");
    let v1 = app_image(&app, "v1", &[]);
    let good = start_candidate(&app, "blue", &v1, &[]);
    let before_upstream = upstream_bytes(&app);
    let nothing_changed = |app: &TestApp| {
        assert_eq!(upstream_bytes(app), before_upstream);
        assert!(!app.state.path().join(&app.name).exists());
        assert_eq!(container_status(&name(app, "blue")), "running");
    };
    let with = |path: &[&str], value: Value| {
        let mut r = good.clone();
        let mut at = &mut r;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        r
    };
    let cases = [
        (
            with(&["health", "healthy"], Value::Bool(false)),
            "not healthy",
        ),
        (with(&["health"], Value::Null), "health.healthy"),
        (with(&["candidate"], Value::Null), "candidate"),
        (with(&["candidate", "slot"], "red".into()), "not a slot"),
        (with(&["candidate", "port"], 1.into()), "slot's port"),
        (
            with(&["candidate", "container"], "someone-else".into()),
            "candidate.container",
        ),
        (with(&["release"], Value::Null), "release"),
    ];
    for (record, says) in cases {
        let run = swap(&app, &record, &[], &[]);
        assert_eq!(run.code, 2, "{record}: {}", run.stderr);
        // A field the record reader itself refuses writes nothing (like invalid JSON); one the
        // step refuses comes back in the record's error.
        let message = if run.stdout.is_empty() {
            run.stderr.clone()
        } else {
            run.record()["error"]["message"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(message.contains(says), "{says:?} not in {message:?}");
        nothing_changed(&app);
    }
    for stdin in ["", "{not json\n"] {
        let run = app.run("mvk-swap", &[], &[], stdin);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert_eq!(run.stdout, "");
        nothing_changed(&app);
    }
    let mut failed = good.clone();
    failed["error"] = serde_json::json!({"tool": "mvk-healthwait", "kind": "unhealthy", "message": "never healthy"});
    let line = format!("{failed}\n");
    let run = app.run("mvk-swap", &[], &[], &line);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, line, "passed through unchanged");
    nothing_changed(&app);
    for (option, value) in [("--drain", "soon"), ("--keep-images", "0")] {
        let run = swap(&app, &good, &[option, value], &[]);
        assert_eq!(run.code, 2, "{option} {value}: {}", run.stderr);
        nothing_changed(&app);
    }
}

/// Removes an untagged image by id when the test ends.
struct ImageId(String);

impl Drop for ImageId {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// Builds a demo image with a `mvk.app` label: tagged `tag`, or untagged.
fn labelled_image(app_label: &str, version: &str, tag: Option<&str>) -> ImageId {
    let ctx = TempDir::new("ctx");
    mvk_e2e::demo::write_context(
        ctx.path(),
        &[("DEMO_VERSION", version), ("MVK_E2E_APP", app_label)],
    );
    mvk_e2e::demo::label_context(ctx.path(), app_label);
    let mut args = vec!["build", "-q"];
    if let Some(tag) = tag {
        args.extend(["-t", tag]);
    }
    args.push(ctx.path().to_str().unwrap());
    ImageId(docker(&args).unwrap())
}

fn image_exists(reference: &str) -> bool {
    docker(&["image", "inspect", "-f", "{{.Id}}", reference]).is_ok()
}

#[test]
fn pruning_keeps_the_right_images_and_never_another_apps() {
    let app = TestApp::new("sw-prune");
    let other = TestApp::new("sw-prune-other");
    let old1 = app_image(&app, "old1", &[]);
    let old2 = app_image(&app, "old2", &[]);
    let used = app_image(&app, "used", &[]);
    let dangling = labelled_image(&app.name, "dangling", None);
    let claimed = labelled_image(&other.name, "claimed", Some(&app.tag("claimed")));
    // Tagged in the app's repository by hand, without Maverick's label: not Maverick's to prune.
    let handmade = DemoImage::build(
        &app.tag("handmade"),
        &[("DEMO_VERSION", "handmade"), ("MVK_E2E_APP", &app.name)],
    );
    let other_v1 = app_image(&other, "v1", &[]);
    // Some container, of no app, uses an old image of this app.
    docker(&[
        "create",
        "--name",
        &format!("{}-foreign", app.name),
        &used.tag,
    ])
    .unwrap();
    // Image creation times have one-second resolution: v1 and later are newer than `used`.
    std::thread::sleep(Duration::from_millis(1100));
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let v3 = app_image(&app, "v3", &[]);
    // Another app's tag on this app's v1 image.
    let shared = other.tag("shared");
    docker(&["tag", &v1.tag, &shared]).unwrap();
    let mut pruned = Vec::new();
    let mut next = None;
    for (slot, image) in [("blue", &v1), ("green", &v2), ("blue", &v3)] {
        if image.tag == v3.tag {
            // Built while the deploy of v3 is under way: the next release.
            next = Some(app_image(&app, "next", &[]));
        }
        let record = start_candidate(&app, slot, image, &[]);
        let run = swap(&app, &record, &["--keep-images", "2"], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.record();
        pruned.extend(
            r["swap"]["pruned_images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
        assert_eq!(r["swap"]["warnings"], serde_json::json!([]), "{r}");
    }
    pruned.sort();
    let mut expected = vec![
        old1.tag.clone(),
        old2.tag.clone(),
        v1.tag.clone(),
        dangling.0.clone(),
    ];
    expected.sort();
    assert_eq!(pruned, expected);
    for gone in [&old1.tag, &old2.tag, &v1.tag, &dangling.0] {
        assert!(!image_exists(gone), "{gone} should be pruned");
    }
    // Live, in the window, used by a container, newer than live, unlabelled, another app's.
    for kept in [
        &v3.tag,
        &v2.tag,
        &used.tag,
        &app.tag("next"),
        &app.tag("claimed"),
        &handmade.tag,
        &other_v1.tag,
        &shared,
    ] {
        assert!(image_exists(kept), "{kept} must survive");
    }
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Id}}", &shared]).unwrap(),
        v1.id,
        "the other app's tag still names the image"
    );
    assert_eq!(serving(&app), "demo v3");
    drop((claimed, next));
}

#[test]
fn an_image_another_apps_state_names_is_not_pruned_when_both_share_a_state_dir() {
    let app = TestApp::new("sw-share");
    let other = TestApp::new("sw-share-other");
    let v1 = app_image(&app, "v1", &[]);
    // The other app (a worker of the same code) runs this app's v1, recorded in the state dir
    // both apps share; then its container goes, so only its state still names v1.
    let shared_dir = app.state.path().display().to_string();
    let record = start_candidate(&other, "blue", &v1, &[]);
    let run = other.run(
        "mvk-swap",
        &[],
        &[("MVK_STATE_DIR", &shared_dir)],
        &format!("{record}\n"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    docker(&["rm", "-f", &name(&other, "blue")]).unwrap();
    // Built after the other app's swap, which prunes in the repository it deployed from.
    let v0 = app_image(&app, "v0", &[]);
    // Image creation times have one-second resolution: v2 and v3 are newer than v1 and v0.
    std::thread::sleep(Duration::from_millis(1100));
    let v2 = app_image(&app, "v2", &[]);
    let v3 = app_image(&app, "v3", &[]);
    let mut pruned = Vec::new();
    for (slot, image) in [("blue", &v2), ("green", &v3)] {
        let record = start_candidate(&app, slot, image, &[]);
        let run = swap(&app, &record, &["--keep-images", "1"], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.record();
        pruned.extend(
            r["swap"]["pruned_images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    // v0, named by nothing, goes (pruning ran); v1 is named only by the other app's state.
    assert_eq!(pruned, [v0.tag.as_str()]);
    assert!(!image_exists(&v0.tag));
    assert!(image_exists(&v1.tag), "the other app's release was pruned");
    let other_state: Value = serde_json::from_str(
        &std::fs::read_to_string(app.state.path().join(&other.name).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        other_state["live"]["image"], v1.tag,
        "the other app's state is intact"
    );
    assert_eq!(serving(&app), "demo v3");
}
