//! Slot containers made by hand the way mvk-healthwait makes them, and the record it would
//! write for them, so a step after it can be tested on its own.

use crate::app::TestApp;
use crate::cmd::docker;
use crate::demo::{app_context, label_context, DemoImage};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A demo-app image for `app`, `<app>:<version>`, that answers `demo <version>`, labelled as
/// mvk-build labels the app's images. It is unique to the app, so no other test's build shares
/// its image id.
pub fn app_image(app: &TestApp, version: &str, env: &[(&str, &str)]) -> DemoImage {
    let ctx = app_context(app, version, env);
    label_context(ctx.path(), &app.name);
    DemoImage::build_context(&app.tag(version), ctx.path())
}

/// Starts `<app>-<slot>` from `image` as mvk-healthwait does (labels `mvk.app`, `mvk.release`,
/// `mvk.slot`; the slot's port on loopback; restart unless-stopped; Docker's init), replacing
/// any container left in that slot, with extra `-e` variables. Waits until `/health` answers 200 and returns
/// the record mvk-healthwait would write (release = the image's tag).
pub fn start_candidate(
    app: &TestApp,
    slot: &str,
    image: &DemoImage,
    env: &[(&str, &str)],
) -> Value {
    let name = format!("{}-{slot}", app.name);
    let port = if slot == "blue" {
        app.blue_port
    } else {
        app.green_port
    };
    let release = image
        .tag
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest")
        .to_string();
    let _ = docker(&["rm", "-f", "-v", &name]);
    let labels = [
        format!("mvk.app={}", app.name),
        format!("mvk.release={release}"),
        format!("mvk.slot={slot}"),
    ];
    let publish = format!("127.0.0.1:{port}:8000");
    let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &publish,
        "--restart",
        "unless-stopped",
        "--init",
    ];
    for l in &labels {
        args.extend(["--label", l]);
    }
    for v in &vars {
        args.extend(["-e", v]);
    }
    args.push(&image.tag);
    let id = docker(&args).unwrap_or_else(|e| panic!("docker run {name}: {e}"));
    let url = format!("http://127.0.0.1:{port}/health");
    let end = Instant::now() + Duration::from_secs(20);
    while crate::net::get(&url).map(|(s, _)| s) != Ok(200) {
        assert!(
            Instant::now() < end,
            "{name} never answered /health with 200"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    json!({
        "schema": "mvk.release/v1",
        "app": app.name,
        "release": release,
        "image": image.tag,
        "image_id": image.id,
        "candidate": {"slot": slot, "port": port, "container": name, "container_id": id, "image": image.tag},
        "health": {"healthy": true, "seconds": 0.1, "polls": 1, "http_status": 200},
        "steps": [],
        "error": null
    })
}

/// `docker inspect -f '{{.State.Status}}'` of a container, or "" when there is none.
pub fn container_status(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", name]).unwrap_or_default()
}
