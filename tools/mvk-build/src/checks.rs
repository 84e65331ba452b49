//! What a release image must be to run well under Maverick, checked on the built image:
//! a non-root user, a HEALTHCHECK, a size under the limit, the app's port exposed.

use bollard::models::ImageInspect;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "ok": self.ok, "detail": self.detail})
    }
}

/// The image's configured user, `None` when it runs as root by default.
pub fn user(image: &ImageInspect) -> Option<String> {
    let user = image.config.as_ref()?.user.clone()?;
    (!user.is_empty()).then_some(user)
}

/// The HEALTHCHECK test, unless there is none or it is `NONE`.
pub fn healthcheck(image: &ImageInspect) -> Option<Vec<String>> {
    let test = image.config.as_ref()?.healthcheck.as_ref()?.test.clone()?;
    (!test.is_empty() && test[0] != "NONE").then_some(test)
}

pub fn run(image: &ImageInspect, max_size: u64, port: u16) -> Vec<Check> {
    let user = user(image);
    let root = match user.as_deref() {
        None => true,
        Some(u) => matches!(u.split(':').next(), Some("" | "root" | "0")),
    };
    let non_root = Check {
        name: "non-root",
        ok: !root,
        detail: match &user {
            None => "no USER: the container runs as root".into(),
            Some(u) if root => format!("USER {u} is root"),
            Some(u) => format!("runs as {u}"),
        },
    };

    let health = healthcheck(image);
    let healthcheck = Check {
        name: "healthcheck",
        ok: health.is_some(),
        detail: match &health {
            Some(test) => format!("HEALTHCHECK {}", test.join(" ")),
            None => "no HEALTHCHECK: Docker cannot tell when the app is ready".into(),
        },
    };

    let size = image_size(image);
    let size_check = Check {
        name: "size",
        ok: size <= max_size,
        detail: format!("{} ({size} bytes), limit {}", human(size), human(max_size)),
    };

    let exposed: Vec<String> = image
        .config
        .as_ref()
        .and_then(|c| c.exposed_ports.clone())
        .unwrap_or_default();
    let want = format!("{port}/tcp");
    let exposes = Check {
        name: "exposes-port",
        ok: exposed.contains(&want),
        detail: match exposed.len() {
            _ if exposed.contains(&want) => format!("exposes {want}"),
            0 => format!("exposes no port, expected {want}"),
            _ => format!("exposes {}, not {want}", exposed.join(", ")),
        },
    };
    vec![non_root, healthcheck, size_check, exposes]
}

pub fn image_size(image: &ImageInspect) -> u64 {
    image.size.unwrap_or(0).max(0) as u64
}

/// Parses `100MB`, `50MiB`, `1.5GB`, `123456` (bytes). Units are case-insensitive; `k`, `M`,
/// `G` are powers of 1000, `Ki`, `Mi`, `Gi` powers of 1024, as `docker images` counts.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 100MB, 50MiB or 1000000)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use B, kB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    let bytes = (value * scale).round();
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Ok(bytes as u64)
    } else {
        Err(format!("`{text}` is not a size"))
    }
}

/// `41.2 MB`: decimal units, as `docker images` shows sizes.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=999 => format!("{bytes} B"),
        1_000..=999_999 => format!("{:.1} kB", b / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{HealthConfig, ImageConfig};

    fn image(
        user: Option<&str>,
        health: Option<Vec<&str>>,
        size: i64,
        ports: &[&str],
    ) -> ImageInspect {
        ImageInspect {
            size: Some(size),
            config: Some(ImageConfig {
                user: user.map(str::to_string),
                healthcheck: health.map(|t| HealthConfig {
                    test: Some(t.into_iter().map(str::to_string).collect()),
                    ..Default::default()
                }),
                exposed_ports: Some(ports.iter().map(|p| p.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn oks(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|c| c.ok).collect()
    }

    #[test]
    fn a_good_image_passes_everything() {
        let img = image(
            Some("10001:10001"),
            Some(vec!["CMD", "/app", "health"]),
            5_000_000,
            &["8000/tcp"],
        );
        let checks = run(&img, 100_000_000, 8000);
        assert_eq!(oks(&checks), [true; 4]);
        assert_eq!(checks[0].detail, "runs as 10001:10001");
        assert_eq!(checks[1].detail, "HEALTHCHECK CMD /app health");
        assert_eq!(checks[2].detail, "5.0 MB (5000000 bytes), limit 100.0 MB");
        assert_eq!(checks[3].detail, "exposes 8000/tcp");
    }

    #[test]
    fn each_check_fails_on_its_own() {
        for user in [
            None,
            Some(""),
            Some("root"),
            Some("0"),
            Some("0:0"),
            Some("root:staff"),
        ] {
            let img = image(user, Some(vec!["CMD", "x"]), 1, &["8000/tcp"]);
            assert_eq!(
                oks(&run(&img, 10, 8000)),
                [false, true, true, true],
                "{user:?}"
            );
        }
        let img = image(Some("app"), None, 1, &["8000/tcp"]);
        assert_eq!(oks(&run(&img, 10, 8000)), [true, false, true, true]);
        let img = image(Some("app"), Some(vec!["NONE"]), 1, &["8000/tcp"]);
        assert_eq!(oks(&run(&img, 10, 8000)), [true, false, true, true]);
        let img = image(Some("app"), Some(vec!["CMD", "x"]), 11, &["8000/tcp"]);
        assert_eq!(oks(&run(&img, 10, 8000)), [true, true, false, true]);
        let img = image(
            Some("app"),
            Some(vec!["CMD", "x"]),
            1,
            &["9000/tcp", "8000/udp"],
        );
        let checks = run(&img, 10, 8000);
        assert_eq!(oks(&checks), [true, true, true, false]);
        assert_eq!(checks[3].detail, "exposes 9000/tcp, 8000/udp, not 8000/tcp");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("50MiB"), Ok(52_428_800));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("123456"), Ok(123_456));
        assert_eq!(parse_size("2 kib"), Ok(2048));
        for bad in ["", "MB", "12XB", "-1", "1.2.3MB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(human(512), "512 B");
        assert_eq!(human(41_234_567), "41.2 MB");
    }
}
