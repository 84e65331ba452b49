//! A WebSocket client for the tests of long-lived connections: the handshake, the server's
//! greeting, and how the connection ended — a close frame and its code, or an abnormal end
//! (1006: EOF or a reset without a close frame).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct WsClient {
    stream: TcpStream,
    input: Vec<u8>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// A close frame with this code (answered with a close of our own).
    Closed(u16),
    /// No close frame: 1006 in the protocol's terms.
    Abnormal(String),
    /// Still open when the wait ended.
    Open,
}

impl WsClient {
    /// Connects to `ws://127.0.0.1:<port><path>` and returns the client and the server's
    /// first text message.
    pub fn connect(port: u16, path: &str) -> Result<(WsClient, String), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut c = WsClient {
            stream,
            input: Vec::new(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        let head_end = loop {
            if let Some(i) = c.input.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if Instant::now() > end || !c.fill()? {
                return Err(format!(
                    "no handshake answer: {:?}",
                    String::from_utf8_lossy(&c.input)
                ));
            }
        };
        let head = String::from_utf8_lossy(&c.input[..head_end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") || !head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
            return Err(format!("not upgraded: {head}"));
        }
        c.input.drain(..head_end);
        match c.next_frame(Duration::from_secs(10))? {
            Some((0x1, text)) => Ok((c, String::from_utf8_lossy(&text).into_owned())),
            other => Err(format!("no greeting: {other:?}")),
        }
    }

    /// Reads more input; false at EOF.
    fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(true),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The next server frame (opcode, payload) within `wait`; `None` when none came.
    fn next_frame(&mut self, wait: Duration) -> Result<Option<(u8, Vec<u8>)>, String> {
        let end = Instant::now() + wait;
        loop {
            if self.input.len() >= 2 {
                let (len, at) = match self.input[1] & 0x7F {
                    126 if self.input.len() >= 4 => (
                        u16::from_be_bytes([self.input[2], self.input[3]]) as usize,
                        4,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.input.len() >= at + len {
                    let opcode = self.input[0] & 0x0F;
                    let payload = self.input[at..at + len].to_vec();
                    self.input.drain(..at + len);
                    return Ok(Some((opcode, payload)));
                }
            }
            if Instant::now() > end {
                return Ok(None);
            }
            if !self.fill()? {
                return Err("EOF".into());
            }
        }
    }

    /// Sends a masked frame, as a client must.
    fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&out).map_err(|e| e.to_string())
    }

    /// Waits up to `wait` for the server to end the connection, answering its close.
    pub fn wait_end(&mut self, wait: Duration) -> Ending {
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.next_frame(left) {
                Ok(Some((0x8, payload))) => {
                    let code = payload
                        .get(..2)
                        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                    let _ = self.send(0x8, &code.to_be_bytes());
                    return Ending::Closed(code);
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ending::Open,
                Err(e) => return Ending::Abnormal(e),
            }
        }
    }

    /// Closes the connection politely (1000) and waits for the server's answer.
    pub fn close(mut self) -> Ending {
        if let Err(e) = self.send(0x8, &1000u16.to_be_bytes()) {
            return Ending::Abnormal(e);
        }
        self.wait_end(Duration::from_secs(5))
    }
}
