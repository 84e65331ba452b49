//! What mvk-init writes: each file's path on the target system, mode and content.

use crate::Args;
use mvk_core::Fail;
use std::path::{Path, PathBuf};

pub struct File {
    /// Where it goes on the target system (below `--root` when one is given).
    pub path: PathBuf,
    pub mode: u32,
    pub content: String,
    /// Written once and then left to its owner (the upstream file belongs to mvk-swap).
    pub create_only: bool,
}

/// The site's certificate and key, as nginx on the target reads them.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
}

/// `textfile`: node_exporter's textfile directory, when it is there for deploys to write.
pub fn render(args: &Args, textfile: Option<&Path>) -> Result<Vec<File>, Fail> {
    let app = &args.app;
    let metrics_port = metrics_port(args)?;
    let tls = tls(args);
    let file = |path: String, mode, content, create_only| File {
        path: PathBuf::from(path),
        mode,
        content,
        create_only,
    };
    let target = format!("127.0.0.1:{metrics_port}");
    Ok(vec![
        // Only root reads it: the deploy's settings may name secrets' files.
        file(
            format!("/etc/mvk/{app}.env"),
            0o600,
            env_file(args, &tls, textfile),
            false,
        ),
        file(
            format!("/etc/nginx/mvk/{app}.upstream"),
            0o644,
            mvk_core::nginx::upstream_conf(app, args.slots.blue_port),
            true,
        ),
        file(
            format!("/etc/nginx/conf.d/mvk-{app}.conf"),
            0o644,
            site(args, tls.as_ref(), metrics_port),
            false,
        ),
        file(
            format!("/etc/prometheus/mvk/{app}.rules.yml"),
            0o644,
            mvk_alerts::rule_file(app)?,
            false,
        ),
        file(
            format!("/etc/prometheus/mvk/{app}.scrape.yml"),
            0o644,
            mvk_alerts::scrape_file(app, &[target]),
            false,
        ),
    ])
}

fn metrics_port(args: &Args) -> Result<u16, Fail> {
    let port =
        match args.metrics_port {
            Some(p) => p,
            None => args.slots.blue_port.checked_add(2).ok_or_else(|| {
                Fail::usage("the blue port + 2 is not a port: give --metrics-port")
            })?,
        };
    let slots = [args.slots.blue_port, args.slots.green_port];
    if slots.contains(&port) {
        return Err(Fail::usage(format!(
            "--metrics-port {port} is a slot's port: nginx listens on it, the app's slots must stay free"
        )));
    }
    Ok(port)
}

/// `--tls-cert/--tls-key`, else Let's Encrypt's certificate of the first name when present.
fn tls(args: &Args) -> Option<Tls> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Some(Tls {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let live = Path::new("/etc/letsencrypt/live").join(&args.server_names[0]);
    let (cert, key) = (live.join("fullchain.pem"), live.join("privkey.pem"));
    let on_target = |p: &Path| crate::plan::under(&args.root, p).exists();
    (on_target(&cert) && on_target(&key)).then_some(Tls { cert, key })
}

/// The port of `[ADDRESS:]PORT`.
fn listen_port(listen: &str) -> &str {
    listen.rsplit(':').next().unwrap_or(listen)
}

/// The URL of the site as its users reach it: what mvk-verify checks.
fn public_url(args: &Args, tls: &Option<Tls>) -> String {
    let (scheme, listen, default) = match tls {
        Some(_) => ("https", &args.https_listen, "443"),
        None => ("http", &args.http_listen, "80"),
    };
    let port = listen_port(listen);
    let port = if port == default {
        String::new()
    } else {
        format!(":{port}")
    };
    format!("{scheme}://{}{port}", args.server_names[0])
}

fn env_file(args: &Args, tls: &Option<Tls>, textfile: Option<&Path>) -> String {
    let app = &args.app;
    let s = &args.slots;
    let textfile = match textfile {
        Some(dir) => format!(
            "# node_exporter's textfile directory: each deploy writes mvk_deploy_{app}.prom there (the
# live release, deploy and rollback times), which the Grafana dashboard shows.
MVK_TEXTFILE_DIR={}
",
            dir.display()
        ),
        None => format!(
            "# No deploy metrics: {} was not there when mvk-init ran (the package
# makes it); with it there, run mvk-init again or set:
#MVK_TEXTFILE_DIR={}
",
            crate::activate::TEXTFILE_DIR,
            crate::activate::TEXTFILE_DIR
        ),
    };
    format!(
        "# Maverick app {app}: every mvk tool, mvk-deploy, mvk-undo and the app's systemd units
# read this file (MVK_* variables, see each tool's --help). Written by mvk-init; edit it
# freely: mvk-init never overwrites a file you changed.
MVK_APP={app}
MVK_BLUE_PORT={}
MVK_GREEN_PORT={}
MVK_CONTAINER_PORT={}
# What mvk-verify checks after each deploy and every minute (mvk-verify@{app}.timer).
MVK_URL={}
# The Prometheus that mvk-alerts@{app}.timer asks; /etc/prometheus/mvk/{app}.scrape.yml is
# its scrape job for the app.
MVK_PROMETHEUS={}
# nginx keeps up to 16 idle connections per worker open to the live release (the site
# proxies with HTTP/1.1 and no Connection header, as that needs); 0: one per request.
MVK_KEEPALIVE=16
{textfile}# What mvk-deploy builds (a checkout of the app), and the app container's own variables
# (their values never appear in records or logs):
#MVK_CONTEXT=/srv/{app}
#MVK_ENV_FILE=/etc/mvk/{app}.app.env
",
        s.blue_port,
        s.green_port,
        s.container_port,
        public_url(args, tls),
        args.prometheus_url
    )
}

/// `listen` lines for `[ADDRESS:]PORT`: a bare port on IPv4 and IPv6.
fn listen_lines(listen: &str, extra: &str) -> String {
    if listen.contains(':') {
        format!("    listen {listen}{extra};\n")
    } else {
        format!("    listen {listen}{extra};\n    listen [::]:{listen}{extra};\n")
    }
}

/// The site's own `$connection` variable for WebSocket upgrades. `map` lives at http level,
/// shared by every site, so each app needs its own name; nginx variable names allow only
/// letters, digits and `_`, so `_` becomes `__` and `-` becomes `_h` (no two apps collide).
fn upgrade_variable(app: &str) -> String {
    let mut name = String::from("mvk_upgrade_");
    for c in app.chars() {
        match c {
            '_' => name.push_str("__"),
            '-' => name.push_str("_h"),
            c => name.push(c),
        }
    }
    name
}

/// The proxy settings of a production site: the client's address and scheme passed on,
/// bounded timeouts, HTTP/1.1 to the app with WebSocket upgrades forwarded (other requests
/// send no `Connection` header, as keepalive to an upstream needs), /health kept out of the
/// access log.
fn proxied(app: &str) -> String {
    let upgrade = upgrade_variable(app);
    format!(
        "    client_max_body_size 16m;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection ${upgrade};
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_connect_timeout 5s;
    proxy_send_timeout 60s;
    proxy_read_timeout 60s;
    # A slot that refuses or times out is retried once, for idempotent requests only.
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 2;

    location / {{
        proxy_pass http://{app};
    }}
    location = /health {{
        access_log off;
        proxy_pass http://{app};
    }}
"
    )
}

fn site(args: &Args, tls: Option<&Tls>, metrics_port: u16) -> String {
    let app = &args.app;
    let names = args.server_names.join(" ");
    let mut out = format!(
        "# nginx site of Maverick app {app}, written by mvk-init {}.
# mvk-swap points the upstream at the live slot on each deploy: keep the include.
include mvk/{app}.upstream;

# WebSockets: an Upgrade request is forwarded as one; others keep no Connection header.
map $http_upgrade ${} {{
    default upgrade;
    '' \"\";
}}

server {{
{}    server_name {names};
",
        env!("CARGO_PKG_VERSION"),
        upgrade_variable(app),
        listen_lines(&args.http_listen, "")
    );
    match tls {
        None => out.push_str(&proxied(app)),
        Some(tls) => {
            let port = listen_port(&args.https_listen);
            let port = if port == "443" {
                String::new()
            } else {
                format!(":{port}")
            };
            out.push_str(&format!(
                "    # Certificate renewals (certbot --webroot -w /var/www/html) answer here; the rest goes to https.
    location /.well-known/acme-challenge/ {{
        root /var/www/html;
    }}
    location / {{
        return 301 https://$host{port}$request_uri;
    }}
}}

server {{
{}    server_name {names};
    ssl_certificate {};
    ssl_certificate_key {};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:mvk_tls:10m;
    ssl_session_timeout 1d;
    add_header Strict-Transport-Security \"max-age=31536000\" always;
{}",
                listen_lines(&args.https_listen, " ssl http2"),
                tls.cert.display(),
                tls.key.display(),
                proxied(app)
            ));
        }
    }
    out.push_str(&format!(
        "}}

# The live release's /metrics for Prometheus, on loopback only (the scrape job's target).
server {{
    listen 127.0.0.1:{metrics_port};
    access_log off;
    location = /metrics {{
        proxy_pass http://{app};
    }}
    location / {{
        return 404;
    }}
}}
"
    ));
    out
}

/// A host name nginx and a URL accept: labels of a-z, 0-9 and `-`, optionally `*.` first.
pub fn server_name(s: &str) -> Result<String, String> {
    let name = s.strip_prefix("*.").unwrap_or(s);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a host name: use lower-case labels of a-z, 0-9 and `-` separated by dots"
        ))
    }
}

/// A path that can stand in nginx's configuration unquoted: absolute, no spaces, `;`, quotes,
/// braces, `$` or `#`.
pub fn conf_path(s: &str) -> Result<PathBuf, String> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || ";'\"{}$#\\".contains(c);
    if s.starts_with('/') && !s.contains(bad) {
        Ok(PathBuf::from(s))
    } else {
        Err(format!(
            "`{s}`: give an absolute path without spaces, quotes, `;`, `{{}}`, `$` or `#`"
        ))
    }
}

/// `PORT` or `ADDRESS:PORT` (`[::1]:PORT` for IPv6).
pub fn listen(s: &str) -> Result<String, String> {
    let (address, port) = match s.rsplit_once(':') {
        Some((a, p)) => (Some(a), p),
        None => (None, s),
    };
    mvk_core::config::port(port)?;
    let address_ok = match address {
        None => true,
        Some(a) => match a.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => a.parse::<std::net::Ipv4Addr>().is_ok(),
        },
    };
    if address_ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not PORT or ADDRESS:PORT (an IP address; [ADDRESS] for IPv6)"
        ))
    }
}

/// An http(s) URL without credentials or spaces (it lands in the env file).
pub fn http_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.contains(|c: char| {
                    c.is_whitespace() || c == '@' || c.is_control() || c == '"' || c == '\\'
                }) =>
        {
            Ok(s.to_string())
        }
        _ => Err(format!(
            "`{s}` is not an http(s) URL (without credentials or spaces)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_what_reaches_nginx() {
        for good in ["shop.example.com", "localhost", "*.example.com", "a-b.c0"] {
            assert!(server_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "Shop.com", "a..b", "-a.com", "a b", "a;b", "a.com;", "*", "ü.de", "a/b",
        ] {
            assert!(server_name(bad).is_err(), "{bad}");
        }
        assert!(conf_path("/etc/ssl/shop.pem").is_ok());
        for bad in [
            "shop.pem", "/a b", "/a;b", "/a$x", "/a{b}", "/a\"b", "/a\nb",
        ] {
            assert!(conf_path(bad).is_err(), "{bad:?}");
        }
        for good in ["80", "127.0.0.1:8080", "[::1]:443"] {
            assert!(listen(good).is_ok(), "{good}");
        }
        for bad in ["0", "x", "localhost:80", "1.2.3.4:", "::1:80", "80;"] {
            assert!(listen(bad).is_err(), "{bad}");
        }
        assert!(http_url("http://127.0.0.1:9090").is_ok());
        for bad in ["127.0.0.1:9090", "http://u:p@h", "http://a b", "ftp://x"] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_app_has_its_own_upgrade_variable() {
        let names: std::collections::HashSet<_> = ["a-b", "a_b", "a_hb", "a__b", "ab"]
            .iter()
            .map(|app| upgrade_variable(app))
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert_eq!(upgrade_variable("shop-2"), "mvk_upgrade_shop_h2");
    }
}
