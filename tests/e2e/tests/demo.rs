//! scripts/demo, the main job end to end, as a user runs it (on the tools built for the suite):
//! v2 deployed under load with a long request in flight fails no request, the bad v3 is rolled
//! back by the alert gate with no failure but its own 500s, and afterwards nothing it started
//! is left: no container, image, nginx, load generator or temp file.

use mvk_e2e::{docker, script, tool, TempDir, TestApp};
use std::process::{Command, Stdio};

/// The number after `label` on the line of the demo's report that starts with it.
fn figure(report: &str, label: &str, after: &str) -> u64 {
    let line = report
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line `{label}` in the report:\n{report}"));
    let rest = line.split_once(after).map_or(line, |(_, r)| r).trim_start();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure after `{after}` in `{line}`"))
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(needle).then(|| format!("{pid}: {cmd}"))
        })
        .collect()
}

#[test]
fn the_demo_fails_no_request_and_leaves_nothing_running() {
    // Its name, and its cleanup if the demo's own fails; the demo starts its own nginx.
    let app = TestApp::new("demo");
    let tmp = TempDir::new("demo-tmp");
    let tools = tool("mvk-swap").parent().unwrap().to_path_buf();
    let out = Command::new(script("demo"))
        .env("DEMO_APP", &app.name)
        .env("DEMO_TOOLS", &tools)
        .env("DEMO_RATE", "200")
        .env("DEMO_CLIENTS", "4")
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!("{log}\n{report}");
    assert_eq!(out.status.code(), Some(0), "the demo failed");

    assert!(
        figure(&report, "load during the v2 deploy:", ":") > 50,
        "{report}"
    );
    assert_eq!(
        figure(&report, "load during the v2 deploy:", "/s),"),
        0,
        "{report}"
    );
    assert_eq!(figure(&report, "3 s request during the swap:", "HTTP"), 200);
    assert!(
        figure(&report, "load during the v3 deploy:", ":") > 50,
        "{report}"
    );
    assert!(figure(&report, "500s answered by v3:", ":") > 0, "{report}");
    assert_eq!(figure(&report, "every other failure:", ":"), 0, "{report}");
    let serving = report
        .lines()
        .rfind(|l| l.trim_start().starts_with("nginx serves now:"));
    assert_eq!(
        serving.map(|l| l.ends_with(" demo v2")),
        Some(true),
        "{report}"
    );

    // Nothing left: containers, images, nginx, hey and curl (their command lines name the
    // demo's nginx port or temp dir), files.
    assert_eq!(app.containers(), Vec::<String>::new());
    assert_eq!(docker(&["images", "-q", &app.name]).unwrap(), "");
    let url = log
        .split("nginx listens on ")
        .nth(1)
        .and_then(|l| l.split(';').next())
        .unwrap_or_else(|| panic!("the demo did not say where nginx listened:\n{log}"));
    for needle in [url, tmp.path().to_str().unwrap()] {
        assert_eq!(
            processes_mentioning(needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "files left in TMPDIR: {left:?}");
}
