//! Validation of every name and value that reaches nginx, Docker, a path, a header or a log,
//! in one place: the tools' option parsers and the record's fields (checked when a record is
//! read, [`crate::Record::parse`]) use the same functions, so a value refused as an option is
//! refused as a field too (exit 2, naming it).

use crate::registry;

/// Validates an app name: it becomes container, file and nginx upstream names.
pub fn app(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let ok_first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = bytes[1.min(bytes.len())..]
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    if ok_first && ok_rest && bytes.len() <= 63 {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` is not a valid app name: use 1 to 63 of a-z, 0-9, `_` and `-`, starting with a letter or digit",
            printable(s)
        ))
    }
}

/// Parses a TCP port, 1 to 65535: every port option of every tool reads its value with this, so
/// `MVK_*_PORT` means the same to all of them (port 0, "any free port", is never what a slot or a
/// container listens on).
pub fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{}` is not a port: use 1 to 65535", printable(s))),
    }
}

/// Validates a repository (`shop`, `team/shop`, `127.0.0.1:5000/shop`): lowercase path
/// components joined by `.`, `_`, `__` or dashes, an optional registry host first.
pub fn repository(s: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "`{}` is not a valid image repository: {why}",
            printable(s)
        ))
    };
    if s.is_empty() || s.len() > 255 {
        return bad("it must be 1 to 255 characters");
    }
    let (host, path) = registry::split(s);
    if let Some(host) = host {
        if !valid_host(host) {
            return bad("the registry part is not a host[:port]");
        }
    }
    for component in path.split('/') {
        if !valid_component(component) {
            return bad(
                "use lowercase letters, digits and single separators (. _ __ -) between them",
            );
        }
    }
    Ok(s.to_string())
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    port_ok && name_ok
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Validates a release id, which is also its image tag: up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`.
pub fn release(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` cannot be an image tag: use up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -",
            printable(s)
        ))
    }
}

/// Validates an image reference as the record carries it: `repository[:tag][@sha256:<hex>]`.
pub fn image(s: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "`{}` is not an image reference (repository[:tag][@digest])",
            printable(s)
        )
    };
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        image_id(d).map_err(|_| bad())?;
    }
    // A `:` after the last `/` starts the tag; one before it is the registry's port.
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (name, None),
    };
    repository(repo).map_err(|_| bad())?;
    if let Some(t) = tag {
        release(t).map_err(|_| bad())?;
    }
    Ok(s.to_string())
}

/// Validates an image id (`sha256:` and 64 lowercase hex digits).
pub fn image_id(s: &str) -> Result<String, String> {
    let ok = s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` is not an image id (sha256:<64 hex digits>)",
            printable(s)
        ))
    }
}

/// Validates a container name or id as Docker has them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn container(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("`{}` is not a container name", printable(s)))
    }
}

/// Validates a Swarm service name as Swarm takes it: a DNS label of at most 63 characters,
/// letters and digits with single runs of `-` or `_` between them.
pub fn service(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` is not a Swarm service name (letters, digits, `-` and `_`, at most 63 characters, a letter or digit at each end)",
            printable(s)
        ))
    }
}

/// Validates the name of an nginx upstream block: it is written into nginx's config, so only
/// `A-Z a-z 0-9 _ . -` (no blank, brace, semicolon or quote that could end the block).
pub fn upstream_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` is not an nginx upstream name: use 1 to 63 of A-Z a-z 0-9 _ . -",
            printable(s)
        ))
    }
}

/// Parses `Name: value` (for `--header`-style options): a token for the name, and a value
/// without control characters (a CR or LF would end the header and forge another).
pub fn header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or_else(|| {
        format!(
            "`{}` is not a header (expected `Name: value`)",
            printable(s)
        )
    })?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(format!("`{}` is not a valid header name", printable(name)));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of header `{name}` holds a control character (CR, LF, NUL, …)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Validates an http:// or https:// URL with a host. One with credentials (`user:pass@`) is
/// refused: a URL lands in records, logs and alerts, a password must not; send credentials as
/// a header instead. The message never shows the credentials.
pub fn url(s: &str) -> Result<String, String> {
    let shown = redact_url(s);
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "`{}` is not a URL: it holds a blank or control character",
            printable(&shown)
        ));
    }
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("`{shown}`: use an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "`{shown}`: credentials in the URL would land in the record and logs; remove them \
             (mvk-verify sends them as --header 'Authorization: …')"
        ));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(format!("`{shown}` has no host"));
    }
    Ok(s.to_string())
}

/// A clap value parser from a check like [`url`] or [`header`] that, unlike clap's own
/// messages, never repeats the value given: it may hold a password or a token.
#[derive(Clone)]
pub struct Quiet<T: Clone + Send + Sync + 'static>(pub fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Quiet<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map(|a| a.to_string()).unwrap_or_default();
        let fail = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {name}: {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| fail("not UTF-8".into()))?;
        (self.0)(text).map_err(fail)
    }
}

/// `text` with the userinfo of every URL in it (`scheme://user:pass@`) replaced by `***@`.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(userinfo) => {
                out.push_str("***");
                out.push_str(&tail[userinfo..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `s` fit for one line of a message: control characters shown escaped, so a value cannot
/// forge log lines.
pub fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for good in ["shop", "a", "0x", "my-app_2", &"a".repeat(63)] {
            assert!(app(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "-x",
            "_x",
            "a b",
            "a/b",
            "a.b",
            "ü",
            &"a".repeat(64),
        ] {
            assert!(app(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repositories() {
        for good in [
            "shop",
            "my-app_2",
            "team/shop",
            "a.b/c",
            "127.0.0.1:5000/shop",
            "localhost/x",
            "r.io/a__b/c--d",
        ] {
            assert!(repository(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "shop-",
            "-shop",
            "a//b",
            "a/",
            "127.0.0.1:port/x",
            "r.io/",
            "a...b",
            "a_-b",
        ] {
            assert!(repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for good in [
            "3f2c1ab",
            "3f2c1ab-dirty",
            "20261126T140000Z",
            "v1.2.3",
            "_x",
        ] {
            assert!(release(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(release(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for good in [
            "shop".to_string(),
            "shop:1".into(),
            "127.0.0.1:5000/team/shop:v1.2".into(),
            "127.0.0.1:5000/shop".into(),
            format!("shop@{digest}"),
            format!("shop:1@{digest}"),
        ] {
            assert!(image(&good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "shop:",
            "shop:\"x",
            "Shop:1",
            "shop:1\nforged",
            "shop@sha256:12",
            "shop:a b",
        ] {
            assert!(image(bad).is_err(), "{bad}");
        }
        assert!(image_id(&digest).is_ok() && image_id("sha256:AB").is_err());
    }

    #[test]
    fn upstream_names_cannot_inject_config() {
        assert!(upstream_name("shop_v2.backend-1").is_ok());
        for bad in [
            "shop { server 127.0.0.1:39999; } upstream decoy",
            "a;b",
            "a b",
            "a\"",
            "",
            &"a".repeat(64),
        ] {
            assert!(upstream_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            header("X-Forwarded-Proto: https").unwrap(),
            ("X-Forwarded-Proto".into(), "https".into())
        );
        assert_eq!(
            header("Host:a.b:80").unwrap(),
            ("Host".into(), "a.b:80".into())
        );
        for bad in [
            "no colon",
            "bad name: x",
            ": x",
            "X: a\r\nInjected: 1",
            "X: a\nb",
            "X: \0",
            "X: \u{7f}",
        ] {
            let e = header(bad).unwrap_err();
            assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        }
        assert_eq!(header("X: a\tb").unwrap().1, "a\tb");
    }

    #[test]
    fn urls_with_credentials_are_refused_without_showing_them() {
        assert!(url("http://127.0.0.1:9090").is_ok());
        assert!(url("https://prom.example/x?y=@z").is_ok());
        let e = url("http://user:hunter2@127.0.0.1:9090/").unwrap_err();
        assert!(e.contains("credentials") && !e.contains("hunter2"), "{e}");
        for bad in [
            "ftp://x",
            "http://",
            "http://:80",
            "http://a b",
            "127.0.0.1:9090",
            "http://x\n",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("GET http://u:p@h:1/x?a=b@c failed; see https://h2/"),
            "GET http://***@h:1/x?a=b@c failed; see https://h2/"
        );
        assert_eq!(redact_url("no url"), "no url");
    }

    #[test]
    fn containers() {
        assert!(container("shop-blue").is_ok() && container(&"a".repeat(64)).is_ok());
        assert!(container("a/b").is_err() && container("").is_err() && container("-a").is_err());
    }

    #[test]
    fn services() {
        for good in ["shop-blue", "a", "my_app--green", &"a".repeat(63)] {
            assert!(service(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a.b", "a/b", &"a".repeat(64), "shop\nx"] {
            assert!(service(bad).is_err(), "{bad}");
        }
    }
}
