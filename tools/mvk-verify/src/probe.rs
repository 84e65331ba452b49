//! Running one check against the target: the request, then status, body, latency and (for
//! https) the certificate, retried with a pause until it passes or the tries run out.

use crate::cert::Tls;
use crate::check::Check;
use mvk_core::{signal, Fail, Progress};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Where the checks go: a base URL (`http://127.0.0.1:8001`, `https://shop.example/app`).
pub struct Target {
    pub base: String,
    pub host: String,
    pub port: u16,
    /// Set for https: the roots and the certificate probe.
    pub tls: Option<Tls>,
}

/// What applies to every check.
pub struct Settings {
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub max_latency: Option<Duration>,
    pub min_cert_days: i64,
    pub headers: Vec<(String, String)>,
}

/// The result of one check: its last try, and how many tries it took.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub method: String,
    pub path: String,
    pub url: String,
    pub status: Option<u16>,
    pub expected: u16,
    pub ms: f64,
    pub attempts: u32,
    /// The server certificate's `notAfter` (Unix seconds) and whole days left, for https.
    pub cert_not_after: Option<i64>,
    pub cert_days: Option<i64>,
    /// Everything that was wrong with the last try; empty when it passed.
    pub problems: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The entry in `verify.checks`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "url": self.url,
            "status": self.status,
            "expected": self.expected,
            "ms": (self.ms * 10.0).round() / 10.0,
            "ok": self.ok(),
            "attempts": self.attempts,
        });
        if self.method != "GET" {
            v["method"] = self.method.clone().into();
        }
        if !self.ok() {
            v["error"] = self.problems.join("; ").into();
        }
        if let (Some(days), Some(not_after)) = (self.cert_days, self.cert_not_after) {
            v["cert_days"] = days.into();
            v["cert_expires"] = mvk_core::time::rfc3339_secs(not_after).into();
        }
        v
    }
}

/// Runs `check`, trying again after a pause while it fails and retries are left.
/// `Err` only when a signal asks us to stop.
pub fn run(
    agent: &ureq::Agent,
    target: &Target,
    check: &Check,
    settings: &Settings,
    progress: &Progress,
) -> Result<Outcome, Fail> {
    let tries = settings.retries + 1;
    let mut attempt = 1;
    loop {
        signal::check()?;
        let mut outcome = once(agent, target, check, settings);
        outcome.attempts = attempt;
        if outcome.ok() || attempt == tries {
            return Ok(outcome);
        }
        progress.say(format!(
            "{} {}: {}; trying again in {} ms (try {} of {tries})",
            check.method,
            outcome.url,
            outcome.problems.join("; "),
            settings.retry_delay.as_millis(),
            attempt + 1,
        ));
        signal::sleep(settings.retry_delay)?;
        attempt += 1;
    }
}

fn once(agent: &ureq::Agent, target: &Target, check: &Check, settings: &Settings) -> Outcome {
    let url = format!("{}{}", target.base, check.path);
    let mut outcome = Outcome {
        method: check.method.clone(),
        path: check.path.clone(),
        url: url.clone(),
        status: None,
        expected: check.status,
        ms: 0.0,
        attempts: 1,
        cert_not_after: None,
        cert_days: None,
        problems: Vec::new(),
    };
    if let Some(tls) = &target.tls {
        let probe = tls.probe(&target.host, target.port, settings.timeout);
        outcome.cert_not_after = probe.not_after;
        outcome.cert_days = probe
            .not_after
            .map(|t| crate::cert::days_left(t, SystemTime::now()));
        if let Some(error) = probe.error {
            // The request would fail the same way; the handshake's own words are clearer.
            outcome.problems.push(error);
            return outcome;
        }
        if let Some(days) = outcome.cert_days.filter(|d| *d < settings.min_cert_days) {
            outcome.problems.push(format!(
                "the certificate expires in {days} days, under --min-cert-days {}",
                settings.min_cert_days
            ));
        }
    }
    let request = match build(agent, target, check, settings, &url) {
        Ok(r) => r,
        Err(e) => {
            outcome.problems.push(e);
            return outcome;
        }
    };
    let started = std::time::Instant::now();
    match mvk_core::http::send(agent, request) {
        Err(e) => {
            outcome.ms = started.elapsed().as_secs_f64() * 1000.0;
            outcome.problems.push(e);
        }
        Ok(reply) => {
            outcome.ms = reply.elapsed.as_secs_f64() * 1000.0;
            outcome.status = Some(reply.status);
            if reply.status != check.status {
                outcome.problems.push(format!(
                    "status {}, expected {}",
                    reply.status, check.status
                ));
            }
            if let Some(re) = check.body.as_ref().filter(|re| !re.is_match(&reply.body)) {
                outcome
                    .problems
                    .push(format!("the body does not match `{re}`"));
            }
            if let Some(max) = check
                .max
                .or(settings.max_latency)
                .filter(|max| reply.elapsed > *max)
            {
                outcome.problems.push(format!(
                    "answered in {:.0} ms, over the {} ms allowed",
                    outcome.ms,
                    max.as_millis()
                ));
            }
        }
    }
    outcome
}

/// The request: `Connection: close`, then `--header`s, then the check's own headers, each
/// replacing an earlier one of the same name.
///
/// A fresh connection per check keeps the checks independent and their times honest: a pooled
/// keep-alive connection can add a delayed-ACK stall (40 ms on Linux) to a server that writes
/// its head and body separately.
fn build(
    agent: &ureq::Agent,
    target: &Target,
    check: &Check,
    settings: &Settings,
    url: &str,
) -> Result<ureq::http::Request<()>, String> {
    let close = ("Connection".to_string(), "close".to_string());
    let mut headers: Vec<&(String, String)> = Vec::new();
    for h in std::iter::once(&close)
        .chain(&settings.headers)
        .chain(&check.headers)
    {
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&h.0));
        headers.push(h);
    }
    let mut request = ureq::http::Request::builder()
        .method(check.method.as_str())
        .uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    Ok(match &target.tls {
        Some(tls) => agent
            .configure_request(request)
            .tls_config(tls.ureq_config().clone())
            .build(),
        None => request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::parse_spec;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A loopback server answering each connection with the next canned reply, and reporting
    /// each request's head.
    fn serve(replies: Vec<&'static str>) -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for reply in replies {
                let (mut s, _) = listener.accept().unwrap();
                let mut head = String::new();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let _ = tx.send(head);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        (port, rx)
    }

    fn target(port: u16) -> Target {
        Target {
            base: format!("http://127.0.0.1:{port}"),
            host: "127.0.0.1".into(),
            port,
            tls: None,
        }
    }

    fn settings() -> Settings {
        Settings {
            timeout: Duration::from_secs(2),
            retries: 0,
            retry_delay: Duration::from_millis(10),
            max_latency: None,
            min_cert_days: 14,
            headers: vec![
                ("Host".into(), "shop.example".into()),
                ("X-A".into(), "1".into()),
            ],
        }
    }

    const OK: &str =
        "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nall is well";
    const DOWN: &str =
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    #[test]
    fn checks_status_and_body_and_sends_headers() {
        let (port, heads) = serve(vec![OK, OK]);
        let agent = mvk_core::http::agent(Duration::from_secs(2));
        let quiet = Progress::new("mvk-verify", true);
        let mut check = parse_spec("/health~well$").unwrap();
        check.headers.push(("x-a".into(), "2".into()));
        let out = run(&agent, &target(port), &check, &settings(), &quiet).unwrap();
        assert!(out.ok(), "{:?}", out.problems);
        assert_eq!(out.status, Some(200));
        let head = heads.recv().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /health http/1.1"), "{head}");
        assert!(head.contains("host: shop.example"), "{head}");
        assert!(
            head.contains("x-a: 2") && !head.contains("x-a: 1"),
            "the check's header wins: {head}"
        );
        assert!(head.contains("connection: close"), "{head}");

        let out = run(
            &agent,
            &target(port),
            &parse_spec("/=204~sick").unwrap(),
            &settings(),
            &quiet,
        )
        .unwrap();
        assert_eq!(
            out.problems,
            ["status 200, expected 204", "the body does not match `sick`"]
        );
        let v = out.to_json();
        assert_eq!(v["ok"], false);
        assert_eq!(
            v["error"],
            "status 200, expected 204; the body does not match `sick`"
        );
        assert!(v.get("cert_days").is_none() && v.get("method").is_none());
    }

    #[test]
    fn retries_until_it_passes_or_the_tries_run_out() {
        let agent = mvk_core::http::agent(Duration::from_secs(2));
        let quiet = Progress::new("mvk-verify", true);
        let mut s = settings();
        s.retries = 2;
        let (port, _) = serve(vec![DOWN, OK]);
        let out = run(&agent, &target(port), &Check::get("/health"), &s, &quiet).unwrap();
        assert!(out.ok());
        assert_eq!(out.attempts, 2);
        let (port, _) = serve(vec![DOWN, DOWN, DOWN]);
        let out = run(&agent, &target(port), &Check::get("/health"), &s, &quiet).unwrap();
        assert_eq!((out.ok(), out.attempts, out.status), (false, 3, Some(503)));
    }

    #[test]
    fn refused_and_latency() {
        let agent = mvk_core::http::agent(Duration::from_secs(2));
        let quiet = Progress::new("mvk-verify", true);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = run(&agent, &target(port), &Check::get("/"), &settings(), &quiet).unwrap();
        assert_eq!(out.problems, ["connection refused"]);
        assert_eq!(out.to_json()["status"], Value::Null);

        let (port, _) = serve(vec![OK]);
        let mut s = settings();
        s.max_latency = Some(Duration::ZERO);
        let out = run(&agent, &target(port), &Check::get("/"), &s, &quiet).unwrap();
        assert!(out.problems[0].contains("ms allowed"), "{:?}", out.problems);
    }
}
