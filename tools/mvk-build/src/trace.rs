//! BuildKit's progress as the engine streams it (`moby.buildkit.trace`: a base64 protobuf
//! `StatusResponse` per message), turned into the plain log lines `docker build
//! --progress=plain` prints: `#3 [2/2] COPY app /app`, its output, `#3 DONE`, `#3 CACHED`,
//! `#3 ERROR: …`. Only the few fields the log needs are decoded; the rest is skipped by wire
//! type, so new fields in later engines do no harm.

use base64::Engine as _;
use std::collections::HashMap;

/// A build step (`Vertex`): field 1 digest, 3 name, 4 cached, 5 started, 6 completed, 7 error.
#[derive(Debug, Default, PartialEq)]
struct Vertex {
    digest: String,
    name: String,
    cached: bool,
    started: bool,
    completed: bool,
    error: String,
}

/// Output of a step (`VertexLog`): field 1 the vertex digest, 4 the bytes written.
#[derive(Debug, Default, PartialEq)]
struct VertexLog {
    vertex: String,
    msg: Vec<u8>,
}

/// Numbers steps in the order they appear and remembers what was printed of each.
#[derive(Default)]
pub struct Trace {
    steps: HashMap<String, Step>,
}

#[derive(Default)]
struct Step {
    number: usize,
    started: bool,
    done: bool,
}

impl Trace {
    /// The log lines one trace message adds; a message that does not decode adds none (the
    /// build's outcome comes from the rest of the stream, not from its progress).
    pub fn lines(&mut self, aux: &str) -> Vec<String> {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(aux) else {
            return Vec::new();
        };
        let (vertexes, logs) = status(&bytes).unwrap_or_default();
        let mut out = Vec::new();
        for v in vertexes {
            let next = self.steps.len() + 1;
            let step = self.steps.entry(v.digest.clone()).or_default();
            if step.number == 0 {
                step.number = next;
            }
            let n = step.number;
            if (v.started || v.cached) && !step.started {
                step.started = true;
                out.push(format!("#{n} {}", v.name));
            }
            if step.done {
                continue;
            }
            if !v.error.is_empty() {
                step.done = true;
                out.push(format!("#{n} ERROR: {}", v.error));
            } else if v.cached {
                step.done = true;
                out.push(format!("#{n} CACHED"));
            } else if v.completed {
                step.done = true;
                out.push(format!("#{n} DONE"));
            }
        }
        for log in logs {
            let n = self.steps.get(&log.vertex).map_or(0, |s| s.number);
            let text = String::from_utf8_lossy(&log.msg);
            out.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("#{n} {}", l.trim_end())),
            );
        }
        out
    }
}

/// One protobuf field: its number and value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// Iterates over the fields of a protobuf message; `None` ends it, `Some(Err)` on bad input.
struct Fields<'a> {
    rest: &'a [u8],
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Field<'a>), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let key = varint(&mut self.rest)?;
            let value = match key & 7 {
                0 => Field::Varint(varint(&mut self.rest)?),
                1 | 5 => {
                    let len = if key & 7 == 1 { 8 } else { 4 };
                    self.rest = self.rest.get(len..)?;
                    Field::Other
                }
                2 => {
                    let len = usize::try_from(varint(&mut self.rest)?).ok()?;
                    let bytes = self.rest.get(..len)?;
                    self.rest = &self.rest[len..];
                    Field::Bytes(bytes)
                }
                _ => return None,
            };
            Some((key >> 3, value))
        })();
        Some(field.ok_or_else(|| self.rest = &[]))
    }
}

fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { rest: buf }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `StatusResponse`: field 1 vertexes, 3 logs.
fn status(buf: &[u8]) -> Result<(Vec<Vertex>, Vec<VertexLog>), ()> {
    let mut vertexes = Vec::new();
    let mut logs = Vec::new();
    for field in fields(buf) {
        match field? {
            (1, Field::Bytes(b)) => vertexes.push(vertex(b)?),
            (3, Field::Bytes(b)) => logs.push(vertex_log(b)?),
            _ => {}
        }
    }
    Ok((vertexes, logs))
}

fn vertex(buf: &[u8]) -> Result<Vertex, ()> {
    let mut v = Vertex::default();
    for field in fields(buf) {
        match field? {
            (1, Field::Bytes(b)) => v.digest = text(b),
            (3, Field::Bytes(b)) => v.name = text(b),
            (4, Field::Varint(n)) => v.cached = n != 0,
            (5, Field::Bytes(_)) => v.started = true,
            (6, Field::Bytes(_)) => v.completed = true,
            (7, Field::Bytes(b)) => v.error = text(b),
            _ => {}
        }
    }
    Ok(v)
}

fn vertex_log(buf: &[u8]) -> Result<VertexLog, ()> {
    let mut log = VertexLog::default();
    for field in fields(buf) {
        match field? {
            (1, Field::Bytes(b)) => log.vertex = text(b),
            (4, Field::Bytes(b)) => log.msg = b.to_vec(),
            _ => {}
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes fields the way protobuf does, to build test messages.
    fn bytes_field(number: u64, value: &[u8]) -> Vec<u8> {
        let mut out = encode_varint(number << 3 | 2);
        out.extend(encode_varint(value.len() as u64));
        out.extend(value);
        out
    }

    fn varint_field(number: u64, value: u64) -> Vec<u8> {
        let mut out = encode_varint(number << 3);
        out.extend(encode_varint(value));
        out
    }

    fn encode_varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn b64(message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(message)
    }

    #[test]
    fn decodes_what_the_engine_sent() {
        // A message as Docker 20.10 sent it: "[internal] load remote build context", started.
        let aux = "Cn0KR3NoYTI1NjozYzZlNDIzNGNlY2VjMTA3ZGRlYTk4M2VmMWE1MDE5ODY2ZThkZjhhN2ViMjVlZTI0ZWU3YWU3ZDIyNGM5ZGNmGiRbaW50ZXJuYWxdIGxvYWQgcmVtb3RlIGJ1aWxkIGNvbnRleHQqDAjUoqXYBhC0wpCnAQ==";
        let mut trace = Trace::default();
        assert_eq!(
            trace.lines(aux),
            ["#1 [internal] load remote build context"]
        );
        // The same step again, completed.
        let done = "CosBCkdzaGEyNTY6M2M2ZTQyMzRjZWNlYzEwN2RkZWE5ODNlZjFhNTAxOTg2NmU4ZGY4YTdlYjI1ZWUyNGVlN2FlN2QyMjRjOWRjZhokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwI1KKl2AYQtMKQpwEyDAjUoqXYBhDBnqW+AQ==";
        assert_eq!(trace.lines(done), ["#1 DONE"]);
        assert!(trace.lines(done).is_empty(), "printed once");
    }

    #[test]
    fn numbers_steps_and_prints_their_output_cache_and_errors() {
        let started = bytes_field(5, &varint_field(1, 1));
        let mut copy = bytes_field(1, b"sha256:a");
        copy.extend(bytes_field(3, b"[2/3] COPY app /app"));
        copy.extend(varint_field(4, 1));
        let mut run = bytes_field(1, b"sha256:b");
        run.extend(bytes_field(3, b"[3/3] RUN make"));
        run.extend(&started);
        let mut message = bytes_field(1, &copy);
        message.extend(bytes_field(1, &run));
        let mut log = bytes_field(1, b"sha256:b");
        log.extend(varint_field(3, 1));
        log.extend(bytes_field(4, b"cc -o app\nld: ok\n"));
        message.extend(bytes_field(3, &log));
        let mut trace = Trace::default();
        assert_eq!(
            trace.lines(&b64(&message)),
            [
                "#1 [2/3] COPY app /app",
                "#1 CACHED",
                "#2 [3/3] RUN make",
                "#2 cc -o app",
                "#2 ld: ok"
            ]
        );
        let mut failed = bytes_field(1, b"sha256:b");
        failed.extend(bytes_field(7, b"exit code: 2"));
        assert_eq!(
            trace.lines(&b64(&bytes_field(1, &failed))),
            ["#2 ERROR: exit code: 2"]
        );
    }

    #[test]
    fn garbage_adds_nothing() {
        let mut trace = Trace::default();
        assert!(trace.lines("not base64!").is_empty());
        assert!(trace.lines(&b64(&[0x0a, 0xff])).is_empty(), "truncated");
        assert!(trace.lines(&b64(&[0x0f])).is_empty(), "bad wire type");
    }
}
