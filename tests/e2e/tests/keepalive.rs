//! Deploys under load from clients that keep their connections open, through an nginx that
//! keeps idle connections open to the app (`keepalive N` in the upstream, mvk-swap's
//! --keepalive): no request fails, traffic moves to the new release, and the idle upstream
//! connections to the old release neither hold the drain up nor outlive it.

use mvk_e2e::demo::app_context as context;
use mvk_e2e::net::{established_to as connections_to, requests_answered};
use mvk_e2e::{container_status, run_script, wait_until, Hey, Nginx, TestApp};
use serde_json::Value;
use std::time::Duration;

/// scripts/mvk-deploy (build, health, swap, verify, a short alert gate) with upstream
/// keepalive.
fn deploy(app: &TestApp, version: &str) -> Value {
    let ctx = context(app, version, &[]);
    let run = run_script(
        app,
        "mvk-deploy",
        &["--release", version, ctx.path().to_str().unwrap()],
        &[
            ("MVK_KEEPALIVE", "8"),
            ("MVK_WATCH", "3s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
        ],
        "",
    );
    assert_eq!(run.code, 0, "deploy {version}: {}", run.stderr);
    run.record()
}

#[test]
fn deploy_under_keepalive_load_through_upstream_keepalive_loses_no_request() {
    let app = TestApp::with_nginx("ka", Nginx::start_keepalive);
    let r = deploy(&app, "v1");
    assert_eq!(r["swap"]["live"]["port"], app.blue_port, "{r}");
    let upstream = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    assert!(upstream.contains("    keepalive 8;\n}"), "{upstream}");

    // hey keeps its 4 connections to nginx open (no -disable-keepalive).
    let load = Hey::start(&app.nginx.url("/"), 240);
    let mut live = app.blue_port;
    for (version, idle) in [("v2", app.green_port), ("v3", app.blue_port)] {
        let before = requests_answered(live);
        wait_until(
            "the load to reach the live release",
            Duration::from_secs(30),
            || requests_answered(live) > before + 50,
        );
        // nginx keeps connections to the live release open between requests.
        assert!(
            connections_to(live) > 0,
            "no upstream connection to :{live}"
        );
        let r = deploy(&app, version);
        let sw = &r["swap"];
        eprintln!("{version}: drained in {} s", sw["drained_seconds"]);
        assert_eq!(sw["live"]["port"], idle, "{r}");
        // Idle upstream connections do not count as requests in flight: the old workers
        // closed them and exited, well before the drain's deadline.
        assert_eq!(sw["drained"], true, "{r}");
        assert_eq!(sw["previous_stopped"], true, "{r}");
        assert_eq!(
            container_status(&format!(
                "{}-{}",
                app.name,
                sw["previous"]["slot"].as_str().unwrap()
            )),
            "exited"
        );
        assert_eq!(
            connections_to(live),
            0,
            "connections to the stopped release"
        );
        // Traffic reached the new release, through kept-alive upstream connections.
        wait_until(
            "the load to reach the new release",
            Duration::from_secs(30),
            || requests_answered(idle) > 50,
        );
        assert!(
            connections_to(idle) > 0,
            "no upstream connection to :{idle}"
        );
        live = idle;
    }
    let outcome = load.interrupt();
    outcome.assert_only(&[200], 200);
}
