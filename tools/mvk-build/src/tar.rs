//! The context as a tar stream, produced chunk by chunk as the upload asks for it, so a large
//! context is never held in memory.
//!
//! Written by hand rather than with the `tar` crate: the crate writes into an `io::Write`
//! (it pushes), while the Engine API body is a stream the HTTP client pulls; with the crate
//! the archive would need a second thread and a pipe, or a temp file. The format needed is
//! small: POSIX ustar headers as Go's `archive/tar` writes them for `docker build` (owner
//! 0:0, no user/group names, whole-second mtimes, the real permission bits), with a PAX
//! extended header where ustar cannot hold a value: names and link targets too long (or not
//! ASCII), sizes of 8 GiB and more.

use crate::context::{Entry, Kind, Source};
use std::fs::File;
use std::io::{self, Read};

const BLOCK: usize = 512;
/// How much the stream hands the HTTP client at a time.
const CHUNK: usize = 256 * 1024;
/// The largest size an 11-digit octal field holds.
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

/// One entry's header block(s): a PAX extended header first when needed, then the ustar one.
pub fn header(entry: &Entry) -> Vec<u8> {
    let (flag, link, size, (major, minor)): (u8, &[u8], u64, (u64, u64)) = match &entry.kind {
        Kind::File { size } => (b'0', b"", *size, (0, 0)),
        Kind::HardLink { target } => (b'1', target, 0, (0, 0)),
        Kind::Symlink { target } => (b'2', target, 0, (0, 0)),
        Kind::Char { major, minor } => (b'3', b"", 0, (*major, *minor)),
        Kind::Block { major, minor } => (b'4', b"", 0, (*major, *minor)),
        Kind::Dir => (b'5', b"", 0, (0, 0)),
        Kind::Fifo => (b'6', b"", 0, (0, 0)),
    };
    let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
    let (prefix, name) = match split_name(&entry.name) {
        Some(split) => split,
        None => {
            pax.push(("path", entry.name.clone()));
            (&b""[..], &entry.name[..])
        }
    };
    if link.len() > 100 || !link.is_ascii() {
        pax.push(("linkpath", link.to_vec()));
    }
    if size > MAX_OCTAL_SIZE {
        pax.push(("size", size.to_string().into_bytes()));
    }
    let mut out = Vec::with_capacity(3 * BLOCK);
    if !pax.is_empty() {
        let records = pax_records(&pax);
        out.extend(ustar(
            b"",
            b"././@PaxHeader",
            b'x',
            b"",
            records.len() as u64,
            0o644,
            entry.mtime,
            (0, 0),
        ));
        out.extend_from_slice(&records);
        pad(&mut out);
    }
    let size_field = if size > MAX_OCTAL_SIZE { 0 } else { size };
    out.extend(ustar(
        prefix,
        name,
        flag,
        link,
        size_field,
        entry.mode,
        entry.mtime,
        (major, minor),
    ));
    out
}

/// Splits a name into ustar's prefix and name fields as Go does; `None` when it does not fit
/// (then a PAX `path` record carries it).
fn split_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if !name.is_ascii() {
        return None;
    }
    if name.len() <= 100 {
        return Some((b"", name));
    }
    let mut len = name.len();
    if len > 156 {
        len = 156;
    } else if name[len - 1] == b'/' {
        len -= 1;
    }
    let i = name[..len].iter().rposition(|&b| b == b'/')?;
    let (prefix, rest) = (&name[..i], &name[i + 1..]);
    (i > 0 && !rest.is_empty() && rest.len() <= 100 && prefix.len() <= 155)
        .then_some((prefix, rest))
}

/// PAX records `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself too.
fn pax_records(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in pairs {
        let base = key.len() + value.len() + 3;
        let mut len = base + 1;
        while len != base + len.to_string().len() {
            len = base + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn ustar(
    prefix: &[u8],
    name: &[u8],
    flag: u8,
    link: &[u8],
    size: u64,
    mode: u32,
    mtime: u64,
    dev: (u64, u64),
) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    put_str(&mut b[0..100], name);
    put_octal(&mut b[100..108], u64::from(mode));
    put_octal(&mut b[108..116], 0);
    put_octal(&mut b[116..124], 0);
    put_octal(&mut b[124..136], size);
    put_octal(&mut b[136..148], mtime.min(MAX_OCTAL_SIZE));
    b[156] = flag;
    put_str(&mut b[157..257], link);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if flag == b'3' || flag == b'4' {
        put_octal(&mut b[329..337], dev.0);
        put_octal(&mut b[337..345], dev.1);
    }
    put_str(&mut b[345..500], prefix);
    // The checksum is taken with its own field as spaces, then written as 6 digits, NUL, space.
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    b
}

/// ASCII only (what does not fit went into a PAX record), cut to the field.
fn put_str(field: &mut [u8], s: &[u8]) {
    for (dst, &src) in field.iter_mut().zip(s.iter().filter(|c| c.is_ascii())) {
        *dst = src;
    }
}

/// Zero-padded octal digits followed by a NUL, filling the field.
fn put_octal(field: &mut [u8], n: u64) {
    let digits = field.len() - 1;
    let text = format!("{n:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// The archive of `entries`, yielded in chunks of about [`CHUNK`] bytes. A file that cannot
/// be read, or that shrank since the walk, ends the stream with an error; one that grew is
/// cut to its walked size (the header already promised that many bytes).
pub struct TarStream {
    entries: std::vec::IntoIter<Entry>,
    body: Option<Body>,
    finished: bool,
}

struct Body {
    reader: Box<dyn Read + Send>,
    name: String,
    left: u64,
    size: u64,
}

impl TarStream {
    pub fn new(entries: Vec<Entry>) -> TarStream {
        TarStream {
            entries: entries.into_iter(),
            body: None,
            finished: false,
        }
    }

    fn fill(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while out.len() < CHUNK {
            if let Some(body) = &mut self.body {
                if body.left == 0 {
                    self.body = None;
                    pad(out);
                    continue;
                }
                let start = out.len();
                let want = (CHUNK - start).max(BLOCK).min(body.left as usize);
                out.resize(start + want, 0);
                let n = body.reader.read(&mut out[start..])?;
                out.truncate(start + n);
                if n == 0 {
                    return Err(io::Error::other(format!(
                        "{} shrank while it was being sent ({} of {} bytes read)",
                        body.name,
                        body.size - body.left,
                        body.size
                    )));
                }
                body.left -= n as u64;
                continue;
            }
            let Some(entry) = self.entries.next() else {
                out.extend_from_slice(&[0u8; 2 * BLOCK]);
                self.finished = true;
                return Ok(());
            };
            out.extend(header(&entry));
            if let Kind::File { size } = entry.kind {
                let name = String::from_utf8_lossy(&entry.name).into_owned();
                let reader: Box<dyn Read + Send> = match entry.source {
                    Source::Path(p) => Box::new(
                        File::open(&p)
                            .map_err(|e| {
                                io::Error::new(
                                    e.kind(),
                                    format!("cannot read {}: {e}", p.display()),
                                )
                            })?
                            .take(size),
                    ),
                    Source::Bytes(bytes) => Box::new(io::Cursor::new(bytes)),
                };
                self.body = Some(Body {
                    reader,
                    name,
                    left: size,
                    size,
                });
            }
        }
        Ok(())
    }
}

impl Iterator for TarStream {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        if self.finished {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK + 3 * BLOCK);
        match self.fill(&mut out) {
            Ok(()) => Some(Ok(out)),
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context;
    use std::fs;
    use std::path::Path;
    use std::process::Command;

    use crate::testdir::Tmp;

    fn write_tar(entries: Vec<Entry>, path: &Path) {
        let mut bytes = Vec::new();
        for chunk in TarStream::new(entries) {
            bytes.extend(chunk.unwrap());
        }
        assert_eq!(bytes.len() % BLOCK, 0);
        fs::write(path, bytes).unwrap();
    }

    fn tar(args: &[&str]) -> String {
        let out = Command::new("tar").args(args).output().expect("GNU tar");
        assert!(
            out.status.success(),
            "tar {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn gnu_tar_reads_back_everything() {
        let t = Tmp::new("roundtrip");
        let src = t.0.join("src");
        let long_dir = "d".repeat(120);
        let long_name = format!("{long_dir}/{}", "f".repeat(150));
        fs::create_dir_all(src.join(&long_dir)).unwrap();
        fs::create_dir_all(src.join("empty")).unwrap();
        fs::write(src.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(src.join(&long_name), "long").unwrap();
        fs::write(src.join("grüße.txt"), "utf-8 name").unwrap();
        let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(src.join("big.bin"), &big).unwrap();
        fs::write(src.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(
            src.join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::symlink("run.sh", src.join("link")).unwrap();
        std::os::unix::fs::symlink("x".repeat(130), src.join("long-link")).unwrap();
        fs::hard_link(src.join("run.sh"), src.join("run-again.sh")).unwrap();
        nix::unistd::mkfifo(
            &src.join("pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o640),
        )
        .unwrap();

        let context = context::prepare(&src, None).unwrap();
        write_tar(context.entries, &t.0.join("ctx.tar"));

        let listing = tar(&[
            "--numeric-owner",
            "-tvf",
            t.0.join("ctx.tar").to_str().unwrap(),
        ]);
        assert!(listing.contains("-rwxr-x--- 0/0"), "{listing}");
        assert!(listing.contains(&format!("{long_name}\n")), "{listing}");
        assert!(listing.contains("link -> run.sh"), "{listing}");
        assert!(
            listing.contains(&format!("long-link -> {}", "x".repeat(130))),
            "{listing}"
        );
        assert!(
            listing.contains("run.sh link to run-again.sh")
                || listing.contains("run.sh link to run.sh"),
            "{listing}"
        );
        assert!(listing.contains("prw-r-----"), "{listing}");
        assert!(listing.contains("empty/"), "{listing}");

        let out = t.0.join("out");
        fs::create_dir(&out).unwrap();
        tar(&[
            "-xf",
            t.0.join("ctx.tar").to_str().unwrap(),
            "-C",
            out.to_str().unwrap(),
        ]);
        assert_eq!(fs::read(out.join("big.bin")).unwrap(), big);
        assert_eq!(fs::read_to_string(out.join(&long_name)).unwrap(), "long");
        assert_eq!(
            fs::read_to_string(out.join("grüße.txt")).unwrap(),
            "utf-8 name"
        );
        assert_eq!(
            fs::read_link(out.join("link")).unwrap(),
            Path::new("run.sh")
        );
        assert_eq!(
            fs::read_to_string(out.join("run-again.sh")).unwrap(),
            "#!/bin/sh\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(out.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o750
        );
    }

    #[test]
    fn header_layout_matches_go() {
        let entry = Entry {
            name: b"app/main.rs".to_vec(),
            kind: Kind::File { size: 1234 },
            source: Source::Bytes(vec![]),
            mode: 0o644,
            mtime: 1_700_000_000,
        };
        let h = header(&entry);
        assert_eq!(h.len(), BLOCK);
        assert_eq!(&h[0..11], b"app/main.rs");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[108..124], b"0000000\x000000000\0");
        assert_eq!(&h[124..136], b"00000002322\0");
        assert_eq!(&h[136..148], b"14524770400\0");
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..265], b"ustar\x0000");
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(&h[148..156], format!("{sum:06o}\0 ").as_bytes());
    }

    #[test]
    fn long_and_huge_values_use_pax() {
        assert_eq!(pax_records(&[("path", b"abc".to_vec())]), b"12 path=abc\n");
        // 99 + 3 + len(key) ... a record whose length crosses a power of ten.
        let v = vec![b'a'; 93];
        let rec = pax_records(&[("path", v)]);
        assert_eq!(rec.len(), 103);
        assert!(rec.starts_with(b"103 path="));

        let name = format!("{}/{}", "a".repeat(200), "b".repeat(20));
        let huge = Entry {
            name: name.clone().into_bytes(),
            kind: Kind::File { size: 10 << 30 },
            source: Source::Bytes(vec![]),
            mode: 0o644,
            mtime: 0,
        };
        let h = header(&huge);
        assert_eq!(h.len(), 3 * BLOCK);
        assert_eq!(h[156], b'x');
        let records = String::from_utf8_lossy(&h[BLOCK..2 * BLOCK]);
        assert!(records.contains(&format!("path={name}\n")), "{records}");
        assert!(
            records.contains(&format!("size={}\n", 10u64 << 30)),
            "{records}"
        );
        assert_eq!(&h[2 * BLOCK + 124..2 * BLOCK + 136], b"00000000000\0");
    }

    #[test]
    fn names_split_into_prefix_like_go() {
        let name = format!("{}/{}", "p".repeat(150), "n".repeat(90));
        let (prefix, rest) = split_name(name.as_bytes()).unwrap();
        assert_eq!((prefix.len(), rest.len()), (150, 90));
        assert!(split_name(format!("{}/{}", "p".repeat(160), "n".repeat(10)).as_bytes()).is_none());
        assert!(split_name("x".repeat(101).as_bytes()).is_none());
        assert_eq!(split_name(b"short"), Some((&b""[..], &b"short"[..])));
    }

    #[test]
    fn a_file_that_shrank_ends_the_stream_with_an_error() {
        let t = Tmp::new("shrink");
        fs::write(t.0.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(t.0.join("data"), vec![7u8; 5000]).unwrap();
        let context = context::prepare(&t.0, None).unwrap();
        fs::write(t.0.join("data"), vec![7u8; 10]).unwrap();
        let err = TarStream::new(context.entries)
            .find_map(Result::err)
            .expect("an error");
        assert!(err.to_string().contains("data shrank"), "{err}");
    }
}
