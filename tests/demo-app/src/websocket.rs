//! `/ws`: a WebSocket endpoint (RFC 6455), as much as the tests of long-lived connections need.
//! After the handshake the app greets with `hello demo <version>`, echoes text messages,
//! answers pings, and closes properly: it answers a client's close, and when the app is
//! stopping (SIGTERM) it sends close 1001 "going away" itself and waits briefly for the
//! client's close before hanging up. SHA-1 and base64 for the handshake are written here: a
//! few dozen lines against two dependencies.

use crate::server::STOPPING;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
/// Larger messages are refused (close 1009): this is a demo, not a file transfer.
const MAX_PAYLOAD: u64 = 64 * 1024;

/// The `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// Serves one WebSocket connection after its upgrade request; `buffered` is what the reader
/// had already read past the request head.
pub fn serve(
    version: &str,
    mut stream: TcpStream,
    key: &str,
    buffered: Vec<u8>,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        accept_key(key)
    )?;
    stream.write_all(&frame(TEXT, format!("hello demo {version}").as_bytes()))?;
    let mut input = buffered;
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((opcode, payload, used)) = parse(&input)? {
            input.drain(..used);
            match opcode {
                TEXT => stream.write_all(&frame(TEXT, &payload))?,
                PING => stream.write_all(&frame(PONG, &payload))?,
                CLOSE => {
                    // Echo the client's code, as the protocol asks, and hang up.
                    let code = payload.get(..2).unwrap_or(&[0x03, 0xE8]).to_vec();
                    let _ = stream.write_all(&frame(CLOSE, &code));
                    return Ok(());
                }
                _ => {}
            }
        }
        if STOPPING.load(Ordering::SeqCst) {
            return going_away(&mut stream);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Close 1001 "going away", then up to a second for the client's close frame.
fn going_away(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"going away");
    stream.write_all(&frame(CLOSE, &payload))?;
    let end = Instant::now() + Duration::from_secs(1);
    let mut input = Vec::new();
    let mut chunk = [0u8; 1024];
    while Instant::now() < end {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                input.extend_from_slice(&chunk[..n]);
                while let Some((opcode, _, used)) = parse(&input)? {
                    input.drain(..used);
                    if opcode == CLOSE {
                        return Ok(());
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// A server frame: final, unmasked.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// The first complete frame in `buf`, unmasked: (opcode, payload, bytes used); `None` until
/// the whole frame is there.
fn parse(buf: &[u8]) -> std::io::Result<Option<(u8, Vec<u8>, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()), 10),
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        [m[0], m[1], m[2], m[3]]
    } else {
        [0; 4]
    };
    let end = at + len as usize;
    let Some(data) = buf.get(at..end) else {
        return Ok(None);
    };
    let payload = data
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some((opcode, payload, end)))
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_key_of_rfc_6455() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn parses_masked_frames_whole_or_not_yet() {
        // "Hello", masked, from RFC 6455 §5.7.
        let f = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(parse(&f).unwrap(), Some((TEXT, b"Hello".to_vec(), 11)));
        assert_eq!(parse(&f[..7]).unwrap(), None);
        let long = frame(TEXT, &[7u8; 300]);
        assert_eq!(parse(&long).unwrap().unwrap().1.len(), 300);
    }
}
