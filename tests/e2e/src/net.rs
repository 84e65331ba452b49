//! Ports and plain HTTP on loopback.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nothing listens on, never handed out twice in this process, and below the
/// kernel's ephemeral range: a port from that range (what binding port 0 gives) can be taken
/// as the local port of any client connection, a load test's among them, before the
/// container or nginx it was handed to binds it.
pub fn free_port() -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap();
    let handed = handed.get_or_insert_with(HashSet::new);
    let (low, high) = (10_000u32, ephemeral_low().max(12_000));
    // A different sequence in each test process (pid and clock), xorshift from there.
    let mut x = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos())
        | 1;
    loop {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = (low + x % (high - low)) as u16;
        if !handed.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.insert(port);
            return port;
        }
    }
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Waits until something accepts connections on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The demo app's `/sleep` requests in flight on `127.0.0.1:port` (its
/// `demo_sleeping_requests` gauge): shows that nginx has passed a long request on to it.
pub fn sleeping_requests(port: u16) -> usize {
    get(&format!("http://127.0.0.1:{port}/metrics"))
        .ok()
        .and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix("demo_sleeping_requests "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Requests the demo app on `127.0.0.1:port` has answered (the sum of its
/// `http_requests_total`; 0 when it does not answer): shows that traffic reaches it.
pub fn requests_answered(port: u16) -> u64 {
    get(&format!("http://127.0.0.1:{port}/metrics"))
        .map(|(_, body)| {
            body.lines()
                .filter(|l| l.starts_with("http_requests_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// Waits until the demo apps on `ports` have answered `n` more requests between them than
/// now: the load reaches them.
pub fn wait_for_requests(ports: &[u16], n: u64) {
    let answered = || ports.iter().map(|p| requests_answered(*p)).sum::<u64>();
    let before = answered();
    crate::wait_until(
        &format!("{n} more requests to :{ports:?}"),
        Duration::from_secs(60),
        || answered() >= before + n,
    );
}

/// Established TCP connections to `127.0.0.1:port`, as `ss` lists them.
pub fn established_to(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htn", "state", "established"])
        .arg(format!("( dport = :{port} )"))
        .output()
        .expect("run ss (iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A GET over HTTP/1.0: `(status, body)`, or `Err` when nothing answered.
pub fn get(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(host).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
