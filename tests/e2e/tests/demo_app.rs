//! The demo app's image and each behaviour switch, run as a real container.

use mvk_e2e::{docker, get, sleeping_requests, wait_until, DemoContainer, DemoImage};
use std::time::{Duration, Instant};

fn unique(label: &str) -> String {
    format!("e2e-demo-{label}-{}", std::process::id())
}

#[test]
fn image_is_small_non_root_with_exec_healthcheck() {
    let image = DemoImage::build(&format!("{}:v1", unique("img")), &[]);
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &image.tag])
        .unwrap()
        .parse()
        .unwrap();
    assert!(size < 10 * 1024 * 1024, "image is {size} bytes");
    let user = docker(&["image", "inspect", "-f", "{{.Config.User}}", &image.tag]).unwrap();
    assert!(
        !user.is_empty() && !user.starts_with("root") && !user.starts_with("0"),
        "user {user:?}"
    );
    let test = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck.Test}}",
        &image.tag,
    ])
    .unwrap();
    assert!(
        test.starts_with("[\"CMD\",\"/demo-app\""),
        "healthcheck {test}"
    );
}

#[test]
fn serves_version_status_metrics_and_becomes_healthy() {
    let name = unique("serve");
    let image = DemoImage::build(&format!("{name}:v7"), &[("DEMO_VERSION", "v7")]);
    let c = DemoContainer::run(&image.tag, &name, &[]);
    assert!(c.wait_answering(Duration::from_secs(10)), "{}", c.logs());
    assert_eq!(get(&c.url("/")).unwrap(), (200, "demo v7\n".into()));
    let (status, body) = get(&c.url("/api/v1/status")).unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], "v7");
    let (status, metrics) = get(&c.url("/metrics")).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("http_requests_total{status=\"200\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{le=\"+Inf\"} "),
        "{metrics}"
    );
    assert_eq!(get(&c.url("/nope")).unwrap().0, 404);
    let end = Instant::now() + Duration::from_secs(15);
    while c.inspect("{{.State.Health.Status}}") != "healthy" {
        assert!(
            Instant::now() < end,
            "never healthy: {}",
            c.inspect("{{json .State.Health}}")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn crash_at_start_exits_with_a_message() {
    let name = unique("crash");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_CRASH", "database is gone")]);
    let end = Instant::now() + Duration::from_secs(10);
    while c.inspect("{{.State.Status}}") != "exited" {
        assert!(
            Instant::now() < end,
            "still {}",
            c.inspect("{{.State.Status}}")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "3");
    assert!(c.logs().contains("fatal: database is gone"), "{}", c.logs());
}

#[test]
fn start_delay_holds_the_port_back() {
    let name = unique("slowstart");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let start = Instant::now();
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_START_DELAY_MS", "2000")]);
    assert!(c.wait_answering(Duration::from_secs(15)), "{}", c.logs());
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "answered after {:?}",
        start.elapsed()
    );
}

#[test]
fn unhealthy_never_passes_health() {
    let name = unique("unhealthy");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_UNHEALTHY", "1")]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    assert_eq!(get(&c.url("/health")).unwrap().0, 503);
    assert_eq!(get(&c.url("/")).unwrap().0, 200);
    let end = Instant::now() + Duration::from_secs(15);
    while c.inspect("{{.State.Health.Status}}") != "unhealthy" {
        assert!(Instant::now() < end, "docker never saw it unhealthy");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn error_rate_fails_that_share_of_app_requests() {
    let name = unique("errors");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_ERROR_RATE", "0.3")]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    let failed = (0..100)
        .filter(|_| get(&c.url("/")).unwrap().0 == 500)
        .count();
    assert_eq!(failed, 30);
    assert_eq!(
        get(&c.url("/health")).unwrap().0,
        200,
        "health is never failed"
    );
    let metrics = get(&c.url("/metrics")).unwrap().1;
    assert!(
        metrics.contains("http_requests_total{status=\"500\"} 30\n"),
        "{metrics}"
    );
}

#[test]
fn slow_answers_take_that_long_and_land_in_the_histogram() {
    let name = unique("slow");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_SLOW_MS", "600")]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    let start = Instant::now();
    assert_eq!(get(&c.url("/api/v1/status")).unwrap().0, 200);
    assert!(start.elapsed() >= Duration::from_millis(600));
    let metrics = get(&c.url("/metrics")).unwrap().1;
    // The one slow request is above 0.5 s and within 1 s.
    let bucket = |le: &str| {
        let key = format!("http_request_duration_seconds_bucket{{le=\"{le}\"}} ");
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&key))
            .unwrap()
            .to_string();
        line[key.len()..].parse::<u64>().unwrap()
    };
    assert_eq!(bucket("1") - bucket("0.5"), 1, "{metrics}");
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits() {
    let name = unique("graceful");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    let url = c.url("/sleep?ms=1500");
    let inflight = std::thread::spawn(move || get(&url));
    wait_until("the request to arrive", Duration::from_secs(20), || {
        sleeping_requests(c.port) > 0
    });
    let start = Instant::now();
    docker(&["stop", "-t", "10", &c.name]).unwrap();
    let stopped_after = start.elapsed();
    assert_eq!(
        inflight.join().unwrap().unwrap().0,
        200,
        "the request in flight was cut"
    );
    assert!(
        stopped_after >= Duration::from_millis(900),
        "stopped too soon: {stopped_after:?}"
    );
    assert!(
        stopped_after < Duration::from_secs(9),
        "waited for SIGKILL: {stopped_after:?}"
    );
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0");
}

#[test]
fn ignore_sigterm_needs_a_kill() {
    let name = unique("stubborn");
    let image = DemoImage::build(&format!("{name}:v1"), &[]);
    let c = DemoContainer::run(&image.tag, &name, &[("DEMO_IGNORE_SIGTERM", "1")]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    let start = Instant::now();
    docker(&["stop", "-t", "1", &c.name]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "137");
}

#[test]
fn websocket_and_events_end_properly_on_sigterm() {
    let name = unique("longlived");
    let image = DemoImage::build(&format!("{name}:v1"), &[("DEMO_VERSION", "v1")]);
    let c = DemoContainer::run(&image.tag, &name, &[]);
    assert!(c.wait_answering(Duration::from_secs(10)));
    let (mut ws, hello) = mvk_e2e::WsClient::connect(c.port, "/ws").unwrap();
    assert_eq!(hello, "hello demo v1");
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", c.port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    std::io::Write::write_all(&mut sse, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (first_event, seen) = std::sync::mpsc::channel();
    let events = std::thread::spawn(move || {
        let mut text = String::new();
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = std::io::Read::read(&mut sse, &mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.contains("data: demo v1\n\n") {
                let _ = first_event.send(());
            }
        }
        text
    });
    // The stream is open and has sent its first event before the stop.
    seen.recv_timeout(Duration::from_secs(20))
        .expect("the event stream sent nothing");
    let stopping = std::thread::spawn({
        let name = c.name.clone();
        move || docker(&["stop", "-t", "10", &name])
    });
    assert_eq!(
        ws.wait_end(Duration::from_secs(10)),
        mvk_e2e::Ending::Closed(1001)
    );
    stopping.join().unwrap().unwrap();
    let text = events.join().unwrap();
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("\r\n\r\ndata: demo v1\n\n"), "{text}");
    assert!(text.ends_with("event: bye\ndata: going away\n\n"), "{text}");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0");
}
