//! The defects a hostile local user or hostile input found (issue 11), one test each: planted
//! symlinks, injected names, control characters, records that lie, outputs that fail, secrets.

use mvk_e2e::{run_tool, tool, Run, TempDir, TestApp};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// A record an earlier step failed: every tool passes it on without touching anything.
fn failed_record(app: &str) -> String {
    json!({"schema": "mvk.release/v1", "app": app, "steps": [],
           "error": {"tool": "mvk-build", "kind": "build", "message": "x"}})
    .to_string()
}

fn healthy_record(app: &TestApp, release: &str) -> Value {
    json!({"schema": "mvk.release/v1", "app": app.name, "release": release,
           "image": format!("{}:v1", app.name), "steps": [], "error": null,
           "candidate": {"slot": "blue", "port": app.blue_port,
                         "container": format!("{}-blue", app.name),
                         "container_id": format!("{}-blue", app.name)},
           "health": {"healthy": true}})
}

#[test]
fn an_injected_upstream_name_is_exit_2_and_nginx_untouched() {
    let app = TestApp::new("hard-inject");
    let before = std::fs::read(&app.nginx.upstream_file).unwrap();
    let run = app.run(
        "mvk-swap",
        &[
            "--upstream-name",
            "shop { server 127.0.0.1:39999; } upstream decoy",
        ],
        &[],
        &format!("{}\n", healthy_record(&app, "v1")),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not an nginx upstream name"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&app.nginx.upstream_file).unwrap(), before);
    // The same through the environment, as an env file would set it.
    let run = app.run(
        "mvk-swap",
        &[],
        &[("MVK_UPSTREAM_NAME", "a;b")],
        &format!("{}\n", healthy_record(&app, "v1")),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn control_characters_in_headers_are_exit_2() {
    let app = TestApp::new("hard-header");
    let run = app.run(
        "mvk-verify",
        &[
            "--url",
            "http://127.0.0.1:9",
            "--header",
            "X-A: 1\r\nX-Forged: 2",
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("control character"), "{}", run.stderr);
    let run = app.run(
        "mvk-healthwait",
        &["--health-header", "X-A: \u{1b}[31m"],
        &[],
        &failed_record(&app.name),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_bad_record_field_is_exit_2_naming_it_and_forges_no_line() {
    let app = TestApp::new("hard-field");
    let mut record = healthy_record(&app, "v1");
    record["release"] = json!("v1\"\nmvk-swap: done, all good");
    let run = app.run("mvk-swap", &[], &[], &format!("{record}\n"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("field `release`"), "{}", run.stderr);
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("mvk-swap: done")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    for (field, value) in [
        ("image", json!("x --privileged")),
        ("candidate", json!({"slot": "red", "port": 8000})),
        ("candidate", json!({"slot": "blue", "port": 0})),
    ] {
        let mut record = healthy_record(&app, "v1");
        record[field] = value;
        let run = app.run("mvk-swap", &[], &[], &format!("{record}\n"));
        assert_eq!(run.code, 2, "{field}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("field `{field}")),
            "{}",
            run.stderr
        );
    }
    assert!(!app.state.path().join(&app.name).join("state.json").exists());
}

#[test]
fn a_record_too_large_is_exit_2_stating_the_bound() {
    let app = TestApp::new("hard-big");
    let big = json!({"schema": "mvk.release/v1", "app": app.name, "pad": "x".repeat(5 << 20)});
    let run = app.run("mvk-swap", &[], &[], &big.to_string());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("larger than 4 MiB"), "{}", run.stderr);
}

/// Runs `tool` on a record with its stdout going to `out`.
fn run_into(app: &TestApp, tool_name: &str, out: Stdio) -> (i32, String) {
    let mut child = Command::new(tool(tool_name))
        .envs(app.env())
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(failed_record(&app.name).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_record_that_cannot_be_written_is_exit_4() {
    let app = TestApp::new("hard-full");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (code, stderr) = run_into(&app, "mvk-verify", Stdio::from(full));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    // A closed pipe: the next step is gone.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let (code, stderr) = run_into(&app, "mvk-swap", Stdio::from(write));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn a_planted_symlink_at_the_textfile_path_leaves_its_target_untouched() {
    let app = TestApp::new("hard-textfile");
    let dir = TempDir::new("hard-textfile");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let target = dir.join("root-only");
    std::fs::write(&target, "secret\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let prom = dir.join(&format!("mvk_verify_{}.prom", app.name));
    std::os::unix::fs::symlink(&target, &prom).unwrap();
    // The old temp names (`.<name>.tmp.<pid>`) for the next pids, planted as an attacker would.
    let next = std::process::id();
    for pid in next..next + 200 {
        let tmp = dir.join(&format!(".mvk_verify_{}.prom.tmp.{pid}", app.name));
        std::os::unix::fs::symlink(&target, tmp).unwrap();
    }
    let run: Run = run_tool(
        "mvk-verify",
        &[
            "--app",
            &app.name,
            "--url",
            "http://127.0.0.1:9",
            "--retries",
            "0",
            "--textfile-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
        "",
    );
    assert!(run.code == 1, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret\n");
    let written = std::fs::symlink_metadata(&prom).unwrap();
    assert!(
        written.is_file(),
        "the symlink was replaced by the textfile"
    );
    assert_eq!(written.permissions().mode() & 0o777, 0o644);
}
