//! SIGINT and SIGTERM to mvk-rollback in the middle of a pull: exit 130, nothing changed. The
//! test waits for the observable event that says the point is reached before it signals.

use mvk_e2e::registry::{RemoveRepo, StalledBlobs};
use mvk_e2e::{docker, get, DemoImage, Interrupt, Interruptible, Registry, Run, TestApp};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const PHASE: Duration = Duration::from_secs(240);
const EXIT: Duration = Duration::from_secs(120);

fn serving(app: &TestApp) -> String {
    get(&app.nginx.url("/"))
        .map(|(_, body)| body)
        .unwrap_or_else(|e| e)
}

fn state_file(app: &TestApp) -> PathBuf {
    app.state.path().join(&app.name).join("state.json")
}

fn files(app: &TestApp) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(state_file(app)).unwrap(),
        std::fs::read(&app.nginx.upstream_file).unwrap(),
    )
}

fn container(app: &TestApp, slot: &str) -> String {
    format!("{}-{slot}", app.name)
}

fn status(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", name]).unwrap_or_else(|_| "gone".into())
}

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

fn assert_interrupted(run: &Run, how: Interrupt, tool: &str) -> Value {
    assert_eq!(run.code, 130, "{how:?}: {}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted", "{how:?}: {r}");
    assert_eq!(r["error"]["tool"], tool, "{how:?}: {r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains(how.name()), "{how:?}: {message}");
    r
}

fn pruned_release(app: &TestApp, proxy: &StalledBlobs) -> (RemoveRepo, DemoImage) {
    let repo = proxy.repo(&app.name);
    let a_ref = format!("{repo}:a");
    let untag = RemoveRepo(repo);
    let a = DemoImage::build(
        &a_ref,
        &[("MVK_TEST_APP", &app.name), ("DEMO_VERSION", "a")],
    );
    docker(&["push", &a_ref]).unwrap();
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
    docker(&["rmi", &a_ref]).unwrap();
    assert_eq!(serving(app), "demo b\n");
    (untag, b)
}

fn assert_nothing_rolled_back(app: &TestApp, before: &(Vec<u8>, Vec<u8>), how: Interrupt) {
    assert_eq!(&files(app), before, "{how:?}");
    assert_eq!(serving(app), "demo b\n");
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
    let _images = pruned_release(&app, &proxy);
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
