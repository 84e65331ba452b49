//! scripts/mvk-deploy end to end on the real tools, Docker engine and nginx: a deploy that goes
//! live, verification or the alert gate failing after the swap (rolled back at once), a build
//! that fails (nothing touched), two deploys at once (the second fails cleanly, or waits with
//! MVK_LOCK_WAIT), and the scripts' shell hygiene.

use mvk_e2e::demo::app_context as context;
use mvk_e2e::{docker, get, run_script, script, script_command, TempDir, TestApp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `mvk-deploy --release <release> <context>` with a short alert gate (plus `extra`). Built
/// without the build cache: another test removing its images may prune a cached layer this
/// build is about to use.
fn deploy(app: &TestApp, ctx: &Path, release: &str, extra: &[(&str, &str)]) -> mvk_e2e::Run {
    let mut env = vec![
        ("MVK_WATCH", "3s"),
        ("MVK_EVERY", "1s"),
        ("MVK_NO_CACHE", "true"),
    ];
    env.extend_from_slice(extra);
    run_script(
        app,
        "mvk-deploy",
        &["--release", release, ctx.to_str().unwrap()],
        &env,
        "",
    )
}

fn deploy_ok(app: &TestApp, version: &str) -> Value {
    let ctx = context(app, version, &[]);
    let run = deploy(app, ctx.path(), version, &[]);
    assert_eq!(run.code, 0, "deploy {version}: {}", run.stderr);
    run.record()
}

/// The runs' log directories, oldest first.
fn log_dirs(app: &TestApp) -> Vec<PathBuf> {
    let dir = app.state.path().join(&app.name).join("deploys");
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    };
    dirs.sort();
    dirs
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tools(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tool"].as_str().unwrap().to_string())
        .collect()
}

/// GETs `/` through nginx until stopped; counts answers by status and failures to get one.
struct Load {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64, Vec<String>)>,
}

impl Load {
    fn start(url: String) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut ok, mut errors, mut other) = (0, 0, Vec::new());
            let end = Instant::now() + Duration::from_secs(300);
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                match get(&url) {
                    Ok((200, _)) => ok += 1,
                    Ok((500, _)) => errors += 1,
                    Ok((status, body)) => other.push(format!("{status} {body}")),
                    Err(e) => other.push(e),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, errors, other)
        });
        Load { stop, thread }
    }

    /// (200s, 500s, every other outcome)
    fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn a_deploy_goes_live_verified_and_gated_and_logs_each_step() {
    let app = TestApp::new("dep-ok");
    let logs = TempDir::new("logs");
    // The env file configures the tools and the script; the environment wins over it.
    let config = TempDir::new("config");
    let env_file = config.join("app.env");
    std::fs::write(
        &env_file,
        format!(
            "MVK_LOG_DIR={}\nMVK_EVERY=1s\nMVK_WATCH=1h\nMVK_URL={}\n",
            logs.path().display(),
            app.nginx.url("")
        ),
    )
    .unwrap();
    let ctx = context(&app, "a", &[]);
    let run = deploy(
        &app,
        ctx.path(),
        "a",
        &[("MVK_CONFIG", env_file.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(
        tools(&r),
        [
            "mvk-build",
            "mvk-healthwait",
            "mvk-swap",
            "mvk-verify",
            "mvk-alerts"
        ]
    );
    assert!(r["error"].is_null());
    assert_eq!(r["swap"]["live"]["release"], "a");
    assert_eq!(r["verify"]["ok"], true);
    // The env file's MVK_URL: mvk-verify checked the front (nginx), serving the new release.
    assert_eq!(r["verify"]["target"], app.nginx.url(""), "{r}");
    assert_eq!(
        r["alerts"]["firing"].as_array().map(Vec::len),
        Some(0),
        "{r}"
    );
    assert!(r.get("rollback").is_none());
    assert_eq!(app.serving(), "demo a\n");
    // Each step's record, in the log dir the env file named; the last one is what was printed.
    let names = files(logs.path());
    assert_eq!(
        names,
        [
            "01-mvk-build.json",
            "02-mvk-healthwait.json",
            "03-mvk-swap.json",
            "04-mvk-verify.json",
            "05-mvk-alerts.json"
        ]
    );
    for (i, name) in names.iter().enumerate() {
        let step: Value =
            serde_json::from_str(&std::fs::read_to_string(logs.join(name)).unwrap()).unwrap();
        assert_eq!(tools(&step).len(), i + 1, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(logs.join("05-mvk-alerts.json")).unwrap(),
        run.stdout
    );
    assert!(
        log_dirs(&app).is_empty(),
        "MVK_LOG_DIR replaces the default log dir"
    );
}

#[test]
fn verification_failing_after_the_swap_rolls_back_to_the_previous_release() {
    let app = TestApp::new("dep-verify");
    deploy_ok(&app, "a");
    let a_container = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=mvk.app={}", app.name),
    ])
    .unwrap();
    // Healthy (/health answers 200), but every app request fails: /api/v1/status is 500.
    let ctx = context(&app, "b", &[("DEMO_ERROR_RATE", "1")]);
    let run = deploy(&app, ctx.path(), "b", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("mvk-verify failed after the swap"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rolled back: a is live again"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(tools(&r), ["mvk-rollback", "mvk-healthwait", "mvk-swap"]);
    assert!(r["error"].is_null(), "the rollback itself succeeded: {r}");
    assert_eq!(r["rollback"]["from"], "b");
    assert_eq!(r["rollback"]["to"], "a");
    assert_eq!(r["rollback"]["cause"]["tool"], "mvk-verify");
    assert_eq!(r["swap"]["live"]["release"], "a");
    assert_eq!(
        r["candidate"]["reused"], true,
        "a's stopped container is started again"
    );
    assert_eq!(r["candidate"]["container_id"], a_container.as_str());
    assert_eq!(app.serving(), "demo a\n");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(app.state_file()).unwrap()).unwrap();
    assert_eq!(state["live"]["release"], "a");
    let dirs = log_dirs(&app);
    let last = dirs.last().unwrap();
    assert_eq!(files(last).len(), 8, "{:?}", files(last));
    let failed: Value =
        serde_json::from_str(&std::fs::read_to_string(last.join("05-mvk-alerts.json")).unwrap())
            .unwrap();
    assert_eq!(failed["error"]["tool"], "mvk-verify");
    assert_eq!(
        failed["swap"]["live"]["release"], "b",
        "b did go live before verify failed"
    );
}

#[test]
fn the_alert_gate_firing_rolls_back_and_no_request_fails_but_the_bad_releases_500s() {
    let app = TestApp::new("dep-alert");
    deploy_ok(&app, "a");
    let load = Load::start(app.nginx.url("/"));
    // Half of b's app requests fail. mvk-verify checks only /health, which passes; the gate,
    // watching the traffic, does not.
    let ctx = context(&app, "b", &[("DEMO_ERROR_RATE", "0.5")]);
    let run = deploy(
        &app,
        ctx.path(),
        "b",
        &[("MVK_WATCH", "20s"), ("MVK_CHECK", "/health")],
    );
    let r = run.record();
    // The load goes on to the release put back.
    let live = r["swap"]["live"]["port"].as_u64().unwrap();
    mvk_e2e::net::wait_for_requests(&[live as u16], 5);
    let (ok, errors, other) = load.finish();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(r["rollback"]["cause"]["tool"], "mvk-alerts", "{r}");
    assert_eq!(r["rollback"]["to"], "a");
    assert_eq!(r["swap"]["live"]["release"], "a");
    assert_eq!(app.serving(), "demo a\n");
    let dirs = log_dirs(&app);
    let gate: Value = serde_json::from_str(
        &std::fs::read_to_string(dirs.last().unwrap().join("05-mvk-alerts.json")).unwrap(),
    )
    .unwrap();
    let firing: Vec<_> = gate["alerts"]["firing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert!(firing.contains(&"HighErrorRate".to_string()), "{gate}");
    assert!(errors > 0, "the bad release answered no 500s: {ok} ok");
    assert!(
        other.is_empty(),
        "requests failed other than by b's own 500s: {other:?}"
    );
}

#[test]
fn a_failed_build_touches_nothing_and_rolls_nothing_back() {
    let app = TestApp::new("dep-build");
    deploy_ok(&app, "a");
    let containers = app.containers();
    let state = std::fs::read(app.state_file()).unwrap();
    let upstream = std::fs::read(&app.nginx.upstream_file).unwrap();
    let ctx = context(&app, "b", &[]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY not-in-the-context /x\n",
    )
    .unwrap();

    let run = deploy(&app, ctx.path(), "b", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing to roll back"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-build");
    assert!(
        r.get("rollback").is_none() && r.get("swap").is_none(),
        "{r}"
    );
    assert_eq!(app.serving(), "demo a\n");
    assert_eq!(app.containers(), containers);
    assert_eq!(std::fs::read(app.state_file()).unwrap(), state);
    assert_eq!(std::fs::read(&app.nginx.upstream_file).unwrap(), upstream);
    let dirs = log_dirs(&app);
    assert!(!files(dirs.last().unwrap())
        .iter()
        .any(|f| f.contains("rollback")));
}

#[test]
fn a_second_deploy_at_once_fails_cleanly_or_waits_with_mvk_lock_wait() {
    let app = TestApp::new("dep-lock");
    deploy_ok(&app, "a");
    let (b, c) = (context(&app, "b", &[]), context(&app, "c", &[]));
    let runs_before = log_dirs(&app).len();
    let first = script_command(
        &app,
        "mvk-deploy",
        &["--release", "b", b.path().to_str().unwrap()],
        &[
            ("MVK_WATCH", "6s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // It makes its log dir once it holds the deploy lock.
    let end = Instant::now() + Duration::from_secs(30);
    while log_dirs(&app).len() == runs_before {
        assert!(
            Instant::now() < end,
            "the first deploy never took the deploy lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let runs_before = log_dirs(&app).len();

    let second = deploy(&app, c.path(), "c", &[]);
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert!(
        second.stderr.contains("another deploy of") && second.stderr.contains("mvk-deploy (pid"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("nothing was changed"),
        "{}",
        second.stderr
    );
    assert_eq!(second.stdout, "");
    assert_eq!(
        log_dirs(&app).len(),
        runs_before,
        "a refused deploy leaves no log dir"
    );

    // With MVK_LOCK_WAIT it queues behind the first and then deploys.
    let third = deploy(&app, c.path(), "c", &[("MVK_LOCK_WAIT", "120")]);
    let first = first.wait_with_output().unwrap();
    mvk_e2e::schema::check_output(
        &String::from_utf8_lossy(&first.stdout),
        first.status.code().unwrap_or(-1),
    );
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(
        third
            .stderr
            .contains("waiting up to 120s for the deploy lock"),
        "{}",
        third.stderr
    );
    assert_eq!(third.record()["swap"]["previous"]["release"], "b");
    assert_eq!(app.serving(), "demo c\n");
}

#[test]
fn installed_in_bin_the_scripts_find_their_lib_in_lib_mvk() {
    let app = TestApp::new("dep-install");
    let prefix = TempDir::new("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("lib/mvk")).unwrap();
    for name in ["mvk-deploy", "mvk-undo"] {
        std::fs::copy(script(name), prefix.join("bin").join(name)).unwrap();
    }
    std::fs::copy(script("lib/mvk.bash"), prefix.join("lib/mvk/mvk.bash")).unwrap();
    let bin = mvk_e2e::tool("mvk-rollback")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let undo = || {
        let mut cmd = Command::new(prefix.join("bin/mvk-undo"));
        cmd.envs(app.env())
            .env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap()));
        mvk_e2e::cmd::run_command(cmd, "")
    };
    let run = undo();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing to roll back to"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(prefix.join("lib/mvk/mvk.bash")).unwrap();
    let run = undo();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot find lib/mvk.bash"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn a_first_deploy_failing_after_the_swap_has_nothing_to_roll_back_to() {
    let app = TestApp::new("dep-first");
    let ctx = context(&app, "a", &[("DEMO_ERROR_RATE", "1")]);
    let run = deploy(&app, ctx.path(), "a", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no release was live before this deploy"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-verify");
    assert!(r.get("rollback").is_none(), "{r}");
    assert!(!files(log_dirs(&app).last().unwrap())
        .iter()
        .any(|f| f.contains("rollback")));
}

#[test]
fn a_rollback_that_fails_too_is_reported_and_leaves_the_new_release_serving() {
    let app = TestApp::new("dep-rbfail");
    // a takes 1.5 s to start: fine for its own deploy, too slow for the rollback's health
    // wait, which has the 1 s that b's deploy allows.
    let a = context(&app, "a", &[("DEMO_START_DELAY_MS", "1500")]);
    let run = deploy(&app, a.path(), "a", &[("MVK_HEALTH_TIMEOUT", "30s")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let b = context(&app, "b", &[("DEMO_ERROR_RATE", "1")]);
    let run = deploy(&app, b.path(), "b", &[("MVK_HEALTH_TIMEOUT", "1s")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("ROLLBACK FAILED at mvk-healthwait"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-healthwait", "{r}");
    assert_eq!(r["rollback"]["cause"]["tool"], "mvk-verify");
    // mvk-swap never ran for the rollback: b, broken as it is, still serves.
    assert_eq!(get(&app.nginx.url("/")).unwrap().0, 500);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(app.state_file()).unwrap()).unwrap();
    assert_eq!(state["live"]["release"], "b");
}

#[test]
fn bad_configuration_is_exit_2_and_changes_nothing() {
    let app = TestApp::new("dep-conf");
    let state = app.state.path().join(&app.name);
    let missing = app.state.join("missing.env");
    for (extra, args, says) in [
        (vec![("MVK_APP", "")], vec![], "which app?"),
        (
            vec![("MVK_APP", "Not An App")],
            vec![],
            "is not a valid app name",
        ),
        (vec![], vec!["--app=-x"], "is not a valid app name"),
        (
            vec![("MVK_CONFIG", missing.to_str().unwrap())],
            vec![],
            "cannot read the env file",
        ),
        (
            vec![("MVK_LOCK_WAIT", "soon")],
            vec![],
            "MVK_LOCK_WAIT is `soon`",
        ),
    ] {
        for name in ["mvk-deploy", "mvk-undo"] {
            let run = run_script(&app, name, &args, &extra, "");
            assert_eq!(run.code, 2, "{name} {extra:?} {args:?}: {}", run.stderr);
            assert!(run.stderr.contains(says), "{name}: {}", run.stderr);
            assert_eq!(run.stdout, "");
            assert!(
                !state.exists(),
                "{name} {extra:?}: created {}",
                state.display()
            );
        }
    }
    // The env file's MVK_APP names the app; --app among the arguments wins over both.
    let config = TempDir::new("config");
    std::fs::write(config.join("app.env"), format!("MVK_APP={}\n", app.name)).unwrap();
    let conf = config.join("app.env");
    let run = run_script(
        &app,
        "mvk-undo",
        &[],
        &[("MVK_APP", ""), ("MVK_CONFIG", conf.to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("app {} has no live release", app.name)),
        "{}",
        run.stderr
    );
    // A variable in the environment wins over the env file's.
    std::fs::write(&conf, "MVK_APP=other\n").unwrap();
    let run = run_script(
        &app,
        "mvk-undo",
        &[],
        &[("MVK_CONFIG", conf.to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("app {} has no live release", app.name)),
        "{}",
        run.stderr
    );
    let run = run_script(
        &app,
        "mvk-undo",
        &["--app", &app.name],
        &[("MVK_APP", "other")],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("app {} has no live release", app.name)),
        "{}",
        run.stderr
    );
}

/// What a failure before the new release took traffic must leave as it was.
struct Untouched {
    containers: Vec<String>,
    state: Vec<u8>,
    upstream: Vec<u8>,
}

impl Untouched {
    fn take(app: &TestApp) -> Untouched {
        Untouched {
            containers: app.containers(),
            state: std::fs::read(app.state_file()).unwrap(),
            upstream: std::fs::read(&app.nginx.upstream_file).unwrap(),
        }
    }

    /// The live release still serves, state and upstream file are byte for byte as before,
    /// and nothing was rolled back.
    fn check(&self, app: &TestApp, run: &mvk_e2e::Run, live: &str) {
        assert!(
            run.stderr.contains("before the new release took traffic")
                && run.stderr.contains("nothing to roll back"),
            "{}",
            run.stderr
        );
        let r = run.record();
        assert!(r.get("rollback").is_none(), "{r}");
        assert_eq!(app.serving(), format!("demo {live}\n"));
        assert_eq!(std::fs::read(app.state_file()).unwrap(), self.state);
        assert_eq!(
            std::fs::read(&app.nginx.upstream_file).unwrap(),
            self.upstream
        );
        let now = app.containers();
        assert!(
            self.containers.iter().all(|c| now.contains(c)),
            "a container that was there is gone"
        );
        let live_container = format!("{}-blue", app.name);
        assert_eq!(
            docker(&["inspect", "-f", "{{.State.Status}}", &live_container]).unwrap(),
            "running"
        );
        assert!(!files(log_dirs(app).last().unwrap())
            .iter()
            .any(|f| f.contains("rollback")));
    }
}

#[test]
fn a_failed_health_wait_touches_nothing_and_rolls_nothing_back() {
    let app = TestApp::new("dep-health");
    deploy_ok(&app, "a");
    let before = Untouched::take(&app);
    let ctx = context(&app, "b", &[("DEMO_CRASH", "no database")]);
    let run = deploy(&app, ctx.path(), "b", &[("MVK_HEALTH_TIMEOUT", "30s")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-healthwait", "{r}");
    assert_eq!(r["error"]["kind"], "crashed", "{r}");
    assert!(r.get("swap").is_none(), "{r}");
    before.check(&app, &run, "a");
    assert_eq!(
        app.containers(),
        before.containers,
        "the crashed candidate is removed"
    );
}

#[test]
fn mvk_swap_failing_inside_the_script_leaves_the_live_release_and_rolls_nothing_back() {
    let app = TestApp::new("dep-swapfail");
    deploy_ok(&app, "a");
    let before = Untouched::take(&app);
    // An nginx that rejects any configuration routing to the green slot, as a broken site
    // configuration would: mvk-swap's check fails after it wrote the upstream file.
    let dir = TempDir::new("nginx");
    let wrapper = dir.join("nginx");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif grep -q ':{}' '{}'; then echo 'nginx: [emerg] refused by the test' >&2; exit 1; fi\nexec nginx \"$@\"\n",
            app.green_port,
            app.nginx.upstream_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ctx = context(&app, "b", &[]);
    let nginx = wrapper.display().to_string();
    let run = deploy(&app, ctx.path(), "b", &[("MVK_NGINX", &nginx)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-swap", "{r}");
    assert_eq!(r["error"]["kind"], "nginx-config", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused by the test"),
        "{r}"
    );
    before.check(&app, &run, "a");
    // The healthy candidate the swap never routed to is not left running in the idle slot.
    assert!(
        run.stderr
            .contains("mvk-healthwait: withdrew the candidate"),
        "{}",
        run.stderr
    );
    assert_eq!(
        mvk_e2e::container_status(&format!("{}-green", app.name)),
        "",
        "the candidate is left"
    );
    assert_eq!(
        mvk_e2e::container_status(&format!("{}-blue", app.name)),
        "running"
    );
}

/// Every file under `dir`, recursively, that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default())
            .contains(needle)
        {
            found.push(path);
        }
    }
    found
}

#[test]
fn mvk_env_file_values_reach_the_app_and_no_record_state_or_output() {
    let app = TestApp::new("dep-secret");
    let dir = TempDir::new("dep-secret");
    let file = dir.join("app.env");
    let secret = format!("s3cret-{}", app.name);
    // The app prints its version at start and in every answer: the secret, on purpose.
    std::fs::write(
        &file,
        format!("DEMO_VERSION={secret}\nAPI_TOKEN={secret}\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let ctx = context(&app, "a", &[]);
    let run = deploy(&app, ctx.path(), "a", &[("MVK_ENV_FILE", file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(app.serving(), format!("demo {secret}\n"), "the app got it");
    let mut outputs = vec![run.stdout, run.stderr];

    // A failing migration and a crash print the app's output: masked there too.
    let ctx = context(&app, "b", &[]);
    let run = deploy(
        &app,
        ctx.path(),
        "b",
        &[
            ("MVK_ENV_FILE", file),
            ("MVK_BEFORE", "migrate --fail oops"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("demo-app ***: migrating"),
        "{}",
        run.stderr
    );
    outputs.extend([run.stdout, run.stderr]);
    let ctx = context(&app, "c", &[("DEMO_CRASH", "gone")]);
    let run = deploy(&app, ctx.path(), "c", &[("MVK_ENV_FILE", file)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("demo-app ***: fatal"), "{}", run.stderr);
    outputs.extend([run.stdout, run.stderr]);

    for out in &outputs {
        assert!(!out.contains(&secret), "the value was printed: {out}");
    }
    assert_eq!(log_dirs(&app).len(), 3, "every run kept its records");
    assert_eq!(
        files_containing(app.state.path(), &secret),
        Vec::<PathBuf>::new(),
        "records, state and logs under the state dir hold the value"
    );
}

#[test]
fn a_tethered_deploy_whose_stdin_ends_is_interrupted_and_changes_nothing() {
    let app = TestApp::new("dep-tether");
    deploy_ok(&app, "a");
    let before = Untouched::take(&app);
    let args = ["--built", "--tethered"];
    // No record line at all: bad input.
    let run = run_script(&app, "mvk-deploy", &args, &[], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no release record line on stdin"),
        "{}",
        run.stderr
    );
    // The record, then the end of stdin (the rollout holding it is gone): interrupted.
    let image = app.tag("a");
    let id = docker(&["inspect", "-f", "{{.Id}}", &image]).unwrap();
    let built = serde_json::json!({"schema": "mvk.release/v1", "app": app.name, "release": "b",
                                   "image": image, "image_id": id, "steps": [], "error": null});
    let run = run_script(&app, "mvk-deploy", &args, &[], &format!("{built}\n"));
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert_eq!(app.serving(), "demo a\n");
    assert_eq!(std::fs::read(app.state_file()).unwrap(), before.state);
    assert_eq!(
        std::fs::read(&app.nginx.upstream_file).unwrap(),
        before.upstream
    );
    assert_eq!(app.containers(), before.containers, "a candidate is left");
}
