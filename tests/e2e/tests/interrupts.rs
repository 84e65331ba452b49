//! SIGINT and SIGTERM to the scripts and to mvk-rollback at each point of a deploy or a
//! rollback, sent the ways a user or systemd sends them (Ctrl-C to the process group, `kill` to
//! the script alone, `systemctl stop` to all): exit 130, the release that was live keeps
//! serving (or, once the swap went live, the new one, as state and nginx agree), no candidate
//! left behind, the deploy lock free. Each test waits for the observable event that says the
//! point is reached (a line on stderr, a container, a request held) before it signals.

use mvk_e2e::demo::app_context as context;
use mvk_e2e::registry::{RemoveRepo, StalledBlobs};
use mvk_e2e::{
    docker, script_command, sleeping_requests, DemoImage, Interrupt, Interruptible, Registry, Run,
    TempDir, TestApp,
};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Generous: a deploy builds an image, on a loaded 2-core machine.
const PHASE: Duration = Duration::from_secs(240);
/// How long an interrupted script or tool may take to clean up and exit.
const EXIT: Duration = Duration::from_secs(120);

/// The script's environment for a deploy: a short alert gate, no build cache (another test
/// removing its images may prune a cached layer this build is about to use).
const DEPLOY_ENV: [(&str, &str); 3] = [
    ("MVK_WATCH", "3s"),
    ("MVK_EVERY", "1s"),
    ("MVK_NO_CACHE", "true"),
];

fn deploy_command(app: &TestApp, ctx: &Path, release: &str, extra: &[(&str, &str)]) -> Command {
    let mut env = DEPLOY_ENV.to_vec();
    env.extend_from_slice(extra);
    script_command(
        app,
        "mvk-deploy",
        &["--release", release, ctx.to_str().unwrap()],
        &env,
    )
}

/// Deploys `release` of the demo app to the end, and checks it went live.
fn deploy_ok(app: &TestApp, release: &str) {
    let ctx = context(app, release, &[]);
    let run = mvk_e2e::cmd::run_command(deploy_command(app, ctx.path(), release, &[]), "");
    assert_eq!(run.code, 0, "deploy {release}: {}", run.stderr);
    assert_eq!(app.serving(), format!("demo {release}\n"));
}

/// Starts `mvk-deploy` of `release` from `ctx`, to be interrupted.
fn start_deploy(app: &TestApp, ctx: &Path, release: &str, extra: &[(&str, &str)]) -> Interruptible {
    Interruptible::start(deploy_command(app, ctx, release, extra), Stdio::null())
}

/// A build context for `release` that listens only `delay_ms` after it starts, and until then
/// is `starting` to Docker (not `unhealthy`, as the image's own 2 s of retries would make it).
fn slow_context(app: &TestApp, release: &str, delay_ms: u32) -> TempDir {
    let ctx = context(
        app,
        release,
        &[("DEMO_START_DELAY_MS", &delay_ms.to_string())],
    );
    let mut dockerfile = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    dockerfile += "HEALTHCHECK --interval=1s --timeout=1s --start-period=300s --retries=2 \
                   CMD [\"/demo-app\", \"healthcheck\"]\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// The state file and the upstream file, byte for byte.
fn files(app: &TestApp) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(app.state_file()).unwrap(),
        std::fs::read(&app.nginx.upstream_file).unwrap(),
    )
}

/// The port of the upstream file's first `server` line: the live release's.
fn routed_port(app: &TestApp) -> u16 {
    let text = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("server 127.0.0.1:"))
        .unwrap_or_else(|| panic!("no server line in {text}"));
    line["server 127.0.0.1:".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn container(app: &TestApp, slot: &str) -> String {
    format!("{}-{slot}", app.name)
}

fn status(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", name]).unwrap_or_else(|_| "gone".into())
}

/// The app's containers in `slot`, by the label every candidate carries.
fn in_slot(app: &TestApp, slot: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=mvk.app={}", app.name),
        "--filter",
        &format!("label=mvk.slot={slot}"),
    ])
    .unwrap();
    out.lines().map(str::to_string).collect()
}

/// The deploy lock is free again and names no holder: the next deploy can start.
fn assert_lock_free(app: &TestApp) {
    let lock = app.state.path().join(&app.name).join("deploy.lock");
    let free = Command::new("flock")
        .args(["--nonblock", lock.to_str().unwrap(), "true"])
        .status()
        .unwrap();
    assert!(free.success(), "the deploy lock is still held");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "a holder line is left"
    );
}

/// Exit 130 and a record whose error says `tool` was interrupted by the signal `how` sends.
fn assert_interrupted(run: &Run, how: Interrupt, tool: &str) -> Value {
    assert_eq!(run.code, 130, "{how:?}: {}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted", "{how:?}: {r}");
    assert_eq!(r["error"]["tool"], tool, "{how:?}: {r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains(how.name()), "{how:?}: {message}");
    r
}

/// The last run's records: `tool`'s (its last, in a deploy that rolled back) was written and
/// says it was interrupted (the tees that log the records outlive the signal).
fn assert_logged(app: &TestApp, tool: &str) {
    let dir = app.state.path().join(&app.name).join("deploys");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    let last = runs.last().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(last)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let logged = names
        .iter()
        .rfind(|n| n.ends_with(&format!("-{tool}.json")))
        .unwrap_or_else(|| panic!("no record of {tool} in {names:?}"));
    let r: Value = serde_json::from_slice(&std::fs::read(last.join(logged)).unwrap()).unwrap();
    assert_eq!(r["error"]["kind"], "interrupted", "{logged}: {r}");
}

#[test]
fn deploy_interrupted_during_the_build_keeps_the_live_release() {
    let app = TestApp::new("int-build");
    deploy_ok(&app, "a");
    let before = files(&app);
    let ctx = context(&app, "b", &[]);
    // Sparse, so cheap to make, but 4 GB to send: the build is still uploading when signalled.
    std::fs::File::create(ctx.join("huge"))
        .unwrap()
        .set_len(4_000_000_000)
        .unwrap();
    for how in [Interrupt::CtrlC, Interrupt::Kill] {
        let mut deploy = start_deploy(&app, ctx.path(), "b", &[]);
        deploy.wait_for_line("mvk-build: building", PHASE);
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        assert_interrupted(&run, how, "mvk-build");
        assert!(
            run.stderr.contains(
                "interrupted during mvk-build before the new release took traffic: \
                 a stays live, nothing to roll back"
            ),
            "{how:?}: {}",
            run.stderr
        );
        assert_logged(&app, "mvk-build");
        assert_eq!(docker(&["images", "-q", &app.tag("b")]).unwrap(), "");
        assert_eq!(files(&app), before, "{how:?}");
        assert_eq!(app.serving(), "demo a\n");
        assert!(in_slot(&app, "green").is_empty(), "{how:?}");
        assert_lock_free(&app);
    }
}

#[test]
fn deploy_interrupted_during_the_health_wait_keeps_the_live_release_and_removes_the_candidate() {
    let app = TestApp::new("int-health");
    deploy_ok(&app, "a");
    let before = files(&app);
    // Never healthy within the test: the candidate waits ten minutes before it listens.
    let ctx = slow_context(&app, "b", 600_000);
    for how in [Interrupt::CtrlC, Interrupt::Kill] {
        let mut deploy = start_deploy(&app, ctx.path(), "b", &[]);
        let candidate = container(&app, "green");
        deploy.wait_until("the candidate to run", PHASE, || {
            status(&candidate) == "running"
        });
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        assert_interrupted(&run, how, "mvk-healthwait");
        assert!(
            run.stderr
                .contains("interrupted during mvk-healthwait before the new release"),
            "{how:?}: {}",
            run.stderr
        );
        assert_logged(&app, "mvk-healthwait");
        assert!(
            in_slot(&app, "green").is_empty(),
            "{how:?}: the candidate is left"
        );
        assert_eq!(files(&app), before, "{how:?}");
        assert_eq!(status(&container(&app, "blue")), "running");
        assert_eq!(app.serving(), "demo a\n");
        assert_lock_free(&app);
    }
}

#[test]
fn deploy_interrupted_before_the_swaps_reload_puts_the_upstream_file_back_and_removes_the_candidate(
) {
    let app = TestApp::new("int-reload");
    deploy_ok(&app, "a");
    let before = files(&app);
    // An nginx whose config test takes long: mvk-swap has written the upstream file and waits
    // on `nginx -T` before it reloads.
    let dir = TempDir::new("nginx");
    let wrapper = dir.join("nginx");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n[ \"$1\" = -T ] && exec sleep 600\nexec nginx \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let nginx = wrapper.display().to_string();
    let ctx = context(&app, "b", &[]);
    for how in [Interrupt::CtrlC, Interrupt::Kill] {
        let mut deploy = start_deploy(&app, ctx.path(), "b", &[("MVK_NGINX", &nginx)]);
        deploy.wait_until("the upstream file to be rewritten", PHASE, || {
            std::fs::read(&app.nginx.upstream_file).is_ok_and(|b| b != before.1)
        });
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        assert_interrupted(&run, how, "mvk-swap");
        assert!(
            run.stderr.contains(
                "interrupted during mvk-swap before the new release took traffic: \
                 a stays live, nothing to roll back"
            ),
            "{how:?}: {}",
            run.stderr
        );
        assert_logged(&app, "mvk-swap");
        // Byte for byte: no half-written upstream file, no new state.
        assert_eq!(files(&app), before, "{how:?}");
        assert_eq!(routed_port(&app), app.blue_port);
        // The candidate nginx never routed to is removed; the live one is not.
        assert!(
            in_slot(&app, "green").is_empty(),
            "{how:?}: the candidate is left"
        );
        assert_eq!(status(&container(&app, "blue")), "running", "{how:?}");
        assert_eq!(app.serving(), "demo a\n");
        assert_lock_free(&app);
    }
}

/// A request to `/sleep?ms=50000` through nginx, held open (nginx gives up after 60 s), once
/// the release in `port` has it.
fn hold_request(app: &TestApp, port: u16) -> TcpStream {
    let before = sleeping_requests(port);
    let host = format!("127.0.0.1:{}", app.nginx.port);
    let mut s = TcpStream::connect(&host).unwrap();
    write!(s, "GET /sleep?ms=50000 HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    mvk_e2e::wait_until(
        "nginx to pass the long request on",
        Duration::from_secs(30),
        || sleeping_requests(port) > before,
    );
    s
}

#[test]
fn deploy_interrupted_while_the_swap_drains_leaves_the_new_release_live_and_consistent() {
    let app = TestApp::new("int-swap");
    deploy_ok(&app, "a");
    let mut live = ("a", "blue", app.blue_port);
    for (how, next) in [
        (Interrupt::CtrlC, ("b", "green", app.green_port)),
        (Interrupt::Kill, ("c", "blue", app.blue_port)),
    ] {
        // Slow to start, so the request below reaches the live release before the swap.
        let ctx = slow_context(&app, next.0, 5000);
        let mut deploy = start_deploy(&app, ctx.path(), next.0, &[]);
        deploy.wait_for_line(
            &format!("mvk-healthwait: started {}", container(&app, next.1)),
            PHASE,
        );
        // In flight on the live release: the swap drains it for up to 30 s.
        let request = hold_request(&app, live.2);
        deploy.wait_for_line("mvk-swap: draining", PHASE);
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        assert_interrupted(&run, how, "mvk-swap");
        assert_logged(&app, "mvk-swap");
        assert!(
            run.stderr.contains(&format!(
                "interrupted during mvk-swap, after release {} went live",
                next.0
            )) && run.stderr.contains("run mvk-undo"),
            "{how:?}: {}",
            run.stderr
        );
        // State, nginx and what answers agree: the new release is live, nothing rolled back.
        assert_eq!(app.state()["live"]["release"], next.0, "{how:?}");
        assert_eq!(routed_port(&app), next.2, "{how:?}");
        assert_eq!(app.serving(), format!("demo {}\n", next.0));
        // The old release was left running with its request, not stopped under it.
        assert_eq!(status(&container(&app, live.1)), "running", "{how:?}");
        assert_eq!(sleeping_requests(live.2), 1, "{how:?}");
        assert_lock_free(&app);
        drop(request);
        live = next;
    }
}

#[test]
fn deploy_interrupted_while_its_automatic_rollback_drains_leaves_the_previous_release_live() {
    let app = TestApp::new("int-auto-rb");
    deploy_ok(&app, "a");
    // Verification fails (a path the app does not serve), slowly enough (ten attempts) for the
    // test to put a request on the failed release before the rollback's swap drains it.
    let failing = [
        ("MVK_CHECK", "/missing"),
        ("MVK_RETRIES", "10"),
        ("MVK_RETRY_DELAY", "1s"),
    ];
    for (how, release) in [(Interrupt::CtrlC, "b"), (Interrupt::Kill, "c")] {
        let ctx = context(&app, release, &[]);
        let mut deploy = start_deploy(&app, ctx.path(), release, &failing);
        // Live, and nginx's workers from before the reload take no new connections.
        deploy.wait_for_line(
            "mvk-swap: nginx's old workers take no new connections",
            PHASE,
        );
        let request = hold_request(&app, app.green_port);
        deploy.wait_for_line("rolling back to a", PHASE);
        let seen = deploy.stderr_handle();
        deploy.wait_until("the rollback's swap to drain", PHASE, || {
            seen.lock().unwrap().matches("mvk-swap: draining").count() == 2
        });
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        let r = assert_interrupted(&run, how, "mvk-swap");
        assert_eq!(r["rollback"]["cause"]["tool"], "mvk-verify", "{how:?}: {r}");
        assert!(
            run.stderr
                .contains("the rollback was interrupted during mvk-swap: a is live"),
            "{how:?}: {}",
            run.stderr
        );
        assert_logged(&app, "mvk-swap");
        assert_eq!(app.state()["live"]["release"], "a", "{how:?}");
        assert_eq!(routed_port(&app), app.blue_port, "{how:?}");
        assert_eq!(app.serving(), "demo a\n");
        // The failed release keeps its request: left running, not stopped under it.
        assert_eq!(status(&container(&app, "green")), "running", "{how:?}");
        assert_eq!(sleeping_requests(app.green_port), 1, "{how:?}");
        assert_lock_free(&app);
        drop(request);
    }
}

#[test]
fn deploy_interrupted_during_the_alert_gate_keeps_the_verified_release_live_without_rollback() {
    let app = TestApp::new("int-gate");
    deploy_ok(&app, "v0");
    // Each way in turn, each deploying the next release.
    let ways = [
        Interrupt::CtrlC,
        Interrupt::Kill,
        Interrupt::KillInt,
        Interrupt::Stop,
    ];
    for (i, how) in ways.into_iter().enumerate() {
        let release = format!("v{}", i + 1);
        let ctx = context(&app, &release, &[]);
        let mut deploy = start_deploy(&app, ctx.path(), &release, &[("MVK_WATCH", "120s")]);
        deploy.wait_for_line("mvk-alerts: watching", PHASE);
        deploy.interrupt(how);
        let run = deploy.finish(EXIT);
        let r = assert_interrupted(&run, how, "mvk-alerts");
        assert_eq!(r["verify"]["ok"], true, "{how:?}: {r}");
        assert!(
            run.stderr.contains(&format!(
                "interrupted during mvk-alerts, after release {release} went live"
            )),
            "{how:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("rolling back"),
            "{how:?}: {}",
            run.stderr
        );
        assert_logged(&app, "mvk-alerts");
        assert_eq!(app.state()["live"]["release"], release.as_str());
        assert_eq!(app.serving(), format!("demo {release}\n"));
        assert_lock_free(&app);
    }
}

/// An app with `a` pushed to `registry` and named on the host through `proxy`, then `b`
/// deployed over it, and `a` pruned from the host (its stopped container and its image): a
/// rollback to `a` must pull it, through the proxy. Returns what removes the images at the end.
fn pruned_release(
    app: &TestApp,
    registry: &Registry,
    proxy: &StalledBlobs,
) -> (RemoveRepo, RemoveRepo, DemoImage) {
    // Pushed to the registry itself; the host knows it by its name through the proxy.
    let (pushed, repo) = (registry.repo(&app.name), proxy.repo(&app.name));
    let (pushed_ref, a_ref) = (format!("{pushed}:a"), format!("{repo}:a"));
    let untag = (RemoveRepo(pushed), RemoveRepo(repo));
    let a = DemoImage::build(
        &pushed_ref,
        &[("MVK_TEST_APP", &app.name), ("DEMO_VERSION", "a")],
    );
    docker(&["push", &pushed_ref]).unwrap();
    docker(&["tag", &pushed_ref, &a_ref]).unwrap();
    let a = DemoImage {
        tag: a_ref.clone(),
        id: a.id.clone(),
    };
    let b = DemoImage::build(
        &app.tag("b"),
        &[("MVK_TEST_APP", &app.name), ("DEMO_VERSION", "b")],
    );
    for image in [&a, &b] {
        let release = image.tag.rsplit_once(':').unwrap().1;
        let built = json!({"schema": "mvk.release/v1", "app": app.name, "release": release,
                           "image": image.tag, "image_id": image.id, "steps": [], "error": null});
        let health = app.run("mvk-healthwait", &[], &[], &format!("{built}\n"));
        assert_eq!(health.code, 0, "{}", health.stderr);
        let swap = app.run("mvk-swap", &[], &[], &health.stdout);
        assert_eq!(swap.code, 0, "{}", swap.stderr);
    }
    docker(&["rm", &container(app, "blue")]).unwrap();
    docker(&["rmi", &a_ref, &pushed_ref]).unwrap();
    assert_eq!(app.serving(), "demo b\n");
    (untag.0, untag.1, b)
}

/// After a rollback to the pruned `a` was interrupted in its pull: nothing changed.
fn assert_nothing_rolled_back(app: &TestApp, before: &(Vec<u8>, Vec<u8>), how: Interrupt) {
    assert_eq!(&files(app), before, "{how:?}");
    assert_eq!(app.serving(), "demo b\n");
    assert!(
        in_slot(app, "blue").is_empty(),
        "{how:?}: {:?}",
        in_slot(app, "blue")
    );
    assert_eq!(status(&container(app, "green")), "running");
}

#[test]
fn rollback_interrupted_during_a_stalled_pull_exits_130_and_changes_nothing() {
    let app = TestApp::new("int-rb-pull");
    let registry = Registry::start();
    let proxy = StalledBlobs::start(&registry);
    let _images = pruned_release(&app, &registry, &proxy);
    let before = files(&app);
    for how in [Interrupt::KillInt, Interrupt::Kill] {
        let held = proxy.held();
        let mut cmd = Command::new(mvk_e2e::tool("mvk-rollback"));
        cmd.arg("--pull").envs(app.env());
        let mut rollback = Interruptible::start(cmd, Stdio::null());
        rollback.wait_for_line("pulling", PHASE);
        rollback.wait_until("the pull to ask for a layer", PHASE, || proxy.held() > held);
        rollback.interrupt(how);
        let run = rollback.finish(EXIT);
        assert_interrupted(&run, how, "mvk-rollback");
        assert_nothing_rolled_back(&app, &before, how);
    }
}

#[test]
fn undo_interrupted_during_a_stalled_pull_keeps_the_live_release() {
    let app = TestApp::new("int-undo-pull");
    let registry = Registry::start();
    let proxy = StalledBlobs::start(&registry);
    let _images = pruned_release(&app, &registry, &proxy);
    let before = files(&app);
    for how in [Interrupt::CtrlC, Interrupt::Kill] {
        let held = proxy.held();
        let cmd = script_command(&app, "mvk-undo", &["--pull"], &[]);
        let mut undo = Interruptible::start(cmd, Stdio::null());
        undo.wait_for_line(
            "mvk-rollback: the image of release a is gone; pulling",
            PHASE,
        );
        undo.wait_until("the pull to ask for a layer", PHASE, || proxy.held() > held);
        undo.interrupt(how);
        let run = undo.finish(EXIT);
        assert_interrupted(&run, how, "mvk-rollback");
        assert_logged(&app, "mvk-rollback");
        assert_nothing_rolled_back(&app, &before, how);
        assert_lock_free(&app);
    }
}

#[test]
fn canary_interrupted_during_its_analysis_is_aborted_and_the_live_release_keeps_serving() {
    let app = TestApp::new("int-canary");
    deploy_ok(&app, "a");
    let ctx = context(&app, "b", &[]);
    for how in [Interrupt::Kill, Interrupt::CtrlC] {
        let cmd = script_command(
            &app,
            "mvk-canary",
            &["--release", "b", ctx.path().to_str().unwrap()],
            &[
                ("MVK_CANARY_WATCH", "300s"),
                ("MVK_EVERY", "1s"),
                ("MVK_NO_CACHE", "true"),
                ("MVK_STOP_TIMEOUT", "2s"),
            ],
        );
        let mut canary = Interruptible::start(cmd, Stdio::null());
        canary.wait_for_line("mvk-alerts: comparing the canary", PHASE);
        // The canary has its share: the abort must take it back.
        assert_eq!(app.state()["traffic"]["canary"]["release"], "b", "{how:?}");
        canary.interrupt(how);
        let run = canary.finish(EXIT);
        assert_eq!(run.code, 130, "{how:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("aborting the canary: interrupted during mvk-alerts --canary")
                && run.stderr.contains("aborted: a serves every request again"),
            "{how:?}: {}",
            run.stderr
        );
        let r = run.record();
        assert_eq!(r["swap"]["weight"], 0, "{how:?}: {r}");
        assert_eq!(r["swap"]["candidate_removed"], true, "{how:?}: {r}");
        // The analysis itself got the signal and said so in its record.
        let runs = app.state.path().join(&app.name).join("deploys");
        let last = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max()
            .unwrap();
        let analysis: Value =
            serde_json::from_slice(&std::fs::read(last.join("04-mvk-alerts-10.json")).unwrap())
                .unwrap();
        assert_eq!(
            analysis["error"]["kind"], "interrupted",
            "{how:?}: {analysis}"
        );
        assert!(
            in_slot(&app, "green").is_empty(),
            "{how:?}: the candidate is left"
        );
        assert_eq!(app.state()["live"]["release"], "a", "{how:?}");
        assert!(app.state()["traffic"]["canary"].is_null(), "{how:?}");
        assert_eq!(routed_port(&app), app.blue_port, "{how:?}");
        assert_eq!(app.serving(), "demo a\n");
        assert_lock_free(&app);
    }
}
