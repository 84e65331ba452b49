//! Candidates under Docker's init (mvk-healthwait's default) and without it (--no-init), deployed
//! with mvk-healthwait | mvk-swap on the real engine and nginx: how the old release's container
//! ends when mvk-swap stops it. Told by its exit code, not by timing: 143 is the app ended by
//! SIGTERM, 137 the SIGKILL that only comes once the stop timeout has run out.

use mvk_e2e::{app_image, docker, get, DemoImage, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// mvk-healthwait then mvk-swap for `image`, with `env`; both must succeed. Returns mvk-swap's
/// record.
fn deploy(app: &TestApp, image: &DemoImage, swap_args: &[&str], env: &[(&str, &str)]) -> Value {
    let release = image.tag.rsplit_once(':').unwrap().1;
    let record = json!({
        "schema": "mvk.release/v1", "app": app.name, "release": release,
        "image": image.tag, "image_id": image.id, "steps": [], "error": null
    });
    let healthy = app.run("mvk-healthwait", &[], env, &format!("{record}\n"));
    assert_eq!(healthy.code, 0, "{}", healthy.stderr);
    let swapped = app.run("mvk-swap", swap_args, env, &healthy.stdout);
    assert_eq!(swapped.code, 0, "{}", swapped.stderr);
    let record = swapped.record();
    assert_eq!(
        get(&app.nginx.url("/")).map(|(_, body)| body.trim().to_string()),
        Ok(format!("demo {release}"))
    );
    record
}

fn inspect(container: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, container])
        .unwrap_or_else(|e| panic!("inspect {container}: {e}"))
}

#[test]
fn a_pid1_without_a_sigterm_handler_ends_by_sigterm_under_the_init() {
    let app = TestApp::new("init-pid1");
    // As PID 1 this app would ignore SIGTERM (no handler), like busybox httpd.
    let v1 = app_image(&app, "v1", &[("DEMO_NO_SIGNAL_HANDLER", "1")]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, &v1, &[], &[]);
    let blue = format!("{}-blue", app.name);
    assert_eq!(inspect(&blue, "{{.HostConfig.Init}}"), "true");

    // The default --stop-timeout (10 s): a SIGKILL would only come after it.
    let r = deploy(&app, &v2, &[], &[]);
    assert_eq!(r["swap"]["previous_stopped"], true, "{r}");
    assert_eq!(inspect(&blue, "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&blue, "{{.State.ExitCode}}"),
        "143",
        "the init passed SIGTERM on and the app died of it (137 would be the stop timeout's SIGKILL)"
    );
}

#[test]
fn without_the_init_the_same_app_waits_for_the_stop_timeouts_sigkill() {
    let app = TestApp::new("init-none");
    let v1 = app_image(&app, "v1", &[("DEMO_NO_SIGNAL_HANDLER", "1")]);
    let v2 = app_image(&app, "v2", &[]);
    let no_init = [("MVK_NO_INIT", "1")];
    deploy(&app, &v1, &[], &no_init);
    let blue = format!("{}-blue", app.name);
    assert_eq!(inspect(&blue, "{{.HostConfig.Init}}"), "false");

    let r = deploy(&app, &v2, &["--stop-timeout", "1s"], &no_init);
    assert_eq!(r["swap"]["previous_stopped"], true, "{r}");
    assert_eq!(
        inspect(&blue, "{{.State.ExitCode}}"),
        "137",
        "as PID 1 the app ignored SIGTERM until the SIGKILL"
    );
    let green = format!("{}-green", app.name);
    assert_eq!(inspect(&green, "{{.HostConfig.Init}}"), "false");
}

#[test]
fn a_sigterm_aware_app_under_the_init_finishes_its_requests_in_flight() {
    let app = TestApp::new("init-drain");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, &v1, &[], &[]);
    let blue = format!("{}-blue", app.name);
    // Straight to the container, not through nginx: mvk-swap's drain does not wait for it, so
    // only the app's own SIGTERM handling can finish it.
    let url = format!("http://127.0.0.1:{}/sleep?ms=4000", app.blue_port);
    let request = std::thread::spawn(move || get(&url));
    mvk_e2e::wait_until("the request to reach v1", Duration::from_secs(20), || {
        mvk_e2e::sleeping_requests(app.blue_port) > 0
    });

    let r = deploy(&app, &v2, &[], &[]);
    assert_eq!(r["swap"]["previous_stopped"], true, "{r}");
    let answer = request.join().unwrap();
    assert_eq!(
        answer.as_ref().map(|(status, _)| *status),
        Ok(200),
        "{answer:?}"
    );
    assert_eq!(
        inspect(&blue, "{{.State.ExitCode}}"),
        "0",
        "the app got SIGTERM through the init, finished the request and exited"
    );
    let out = std::process::Command::new("docker")
        .args(["logs", &blue])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("stopping, finishing requests in flight"),
        "{logs}"
    );
}

/// The states (`S`, `R`, `Z`…) of the children of `container`'s PID 1, read from the host's
/// /proc: `docker top` cannot show a zombie, which has already left the container's cgroup.
fn children_of_pid1(container: &str) -> Vec<char> {
    let pid = inspect(container, "{{.State.Pid}}");
    let pid = pid
        .parse()
        .unwrap_or_else(|_| panic!("{container}'s PID 1: {pid:?}"));
    mvk_e2e::procs::children(pid)
        .iter()
        .map(|p| p.state)
        .collect()
}

/// Processes orphaned inside the container (the demo app leaves three at start, each ending
/// 100 ms later) are reaped under the init; with the app as PID 1, which never waits for them,
/// they stay zombies.
#[test]
fn orphans_are_reaped_under_the_init_and_left_as_zombies_without_it() {
    let app = TestApp::new("init-reap");
    let v1 = app_image(&app, "v1", &[("DEMO_ORPHANS", "3")]);
    let v2 = app_image(&app, "v2", &[("DEMO_ORPHANS", "3")]);
    deploy(&app, &v1, &[], &[("MVK_NO_INIT", "1")]);
    let blue = format!("{}-blue", app.name);
    mvk_e2e::wait_until(
        "three zombies without the init",
        Duration::from_secs(20),
        || children_of_pid1(&blue) == ['Z', 'Z', 'Z'],
    );

    deploy(&app, &v2, &[], &[]);
    let green = format!("{}-green", app.name);
    assert_eq!(inspect(&green, "{{.HostConfig.Init}}"), "true");
    // The orphans were started before the app listened, so before it was healthy: under the
    // init (PID 1) only the app is left once they end.
    mvk_e2e::wait_until(
        "the orphans to end and be reaped under the init",
        Duration::from_secs(20),
        || {
            let children = children_of_pid1(&green);
            children.len() == 1 && children[0] != 'Z'
        },
    );
}
