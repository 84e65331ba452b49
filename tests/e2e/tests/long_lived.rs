//! Long-lived connections across a deploy: 50 WebSocket clients connected through nginx to the
//! old release stay connected until the drain deadline, are then closed properly by the old
//! app (1001 on SIGTERM), and reconnect to the new release; mvk-swap reports them.

use mvk_e2e::{app_image, start_candidate, Ending, TestApp, WsClient};
use std::time::Duration;

const CLIENTS: usize = 50;

#[test]
fn websockets_are_closed_properly_at_the_drain_deadline_and_reconnect_to_the_new_release() {
    let app = TestApp::new("ws-swap");
    let v1 = app_image(&app, "v1", &[]);
    let v2 = app_image(&app, "v2", &[]);
    let first = start_candidate(&app, "blue", &v1, &[]);
    let run = app.run("mvk-swap", &[], &[], &format!("{first}\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);

    let port = app.nginx.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (mut c, hello) = WsClient::connect(port, "/ws").expect("connect through nginx");
            assert_eq!(hello, "hello demo v1");
            std::thread::spawn(move || {
                let ending = c.wait_end(Duration::from_secs(60));
                // Reconnect as a browser would, and see who answers.
                let again = WsClient::connect(port, "/ws").map(|(c, hello)| (hello, c.close()));
                (ending, again)
            })
        })
        .collect();

    let record = start_candidate(&app, "green", &v2, &[]);
    let run = app.run(
        "mvk-swap",
        &[],
        &[("MVK_DRAIN", "3s"), ("MVK_STOP_TIMEOUT", "10s")],
        &format!("{record}\n"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    let sw = &r["swap"];
    assert_eq!(
        sw["drained"], false,
        "the WebSockets kept the old workers: {sw}"
    );
    let drained = sw["drained_seconds"].as_f64().unwrap();
    assert!((2.9..4.0).contains(&drained), "drained_seconds {drained}");
    let ll = &sw["long_lived"];
    eprintln!("long_lived: {ll}");
    assert_eq!(ll["open_at_deadline"], CLIENTS, "{ll}");
    assert_eq!(ll["closed_by_app"], CLIENTS, "{ll}");
    assert_eq!(ll["cut_by_sigkill"], 0);
    assert_eq!(ll["still_open"], 0);
    assert_eq!(ll["old_workers_left"], 0);

    let mut endings = std::collections::BTreeMap::new();
    for t in clients {
        let (ending, again) = t.join().unwrap();
        assert_eq!(ending, Ending::Closed(1001), "abnormal closure");
        let (hello, closed) = again.expect("reconnect");
        assert_eq!(hello, "hello demo v2", "reconnected to the old release");
        assert_eq!(closed, Ending::Closed(1000));
        *endings.entry(format!("{ending:?}")).or_insert(0) += 1;
    }
    eprintln!("{CLIENTS} clients: {endings:?}, all reconnected to v2");
}
