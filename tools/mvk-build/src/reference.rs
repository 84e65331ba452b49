//! Image names as Docker accepts them: `[registry[:port]/]path` repositories and tags.

use mvk_core::registry;

/// Validates a repository (`shop`, `team/shop`, `127.0.0.1:5000/shop`): lowercase path
/// components joined by `.`, `_`, `__` or dashes, an optional registry host first.
pub fn repository(s: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("`{s}` is not a valid image repository: {why}"));
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

/// Validates a tag (the release id): up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`.
pub fn tag(s: &str) -> Result<String, String> {
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
            "`{s}` cannot be an image tag: use up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(tag(bad).is_err(), "{bad}");
        }
    }
}
