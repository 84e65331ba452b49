//! The maintenance server: a `server` block in the upstream file that nginx itself serves on
//! a unix socket, answering 503 with `Retry-After` and a page. Its socket and page live beside
//! the upstream file (`<dir>/<app>.maintenance.sock`, `<dir>/<app>.maintenance.html`), in a
//! directory only the tools' user (root) may write, so nobody else can plant a socket nginx
//! would proxy to or a page it would serve.

use anyhow::{Context, Result};
use mvk_core::{atomic, Fail};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The page when no --maintenance-page is given.
const BUILT_IN_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Down for maintenance</title></head>\n<body><h1>Down for maintenance</h1><p>We will be back shortly. Please try again in a few minutes.</p></body></html>\n";
/// The largest page accepted: nginx serves it from disk, but a page is not a download.
const PAGE_LIMIT: u64 = 1024 * 1024;
/// `sun_path` holds 108 bytes, the terminating NUL included.
const SOCKET_PATH_LIMIT: usize = 107;

#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub dir: PathBuf,
    /// The maintenance server's socket.
    pub socket: PathBuf,
    /// The socket of the proxy to the warm previous release (--keep-warm).
    pub warm_socket: PathBuf,
    pub page: PathBuf,
}

impl Fallback {
    /// The maintenance server of `app`, beside its upstream file. Exit 2 when the paths
    /// cannot go into nginx's configuration as they are.
    pub fn at(upstream_file: &Path, app: &str) -> Result<Fallback, Fail> {
        let dir = upstream_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir)
            .map_err(|e| Fail::usage(format!("cannot resolve {}: {e}", dir.display())))?;
        let text = dir.to_string_lossy();
        // Only characters nginx reads literally: no quoting, no variables, no comments.
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b))
        {
            return Err(Fail::usage(format!(
                "the upstream file's directory {text:?} holds characters that cannot go into nginx's configuration as a path (use a-z, A-Z, 0-9 and /._-+@)"
            )));
        }
        // The longest of the two sockets.
        let socket = dir.join(format!("{app}.maintenance.sock"));
        if socket.as_os_str().len() > SOCKET_PATH_LIMIT {
            return Err(Fail::usage(format!(
                "the maintenance socket's path {} is longer than a unix socket allows ({SOCKET_PATH_LIMIT} bytes): put the upstream file in a shorter directory",
                socket.display()
            )));
        }
        Ok(Fallback {
            warm_socket: dir.join(format!("{app}.warm.sock")),
            page: dir.join(format!("{app}.maintenance.html")),
            socket,
            dir,
        })
    }

    /// Checks the directory, writes the page (`source`, else the built-in one) and clears a
    /// stale socket left by an nginx that died, which would make the reload fail.
    pub fn prepare(&self, source: Option<&Path>) -> Result<()> {
        let page = match source {
            Some(path) => read_page(path)?,
            None => BUILT_IN_PAGE.as_bytes().to_vec(),
        };
        self.check_dir()?;
        if fs::read(&self.page).ok().as_deref() != Some(&page[..]) {
            atomic::write_with_mode(&self.page, &page, 0o644).with_context(|| {
                format!("cannot write the maintenance page {}", self.page.display())
            })?;
        }
        self.clear_stale_socket(&self.socket)?;
        self.clear_stale_socket(&self.warm_socket)
    }

    fn check_dir(&self) -> Result<()> {
        let meta = fs::symlink_metadata(&self.dir)
            .with_context(|| format!("cannot inspect {}", self.dir.display()))?;
        // /proc/self belongs to this process's effective user.
        let me = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        let why = if !meta.is_dir() {
            Some("it is not a directory (a symlink?)".to_string())
        } else if meta.uid() != me && meta.uid() != 0 {
            Some(format!(
                "it belongs to uid {}, not to root or uid {me}",
                meta.uid()
            ))
        } else if meta.mode() & 0o022 != 0 {
            Some(format!(
                "others may write to it (mode {:o})",
                meta.mode() & 0o7777
            ))
        } else if meta.mode() & 0o001 == 0 {
            Some(format!(
                "nginx's workers cannot reach the maintenance page and socket in it (mode {:o}; needs o+x)",
                meta.mode() & 0o7777
            ))
        } else {
            None
        };
        match why {
            None => Ok(()),
            Some(why) => Err(Fail::unavailable(
                "nginx",
                format!(
                    "the upstream file's directory {} cannot hold the maintenance socket and page: {why}",
                    self.dir.display()
                ),
            )
            .into()),
        }
    }

    fn clear_stale_socket(&self, socket: &Path) -> Result<()> {
        let Ok(meta) = fs::symlink_metadata(socket) else {
            return Ok(());
        };
        if !meta.file_type().is_socket() {
            return Err(Fail::unavailable(
                "nginx",
                format!(
                    "{} exists and is not a socket: remove it (nginx listens there for the maintenance page)",
                    socket.display()
                ),
            )
            .into());
        }
        match std::os::unix::net::UnixStream::connect(socket) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => fs::remove_file(socket)
                .with_context(|| format!("cannot remove the stale socket {}", socket.display())),
            _ => Ok(()),
        }
    }

    /// The `server` block answering every request with 503, `Retry-After` and the page.
    pub fn server_block(&self, retry_after: u64) -> String {
        let name = self
            .page
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "# The maintenance page, served by nginx itself: the last backup, and all traffic\n\
             # under `mvk-swap --maintenance on`.\n\
             server {{\n    listen unix:{socket};\n    access_log off;\n    root {dir};\n    \
             location / {{\n        return 503;\n    }}\n    error_page 503 /{name};\n    \
             location = /{name} {{\n        internal;\n        types {{ }}\n        \
             default_type \"text/html; charset=utf-8\";\n        \
             add_header Retry-After {retry_after} always;\n        \
             add_header Cache-Control \"no-store\" always;\n    }}\n}}\n",
            socket = self.socket.display(),
            dir = self.dir.display(),
        )
    }
}

/// Reads --maintenance-page: a regular UTF-8 file of at most [`PAGE_LIMIT`] bytes (exit 2).
fn read_page(path: &Path) -> Result<Vec<u8>, Fail> {
    let bad = |why: String| Fail::usage(format!("--maintenance-page {}: {why}", path.display()));
    let file = fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let meta = file.metadata().map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(PAGE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > PAGE_LIMIT {
        return Err(bad(format!("larger than {} KiB", PAGE_LIMIT / 1024)));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(bad(
            "not UTF-8 text (the page is served as text/html; charset=utf-8)".into(),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("mvk-swap-fallback-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn paths_sit_beside_the_upstream_file_and_must_be_plain() {
        let f = Fallback::at(Path::new("/etc/nginx/mvk/shop.upstream"), "shop").unwrap();
        assert_eq!(f.socket, Path::new("/etc/nginx/mvk/shop.maintenance.sock"));
        assert_eq!(f.page, Path::new("/etc/nginx/mvk/shop.maintenance.html"));
        for bad in [
            "/etc/ng inx/x.upstream",
            "/etc/a;b/x.upstream",
            "/x/$y/x.upstream",
            "/a\"b/x",
        ] {
            let e = Fallback::at(Path::new(bad), "shop").unwrap_err();
            assert_eq!(e.exit, mvk_core::Exit::Usage, "{bad}");
        }
        let long = format!("/{}/x.upstream", "d".repeat(100));
        let e = Fallback::at(Path::new(&long), "shop").unwrap_err();
        assert!(
            e.message.contains("longer than a unix socket allows"),
            "{}",
            e.message
        );
    }

    #[test]
    fn writes_the_page_and_refuses_bad_ones() {
        let d = dir("page");
        let f = Fallback::at(&d.join("shop.upstream"), "shop").unwrap();
        f.prepare(None).unwrap();
        assert_eq!(fs::read_to_string(&f.page).unwrap(), BUILT_IN_PAGE);
        assert_eq!(
            fs::metadata(&f.page).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let mine = d.join("mine.html");
        fs::write(&mine, "<p>back at 10</p>").unwrap();
        f.prepare(Some(&mine)).unwrap();
        assert_eq!(fs::read_to_string(&f.page).unwrap(), "<p>back at 10</p>");
        fs::write(&mine, b"\xff\xfe").unwrap();
        let big = d.join("big.html");
        fs::write(&big, vec![b'a'; PAGE_LIMIT as usize + 1]).unwrap();
        for (bad, why) in [
            (mine.as_path(), "not UTF-8"),
            (big.as_path(), "larger than"),
            (d.as_path(), "not a regular file"),
            (Path::new("/nonexistent/p.html"), "No such file"),
        ] {
            let err = f.prepare(Some(bad)).unwrap_err();
            let fail = Fail::classify(&err);
            assert_eq!(fail.exit, mvk_core::Exit::Usage);
            assert!(fail.message.contains(why), "{}", fail.message);
        }
        assert_eq!(fs::read_to_string(&f.page).unwrap(), "<p>back at 10</p>");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_a_directory_others_write_and_clears_a_stale_socket() {
        let d = dir("dir");
        let f = Fallback::at(&d.join("shop.upstream"), "shop").unwrap();
        let stale = std::os::unix::net::UnixListener::bind(&f.socket).unwrap();
        drop(stale);
        assert!(f.socket.exists());
        f.prepare(None).unwrap();
        assert!(!f.socket.exists(), "the stale socket is gone");
        let live = std::os::unix::net::UnixListener::bind(&f.socket).unwrap();
        f.prepare(None).unwrap();
        assert!(f.socket.exists(), "a socket something listens on stays");
        drop(live);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Fail::classify(&f.prepare(None).unwrap_err());
        assert_eq!(err.exit, mvk_core::Exit::Unavailable);
        assert!(err.message.contains("others may write"), "{}", err.message);
        fs::remove_dir_all(&d).unwrap();
    }
}
