//! A small HTTP/1.1 server: a thread per connection, keep-alive, and a graceful stop that
//! finishes the requests in flight.

use crate::config::Config;
use crate::metrics::Metrics;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub static STOPPING: AtomicBool = AtomicBool::new(false);

pub struct App {
    pub config: Config,
    pub metrics: Metrics,
    pub started: Instant,
    /// App requests served so far, to fail exactly `error_rate` of them.
    served: AtomicU64,
    connections: AtomicUsize,
    /// `/sleep` requests in flight (`demo_sleeping_requests` in `/metrics`), so a test sees
    /// its long request arrive instead of sleeping and hoping.
    sleeping: AtomicUsize,
}

impl App {
    pub fn new(config: Config) -> App {
        App {
            config,
            metrics: Metrics::default(),
            started: Instant::now(),
            served: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
        }
    }
}

pub fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    while !STOPPING.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let app = app.clone();
                app.connections.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = connection(&app, stream);
                    app.connections.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
    drop(listener);
    eprintln!(
        "demo-app {}: stopping, finishing requests in flight",
        app.config.version
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("demo-app {}: stopped", app.config.version);
    Ok(())
}

struct Request {
    path: String,
    query: String,
    keep_alive: bool,
    /// `Sec-WebSocket-Key` of an `Upgrade: websocket` request.
    websocket_key: Option<String>,
}

fn connection(app: &App, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // Wake up now and then while idle, to close kept-alive connections when stopping.
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        if let (Some(key), "/ws") = (&req.websocket_key, req.path.as_str()) {
            let buffered = reader.buffer().to_vec();
            return crate::websocket::serve(&app.config.version, out, key, buffered);
        }
        if req.path == "/events" {
            return events(&app.config.version, out);
        }
        let start = Instant::now();
        let (status, content_type, body) = respond(app, &req);
        let took = start.elapsed();
        if req.path != "/metrics" {
            app.metrics.observe(status, took);
        }
        let keep_alive = req.keep_alive && !STOPPING.load(Ordering::SeqCst);
        // One write: on a kept-alive connection a second small write waits for the ACK of the
        // first (Nagle), which the peer delays by up to 40 ms.
        let answer = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n{body}",
            reason(status),
            body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        out.write_all(answer.as_bytes())?;
        out.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// `/events`: server-sent events, `data: demo <version>` every second, until the app stops:
/// then a last `event: bye` and the end of the stream (an EventSource reconnects).
fn events(version: &str, mut out: TcpStream) -> std::io::Result<()> {
    // X-Accel-Buffering: nginx passes each event on at once instead of buffering them.
    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\nx-accel-buffering: no\r\nconnection: close\r\n\r\n")?;
    let mut next = Instant::now();
    while !STOPPING.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            write!(out, "data: demo {version}\n\n")?;
            out.flush()?;
            next += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out.write_all(b"event: bye\ndata: going away\n\n")?;
    out.flush()
}

/// Reads one request head (and skips its body); `None` when the peer is done or we stop.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut lines = Vec::new();
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {
                if line == "\r\n" || line == "\n" {
                    if lines.is_empty() {
                        line.clear();
                        continue;
                    }
                    break;
                }
                lines.push(std::mem::take(&mut line));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // Idle between requests: leave when stopping; mid-request: keep reading.
                if lines.is_empty() && line.is_empty() && STOPPING.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    let mut first = lines[0].split_whitespace();
    let _method = first.next().unwrap_or("");
    let target = first.next().unwrap_or("/").to_string();
    let version = first.next().unwrap_or("HTTP/1.0");
    let header = |name: &str| {
        lines[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    let websocket_key = match header("upgrade").as_deref() {
        Some("websocket") => lines[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        }),
        _ => None,
    };
    let keep_alive = match header("connection").as_deref() {
        Some("close") => false,
        Some("keep-alive") => true,
        _ => version == "HTTP/1.1",
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink())?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Ok(Some(Request {
        path,
        query,
        keep_alive,
        websocket_key,
    }))
}

fn respond(app: &App, req: &Request) -> (u16, &'static str, String) {
    let c = &app.config;
    match req.path.as_str() {
        "/health" if c.unhealthy => (503, "text/plain", "unhealthy\n".into()),
        "/health" => (200, "text/plain", "ok\n".into()),
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            format!(
                "{}# TYPE demo_sleeping_requests gauge\ndemo_sleeping_requests {}\n{}",
                app.metrics.render(),
                app.sleeping.load(Ordering::SeqCst),
                c.metrics_line
                    .as_ref()
                    .map_or(String::new(), |l| format!("{l}\n"))
            ),
        ),
        path => {
            if !c.slow.is_zero() {
                std::thread::sleep(c.slow);
            }
            if fails(app) {
                return (
                    500,
                    "text/plain",
                    format!("demo {} failed this request\n", c.version),
                );
            }
            match path {
                "/" => (200, "text/plain", format!("demo {}\n", c.version)),
                "/api/v1/status" => (
                    200,
                    "application/json",
                    format!(
                        "{{\"app\":\"demo\",\"version\":\"{}\",\"uptime_seconds\":{:.3}}}\n",
                        c.version,
                        app.started.elapsed().as_secs_f64()
                    ),
                ),
                "/sleep" => {
                    // A long request, to have something in flight during a swap.
                    let ms = req
                        .query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("ms="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1000);
                    app.sleeping.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(ms));
                    app.sleeping.fetch_sub(1, Ordering::SeqCst);
                    (
                        200,
                        "text/plain",
                        format!("demo {} slept {ms} ms\n", c.version),
                    )
                }
                _ => (404, "text/plain", "not found\n".into()),
            }
        }
    }
}

/// Fails request n exactly when the running share of failures would fall behind the rate.
fn fails(app: &App) -> bool {
    let rate = app.config.error_rate;
    if rate <= 0.0 {
        return false;
    }
    let n = app.served.fetch_add(1, Ordering::SeqCst) + 1;
    (n as f64 * rate).floor() > ((n - 1) as f64 * rate).floor()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// `demo-app healthcheck`: the image's HEALTHCHECK, since scratch has no curl.
pub fn healthcheck(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}
