//! A typical app deployed the seed's way: tests/python-app (Debian's python3, uvicorn and
//! prometheus-client, multi-stage onto scratch, non-root, HEALTHCHECK) built FROM the suite's
//! Debian image by the full pipeline (scripts/mvk-deploy: build, health, swap, verify, gate),
//! then deployed again and rolled back (scripts/mvk-undo) under load through nginx with hey:
//! not one request fails. Also its shell-PID-1 variant, which ignores SIGTERM.

use mvk_e2e::debian::Image;
use mvk_e2e::demo::repo_root;
use mvk_e2e::{docker, run_script, Hey, TempDir, TestApp};
use std::sync::Mutex;

/// The two tests share the build stage's cached layers; one at a time, so neither removes
/// a layer the other is about to use.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A copy of tests/python-app as the build context.
fn context() -> TempDir {
    let dir = TempDir::new("pyctx");
    for entry in std::fs::read_dir(repo_root().join("tests/python-app")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap().to_str().unwrap())).unwrap();
    }
    dir
}

/// `mvk-deploy` of `version` from `ctx`, FROM the Debian fixture, built to `stage`.
fn deploy(app: &TestApp, ctx: &TempDir, stage: &str, version: &str, extra: &[(&str, &str)]) {
    let base = format!("BASE={}", Image::Base.ensure());
    let arg = format!("VERSION={version}");
    let mut env = vec![
        ("MVK_WATCH", "3s"),
        ("MVK_EVERY", "1s"),
        ("MVK_STOP_TIMEOUT", "5s"),
    ];
    env.extend_from_slice(extra);
    let run = run_script(
        app,
        "mvk-deploy",
        &[
            "--release",
            version,
            "--build-arg",
            &base,
            "--build-arg",
            &arg,
            "--build-target",
            stage,
            ctx.path().to_str().unwrap(),
        ],
        &env,
        "",
    );
    assert_eq!(run.code, 0, "deploy {version}: {}", run.stderr);
    let record = run.record();
    assert_eq!(record["swap"]["live"]["release"], version, "{record}");
    assert_eq!(record["verify"]["ok"], true, "{record}");
}

/// How the release that was live before the last deploy ended: its container's exit code.
fn previous_exit_code(app: &TestApp, version: &str) -> String {
    let id = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("ancestor={}", app.tag(version)),
    ])
    .unwrap();
    docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ])
    .unwrap()
}

/// v1, then v2 and a rollback to v1 under load; returns how v1's container ended when v2
/// replaced it.
fn deploy_and_roll_back_under_load(label: &str, stage: &str, extra: &[(&str, &str)]) -> String {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let app = TestApp::new(label);
    let ctx = context();
    deploy(&app, &ctx, stage, "v1", extra);
    assert_eq!(app.serving(), "python v1\n");
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &app.tag("v1")])
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("{label}: image {} MB", size / 1_000_000);
    assert!(size < 100_000_000, "the image weighs {size} bytes");

    let load = Hey::start(&app.nginx.url("/"), 240);
    deploy(&app, &ctx, stage, "v2", extra);
    assert_eq!(app.serving(), "python v2\n");
    let ended = previous_exit_code(&app, "v1");
    let undo = run_script(&app, "mvk-undo", &[], extra, "");
    assert_eq!(undo.code, 0, "mvk-undo: {}", undo.stderr);
    assert_eq!(app.serving(), "python v1\n");
    load.interrupt().assert_only(&[200], 100);
    ended
}

#[test]
fn the_python_app_deploys_and_rolls_back_under_load_without_a_failed_request() {
    let ended = deploy_and_roll_back_under_load("py", "app", &[]);
    // uvicorn drained and exited on SIGTERM, forwarded by the init.
    assert_eq!(ended, "exited 0");
}

#[test]
fn a_shell_pid_1_ignoring_sigterm_is_killed_after_the_stop_timeout_and_no_request_fails() {
    // Run as the image says, without Docker's init: the shell is PID 1 and ignores SIGTERM.
    let ended = deploy_and_roll_back_under_load("py-sh", "shell-pid1", &[("MVK_NO_INIT", "1")]);
    assert_eq!(
        ended, "exited 137",
        "stopped by SIGKILL at the stop timeout"
    );
}
