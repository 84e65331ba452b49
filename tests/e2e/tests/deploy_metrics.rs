//! mvk-swap --textfile-dir: after a deploy and after a rollback (the real
//! mvk-rollback | mvk-healthwait | mvk-swap), mvk_deploy_<app>.prom names the live release and
//! holds the last deploy's and rollback's times, the count and the duration, and passes
//! `promtool check metrics`.

use mvk_e2e::{app_image, start_candidate, TempDir, TestApp};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn swaps_write_the_live_release_and_deploy_times_for_node_exporter() {
    let app = TestApp::new("metrics");
    let dir = TempDir::new("textfile");
    let textfile = [("MVK_TEXTFILE_DIR", dir.path().to_str().unwrap())];
    let file = dir.join(&format!("mvk_deploy_{}.prom", app.name));
    for (slot, version) in [("blue", "m1"), ("green", "m2")] {
        let image = app_image(&app, version, &[]);
        let mut record = start_candidate(&app, slot, &image, &[]);
        // The pipeline's first step began 7 s ago.
        let began = mvk_core_time(now() as i64 - 7);
        record["steps"] = serde_json::json!([{"tool": "mvk-build", "ok": true, "started_at": began, "seconds": 1.0}]);
        let run = app.run("mvk-swap", &[], &textfile, &format!("{record}\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!(
                "mvk_release_info{{app=\"{}\",release=\"{version}\",slot=\"{slot}\",image=\"{}\"}} 1\n",
                app.name, image.tag
            )),
            "{text}"
        );
        let took = value(&text, "mvk_last_deploy_duration_seconds").unwrap();
        assert!((7.0..60.0).contains(&took), "{text}");
        assert!(now() - value(&text, "mvk_last_deploy_timestamp_seconds").unwrap() < 60.0);
        assert_eq!(value(&text, "mvk_last_rollback_timestamp_seconds"), None);
    }
    let deployed_at = value(
        &std::fs::read_to_string(&file).unwrap(),
        "mvk_last_deploy_timestamp_seconds",
    );

    let back = app.run("mvk-rollback", &[], &[], "");
    assert_eq!(back.code, 0, "{}", back.stderr);
    let healthy = app.run("mvk-healthwait", &[], &[], &back.stdout);
    assert_eq!(healthy.code, 0, "{}", healthy.stderr);
    let swapped = app.run("mvk-swap", &[], &textfile, &healthy.stdout);
    assert_eq!(swapped.code, 0, "{}", swapped.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("release=\"m1\",slot=\"blue\""), "{text}");
    assert_eq!(value(&text, "mvk_deploys"), Some(3.0), "{text}");
    assert_eq!(
        value(&text, "mvk_last_deploy_timestamp_seconds"),
        deployed_at
    );
    assert!(
        now() - value(&text, "mvk_last_rollback_timestamp_seconds").unwrap() < 60.0,
        "{text}"
    );

    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// `2026-11-26T14:00:00Z` for seconds since the epoch (as the tools write times).
fn mvk_core_time(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
