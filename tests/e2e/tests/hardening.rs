//! The defects a hostile local user or hostile input found (issue 11), one test each: planted
//! symlinks, injected names, control characters, records that lie, outputs that fail, secrets.

use mvk_e2e::{flock_as_nobody, run_script, run_tool, tool, Run, TempDir, TestApp};
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

/// A file that exists only if a config file was executed.
fn executing_env_file(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let marker = dir.join("executed");
    let file = dir.join("evil.env");
    std::fs::write(
        &file,
        format!(
            "MVK_QUIET=yes\ntouch {m}\nMVK_WATCH=$(touch {m})\n",
            m = marker.display()
        ),
    )
    .unwrap();
    (file, marker)
}

#[test]
fn app_names_with_paths_read_nothing() {
    let app = TestApp::new("hard-apppath");
    let dir = TempDir::new("hard-apppath");
    let (file, marker) = executing_env_file(&dir);
    // /etc/mvk/../../<dir>/evil.env is the planted file (the directory must exist for `..`).
    let made = !std::path::Path::new("/etc/mvk").exists();
    if made {
        std::fs::create_dir_all("/etc/mvk").unwrap();
    }
    let evil = format!("../..{}", file.with_extension("").display());
    for script in ["mvk-deploy", "mvk-undo"] {
        let run = run_script(&app, script, &["--app", &evil], &[], "");
        assert_eq!(run.code, 2, "{script}: {}", run.stderr);
        assert!(
            run.stderr.contains("is not a valid app name"),
            "{}",
            run.stderr
        );
        let run = run_script(&app, script, &[], &[("MVK_APP", &evil)], "");
        assert_eq!(run.code, 2, "{script}: {}", run.stderr);
    }
    if made {
        let _ = std::fs::remove_dir("/etc/mvk");
    }
    assert!(!marker.exists(), "the env file was executed");
    assert!(!app.state.path().join(&app.name).exists());
}

#[test]
fn the_env_file_is_parsed_as_systemd_reads_it_never_executed() {
    let app = TestApp::new("hard-envfile");
    let dir = TempDir::new("hard-envfile");
    // A line that is no assignment: refused naming the line, nothing run, nothing created.
    let (file, marker) = executing_env_file(&dir);
    let run = run_script(
        &app,
        "mvk-deploy",
        &[],
        &[("MVK_CONFIG", file.to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2: expected KEY=VALUE"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "the env file was executed");
    assert!(!app.state.path().join(&app.name).exists());

    // Values with blanks, `&`, `$( )` and quotes arrive whole, as under EnvironmentFile=.
    let logs = dir.join("logs with space & $(touch x)");
    std::fs::write(
        &file,
        format!(
            "# records go here\nMVK_LOG_DIR = \"{}\"\nMVK_BEFORE=migrate --to 42\nMVK_SKIP=a&b=$(touch {})\n",
            logs.display(),
            marker.display()
        ),
    )
    .unwrap();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["/nonexistent/context"],
        &[("MVK_CONFIG", file.to_str().unwrap())],
        "",
    );
    assert_eq!(
        run.code, 2,
        "the build fails on the context: {}",
        run.stderr
    );
    assert!(logs.join("01-mvk-build.json").is_file(), "{}", run.stderr);
    assert!(!marker.exists(), "a value was executed");
    // Variables that would steer bash are refused.
    std::fs::write(&file, "BASH_ENV=/tmp/x\n").unwrap();
    let run = run_script(
        &app,
        "mvk-undo",
        &[],
        &[("MVK_CONFIG", file.to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sets BASH_ENV"), "{}", run.stderr);
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_deploy_lock_and_records_are_private_and_no_other_user_can_lock() {
    let app = TestApp::new("hard-lock");
    let run = run_script(&app, "mvk-deploy", &["/nonexistent/context"], &[], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let state = app.state.path().join(&app.name);
    let lock = state.join("deploy.lock");
    assert_eq!(mode(&lock), 0o600);
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "holder line cleared"
    );
    let deploys = state.join("deploys");
    assert_eq!(mode(&deploys), 0o700);
    for dir in std::fs::read_dir(&deploys).unwrap() {
        let dir = dir.unwrap().path();
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    // Even with every directory open, nobody cannot open the lock, so cannot flock it.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = flock_as_nobody(&lock);
    assert!(!out.status.success(), "nobody took the deploy lock");
}

#[test]
fn a_symlinked_deploy_lock_is_refused_and_its_target_untouched() {
    let app = TestApp::new("hard-locklink");
    let state = app.state.path().join(&app.name);
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let dir = TempDir::new("hard-locklink");
    let target = dir.join("precious");
    std::fs::write(&target, "root's data\n").unwrap();
    std::os::unix::fs::symlink(&target, state.join("deploy.lock")).unwrap();
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("is a symlink"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "root's data\n");
    // A state directory others may write in is refused too.
    std::fs::remove_file(state.join("deploy.lock")).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("writable by others"), "{}", run.stderr);
}

#[test]
fn a_lock_whose_holder_is_gone_says_so() {
    let app = TestApp::new("hard-stale");
    let state = app.state.path().join(&app.name);
    std::fs::create_dir_all(&state).unwrap();
    let lock = state.join("deploy.lock");
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(
        &lock,
        format!("mvk-deploy (pid {pid}) since 2026-11-26T14:00:00Z\n"),
    )
    .unwrap();
    // A child the dead deploy started still holds the lock.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    mvk_e2e::wait_until(
        "the child to hold the lock",
        std::time::Duration::from_secs(20),
        || {
            !Command::new("flock")
                .args(["-n", lock.to_str().unwrap(), "true"])
                .status()
                .unwrap()
                .success()
        },
    );
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("pid {pid} is no longer running")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_forged_release_in_the_state_stops_the_deploy_before_anything() {
    let app = TestApp::new("hard-forged");
    let state = app.state.path().join(&app.name);
    std::fs::create_dir_all(&state).unwrap();
    let entry = json!({"release": "v1\"}\n{\"release\":\"x", "image": format!("{}:v1", app.name),
                       "image_id": "", "slot": "blue", "port": app.blue_port,
                       "deployed_at": "2026-11-26T14:00:00Z"});
    std::fs::write(
        state.join("state.json"),
        json!({"version": 1, "app": app.name, "live": entry, "history": [entry]}).to_string(),
    )
    .unwrap();
    let run = run_script(&app, "mvk-deploy", &["/nonexistent/context"], &[], "");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a Maverick state file"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("deploying"), "{}", run.stderr);
}

#[test]
fn mvk_swap_masks_the_env_file_in_a_dead_candidates_logs() {
    let app = TestApp::new("hard-swapmask");
    let image = mvk_e2e::app_image(&app, "v1", &[]);
    let secret = format!("s3cret-{}", app.name);
    let record = mvk_e2e::start_candidate(&app, "blue", &image, &[("DEMO_VERSION", &secret)]);
    mvk_e2e::docker(&["stop", "-t", "1", &format!("{}-blue", app.name)]).unwrap();
    let dir = TempDir::new("hard-swapmask");
    let file = dir.join("app.env");
    std::fs::write(&file, format!("DEMO_VERSION=\"{secret}\"\n")).unwrap();
    let run = app.run(
        "mvk-swap",
        &[],
        &[("MVK_ENV_FILE", file.to_str().unwrap())],
        &format!("{record}\n"),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = run.record();
    assert_eq!(out["error"]["kind"], "candidate-down", "{out}");
    let logs = out["error"]["logs"].to_string();
    assert!(logs.contains("demo-app ***: starting"), "{logs}");
    assert!(
        !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn mvk_verify_and_mvk_alerts_mask_the_env_file_in_what_the_app_answers() {
    let app = TestApp::new("hard-answermask");
    let image = mvk_e2e::app_image(&app, "v1", &[]);
    // Longer than a quoted line is shortened to, so a mask applied after shortening would miss.
    let secret = format!("s3cret-{}-{}", app.name, "k".repeat(150));
    // The app echoes it on `/` and in a malformed line of /metrics (its `}` is missing).
    let line = format!("demo_build_info{{token=\"{secret}\" 1");
    let dir = TempDir::new("hard-answermask");
    let file = dir.join("app.env");
    std::fs::write(
        &file,
        format!("DEMO_VERSION=\"{secret}\"\nDEMO_METRICS_LINE='{line}'\n"),
    )
    .unwrap();
    let env = [("MVK_ENV_FILE", file.to_str().unwrap())];
    let record = mvk_e2e::start_candidate(
        &app,
        "blue",
        &image,
        &[("DEMO_VERSION", &secret), ("DEMO_METRICS_LINE", &line)],
    );
    let swapped = app.run("mvk-swap", &[], &env, &format!("{record}\n"));
    assert_eq!(swapped.code, 0, "{}", swapped.stderr);
    // A failing body check on `demo <secret>` says so without quoting the body.
    let verify = app.run(
        "mvk-verify",
        &["--check", "/~nothing like this"],
        &env,
        &swapped.stdout,
    );
    assert_eq!(verify.code, 1, "{}", verify.stderr);
    assert!(
        verify.stderr.contains("the body does not match"),
        "{}",
        verify.stderr
    );
    // The deploy gate's scrape fails on the malformed line, which it quotes, masked.
    let alerts = app.run("mvk-alerts", &["--watch", "0s"], &env, &swapped.stdout);
    assert_eq!(alerts.code, 1, "{}", alerts.stderr);
    assert!(
        alerts.stderr.contains("after label token: ***"),
        "{}",
        alerts.stderr
    );
    for run in [&swapped, &verify, &alerts] {
        assert!(
            !run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn urls_with_credentials_are_refused_alike_and_never_shown() {
    let app = TestApp::new("hard-userinfo");
    let url = "http://ops:s3cret-pw@127.0.0.1:9/metrics";
    for (tool_name, args, env) in [
        ("mvk-alerts", vec!["check", "--metrics-url", url], vec![]),
        ("mvk-alerts", vec!["check", "--prometheus", url], vec![]),
        ("mvk-alerts", vec!["check", "--alertmanager", url], vec![]),
        ("mvk-alerts", vec!["check"], vec![("MVK_PROMETHEUS", url)]),
        ("mvk-verify", vec!["--url", url], vec![]),
        ("mvk-verify", vec![], vec![("MVK_URL", url)]),
    ] {
        let run = app.run(tool_name, &args, &env, "");
        assert_eq!(run.code, 2, "{tool_name} {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("credentials in the URL"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"),
            "{tool_name} {args:?}: {}",
            run.stderr
        );
    }
    // A header's value is not repeated when refused either (it may be a token).
    let run = app.run(
        "mvk-verify",
        &[
            "--url",
            "http://127.0.0.1:9",
            "--header",
            "Authorization: Bearer s3cret\n",
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}

#[test]
fn the_deploy_unit_is_hardened() {
    let unit = mvk_e2e::demo::repo_root().join("scripts/systemd/mvk-deploy@.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (scripts/setup installs systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split_once("exposure level for ")?
                .1
                .split_once(": ")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no score in: {text}"));
    // 9.2 (UNSAFE) before it was hardened; root and the network stay, for its job.
    assert!(score <= 3.0, "exposure {score}:\n{text}");
}
