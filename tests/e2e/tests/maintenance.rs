//! The circuit breaker and the maintenance page under real nginx and real load (hey): when the
//! live container dies, the warm previous release (--keep-warm) or the maintenance page
//! answers, never a 502; `mvk-swap --maintenance on|off` switches all traffic to the page and
//! back without losing a request, and refuses bad input changing nothing.

use mvk_e2e::{
    app_image, container_status, docker, get, start_candidate, DemoImage, Hey, TempDir, TestApp,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn deploy(app: &TestApp, slot: &str, image: &DemoImage, extra: &[(&str, &str)]) -> Value {
    let record = start_candidate(app, slot, image, &[]);
    let run = app.run("mvk-swap", &[], extra, &format!("{record}\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.record()
}

/// The upstream file and the state, to see that nothing changed.
fn files(app: &TestApp) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(&app.nginx.upstream_file).unwrap(),
        std::fs::read(app.state.path().join(&app.name).join("state.json")).unwrap(),
    )
}

/// A GET through nginx: status, head and body.
fn fetch(app: &TestApp, method: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", app.nginx.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} /any/path HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_string(),
        body.to_string(),
    )
}

#[test]
fn the_warm_previous_release_answers_when_the_live_one_dies() {
    let app = TestApp::new("mt-warm");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1, &[]);
    let r = deploy(&app, "green", &v2, &[("MVK_KEEP_WARM", "1")]);
    assert_eq!(r["swap"]["kept_warm"], true, "{r}");
    assert_eq!(r["swap"]["previous_stopped"], false);
    assert_eq!(container_status(&format!("{}-blue", app.name)), "running");
    let upstream = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    // The live release's backup is the proxy to the warm one, whose backup is the page.
    assert!(upstream.contains(".warm.sock backup;\n}"), "{upstream}");
    assert!(
        upstream.contains(&format!(
            "_mvk_warm {{\n    server 127.0.0.1:{} max_fails=3",
            app.blue_port
        )),
        "{upstream}"
    );
    assert_eq!(app.state()["traffic"]["warm"]["port"], app.blue_port);
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v2\n".into())));

    let load = Hey::start(&app.nginx.url("/"), 6);
    mvk_e2e::net::wait_for_requests(&[app.green_port], 20);
    docker(&["stop", "-t", "2", &format!("{}-green", app.name)]).unwrap();
    Hey::finish(load).assert_only(&[200], 200);
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v1\n".into())));
}

#[test]
fn the_maintenance_page_answers_when_the_live_release_dies() {
    let app = TestApp::new("mt-dead");
    let v1 = app_image(&app, "v1", &[]);
    let r = deploy(&app, "blue", &v1, &[]);
    assert_eq!(r["swap"]["kept_warm"], false);
    let load = Hey::start(&app.nginx.url("/"), 5);
    mvk_e2e::net::wait_for_requests(&[app.blue_port], 20);
    docker(&["stop", "-t", "2", &format!("{}-blue", app.name)]).unwrap();
    Hey::finish(load).assert_only(&[503, 200], 10);
    for method in ["GET", "POST", "HEAD"] {
        let (status, head, body) = fetch(&app, method);
        assert_eq!(status, 503, "{method}: {head}");
        assert!(head.contains("\r\nRetry-After: 30"), "{method}: {head}");
        assert!(
            head.contains("text/html; charset=utf-8"),
            "{method}: {head}"
        );
        if method != "HEAD" {
            assert!(body.contains("Down for maintenance"), "{body}");
        }
    }
}

#[test]
fn maintenance_on_and_off_lose_no_request() {
    let app = TestApp::new("mt-switch");
    let v1 = app_image(&app, "v1", &[]);
    deploy(&app, "blue", &v1, &[]);
    let dir = TempDir::new("page");
    let page = dir.join("page.html");
    std::fs::write(&page, "<h1>Migrating; back at 10:00</h1>\n").unwrap();
    let page = page.display().to_string();
    let switch = |on: &str, extra: &[(&str, &str)]| {
        app.run(
            "mvk-swap",
            &["--app", &app.name, "--maintenance", on],
            extra,
            "",
        )
    };

    // Bad input: exit 2, nothing changed.
    let before = files(&app);
    let not_utf8 = dir.join("bin.html");
    std::fs::write(&not_utf8, b"\xff\xfe\x00").unwrap();
    for (bad, says) in [
        ("/nonexistent/page.html", "No such file"),
        (dir.path().to_str().unwrap(), "not a regular file"),
        (not_utf8.to_str().unwrap(), "not UTF-8"),
    ] {
        let run = switch("on", &[("MVK_MAINTENANCE_PAGE", bad)]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    let run = app.run(
        "mvk-swap",
        &["--maintenance", "maybe", "--app", &app.name],
        &[],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let after = files(&app);
    assert!(
        before == after,
        "bad input changed the upstream file or the state"
    );

    let run = switch(
        "on",
        &[("MVK_MAINTENANCE_PAGE", &page), ("MVK_RETRY_AFTER", "2m")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["swap"]["maintenance"], "on", "{r}");
    assert_eq!(r["swap"]["live"]["container"], format!("{}-blue", app.name));
    assert_eq!(r["app"], app.name);
    assert_eq!(app.state()["traffic"]["maintenance"], true);
    let (status, head, body) = fetch(&app, "GET");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("\r\nRetry-After: 120"), "{head}");
    assert_eq!(body, "<h1>Migrating; back at 10:00</h1>\n");
    assert_eq!(container_status(&format!("{}-blue", app.name)), "running");
    let again = switch(
        "on",
        &[("MVK_MAINTENANCE_PAGE", &page), ("MVK_RETRY_AFTER", "2m")],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already on"), "{}", again.stderr);

    let load = Hey::start(&app.nginx.url("/"), 4);
    // The app gets none of it under maintenance: hey's kept-alive connections to nginx show
    // that the load runs.
    mvk_e2e::wait_until("hey to connect", Duration::from_secs(30), || {
        mvk_e2e::net::established_to(app.nginx.port) > 0
    });
    let run = switch("off", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["swap"]["maintenance"], "off");
    Hey::finish(load).assert_only(&[200, 503], 10);
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v1\n".into())));
    assert_eq!(app.state()["traffic"]["maintenance"], false);
}

#[test]
fn a_swap_to_a_new_release_ends_maintenance() {
    let app = TestApp::new("mt-swap");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    deploy(&app, "blue", &v1, &[]);
    let run = app.run(
        "mvk-swap",
        &["--app", &app.name, "--maintenance", "on"],
        &[],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fetch(&app, "GET").0, 503);
    let r = deploy(&app, "green", &v2, &[]);
    assert_eq!(r["swap"]["live"]["release"], "v2", "{r}");
    assert_eq!(app.state()["traffic"]["maintenance"], false);
    let upstream = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    assert!(!upstream.contains(" down;"), "{upstream}");
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v2\n".into())));
}
