//! Canaries under real nginx and real load: `mvk-swap --weight` splits the traffic as asked
//! and moves or ends the canary without a failed request; `mvk-alerts --canary` and
//! scripts/mvk-canary abort a candidate that fails requests at the first step (the live
//! release never failing one) and promote a good one.

use mvk_e2e::demo::app_context;
use mvk_e2e::{app_image, container_status, get, run_script, start_candidate, Hey, TestApp};
use serde_json::Value;
use std::collections::BTreeMap;

fn swap(app: &TestApp, record: &Value, args: &[&str]) -> Value {
    let run = app.run("mvk-swap", args, &[], &format!("{record}\n"));
    assert_eq!(run.code, 0, "mvk-swap {args:?}: {}", run.stderr);
    run.record()
}

/// `n` requests through nginx, one after the other: how many each version answered.
fn split(app: &TestApp, n: usize) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for _ in 0..n {
        let (status, body) = get(&app.nginx.url("/")).unwrap();
        assert_eq!(status, 200, "{body}");
        *by.entry(body.trim().to_string()).or_default() += 1;
    }
    by
}

/// The 5xx answers a release counted in its own /metrics.
fn errors_counted(port: u16) -> u64 {
    let (_, text) = get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{status=\"5"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_weighted_canary_takes_its_share_moves_and_ends_without_a_failed_request() {
    let app = TestApp::new("cn-split");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    swap(&app, &start_candidate(&app, "blue", &v1, &[]), &[]);
    let candidate = start_candidate(&app, "green", &v2, &[]);

    // Bad weights change nothing.
    let before = std::fs::read(&app.nginx.upstream_file).unwrap();
    for bad in ["100", "-1", "ten"] {
        let run = app.run(
            "mvk-swap",
            &["--weight", bad],
            &[],
            &format!("{candidate}\n"),
        );
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
    }
    assert_eq!(std::fs::read(&app.nginx.upstream_file).unwrap(), before);

    let load = Hey::start(&app.nginx.url("/"), 8);
    let r = swap(&app, &candidate, &["--weight", "10"]);
    assert_eq!(r["swap"]["weight"], 10, "{r}");
    assert_eq!(r["swap"]["canary"]["release"], "v2");
    assert_eq!(r["swap"]["live"]["release"], "v1");
    assert_eq!(r["swap"]["live"]["container"], format!("{}-blue", app.name));
    assert!(r["swap"].get("candidate_removed").is_none(), "{r}");
    let s = app.state();
    assert_eq!(s["live"]["release"], "v1", "the live release stays live");
    assert_eq!(s["traffic"]["canary"]["weight"], 10);
    let upstream = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    assert!(
        upstream.contains(&format!("server 127.0.0.1:{} weight=90 ", app.blue_port)),
        "{upstream}"
    );
    assert!(
        upstream.contains(&format!("server 127.0.0.1:{} weight=10 ", app.green_port)),
        "{upstream}"
    );
    mvk_e2e::net::wait_for_requests(&[app.green_port], 10);
    let r = swap(&app, &candidate, &["--weight", "50"]);
    assert_eq!(r["swap"]["weight"], 50);
    let r = swap(&app, &candidate, &["--weight", "10"]);
    assert_eq!(r["swap"]["weight"], 10);
    load.finish().assert_only(&[200], 200);

    let by = split(&app, 3000);
    eprintln!("3000 requests at weight 10: {by:?}");
    let canary = by.get("demo v2").copied().unwrap_or(0);
    assert!(
        // nginx's smooth weighted round robin is exact per worker: 10 ± 1 %, as README says.
        (270..=330).contains(&canary),
        "the canary answered {canary} of 3000: {by:?}"
    );
    assert_eq!(canary + by.get("demo v1").copied().unwrap_or(0), 3000);

    // Sticky: one client (one address) stays on one side.
    let r = swap(&app, &candidate, &["--weight", "50", "--sticky"]);
    assert_eq!(r["swap"]["sticky"], true);
    assert_eq!(split(&app, 50).len(), 1, "a client moved between the sides");

    // Ended: every request to the live release, the candidate removed, nothing failed.
    let load = Hey::start(&app.nginx.url("/"), 4);
    mvk_e2e::net::wait_for_requests(&[app.blue_port, app.green_port], 20);
    let r = swap(&app, &candidate, &["--weight", "0"]);
    assert_eq!(r["swap"]["weight"], 0);
    assert_eq!(r["swap"]["candidate_removed"], true, "{r}");
    load.finish().assert_only(&[200], 100);
    assert_eq!(container_status(&format!("{}-green", app.name)), "");
    assert_eq!(container_status(&format!("{}-blue", app.name)), "running");
    assert!(app.state()["traffic"]["canary"].is_null());
    assert_eq!(split(&app, 20).keys().collect::<Vec<_>>(), ["demo v1"]);
}

#[test]
fn mvk_canary_aborts_a_failing_candidate_at_the_first_step() {
    let app = TestApp::new("cn-bad");
    let v1 = app_image(&app, "v1", &[]);
    swap(&app, &start_candidate(&app, "blue", &v1, &[]), &[]);
    let ctx = app_context(&app, "v2", &[("DEMO_ERROR_RATE", "0.3")]);
    let load = Hey::start(&app.nginx.url("/"), 60);
    let run = run_script(
        &app,
        "mvk-canary",
        &["--release", "v2", ctx.path().to_str().unwrap()],
        &[
            ("MVK_CANARY_WATCH", "5s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
            ("MVK_STOP_TIMEOUT", "2s"),
        ],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("aborting the canary: the analysis at 10 % failed"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(r["swap"]["weight"], 0, "{r}");
    assert_eq!(r["swap"]["candidate_removed"], true);
    assert_eq!(container_status(&format!("{}-green", app.name)), "");
    // The analysis that failed, kept with the others.
    let logs = app.state.path().join(&app.name).join("deploys");
    let dir = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let text = std::fs::read_to_string(dir.join("04-mvk-alerts-10.json"))
        .unwrap_or_else(|e| panic!("{e}: {names:?}\n{}", run.stderr));
    let analysis: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(analysis["analysis"]["passed"], false, "{analysis}");
    assert!(
        analysis["analysis"]["canary"]["error_share"]
            .as_f64()
            .unwrap()
            > 0.1,
        "{analysis}"
    );
    assert!(
        !dir.join("05-mvk-swap-25.json").exists(),
        "went on to the next step"
    );

    // Stop the load now: what the live release answered never failed.
    let o = load.finish();
    eprintln!("{}", o.text);
    assert!(o.errors.is_empty(), "requests failed: {:?}", o.errors);
    assert!(
        o.statuses.keys().all(|s| [200, 500].contains(s)),
        "{:?}",
        o.statuses
    );
    assert_eq!(
        errors_counted(app.blue_port),
        0,
        "the live release failed requests"
    );
    assert_eq!(app.state()["live"]["release"], "v1");
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v1\n".into())));
}

#[test]
fn mvk_canary_promotes_a_good_candidate_without_a_failed_request() {
    let app = TestApp::new("cn-good");
    let v1 = app_image(&app, "v1", &[]);
    swap(&app, &start_candidate(&app, "blue", &v1, &[]), &[]);
    let ctx = app_context(&app, "v2", &[]);
    let load = Hey::start(&app.nginx.url("/"), 60);
    let run = run_script(
        &app,
        "mvk-canary",
        &["--release", "v2", ctx.path().to_str().unwrap()],
        &[
            ("MVK_CANARY_STEPS", "10,50"),
            ("MVK_CANARY_WATCH", "4s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
            ("MVK_DRAIN", "5s"),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["swap"]["live"]["release"], "v2", "{r}");
    assert_eq!(r["swap"]["previous_stopped"], true);
    assert_eq!(app.state()["live"]["release"], "v2");
    assert!(app.state()["traffic"]["canary"].is_null());
    assert_eq!(container_status(&format!("{}-blue", app.name)), "exited");
    assert_eq!(get(&app.nginx.url("/")), Ok((200, "demo v2\n".into())));
    let o = load.finish();
    o.assert_only(&[200], 500);
}

#[test]
fn a_request_in_flight_to_the_canary_finishes_when_it_is_taken_out() {
    use mvk_e2e::sleeping_requests;
    let app = TestApp::new("cn-flight");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    swap(&app, &start_candidate(&app, "blue", &v1, &[]), &[]);
    let candidate = start_candidate(&app, "green", &v2, &[]);
    swap(&app, &candidate, &["--weight", "99"]);
    // A 2-second request through nginx, until one lands on the canary (99 in 100 do).
    let mut in_flight = Vec::new();
    for _ in 0..10 {
        let url = app.nginx.url("/sleep?ms=2000");
        in_flight.push(std::thread::spawn(move || get(&url)));
        let n = in_flight.len();
        mvk_e2e::wait_until(
            "nginx to pass the request on",
            std::time::Duration::from_secs(20),
            || sleeping_requests(app.blue_port) + sleeping_requests(app.green_port) >= n,
        );
        if sleeping_requests(app.green_port) > 0 {
            break;
        }
    }
    assert_eq!(sleeping_requests(app.green_port), 1);
    let r = swap(&app, &candidate, &["--weight", "0"]);
    assert_eq!(r["swap"]["candidate_removed"], true, "{r}");
    let answers: Vec<_> = in_flight.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers.contains(&Ok((200, "demo v2 slept 2000 ms\n".into()))),
        "{answers:?}"
    );
    assert_eq!(container_status(&format!("{}-green", app.name)), "");
    assert_eq!(split(&app, 10).keys().collect::<Vec<_>>(), ["demo v1"]);
}
