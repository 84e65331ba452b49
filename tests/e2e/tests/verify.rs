//! mvk-verify against the real demo app in Docker: passing and failing checks, retries,
//! timeouts, certificates served by the test's own nginx, the textfile (checked by promtool),
//! bad input, and the record rules.

use mvk_e2e::{free_port, run_tool, DemoContainer, DemoImage, Nginx, Run, TempDir, TestCa};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn unique(label: &str) -> String {
    format!("e2e-verify-{label}-{}", std::process::id())
}

/// A running demo app (its own image and container, removed on drop).
struct Demo {
    container: DemoContainer,
    _image: DemoImage,
}

impl Demo {
    fn start(label: &str, env: &[(&str, &str)]) -> Demo {
        let name = unique(label);
        let image = DemoImage::build(&format!("{name}:v1"), &[("DEMO_VERSION", "v1")]);
        let container = DemoContainer::run(&image.tag, &name, env);
        assert!(
            container.wait_answering(Duration::from_secs(15)),
            "{}",
            container.logs()
        );
        Demo {
            container,
            _image: image,
        }
    }

    fn port(&self) -> u16 {
        self.container.port
    }

    fn url(&self) -> String {
        self.container.url("")
    }
}

fn verify(args: &[&str], stdin: &str) -> Run {
    run_tool("mvk-verify", args, &[], stdin)
}

/// A record as mvk-swap leaves it, with the live slot on `port` and a field of the user's.
fn live_record(app: &str, port: u16) -> String {
    json!({
        "schema": "mvk.release/v1", "app": app, "release": "abc1234", "image": format!("{app}:abc1234"),
        "swap": {"live": {"slot": "green", "port": port, "release": "abc1234"}},
        "x-team": {"owner": "ops"},
        "steps": [{"tool": "mvk-swap", "ok": true, "started_at": "2026-11-26T14:00:00Z", "seconds": 1.0}],
        "error": null
    })
    .to_string()
}

fn checks(run: &Run) -> Vec<Value> {
    run.record()["verify"]["checks"].as_array().unwrap().clone()
}

/// `promtool check metrics` on a textfile, and no sample carries a timestamp.
fn assert_valid_textfile(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .expect("run promtool (is it installed?)");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics {}: {}{}\n{text}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value_part = line.rsplit_once('}').map_or(line, |(_, rest)| rest);
        assert_eq!(
            value_part.split_whitespace().count(),
            1,
            "a sample with a timestamp: {line}"
        );
    }
}

fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line[series.len()..].trim().parse().unwrap()
}

#[test]
fn defaults_pass_in_record_mode_and_the_textfile_passes_promtool() {
    let demo = Demo::start("defaults", &[]);
    let app = unique("defaults");
    let dir = TempDir::new("textfile");
    let run = verify(
        &["--textfile-dir", dir.path().to_str().unwrap()],
        &live_record(&app, demo.port()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["x-team"]["owner"], "ops", "unknown fields are kept");
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(r["verify"]["target"], demo.url());
    let urls: Vec<Value> = checks(&run).iter().map(|c| c["url"].clone()).collect();
    let want: Vec<Value> = ["/health", "/api/v1/status", "/metrics"]
        .iter()
        .map(|p| demo.container.url(p).into())
        .collect();
    assert_eq!(urls, want);
    for c in checks(&run) {
        assert_eq!(
            (
                c["status"].as_u64(),
                c["expected"].as_u64(),
                c["ok"].as_bool()
            ),
            (Some(200), Some(200), Some(true)),
            "{c}"
        );
        assert!(
            c["ms"].as_f64().unwrap() > 0.0
                && c.get("error").is_none()
                && c.get("cert_days").is_none(),
            "{c}"
        );
    }
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[1]["tool"].as_str(), steps[1]["ok"].as_bool()),
        (Some("mvk-verify"), Some(true))
    );
    assert!(r["error"].is_null());
    assert!(
        run.stderr.contains("mvk-verify: 3 checks passed on "),
        "{}",
        run.stderr
    );

    let file = dir.join(&format!("mvk_verify_{app}.prom"));
    assert_valid_textfile(&file);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        sample(&text, &format!("mvk_verify_success{{app=\"{app}\"}}")),
        1.0
    );
    for path in ["/health", "/api/v1/status", "/metrics"] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    "mvk_verify_check_success{{app=\"{app}\",method=\"GET\",path=\"{path}\"}}"
                )
            ),
            1.0
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = sample(
        &text,
        &format!("mvk_verify_last_run_timestamp_seconds{{app=\"{app}\"}}"),
    );
    assert!((now - last).abs() < 600.0, "last run {last}, now {now}");
    assert!(
        sample(
            &text,
            &format!("mvk_verify_duration_seconds{{app=\"{app}\"}}")
        ) > 0.0
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "only the .prom file is left: {names:?}");
}

#[test]
fn standalone_url_mode_writes_only_the_verify_object() {
    let demo = Demo::start("standalone", &[]);
    let run = verify(
        &[
            "--url",
            &format!("{}/", demo.url()),
            "--check",
            "/",
            "--check",
            "/nope=404",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(
        r.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["verify"],
        "{r}"
    );
    assert_eq!(
        r["verify"]["target"],
        demo.url(),
        "the trailing slash is dropped"
    );
    assert_eq!(checks(&run)[1]["status"], 404);
    assert_eq!(checks(&run)[1]["expected"], 404);
    assert_eq!(checks(&run)[1]["ok"], true);
}

#[test]
fn url_wins_over_the_record_live_slot() {
    let demo = Demo::start("urlwins", &[]);
    let app = unique("urlwins");
    // The record's live slot has nothing on it; --url (the public front, say) is checked.
    let run = verify(
        &["--url", &demo.url(), "--check", "/health"],
        &live_record(&app, free_port()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["verify"]["target"], demo.url());
    assert_eq!(r["app"], app.as_str());
    assert_eq!(r["steps"][1]["tool"], "mvk-verify");
}

#[test]
fn a_wrong_status_and_a_body_regex_miss_fail_the_step() {
    let demo = Demo::start("wrong", &[("DEMO_UNHEALTHY", "1")]);
    let app = unique("wrong");
    let dir = TempDir::new("textfile");
    let run = verify(
        &[
            "--textfile-dir",
            dir.path().to_str().unwrap(),
            "--check",
            "/health",
            "--check",
            r#"/api/v1/status~"version":\s*"v9""#,
            "--check",
            r#"/api/v1/status~"version":\s*"v1""#,
        ],
        &live_record(&app, demo.port()),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["verify"]["ok"], false);
    let c = checks(&run);
    assert_eq!(
        (c[0]["status"].as_u64(), c[0]["ok"].as_bool()),
        (Some(503), Some(false))
    );
    assert_eq!(c[0]["error"], "status 503, expected 200");
    assert_eq!(
        (c[1]["status"].as_u64(), c[1]["ok"].as_bool()),
        (Some(200), Some(false))
    );
    assert_eq!(
        c[1]["error"],
        r#"the body does not match `"version":\s*"v9"`"#
    );
    assert_eq!(c[2]["ok"], true);
    assert_eq!(r["error"]["tool"], "mvk-verify");
    assert_eq!(r["error"]["kind"], "verify");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("2 of 3 checks failed") && msg.contains("GET /health: status 503"),
        "{msg}"
    );
    assert_eq!(r["steps"][1]["ok"], false);
    assert!(
        run.stderr
            .contains("mvk-verify: error: 2 of 3 checks failed"),
        "{}",
        run.stderr
    );

    // The failure is in the textfile too, per path.
    let text = std::fs::read_to_string(dir.join(&format!("mvk_verify_{app}.prom"))).unwrap();
    assert_eq!(
        sample(&text, &format!("mvk_verify_success{{app=\"{app}\"}}")),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("mvk_verify_check_success{{app=\"{app}\",method=\"GET\",path=\"/health\"}}")
        ),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "mvk_verify_check_success{{app=\"{app}\",method=\"GET\",path=\"/api/v1/status\"}}"
            )
        ),
        0.0,
        "one of the two status checks failed"
    );
    assert_valid_textfile(&dir.join(&format!("mvk_verify_{app}.prom")));
}

#[test]
fn a_slow_answer_misses_the_latency_bound() {
    let demo = Demo::start("slow", &[("DEMO_SLOW_MS", "700")]);
    let dir = TempDir::new("checks");
    let file = dir.join("checks.json");
    std::fs::write(
        &file,
        r#"[{"path": "/health", "max_ms": 400},
            {"path": "/api/v1/status", "max_ms": 400, "body_regex": "\"version\""},
            {"path": "/api/v1/status", "max_ms": 5000, "method": "GET", "headers": {"X-Probe": "mvk"}}]"#,
    )
    .unwrap();
    let run = verify(
        &["--url", &demo.url(), "--checks", file.to_str().unwrap()],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = checks(&run);
    assert_eq!(c[0]["ok"], true, "/health is not slowed: {}", c[0]);
    assert_eq!(
        (c[1]["status"].as_u64(), c[1]["ok"].as_bool()),
        (Some(200), Some(false))
    );
    assert!(c[1]["ms"].as_f64().unwrap() >= 700.0, "{}", c[1]);
    let err = c[1]["error"].as_str().unwrap();
    assert!(
        err.starts_with("answered in ") && err.ends_with(" ms, over the 400 ms allowed"),
        "{err}"
    );
    assert_eq!(c[2]["ok"], true, "its own max_ms allows it: {}", c[2]);

    // --max-latency bounds every check without its own max_ms.
    let run = verify(&["--url", &demo.url(), "--max-latency", "400ms"], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let oks: Vec<bool> = checks(&run)
        .iter()
        .map(|c| c["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, [true, false, true], "{}", run.stdout);
}

#[test]
fn connection_refused_is_a_failed_check() {
    let port = free_port();
    let run = verify(
        &[
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--check",
            "/health",
        ],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = &checks(&run)[0];
    assert_eq!(c["error"], "connection refused");
    assert!(c["status"].is_null());
    assert_eq!(run.record()["error"]["kind"], "verify");
}

#[test]
fn a_request_over_the_timeout_fails() {
    let demo = Demo::start("timeout", &[]);
    let run = verify(
        &[
            "--url",
            &demo.url(),
            "--timeout",
            "300ms",
            "--check",
            "/sleep?ms=3000",
            "--check",
            "/health",
        ],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = checks(&run);
    assert_eq!(c[0]["error"], "timed out");
    assert!(c[0]["status"].is_null());
    assert_eq!(c[1]["ok"], true, "the next check still runs");
}

/// A loopback server that answers its first `failures` requests with 503, then 200, and
/// counts the requests.
fn flaky_server(failures: usize, total: usize) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        for n in 0..total {
            let (mut s, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            let reply: &[u8] = if n < failures {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 8\r\nconnection: close\r\n\r\nwarming\n"
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nready\n"
            };
            s.write_all(reply).unwrap();
        }
        total
    });
    (port, handle)
}

#[test]
fn retries_pass_on_the_second_try() {
    let (port, server) = flaky_server(1, 2);
    let url = format!("http://127.0.0.1:{port}");
    let run = verify(
        &[
            "--url",
            &url,
            "--check",
            "/health~ready",
            "--retries",
            "2",
            "--retry-delay",
            "100ms",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let c = &checks(&run)[0];
    assert_eq!(
        (
            c["ok"].as_bool(),
            c["attempts"].as_u64(),
            c["status"].as_u64()
        ),
        (Some(true), Some(2), Some(200))
    );
    assert!(
        run.stderr.contains("/health: status 503, expected 200; the body does not match `ready`; trying again in 100 ms (try 2 of 3)"),
        "{}",
        run.stderr
    );
    server.join().unwrap();

    // Without retries the same server fails the check.
    let (port, server) = flaky_server(1, 1);
    let run = verify(
        &[
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--check",
            "/health",
        ],
        "",
    );
    assert_eq!(run.code, 1);
    assert_eq!(checks(&run)[0]["attempts"], 1);
    server.join().unwrap();
}

#[test]
fn certificate_days_pass_above_and_fail_below_the_bound() {
    let demo = Demo::start("cert", &[]);
    let ca = TestCa::new();
    let app = unique("cert");
    let dir = TempDir::new("textfile");
    let ca_file = ca.cert.to_str().unwrap();

    let month = ca.issue("month", 30);
    let front = Nginx::start_tls(&app, demo.port(), &month.cert, &month.key);
    let url = front.url("");
    assert!(url.starts_with("https://127.0.0.1:"));
    let run = verify(
        &[
            "--url",
            &url,
            "--ca-file",
            ca_file,
            "--min-cert-days",
            "14",
            "--app",
            &app,
            "--textfile-dir",
            dir.path().to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, front.error_log());
    // Whole days left: 30 within the second the certificate was made, 29 after.
    let month_left = |days: f64| days == 29.0 || days == 30.0;
    for c in checks(&run) {
        assert_eq!(c["ok"], true, "{c}");
        assert!(month_left(c["cert_days"].as_f64().unwrap()), "{c}");
    }
    // The record and the textfile carry the certificate's own notAfter.
    let end = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(&month.cert)
        .output()
        .unwrap();
    let end = String::from_utf8(end.stdout).unwrap(); // notAfter=2026-12-26 14:00:00Z
    let end = end.trim().trim_start_matches("notAfter=").replace(' ', "T");
    assert_eq!(checks(&run)[0]["cert_expires"], end.as_str());
    let prom = dir.join(&format!("mvk_verify_{app}.prom"));
    assert_valid_textfile(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    let expiry = sample(
        &text,
        &format!("mvk_verify_cert_expiry_timestamp_seconds{{app=\"{app}\"}}"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(month_left(((expiry - now) / 86_400.0).floor()), "{text}");
    drop(front);

    let week = ca.issue("week", 5);
    let front = Nginx::start_tls(&app, demo.port(), &week.cert, &week.key);
    let url = front.url("");
    let run = verify(
        &["--url", &url, "--ca-file", ca_file, "--check", "/health"],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = &checks(&run)[0];
    let days = c["cert_days"].as_i64().unwrap();
    assert!(days == 4 || days == 5, "{c}");
    assert_eq!(c["status"], 200, "the request itself went through: {c}");
    assert_eq!(
        c["error"],
        format!("the certificate expires in {days} days, under --min-cert-days 14")
    );
    // The bound is the operator's to choose.
    let run = verify(
        &[
            "--url",
            &url,
            "--ca-file",
            ca_file,
            "--check",
            "/health",
            "--min-cert-days",
            "3",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Without the test CA the certificate is not trusted; its days are still reported.
    let run = verify(&["--url", &url, "--check", "/health"], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let c = &checks(&run)[0];
    assert!(c["cert_days"] == 4 || c["cert_days"] == 5, "{c}");
    let err = c["error"].as_str().unwrap();
    assert!(
        err.starts_with("TLS handshake: invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[test]
fn malformed_checks_are_exit_2_and_change_nothing() {
    let app = unique("malformed");
    let dir = TempDir::new("textfile");
    let textfile = dir.path().to_str().unwrap();
    let record = live_record(&app, free_port());
    for (bad, says) in [
        ("health", "invalid value 'health' for '--check <PATH[=STATUS][~REGEX]>': the path `health` must start with `/`"),
        ("/x=99", "`99` after `=` is not an HTTP status"),
        ("/x~(unclosed", "the body regex `(unclosed` is invalid"),
    ] {
        let run = verify(&["--check", bad, "--textfile-dir", textfile], &record);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{bad}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{bad}");
    }
    let file = dir.join("checks.json");
    for (text, says) in [
        (
            "[{\"path\": \"/health\"},\n {\"path\": \"/x\" \"status\": 200}]",
            "expected `,` or `}` at line 2 column 16",
        ),
        (
            "[{\"path\": \"/health\"}, {\"path\": \"/x\", \"status\": 999}]",
            "check 2 (`/x`): status 999 is not an HTTP status",
        ),
        (
            "[{\"path\": \"/health\", \"regex\": \"x\"}]",
            "unknown field `regex`",
        ),
        ("[]", "the list holds no checks"),
    ] {
        std::fs::write(&file, text).unwrap();
        let run = verify(
            &[
                "--checks",
                file.to_str().unwrap(),
                "--textfile-dir",
                textfile,
            ],
            &record,
        );
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        let expected = format!("mvk-verify: error: --checks {}: ", file.display());
        assert!(
            run.stderr.contains(&expected) && run.stderr.contains(says),
            "{text}: {}",
            run.stderr
        );
        let r = run.record();
        assert_eq!(
            (r["error"]["kind"].as_str(), r["error"]["tool"].as_str()),
            (Some("bad-input"), Some("mvk-verify"))
        );
        assert!(r.get("verify").is_none(), "no check ran: {r}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["checks.json"], "no textfile was written");
}

#[test]
fn bad_targets_and_records_are_exit_2_and_a_failed_record_passes_through() {
    // No record and no --url.
    let run = verify(&[], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("nothing to verify: no release record on stdin and no --url"),
        "{}",
        run.stderr
    );

    // A record without a live slot names the field.
    let app = unique("nolive");
    let record =
        json!({"schema": "mvk.release/v1", "app": app, "steps": [], "error": null}).to_string();
    let run = verify(&[], &record);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("field `swap.live.port` is missing from the release record"),
        "{}",
        run.stderr
    );
    assert_eq!(run.record()["error"]["kind"], "bad-input");

    for (url, says) in [
        ("ftp://127.0.0.1", "use an http:// or https:// URL"),
        ("127.0.0.1:8000", "use an http:// or https:// URL"),
        ("http://127.0.0.1:1/?x=1", "takes no query"),
        (
            "http://ops:s3cret@127.0.0.1:1",
            "credentials in the URL would land in the record",
        ),
    ] {
        let run = verify(&["--url", url], "");
        assert_eq!(run.code, 2, "{url}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{url}: {}", run.stderr);
        assert!(
            !run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"),
            "{}{}",
            run.stdout,
            run.stderr
        );
    }

    // --textfile-dir needs a directory, and an app name without a record.
    let run = verify(
        &[
            "--url",
            "http://127.0.0.1:1",
            "--textfile-dir",
            "/nonexistent/dir",
            "--app",
            "shop",
        ],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--textfile-dir /nonexistent/dir is not a directory"),
        "{}",
        run.stderr
    );
    let dir = TempDir::new("textfile");
    let run = verify(
        &[
            "--url",
            "http://127.0.0.1:1",
            "--textfile-dir",
            dir.path().to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("needs --app"), "{}", run.stderr);
    let run = verify(
        &[
            "--textfile-dir",
            dir.path().to_str().unwrap(),
            "--app",
            "other",
        ],
        &live_record(&app, 1),
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("names another app than the record's"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A record an earlier step failed goes on untouched, exit 3.
    let failed = json!({
        "schema": "mvk.release/v1", "app": app, "steps": [],
        "error": {"tool": "mvk-swap", "kind": "nginx", "message": "nginx -t failed"}
    })
    .to_string();
    let run = verify(&["--url", "http://127.0.0.1:1"], &failed);
    assert_eq!(run.code, 3);
    assert_eq!(run.stdout, format!("{failed}\n"));
}

#[test]
fn sigterm_mid_check_is_exit_130_and_writes_no_textfile() {
    let demo = Demo::start("sigterm", &[]);
    let app = unique("sigterm");
    let dir = TempDir::new("textfile");
    let textfile_dir = dir.path().display().to_string();
    let args = [
        "--check",
        "/sleep?ms=1500",
        "--check",
        "/health",
        "--textfile-dir",
        &textfile_dir,
    ];
    let child = mvk_e2e::spawn_tool("mvk-verify", &args, &[], &live_record(&app, demo.port()));
    mvk_e2e::wait_until(
        "the check to reach the app",
        Duration::from_secs(20),
        || mvk_e2e::sleeping_requests(demo.port()) > 0,
    );
    mvk_e2e::signal(&child, nix::sys::signal::Signal::SIGTERM);
    let run = mvk_e2e::finish(child);
    assert_eq!(run.code, 130, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "interrupted");
    assert!(r.get("verify").is_none());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no textfile from an interrupted run"
    );
}
