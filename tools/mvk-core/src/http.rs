//! Plain HTTP GETs on loopback: health probes, scrapes, endpoint checks.

use std::time::{Duration, Instant};

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

/// The largest answer read (a health check, a scrape, a Prometheus query): beyond it the
/// request fails, saying so, instead of filling memory.
pub const MAX_BODY: u64 = 16 << 20;

/// An agent that reports every status as a status (no error for 4xx/5xx) and follows no
/// redirects, so a probe sees the 301 an app sends rather than where it points.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    )
}

/// GETs `url`; `Err` says why no answer came (refused, timed out, reset).
pub fn get(agent: &ureq::Agent, url: &str, headers: &[(String, String)]) -> Result<Reply, String> {
    let mut req = ureq::http::Request::get(url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    send(agent, req.body(()).map_err(|e| e.to_string())?)
}

/// Sends a request of any method (built with `ureq::http::Request`, perhaps configured with
/// `agent.configure_request`) and reads the answer, as [`get`] does.
pub fn send(agent: &ureq::Agent, request: ureq::http::Request<()>) -> Result<Reply, String> {
    let start = Instant::now();
    let mut resp = agent.run(request).map_err(describe)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(describe)?;
    Ok(Reply {
        status,
        body,
        elapsed: start.elapsed(),
    })
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::BodyExceedsLimit(_) => {
            format!(
                "answered with more than {} MiB, the most read",
                MAX_BODY >> 20
            )
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn reports_status_body_and_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown").unwrap();
            req
        });
        let a = agent(Duration::from_secs(2));
        let reply = get(
            &a,
            &format!("http://127.0.0.1:{port}/health"),
            &[("X-A".into(), "1".into())],
        )
        .unwrap();
        assert_eq!(reply.status, 503);
        assert_eq!(reply.body, "down");
        let req = server.join().unwrap();
        assert!(req.to_ascii_lowercase().contains("x-a: 1"), "{req}");
        let err = get(&a, &format!("http://127.0.0.1:{port}/"), &[])
            .err()
            .unwrap();
        assert_eq!(err, "connection refused");
    }

    /// Serves one answer with a body of `len` bytes, in chunks.
    fn serve_body(len: u64) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
            );
            let chunk = [b'x'; 1 << 16];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if s.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n as u64;
            }
        });
        port
    }

    #[test]
    fn reads_answers_up_to_16_mib_and_no_more() {
        let a = agent(Duration::from_secs(10));
        let url = |port| format!("http://127.0.0.1:{port}/metrics");
        let reply = get(&a, &url(serve_body(MAX_BODY)), &[]).unwrap();
        assert_eq!(reply.body.len() as u64, MAX_BODY);
        let err = get(&a, &url(serve_body(MAX_BODY + 1)), &[]).err().unwrap();
        assert_eq!(err, "answered with more than 16 MiB, the most read");
    }

    #[test]
    fn sends_any_method() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let request = ureq::http::Request::builder()
            .method("OPTIONS")
            .uri(format!("http://127.0.0.1:{port}/x"))
            .body(())
            .unwrap();
        let reply = send(&agent(Duration::from_secs(2)), request).unwrap();
        assert_eq!(reply.status, 204);
        assert!(server.join().unwrap().starts_with("OPTIONS /x HTTP/1.1"));
    }
}
