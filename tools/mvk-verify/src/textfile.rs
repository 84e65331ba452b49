//! The result as a node_exporter textfile (`mvk_verify_<app>.prom`): Prometheus text format,
//! no sample timestamps (the collector rejects a file with them), replaced atomically so the
//! collector never reads half a file.

use crate::probe::Outcome;
use anyhow::Result;
use mvk_core::textfile::{escape, Gauges};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("mvk_verify_{app}.prom"))
}

/// Writes the metrics of one run into `dir`.
pub fn write(
    dir: &Path,
    app: &str,
    outcomes: &[Outcome],
    took: Duration,
    at: SystemTime,
) -> Result<()> {
    mvk_core::atomic::write(&path(dir, app), render(app, outcomes, took, at).as_bytes())
}

pub fn render(app: &str, outcomes: &[Outcome], took: Duration, at: SystemTime) -> String {
    let app = escape(app);
    let mut out = Gauges::new();
    let ok = outcomes.iter().all(Outcome::ok);
    out.family(
        "mvk_verify_success",
        "Whether every check of the last verification passed (1) or not (0).",
        &[(format!("app=\"{app}\""), f64::from(u8::from(ok)))],
    );
    out.family(
        "mvk_verify_duration_seconds",
        "How long the last verification took, retries included.",
        &[(format!("app=\"{app}\""), took.as_secs_f64())],
    );
    // One series per method and path: checks sharing both pass only together.
    let mut per_path: Vec<(&str, &str, bool)> = Vec::new();
    for o in outcomes {
        match per_path
            .iter_mut()
            .find(|(m, p, _)| *m == o.method && *p == o.path)
        {
            Some(entry) => entry.2 &= o.ok(),
            None => per_path.push((&o.method, &o.path, o.ok())),
        }
    }
    let checks: Vec<(String, f64)> = per_path
        .iter()
        .map(|(method, path, ok)| {
            (
                format!(
                    "app=\"{app}\",method=\"{}\",path=\"{}\"",
                    escape(method),
                    escape(path)
                ),
                f64::from(u8::from(*ok)),
            )
        })
        .collect();
    out.family(
        "mvk_verify_check_success",
        "Whether the checks of a method and path passed (1) or not (0) in the last verification.",
        &checks,
    );
    let expiry: Vec<(String, f64)> = outcomes
        .iter()
        .find_map(|o| o.cert_not_after)
        .map(|t| (format!("app=\"{app}\""), t as f64))
        .into_iter()
        .collect();
    if !expiry.is_empty() {
        out.family(
            "mvk_verify_cert_expiry_timestamp_seconds",
            "When the target's TLS certificate expires, in seconds since the Unix epoch.",
            &expiry,
        );
    }
    let unix = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    out.family(
        "mvk_verify_last_run_timestamp_seconds",
        "When the last verification ran, in seconds since the Unix epoch.",
        &[(format!("app=\"{app}\""), (unix * 1000.0).round() / 1000.0)],
    );
    out.text()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(method: &str, path: &str, ok: bool, cert_not_after: Option<i64>) -> Outcome {
        Outcome {
            method: method.into(),
            path: path.into(),
            url: format!("http://127.0.0.1:1{path}"),
            status: Some(200),
            expected: 200,
            ms: 1.0,
            attempts: 1,
            cert_not_after,
            cert_days: cert_not_after.map(|t| crate::cert::days_left(t, at())),
            problems: if ok {
                vec![]
            } else {
                vec!["status 503, expected 200".into()]
            },
        }
    }

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_701_600_250)
    }

    #[test]
    fn renders_every_family_without_timestamps() {
        let outcomes = [
            outcome("GET", "/health", true, None),
            outcome("GET", "/api/v1/status", false, None),
            outcome("GET", "/health", true, None),
            outcome("HEAD", "/health", false, None),
        ];
        let text = render("shop", &outcomes, Duration::from_millis(1500), at());
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "mvk_verify_success{app=\"shop\"} 0",
                "mvk_verify_duration_seconds{app=\"shop\"} 1.5",
                "mvk_verify_check_success{app=\"shop\",method=\"GET\",path=\"/health\"} 1",
                "mvk_verify_check_success{app=\"shop\",method=\"GET\",path=\"/api/v1/status\"} 0",
                "mvk_verify_check_success{app=\"shop\",method=\"HEAD\",path=\"/health\"} 0",
                "mvk_verify_last_run_timestamp_seconds{app=\"shop\"} 1795701600.25",
            ]
        );
        assert!(text.contains("# TYPE mvk_verify_success gauge\n"));
        assert!(text.ends_with('\n'));
        assert!(!text.contains("cert_expiry"));
    }

    #[test]
    fn escapes_label_values_and_adds_the_certificate_expiry() {
        let outcomes = [outcome(
            "GET",
            "/q?a=\"x\"\\y\nz",
            true,
            Some(1_798_293_600),
        )];
        let text = render("shop", &outcomes, Duration::ZERO, at());
        assert!(text.contains(r#"path="/q?a=\"x\"\\y\nz"} 1"#), "{text}");
        assert!(
            text.contains("mvk_verify_cert_expiry_timestamp_seconds{app=\"shop\"} 1798293600\n"),
            "{text}"
        );
    }

    #[test]
    fn readers_never_see_a_partial_file() {
        let dir = std::env::temp_dir().join(format!("mvk-verify-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (few, many) = (few(), many());
        write(&dir, "shop", &few, Duration::ZERO, at()).unwrap();
        let (small, big) = (
            render("shop", &few, Duration::ZERO, at()),
            render("shop", &many, Duration::ZERO, at()),
        );
        let file = path(&dir, "shop");
        let reader = {
            let (file, small, big) = (file.clone(), small.clone(), big.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let text = std::fs::read_to_string(&file).unwrap();
                    assert!(
                        text == small || text == big,
                        "read a partial file of {} bytes",
                        text.len()
                    );
                }
            })
        };
        for i in 0..100 {
            let outcomes: &[Outcome] = if i % 2 == 0 { &many } else { &few };
            write(&dir, "shop", outcomes, Duration::ZERO, at()).unwrap();
        }
        reader.join().unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mvk_verify_shop.prom"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn few() -> Vec<Outcome> {
        vec![outcome("GET", "/health", true, None)]
    }

    fn many() -> Vec<Outcome> {
        (0..2000)
            .map(|i| outcome("GET", &format!("/p{i}"), i % 2 == 0, None))
            .collect()
    }

    const KEEP_WRITING: &str = "MVK_VERIFY_TEST_KEEP_WRITING";

    /// The writer that `a_killed_writer_leaves_no_partial_file` runs in a child process and
    /// kills: it writes the two contents in turn, forever.
    #[test]
    #[ignore = "a helper process, started by a_killed_writer_leaves_no_partial_file"]
    fn keeps_writing() {
        let Some(dir) = std::env::var_os(KEEP_WRITING) else {
            return;
        };
        let (few, many) = (few(), many());
        loop {
            write(Path::new(&dir), "shop", &many, Duration::ZERO, at()).unwrap();
            write(Path::new(&dir), "shop", &few, Duration::ZERO, at()).unwrap();
        }
    }

    #[test]
    fn a_killed_writer_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("mvk-verify-kill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let whole = [
            render("shop", &few(), Duration::ZERO, at()),
            render("shop", &many(), Duration::ZERO, at()),
        ];
        let mut cut_short = 0;
        for round in 0..60 {
            let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "textfile::tests::keeps_writing", "--ignored"])
                .env(KEEP_WRITING, &dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Kill only once this writer is writing (its first whole file is back): on a loaded
            // machine a fixed delay may end before the process has even started.
            let started = std::time::Instant::now();
            while !path(&dir, "shop").exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the writer never wrote"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(round % 10));
            writer.kill().unwrap(); // SIGKILL: no chance to clean up
            writer.wait().unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name == "mvk_verify_shop.prom" {
                    let text = std::fs::read_to_string(dir.join(&name)).unwrap();
                    assert!(
                        whole.contains(&text),
                        "a partial file of {} bytes",
                        text.len()
                    );
                    std::fs::remove_file(dir.join(&name)).unwrap();
                } else {
                    // The collector reads only `*.prom`; a dot file it never sees.
                    assert!(name.starts_with('.') && !name.ends_with(".prom"), "{name}");
                    std::fs::remove_file(dir.join(&name)).unwrap();
                    cut_short += 1;
                }
            }
            if cut_short >= 3 {
                break;
            }
        }
        assert!(
            cut_short > 0,
            "no kill landed inside a write, so this proved nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
