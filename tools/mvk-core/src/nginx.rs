//! The app's nginx upstream file (DESIGN.md §3): one `upstream <name> { server …; }` block,
//! owned by mvk-swap, that the site `include`s. Other tools read it to know what is live.

use anyhow::{Context, Result};
use std::path::Path;

/// The file's content for an upstream routed to `127.0.0.1:<port>`.
pub fn upstream_conf(name: &str, port: u16) -> String {
    format!("# written by mvk-swap; do not edit\nupstream {name} {{\n    server 127.0.0.1:{port};\n}}\n")
}

/// The port of the (first) `server` line of an upstream file's content.
pub fn upstream_port(text: &str) -> Option<u16> {
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut tokens = code
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '{' | '}'))
        .filter(|t| !t.is_empty());
    tokens.find(|t| *t == "server")?;
    tokens.next()?.rsplit_once(':')?.1.parse().ok()
}

/// The port nginx routes the app to, per the upstream file; `None` when there is no file.
pub fn live_port(path: &Path) -> Result<Option<u16>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(upstream_port(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_port() {
        assert_eq!(upstream_port(&upstream_conf("shop", 8001)), Some(8001));
        assert_eq!(
            upstream_port("upstream x {\n  server 127.0.0.1:9000 max_fails=0;\n}"),
            Some(9000)
        );
        assert_eq!(upstream_port("# server 1.2.3.4:1;\nupstream x { }"), None);
        assert_eq!(upstream_port(""), None);
        assert_eq!(
            upstream_port("upstream shop { server 127.0.0.1:8000; }"),
            Some(8000)
        );
    }
}
