//! mvk-healthwait on a real Docker engine with the demo app: slot choice, fail-fast crash
//! detection, --before, --env-file secrecy, the reuse fast path, and every refusal.

use mvk_e2e::{app_image, docker, get, DemoImage, Run, TempDir, TestApp};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

const TOOL: &str = "mvk-healthwait";

/// The record mvk-build writes for `image`.
fn record(app: &TestApp, image: &DemoImage) -> String {
    let release = image.tag.rsplit_once(':').unwrap().1;
    json!({
        "schema": "mvk.release/v1", "app": app.name, "release": release,
        "image": image.tag, "image_id": image.id, "steps": [], "error": null
    })
    .to_string()
}

fn healthwait(app: &TestApp, args: &[&str], stdin: &str) -> Run {
    app.run(TOOL, args, &[], stdin)
}

fn inspect(container: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, container]).unwrap_or_default()
}

fn exists(container: &str) -> bool {
    docker(&["inspect", container]).is_ok()
}

/// Writes the app's state as mvk-swap would after putting `slot` live.
fn set_live(app: &TestApp, slot: &str, release: &str, image: &str) {
    let port = if slot == "blue" {
        app.blue_port
    } else {
        app.green_port
    };
    let live = json!({
        "release": release, "image": image, "image_id": "", "slot": slot, "port": port,
        "deployed_at": "2026-11-26T14:00:00Z"
    });
    let dir = app.state.join(&app.name);
    std::fs::create_dir_all(&dir).unwrap();
    let state = json!({"version": 1, "app": app.name, "live": live, "history": [live]});
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
}

/// Points the app's upstream file at `port` (what nginx would route to after a reload).
fn set_upstream(app: &TestApp, port: u16) {
    let text = format!(
        "upstream {} {{\n    server 127.0.0.1:{port};\n}}\n",
        app.name
    );
    std::fs::write(&app.nginx.upstream_file, text).unwrap();
}

fn logs_contain(record: &Value, needle: &str) -> bool {
    record["error"]["logs"].as_array().is_some_and(|lines| {
        lines
            .iter()
            .any(|l| l.as_str().unwrap_or("").contains(needle))
    })
}

/// Deploys `version` with mvk-healthwait and asserts it became healthy.
fn deploy(app: &TestApp, image: &DemoImage, args: &[&str]) -> Value {
    let run = healthwait(app, args, &record(app, image));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.record()
}

#[test]
fn first_deploy_picks_blue_and_the_candidate_answers() {
    let app = TestApp::new("hw-first");
    let v1 = app_image(&app, "v1", &[]);
    let r = deploy(&app, &v1, &[]);
    let name = format!("{}-blue", app.name);
    let id = inspect(&name, "{{.Id}}");
    assert_eq!(
        r["candidate"],
        json!({"slot": "blue", "port": app.blue_port, "container": name, "container_id": id,
               "image": v1.tag, "reused": false, "started": true})
    );
    assert_eq!(r["health"]["healthy"], true);
    assert_eq!(r["health"]["http_status"], 200);
    assert!(r["health"]["polls"].as_u64().unwrap() >= 2, "{r}");
    assert!(
        ["starting", "healthy"].contains(&r["health"]["docker_health"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["steps"][0]["tool"], TOOL);
    assert_eq!(r["steps"][0]["ok"], true);
    assert!(r["error"].is_null());
    assert_eq!(
        r["image_id"],
        v1.id.as_str(),
        "fields it does not own are kept"
    );

    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port)).unwrap(),
        (200, "demo v1\n".into())
    );
    assert_eq!(
        inspect(&name, "{{json .HostConfig.PortBindings}}"),
        format!(
            r#"{{"8000/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{}"}}]}}"#,
            app.blue_port
        )
    );
    assert_eq!(
        inspect(&name, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert_eq!(
        inspect(&name, "{{.HostConfig.Init}}"),
        "true",
        "Docker's init by default"
    );
    let release = v1.tag.rsplit_once(':').unwrap().1;
    assert_eq!(
        inspect(
            &name,
            r#"{{index .Config.Labels "mvk.app"}} {{index .Config.Labels "mvk.release"}} {{index .Config.Labels "mvk.slot"}}"#
        ),
        format!("{} {release} blue", app.name)
    );
}

#[test]
fn second_deploy_picks_green_and_never_touches_blue() {
    let app = TestApp::new("hw-second");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, &v1, &[]);
    set_live(&app, "blue", "v1", &v1.tag);
    let blue = format!("{}-blue", app.name);
    let before = inspect(&blue, "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}");

    let r = deploy(&app, &v2, &[]);
    assert_eq!(r["candidate"]["slot"], "green");
    assert_eq!(r["candidate"]["port"], app.green_port);
    assert_eq!(r["candidate"]["container"], format!("{}-green", app.name));
    assert_eq!(
        inspect(&blue, "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}"),
        before,
        "blue was touched"
    );
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port))
            .unwrap()
            .1,
        "demo v1\n"
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.green_port))
            .unwrap()
            .1,
        "demo v2\n"
    );
}

#[test]
fn a_release_that_crashes_at_start_fails_fast_with_its_logs() {
    let app = TestApp::new("hw-crash");
    let bad = app_image(&app, "bad", &[("DEMO_CRASH", "database is gone")]);
    let start = Instant::now();
    let run = healthwait(&app, &[], &record(&app, &bad));
    let took = start.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    println!(
        "crash detected after {:.3}s (health.seconds {}), tool ran {took:?}",
        r["health"]["seconds"], r["health"]["seconds"]
    );
    assert_eq!(r["error"]["tool"], TOOL);
    assert_eq!(r["error"]["kind"], "crashed");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("crashed with exit code 3"),
        "{r}"
    );
    assert!(logs_contain(&r, "fatal: database is gone"), "{r}");
    assert!(
        run.stderr.contains("fatal: database is gone"),
        "logs are printed: {}",
        run.stderr
    );
    assert_eq!(r["health"]["healthy"], false);
    assert_eq!(r["steps"][0]["ok"], false);
    assert!(
        app.containers().is_empty(),
        "the failed candidate is removed"
    );
}

/// Far below the 30 s `--health-timeout` the fail-fast tests give, far above the ~0.2 s a
/// failure takes to notice (measured in `scripts/bench`): a step that ends sooner did not wait
/// for the timeout.
const AT_ONCE: Duration = Duration::from_secs(10);

/// Runs mvk-healthwait with a 30 s timeout (and `args`) and returns the record and how long
/// the step took.
fn fails_within(app: &TestApp, args: &[&str], stdin: &str) -> (Value, Duration) {
    let mut all = vec!["--timeout", "30s"];
    all.extend_from_slice(args);
    let start = Instant::now();
    let run = healthwait(app, &all, stdin);
    let took = start.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert!(
        took < AT_ONCE,
        "the step waited {took:?}, not failing at once: {r}"
    );
    (r, took)
}

#[test]
fn a_release_docker_calls_unhealthy_fails_at_once_not_at_the_timeout() {
    let app = TestApp::new("hw-unhealthy");
    let sick = app_image(&app, "sick", &[("DEMO_UNHEALTHY", "1")]);
    let (r, took) = fails_within(&app, &[], &record(&app, &sick));
    println!("unhealthy detected after {took:?}");
    assert_eq!(r["error"]["kind"], "unhealthy", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Docker reports"),
        "{r}"
    );
    assert_eq!(r["health"]["docker_health"], "unhealthy", "{r}");
    assert_eq!(r["health"]["http_status"], 503);
    assert!(logs_contain(&r, "demo-app sick: listening"), "{r}");
    assert!(app.containers().is_empty());
}

/// A stopped container of `image` in the green slot made by hand with `docker_args` (a memory
/// limit, a restart policy), and the record (mvk-rollback's) that names it for reuse.
fn hand_made_candidate(app: &TestApp, image: &DemoImage, docker_args: &[&str]) -> (String, Value) {
    let name = format!("{}-green", app.name);
    let release = image.tag.rsplit_once(':').unwrap().1;
    let labels = [
        format!("mvk.app={}", app.name),
        format!("mvk.release={release}"),
        "mvk.slot=green".to_string(),
    ];
    let publish = format!("127.0.0.1:{}:8000", app.green_port);
    let mut args = vec!["create", "--name", &name, "-p", &publish, "--init"];
    for l in &labels {
        args.extend(["--label", l]);
    }
    args.extend_from_slice(docker_args);
    args.push(&image.tag);
    let id = docker(&args).unwrap_or_else(|e| panic!("docker create {name}: {e}"));
    let mut named: Value = serde_json::from_str(&record(app, image)).unwrap();
    named["candidate"] = json!({
        "slot": "green", "port": app.green_port, "container": name,
        "container_id": id, "image": image.tag
    });
    (name, named)
}

#[test]
fn a_release_killed_for_running_out_of_memory_fails_at_once_not_at_the_timeout() {
    let app = TestApp::new("hw-oom");
    let greedy = app_image(&app, "greedy", &[("DEMO_ALLOC_MB", "256")]);
    let (_, named) =
        hand_made_candidate(&app, &greedy, &["--memory", "32m", "--memory-swap", "32m"]);
    let (r, took) = fails_within(&app, &[], &named.to_string());
    println!("OOM kill detected after {took:?}");
    // The message comes from Docker's State.OOMKilled, which only the kernel's OOM kill sets.
    assert_eq!(r["error"]["kind"], "crashed", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was killed for running out of memory"),
        "{r}"
    );
    assert_eq!(r["health"]["healthy"], false);
    assert!(
        app.containers().is_empty(),
        "the failed candidate is removed"
    );
}

#[test]
fn a_release_that_crashes_and_is_restarted_by_docker_fails_at_once_not_at_the_timeout() {
    let app = TestApp::new("hw-restart");
    let flaky = app_image(&app, "flaky", &[("DEMO_CRASH_AFTER_MS", "1500")]);
    // Restarted by Docker whenever it exits, and already running when the wait begins (a
    // reused candidate keeps its restart policy), so no exit code is ever seen as `exited`.
    let (name, named) = hand_made_candidate(&app, &flaky, &["--restart", "always"]);
    docker(&["start", &name]).unwrap();
    // The probe's path answers 404, so the candidate never counts as healthy before it crashes.
    let (r, took) = fails_within(&app, &["--health-path", "/missing"], &named.to_string());
    println!("restart detected after {took:?}");
    assert_eq!(r["error"]["kind"], "crashed", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Docker restarted it") || message.contains("Docker is restarting it"),
        "{r}"
    );
    assert!(logs_contain(&r, "fatal: crashed while serving"), "{r}");
}

#[test]
fn a_timeout_names_the_last_probe() {
    let app = TestApp::new("hw-timeout");
    let slow = app_image(&app, "slow", &[("DEMO_START_DELAY_MS", "60000")]);
    // Docker's HEALTHCHECK (every 1 s, 2 retries) cannot call it unhealthy within 1 s.
    let run = healthwait(&app, &["--timeout", "1s"], &record(&app, &slow));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "timeout", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not healthy after")
            && message.contains("the last probe of http://127.0.0.1"),
        "{message}"
    );
    assert!(app.containers().is_empty());
}

#[test]
fn a_release_slow_to_start_within_the_timeout_succeeds() {
    let app = TestApp::new("hw-slow");
    let slow = app_image(&app, "slow", &[("DEMO_START_DELAY_MS", "2000")]);
    let r = deploy(&app, &slow, &["--timeout", "30s"]);
    assert_eq!(r["health"]["healthy"], true);
    // It cannot answer before it listens.
    assert!(r["health"]["seconds"].as_f64().unwrap() >= 1.5, "{r}");
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port))
            .unwrap()
            .1,
        "demo slow\n"
    );
}

#[test]
fn once_a_probe_succeeds_the_streak_is_confirmed_without_waiting_a_whole_interval() {
    let app = TestApp::new("hw-confirm");
    let v1 = app_image(&app, "v1", &[]);
    let r = deploy(&app, &v1, &["--interval", "3s", "--successes", "3"]);
    let polls = r["health"]["polls"].as_u64().unwrap();
    let seconds = r["health"]["seconds"].as_f64().unwrap();
    assert!(polls >= 3, "three successes in a row: {r}");
    // A whole --interval after each probe would take (polls - 1) × 3 s at least; the two
    // confirming probes come --confirm-interval (50 ms) after the first success.
    assert!(seconds < (polls - 1) as f64 * 3.0, "{r}");
}

#[test]
fn a_failing_before_command_starts_nothing() {
    let app = TestApp::new("hw-before-fail");
    let v1 = app_image(&app, "v1", &[]);
    let run = healthwait(
        &app,
        &["--before", "migrate --fail column exists"],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "before-failed");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"),
        "{r}"
    );
    assert!(logs_contain(&r, "migration failed: column exists"), "{r}");
    assert!(r.get("candidate").is_none(), "{r}");
    assert!(
        app.containers().is_empty(),
        "neither the one-off nor a candidate is left"
    );
}

#[test]
fn a_succeeding_before_command_runs_first_and_is_removed() {
    let app = TestApp::new("hw-before-ok");
    let v1 = app_image(&app, "v1", &[]);
    let run = healthwait(&app, &["--before", r#"["migrate"]"#], &record(&app, &v1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let migrated = run
        .stderr
        .find("demo-app v1: migrated")
        .expect("the output is shown");
    let started = run
        .stderr
        .find("started ")
        .expect("the candidate is started");
    assert!(migrated < started, "{}", run.stderr);
    assert_eq!(
        app.containers(),
        [inspect(&format!("{}-blue", app.name), "{{.Id}}")]
    );
}

#[test]
fn a_port_taken_by_another_program_is_refused() {
    let app = TestApp::new("hw-port");
    let v1 = app_image(&app, "v1", &[]);
    let _squatter = TcpListener::bind(("127.0.0.1", app.blue_port)).unwrap();
    let run = healthwait(&app, &[], &record(&app, &v1));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "port-taken");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{}", app.blue_port)),
        "{r}"
    );
    assert!(app.containers().is_empty());
}

#[test]
fn a_leftover_in_the_idle_slot_is_replaced() {
    let app = TestApp::new("hw-leftover");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, &v1, &[]);
    set_live(&app, "blue", "v1", &v1.tag);
    let blue_id = inspect(&format!("{}-blue", app.name), "{{.Id}}");
    // A candidate a failed swap left running in green, holding green's port.
    let green = format!("{}-green", app.name);
    let publish = format!("127.0.0.1:{}:8000", app.green_port);
    let label = format!("mvk.app={}", app.name);
    let old = docker(&[
        "run",
        "-d",
        "--name",
        &green,
        "-p",
        &publish,
        "--label",
        &label,
        "--label",
        "mvk.slot=green",
        &v1.tag,
    ])
    .unwrap();

    let r = deploy(&app, &v2, &[]);
    let new = r["candidate"]["container_id"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(!exists(&old), "the leftover is gone");
    assert_eq!(inspect(&green, "{{.Id}}"), new);
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.green_port))
            .unwrap()
            .1,
        "demo v2\n"
    );
    assert_eq!(inspect(&format!("{}-blue", app.name), "{{.Id}}"), blue_id);
}

#[test]
fn a_container_under_the_slot_name_that_is_not_ours_is_left_alone() {
    let app = TestApp::new("hw-foreign");
    let v1 = app_image(&app, "v1", &[]);
    let name = format!("{}-blue", app.name);
    // Run by hand from the app's own image, it inherits the image's `mvk.app` label: that alone
    // does not make it Maverick's; nor does a slot label naming the other slot.
    for extra in [&[][..], &["--label", "mvk.slot=green"][..]] {
        let mut args = vec!["create", "--name", &name];
        args.extend_from_slice(extra);
        args.push(&v1.tag);
        let foreign = docker(&args).unwrap();
        assert_eq!(
            inspect(&name, r#"{{index .Config.Labels "mvk.app"}}"#),
            app.name
        );
        let run = healthwait(&app, &[], &record(&app, &v1));
        assert_eq!(run.code, 4, "{}", run.stderr);
        assert_eq!(run.record()["error"]["kind"], "name-taken");
        assert_eq!(inspect(&name, "{{.Id}}"), foreign);
        docker(&["rm", &name]).unwrap();
    }
}

#[test]
fn a_failed_candidates_record_holds_its_last_50_log_lines() {
    let app = TestApp::new("hw-logs");
    let bad = app_image(
        &app,
        "bad",
        &[("DEMO_LOG_LINES", "80"), ("DEMO_CRASH", "boom")],
    );
    let run = healthwait(&app, &[], &record(&app, &bad));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "crashed", "{r}");
    let logs: Vec<&str> = r["error"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // The last 50 of its 81 lines (Docker interleaves stdout and stderr as it reads them, so
    // `fatal: boom` may sit anywhere): line 80, not line 30.
    assert_eq!(logs.len(), 50, "{logs:?}");
    assert!(logs.contains(&"log line 80"), "{logs:?}");
    assert!(!logs.contains(&"log line 30"), "{logs:?}");
    // stderr shows them too.
    assert!(run.stderr.contains("log line 80"), "{}", run.stderr);
    assert!(!run.stderr.contains("log line 30\n"), "{}", run.stderr);
}

#[test]
fn keep_failed_keeps_the_crashed_candidate_stopped() {
    let app = TestApp::new("hw-keep");
    let bad = app_image(&app, "bad", &[("DEMO_CRASH", "boom")]);
    let run = healthwait(&app, &["--keep-failed"], &record(&app, &bad));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "crashed");
    let id = r["candidate"]["container_id"].as_str().unwrap();
    assert_eq!(app.containers(), [id.to_string()]);
    // Time for a restart policy to act, were there one: what is tested is that none does.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(
            id,
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"
        ),
        "exited 3 0",
        "kept, not restarted"
    );
    assert!(run.stderr.contains("kept "), "{}", run.stderr);
}

/// Neither stdout (the record) nor stderr shows `secret`.
fn assert_hidden(run: &Run, secret: &str) {
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn env_file_values_reach_the_container_and_appear_nowhere_else() {
    let app = TestApp::new("hw-env");
    let v1 = app_image(&app, "v1", &[]);
    let dir = TempDir::new("hw-env");
    let file = dir.join("app.env");
    let secret = format!("s3cret-{}", app.name);
    std::fs::write(
        &file,
        format!("# the app's secrets\nDEMO_VERSION={secret}\nAPI_TOKEN=tok-{secret}\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let run = healthwait(&app, &["--env-file", file], &record(&app, &v1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port))
            .unwrap()
            .1,
        format!("demo {secret}\n")
    );
    assert!(
        run.stderr.contains(file),
        "the file is named: {}",
        run.stderr
    );
    assert_hidden(&run, &secret);

    // A failure prints and records the logs, where the app echoes its version: masked.
    docker(&["rm", "-f", &format!("{}-blue", app.name)]).unwrap();
    let crash_file = dir.join("crash.env");
    std::fs::write(
        &crash_file,
        format!("DEMO_VERSION={secret}\nDEMO_CRASH=lost {secret}\n"),
    )
    .unwrap();
    let run = healthwait(
        &app,
        &["--env-file", crash_file.to_str().unwrap()],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        logs_contain(&run.record(), "demo-app ***: fatal: ***"),
        "{}",
        run.stdout
    );
    assert_hidden(&run, &secret);
}

#[test]
fn a_bad_env_file_is_exit_2_and_changes_nothing() {
    let app = TestApp::new("hw-badenv");
    let v1 = app_image(&app, "v1", &[]);
    let dir = TempDir::new("hw-badenv");
    let file = dir.join("app.env");
    std::fs::write(&file, "GOOD=1\nhunter2-not-a-line\n").unwrap();
    let run = healthwait(
        &app,
        &["--env-file", file.to_str().unwrap()],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2: expected KEY=VALUE"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    let run = healthwait(
        &app,
        &["--env-file", "/nonexistent/app.env"],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(app.containers().is_empty());
}

#[test]
fn a_stopped_candidate_named_by_the_record_is_started_again() {
    let app = TestApp::new("hw-reuse");
    let v1 = app_image(&app, "v1", &[]);
    let first = deploy(&app, &v1, &[]);
    // v1 was live in blue; green went live since; mvk-swap stopped blue.
    set_live(&app, "green", "v2", "other:v2");
    set_upstream(&app, app.green_port);
    let blue = format!("{}-blue", app.name);
    docker(&["stop", &blue]).unwrap();
    // What mvk-rollback writes for its fast path.
    let mut rollback: Value = serde_json::from_str(&record(&app, &v1)).unwrap();
    rollback["candidate"] = json!({
        "slot": "blue", "port": app.blue_port, "container": blue,
        "container_id": first["candidate"]["container_id"], "image": v1.tag
    });

    let run = healthwait(&app, &[], &rollback.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["candidate"]["reused"], true);
    assert_eq!(r["candidate"]["started"], true);
    assert_eq!(
        r["candidate"]["container_id"],
        first["candidate"]["container_id"]
    );
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");
    assert_eq!(
        inspect(&blue, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port))
            .unwrap()
            .1,
        "demo v1\n"
    );
    assert_eq!(app.containers().len(), 1, "no new container");

    // Already running: only waited for.
    let started_at = inspect(&blue, "{{.State.StartedAt}}");
    let run = healthwait(&app, &[], &rollback.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["candidate"]["reused"], true);
    assert_eq!(run.record()["candidate"]["started"], false);
    assert_eq!(inspect(&blue, "{{.State.StartedAt}}"), started_at);
}

#[test]
fn a_named_candidate_that_is_gone_or_live_is_refused() {
    let app = TestApp::new("hw-reuse-bad");
    let v1 = app_image(&app, "v1", &[]);
    let first = deploy(&app, &v1, &[]);
    let mut named: Value = serde_json::from_str(&record(&app, &v1)).unwrap();

    named["candidate"] =
        json!({"container_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"});
    let run = healthwait(&app, &[], &named.to_string());
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "candidate-gone");

    // Blue is live: a record naming it must not restart or remove it.
    set_live(&app, "blue", "v1", &v1.tag);
    named["candidate"] = first["candidate"].clone();
    let blue = format!("{}-blue", app.name);
    let before = inspect(&blue, "{{.Id}} {{.State.StartedAt}}");
    let run = healthwait(&app, &[], &named.to_string());
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "live-slot");
    assert_eq!(inspect(&blue, "{{.Id}} {{.State.StartedAt}}"), before);
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");
}

/// The tool running in the background, fed `stdin`.
struct Background(std::process::Child);

impl Background {
    fn start(app: &TestApp, args: &[&str], stdin: &str) -> Background {
        Background(app.spawn(TOOL, args, &[], stdin))
    }

    /// Waits (at most 30 s) until `ready` holds.
    fn wait_until(&mut self, ready: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(30);
        while !ready() {
            if Instant::now() > end || self.0.try_wait().unwrap().is_some() {
                let _ = self.0.kill();
                panic!("never ready: {:?}", self.0.wait().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: Signal) {
        mvk_e2e::signal(&self.0, signal);
    }

    fn finish(self) -> Run {
        mvk_e2e::finish(self.0)
    }
}

/// Starts the tool, waits until `ready` holds, sends SIGTERM, and returns the finished run.
fn interrupt(app: &TestApp, args: &[&str], stdin: &str, ready: impl Fn() -> bool) -> Run {
    let mut run = Background::start(app, args, stdin);
    run.wait_until(ready);
    run.signal(Signal::SIGTERM);
    run.finish()
}

#[test]
fn sigterm_during_the_wait_removes_the_candidate() {
    let app = TestApp::new("hw-sigterm");
    let slow = app_image(&app, "slow", &[("DEMO_START_DELAY_MS", "60000")]);
    let blue = format!("{}-blue", app.name);
    let run = interrupt(&app, &[], &record(&app, &slow), || {
        inspect(&blue, "{{.State.Status}}") == "running"
    });
    assert_eq!(run.code, 130, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("SIGTERM"),
        "{r}"
    );
    assert!(
        app.containers().is_empty(),
        "the half-started candidate is removed"
    );
}

#[test]
fn sigterm_during_before_removes_the_one_off_and_starts_nothing() {
    let app = TestApp::new("hw-sigterm-before");
    let v1 = app_image(&app, "v1", &[]);
    let one_off = format!("{}-before", app.name);
    // Any argument but `migrate` or `healthcheck` runs the demo's server: it never exits.
    let run = interrupt(&app, &["--before", "serve"], &record(&app, &v1), || {
        inspect(&one_off, "{{.State.Status}}") == "running"
    });
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "interrupted");
    assert!(app.containers().is_empty(), "{:?}", app.containers());
}

#[test]
fn an_unreachable_docker_engine_is_exit_4() {
    let app = TestApp::new("hw-nodocker");
    let stdin = json!({"schema": "mvk.release/v1", "app": app.name, "release": "v1", "image": app.tag("v1")});
    let run = app.run(
        TOOL,
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
        &stdin.to_string(),
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "docker");
    assert!(run.stderr.contains("/nonexistent.sock"), "{}", run.stderr);
}

#[test]
fn a_failed_record_is_passed_on_with_exit_3_even_when_docker_is_unreachable() {
    // mvk-healthwait connects while its record is on its way: a failed connection only counts
    // when the step has work to do.
    let app = TestApp::new("hw-upstream-nodocker");
    let failed = json!({
        "schema": "mvk.release/v1", "app": app.name, "release": "v1", "steps": [],
        "error": {"tool": "mvk-build", "kind": "build", "message": "the build failed"}
    });
    let run = app.run(
        TOOL,
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
        &format!("{failed}\n"),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.record(), failed);
    assert!(app.containers().is_empty(), "{:?}", app.containers());
}

#[test]
fn a_lock_held_by_another_process_is_exit_4() {
    let app = TestApp::new("hw-locked");
    let v1 = app_image(&app, "v1", &[]);
    let dir = app.state.join(&app.name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    let mut held = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    held.write_all(b"mvk-swap (pid 1) since 2026-11-26T14:00:00Z\n")
        .unwrap();
    let run = healthwait(&app, &[], &record(&app, &v1));
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "locked");
    assert!(
        run.stderr.contains("locked by mvk-swap (pid 1)"),
        "{}",
        run.stderr
    );
    assert!(app.containers().is_empty());
}

#[test]
fn an_upstream_routing_to_the_idle_slot_is_refused() {
    let app = TestApp::new("hw-disagree");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    // The state says blue is live, but nginx routes to green, where a container serves.
    set_live(&app, "blue", "v1", &v1.tag);
    set_upstream(&app, app.green_port);
    let green = format!("{}-green", app.name);
    let publish = format!("127.0.0.1:{}:8000", app.green_port);
    let labels = [
        format!("mvk.app={}", app.name),
        "mvk.slot=green".to_string(),
    ];
    let id = docker(&[
        "run", "-d", "--name", &green, "-p", &publish, "--label", &labels[0], "--label",
        &labels[1], &v1.tag,
    ])
    .unwrap();

    let run = healthwait(&app, &[], &record(&app, &v2));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "live-slot");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nginx routes traffic"),
        "{r}"
    );
    assert_eq!(
        inspect(&green, "{{.Id}} {{.State.Status}}"),
        format!("{id} running")
    );
    assert_eq!(app.containers(), [id]);
}

#[test]
fn a_failed_upstream_record_passes_through_with_exit_3() {
    let app = TestApp::new("hw-upstream");
    let failed = json!({
        "schema": "mvk.release/v1", "app": app.name, "steps": [],
        "error": {"tool": "mvk-build", "kind": "build", "message": "compile error"}
    })
    .to_string();
    let run = healthwait(&app, &[], &failed);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{failed}\n"));
    assert!(app.containers().is_empty());
}

#[test]
fn bad_input_is_exit_2_and_touches_nothing() {
    let app = TestApp::new("hw-badinput");
    let run = healthwait(&app, &[], "");
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("no release record on stdin"),
        "{}",
        run.stderr
    );

    let no_image =
        json!({"schema": "mvk.release/v1", "app": app.name, "release": "v1"}).to_string();
    let run = healthwait(&app, &[], &no_image);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("`image` is missing"), "{}", run.stderr);

    let missing = json!({"schema": "mvk.release/v1", "app": app.name, "release": "v9", "image": app.tag("v9")}).to_string();
    let run = healthwait(&app, &[], &missing);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not in the Docker engine"),
        "{}",
        run.stderr
    );

    let run = healthwait(&app, &["--successes", "0"], &missing);
    assert_eq!(run.code, 2);
    assert!(app.containers().is_empty());
}

#[test]
fn a_running_first_candidate_behind_nginx_is_not_replaced_without_a_state() {
    let app = TestApp::new("hw-nostate");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    // Blue runs and the site's upstream (a placeholder at first) routes to it, but no swap
    // ever recorded it: it may be serving, so it is not replaced.
    deploy(&app, &v1, &[]);
    let blue = format!("{}-blue", app.name);
    let before = inspect(&blue, "{{.Id}} {{.State.StartedAt}}");
    let run = healthwait(&app, &[], &record(&app, &v2));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "live-slot");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("remove that container"),
        "{r}"
    );
    assert_eq!(inspect(&blue, "{{.Id}} {{.State.StartedAt}}"), before);
}

#[test]
fn of_two_deploys_at_once_the_later_wins_and_the_earlier_fails_cleanly() {
    let app = TestApp::new("hw-race");
    let slow = app_image(&app, "slow", &[("DEMO_START_DELAY_MS", "60000")]);
    let v2 = app_image(&app, "v2", &[]);
    set_live(&app, "green", "v0", "other:v0");
    set_upstream(&app, app.green_port);
    let blue = format!("{}-blue", app.name);
    let mut first = Background::start(&app, &[], &record(&app, &slow));
    first.wait_until(|| inspect(&blue, "{{.State.Status}}") == "running");
    let first_id = inspect(&blue, "{{.Id}}");

    // The second takes the same idle slot and replaces the first's candidate.
    let second = deploy(&app, &v2, &[]);
    let second_id = second["candidate"]["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = first.finish();
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "replaced", "{r}");
    assert_eq!(r["candidate"]["container_id"], first_id.as_str());
    // The loser touched nothing of the winner's.
    assert_eq!(
        inspect(&blue, "{{.Id}} {{.State.Status}}"),
        format!("{second_id} running")
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{}/", app.blue_port))
            .unwrap()
            .1,
        "demo v2\n"
    );
}

#[test]
fn a_before_command_sees_the_env_file_and_its_output_never_shows_a_value() {
    let app = TestApp::new("hw-before-env");
    let v1 = app_image(&app, "v1", &[]);
    let dir = TempDir::new("hw-before-env");
    let file = dir.join("app.env");
    let secret = format!("s3cret-{}", app.name);
    // The one-off prints its version, which the env file sets to the secret.
    std::fs::write(&file, format!("DEMO_VERSION={secret}\n")).unwrap();
    let file = file.to_str().unwrap();

    let run = healthwait(
        &app,
        &["--env-file", file, "--before", "migrate"],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_hidden(&run, &secret);
    docker(&["rm", "-f", &format!("{}-blue", app.name)]).unwrap();

    let run = healthwait(
        &app,
        &["--env-file", file, "--before", "migrate --fail disk full"],
        &record(&app, &v1),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "before-failed", "{r}");
    // The env file reached the one-off (its version is the secret), masked where it shows.
    assert!(
        run.stdout
            .contains("demo-app ***: migration failed: disk full"),
        "{}",
        run.stdout
    );
    assert_hidden(&run, &secret);
    assert!(app.containers().is_empty(), "nothing started");
}

/// `mvk-healthwait --withdraw FILE` with `record` in FILE.
fn withdraw(app: &TestApp, record: &Value) -> Run {
    let dir = TempDir::new("withdraw");
    let file = dir.join("record.json");
    std::fs::write(&file, format!("{record}\n")).unwrap();
    let run = healthwait(app, &["--withdraw", file.to_str().unwrap()], "");
    assert_eq!(run.stdout, "", "--withdraw prints no record");
    run
}

#[test]
fn withdraw_removes_only_the_unrouted_candidate_the_record_names() {
    let app = TestApp::new("hw-withdraw");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let (blue, green) = (format!("{}-blue", app.name), format!("{}-green", app.name));
    let live = mvk_e2e::start_candidate(&app, "blue", &v1, &[]);
    let swap = app.run("mvk-swap", &[], &[], &format!("{live}\n"));
    assert_eq!(swap.code, 0, "{}", swap.stderr);
    let live = swap.record();

    // The live slot's container is never withdrawn.
    let run = withdraw(&app, &live);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("live slot"), "{}", run.stderr);
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");

    let mut cand = mvk_e2e::start_candidate(&app, "green", &v2, &[]);
    cand["error"] = json!({"tool": "mvk-swap", "kind": "nginx-config", "message": "refused"});
    // A reused container (a rollback's) that already ran and another container under the
    // name are left.
    let mut reused = cand.clone();
    reused["candidate"]["reused"] = json!(true);
    reused["candidate"]["started"] = json!(false);
    let mut other = cand.clone();
    other["candidate"]["container_id"] = json!("0123456789ab");
    for record in [&reused, &other] {
        let run = withdraw(&app, record);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(inspect(&green, "{{.State.Status}}"), "running", "{record}");
    }
    // A reused container the wait started (a rollback's stopped one) is stopped again, kept
    // for the next rollback, with the restart policy it had.
    reused["candidate"]["started"] = json!(true);
    let run = withdraw(&app, &reused);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("stopped again"), "{}", run.stderr);
    assert_eq!(inspect(&green, "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&green, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    // The failed swap's candidate is removed; a second time there is nothing left to do.
    let run = withdraw(&app, &cand);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("withdrew the candidate"),
        "{}",
        run.stderr
    );
    assert_eq!(inspect(&green, "{{.State.Status}}"), "");
    let run = withdraw(&app, &cand);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("no longer there"), "{}", run.stderr);
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v1\n".into())));

    // No record, or not one: exit 2, nothing changed.
    let run = healthwait(&app, &["--withdraw", "/nonexistent/record.json"], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = withdraw(&app, &json!({"not": "a record"}));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "running");
}
