//! The upstream file's content: the servers nginx routes the app to, and how.
//!
//! ```nginx
//! upstream shop {
//!     server 127.0.0.1:8001 weight=90 max_fails=3 fail_timeout=10s;  # live
//!     server 127.0.0.1:8000 weight=10 max_fails=3 fail_timeout=10s;  # canary (--weight 10)
//!     server unix:/etc/nginx/mvk/shop.maintenance.sock backup;       # the fallback
//! }
//! server { listen unix:/etc/nginx/mvk/shop.maintenance.sock; … 503 + Retry-After + page }
//! ```
//!
//! The live server always comes first: other tools read its port as the live one. When the
//! live server fails `max_fails` times within `fail_timeout` (or refuses a connection, which
//! nginx retries on the next server at once), nginx sends requests to the backup. nginx
//! balances between backups rather than trying them in order, so there is one, chained: with
//! --keep-warm it is a small proxy (`shop.warm.sock`) to the warm previous release whose own
//! backup is the maintenance page; without, the maintenance page itself. The site includes
//! this file at `http` level, so it may hold those small `server` blocks too.

use crate::fallback::Fallback;
use clap::builder::BoolishValueParser;
use mvk_core::time::parse_duration;
use std::fmt::Write;
use std::time::Duration;

/// How nginx treats the app's servers (options every swap shares).
#[derive(clap::Args, Debug, Clone)]
pub struct RoutingArgs {
    /// Failed attempts within --fail-timeout after which nginx stops sending requests to the
    /// live release for --fail-timeout and uses the backups (0: never)
    #[arg(long, env = "MVK_MAX_FAILS", default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub max_fails: u16,
    /// Window for --max-fails, and how long a failed release is left out
    #[arg(long, env = "MVK_FAIL_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub fail_timeout: Duration,
    /// Keep the previous release running as nginx's first backup instead of stopping it
    /// (instant failover; costs the memory of a second running release)
    #[arg(long, env = "MVK_KEEP_WARM", value_parser = BoolishValueParser::new())]
    pub keep_warm: bool,
    /// With --weight: keep each client on one side of the canary, by client address
    /// (`hash $remote_addr consistent`; nginx then allows no backup servers)
    #[arg(long, env = "MVK_STICKY", value_parser = BoolishValueParser::new())]
    pub sticky: bool,
    /// HTML page the maintenance server answers with (UTF-8, at most 1 MiB)
    /// [default: a plain built-in page]
    #[arg(long, env = "MVK_MAINTENANCE_PAGE", value_name = "FILE")]
    pub maintenance_page: Option<std::path::PathBuf>,
    /// Idle connections each nginx worker keeps open to the app (`keepalive N` in the upstream;
    /// the site must proxy with HTTP/1.1 and `Connection ""`), 0: a new connection per request
    #[arg(long, env = "MVK_KEEPALIVE", default_value_t = 0, value_name = "N",
          value_parser = clap::value_parser!(u16).range(0..=10000))]
    pub keepalive: u16,
    /// The maintenance page's Retry-After
    #[arg(long, env = "MVK_RETRY_AFTER", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_after: Duration,
}

/// What the upstream routes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// The live release's port.
    pub live: u16,
    /// A canary: its port and the share of requests (1–99 %) it takes.
    pub canary: Option<(u16, u8)>,
    /// The previous release, kept running as the first backup.
    pub warm: Option<u16>,
    /// Every request goes to the maintenance page (the live release is marked `down`).
    pub maintenance: bool,
}

impl Routing {
    #[cfg(test)]
    pub fn live(port: u16) -> Routing {
        Routing {
            live: port,
            canary: None,
            warm: None,
            maintenance: false,
        }
    }

    /// The upstream file for the upstream `name`.
    pub fn conf(&self, name: &str, args: &RoutingArgs, fallback: &Fallback) -> String {
        let breaker = if args.max_fails == 0 {
            " max_fails=0".to_string()
        } else {
            format!(
                " max_fails={} fail_timeout={}s",
                args.max_fails,
                whole_seconds(args.fail_timeout)
            )
        };
        // nginx refuses `backup` beside the hash methods: a sticky canary has no fallback.
        let sticky = args.sticky && self.canary.is_some() && !self.maintenance;
        let mut out = String::from("# written by mvk-swap; do not edit\n");
        let _ = writeln!(out, "upstream {name} {{");
        if sticky {
            out.push_str("    hash $remote_addr consistent;\n");
        }
        match (self.maintenance, self.canary) {
            (true, _) => {
                let _ = writeln!(out, "    server 127.0.0.1:{} down;", self.live);
            }
            (false, None) => {
                let _ = writeln!(out, "    server 127.0.0.1:{}{breaker};", self.live);
            }
            (false, Some((port, weight))) => {
                let _ = writeln!(
                    out,
                    "    server 127.0.0.1:{} weight={}{breaker};",
                    self.live,
                    100 - weight
                );
                let _ = writeln!(out, "    server 127.0.0.1:{port} weight={weight}{breaker};");
            }
        }
        let warm = self.warm.filter(|_| !self.maintenance);
        if !sticky {
            let backup = match warm {
                Some(_) => &fallback.warm_socket,
                None => &fallback.socket,
            };
            let _ = writeln!(out, "    server unix:{} backup;", backup.display());
        }
        // After the servers: nginx wants a balancing method (`hash`) before `keepalive`.
        if args.keepalive > 0 {
            let _ = writeln!(out, "    keepalive {};", args.keepalive);
        }
        out.push_str("}\n");
        if let Some(port) = warm {
            let _ = write!(
                out,
                "# The warm previous release (--keep-warm), the live one's backup, with the\n\
                 # maintenance page as its own.\n\
                 upstream {name}_mvk_warm {{\n    server 127.0.0.1:{port}{breaker};\n    \
                 server unix:{maintenance} backup;\n}}\n\
                 server {{\n    listen unix:{socket};\n    access_log off;\n    \
                 location / {{\n        proxy_pass http://{name}_mvk_warm;\n        \
                 proxy_set_header Host $http_host;\n    }}\n}}\n",
                maintenance = fallback.socket.display(),
                socket = fallback.warm_socket.display(),
            );
        }
        out.push_str(&fallback.server_block(whole_seconds(args.retry_after)));
        out
    }
}

/// The upstream file for `app` routed as `routing`, once the maintenance page and sockets
/// beside `upstream_file` are ready.
pub fn prepare(
    args: &crate::Args,
    app: &str,
    upstream_file: &std::path::Path,
    routing: &Routing,
) -> anyhow::Result<String> {
    let fallback = Fallback::at(upstream_file, app)?;
    fallback.prepare(args.routing.maintenance_page.as_deref())?;
    Ok(routing.conf(&args.nginx.upstream_name(app), &args.routing, &fallback))
}

/// nginx's times are whole seconds here; round up so nothing is shorter than asked.
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        routing: RoutingArgs,
    }

    fn args(extra: &[&str]) -> RoutingArgs {
        let mut argv = vec!["x"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).routing
    }

    fn fallback() -> Fallback {
        Fallback::at(Path::new("/etc/nginx/mvk/shop.upstream"), "shop").unwrap()
    }

    fn upstream_lines(conf: &str) -> Vec<&str> {
        let block = conf.split("upstream shop {\n").nth(1).unwrap();
        block
            .split("\n}\n")
            .next()
            .unwrap()
            .lines()
            .map(str::trim)
            .collect()
    }

    #[test]
    fn live_first_then_the_warm_release_then_maintenance() {
        let mut r = Routing::live(8001);
        r.warm = Some(8000);
        let conf = r.conf("shop", &args(&[]), &fallback());
        assert_eq!(
            upstream_lines(&conf),
            [
                "server 127.0.0.1:8001 max_fails=3 fail_timeout=10s;",
                "server unix:/etc/nginx/mvk/shop.warm.sock backup;",
            ]
        );
        assert!(conf.contains("upstream shop_mvk_warm {\n    server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;\n    server unix:/etc/nginx/mvk/shop.maintenance.sock backup;\n}"), "{conf}");
        assert!(conf.contains("listen unix:/etc/nginx/mvk/shop.warm.sock;"));
        assert_eq!(mvk_core::nginx::upstream_port(&conf), Some(8001));
        assert!(conf.contains("listen unix:/etc/nginx/mvk/shop.maintenance.sock;"));
        assert!(conf.contains("Retry-After 30"), "{conf}");
    }

    #[test]
    fn a_canary_is_weighted_and_may_be_sticky() {
        let mut r = Routing::live(8001);
        r.canary = Some((8000, 10));
        r.warm = Some(8000);
        let a = args(&["--max-fails", "0", "--retry-after", "1500ms"]);
        let conf = r.conf("shop", &a, &fallback());
        assert_eq!(
            upstream_lines(&conf)[..2],
            [
                "server 127.0.0.1:8001 weight=90 max_fails=0;",
                "server 127.0.0.1:8000 weight=10 max_fails=0;",
            ]
        );
        assert!(conf.contains("Retry-After 2"), "{conf}");
        let conf = r.conf(
            "shop",
            &args(&["--sticky", "--keepalive", "16"]),
            &fallback(),
        );
        let lines = upstream_lines(&conf);
        assert_eq!(lines[0], "hash $remote_addr consistent;");
        assert!(lines.iter().all(|l| !l.contains("backup")), "{conf}");
        assert_eq!(lines.last(), Some(&"keepalive 16;"), "{conf}");
        assert_eq!(mvk_core::nginx::upstream_port(&conf), Some(8001));
    }

    #[test]
    fn maintenance_marks_the_live_release_down() {
        let mut r = Routing::live(8001);
        r.maintenance = true;
        r.warm = Some(8000);
        r.canary = Some((8000, 50));
        let conf = r.conf("shop", &args(&["--sticky"]), &fallback());
        assert_eq!(
            upstream_lines(&conf),
            [
                "server 127.0.0.1:8001 down;",
                "server unix:/etc/nginx/mvk/shop.maintenance.sock backup;",
            ]
        );
        assert_eq!(mvk_core::nginx::upstream_port(&conf), Some(8001));
    }
}
