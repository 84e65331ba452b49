//! Deploy hooks in scripts/mvk-deploy: a failing or hanging pre-deploy hook stops the deploy
//! with nothing changed, a failed deploy runs its `failed` hooks, and after a good deploy the
//! shipped `sentry` and `webhook` hooks send exactly the requests Sentry's API documents (and a
//! Slack-compatible message) to loopback servers, while a failing post-deploy hook is reported
//! and leaves the deploy live. The Sentry token never reaches output or records.
//! `post-rollback` hooks run after the automatic rollback (then `failed`) and after mvk-undo,
//! with the outcome, the failed step and the releases before and after.

use mvk_e2e::demo::write_context;
use mvk_e2e::{get, run_script, script, StubServer, TempDir, TestApp};
use serde_json::{json, Value};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Instant;

const TOKEN: &str = "sntrys_secret-token-4711";

fn hook(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn all_files_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text += &all_files_text(&path);
        } else {
            text += &std::fs::read_to_string(&path).unwrap_or_default();
        }
    }
    text
}

#[test]
fn a_failing_or_hanging_pre_deploy_hook_stops_the_deploy_with_nothing_changed() {
    let app = TestApp::new("hookpre");
    let hooks = TempDir::new("hooks");
    let upstream = std::fs::read_to_string(&app.nginx.upstream_file).unwrap();
    hook(
        hooks.path(),
        "pre-deploy.check",
        "echo 'not today' >&2; exit 3",
    );
    hook(hooks.path(), "post-deploy", "touch \"$0.ran\"");
    let dir = hooks.path().to_str().unwrap();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["/nonexistent"],
        &[("MVK_HOOKS_DIR", dir)],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not today"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the pre-deploy hook pre-deploy.check failed (exit 3)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(!hooks.join("post-deploy.ran").exists());
    assert!(app.containers().is_empty());
    assert_eq!(
        std::fs::read_to_string(&app.nginx.upstream_file).unwrap(),
        upstream
    );
    assert!(!app.state.join(&format!("{}/state.json", app.name)).exists());

    hook(hooks.path(), "pre-deploy.check", "sleep 30");
    let started = Instant::now();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["/nonexistent"],
        &[("MVK_HOOKS_DIR", dir), ("MVK_HOOK_TIMEOUT", "1")],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not finish within 1s"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed().as_secs() < 20);

    // A hook others may write would run as root: refused.
    hook(hooks.path(), "pre-deploy.check", "exit 0");
    std::fs::set_permissions(
        hooks.join("pre-deploy.check"),
        std::fs::Permissions::from_mode(0o775),
    )
    .unwrap();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["/nonexistent"],
        &[("MVK_HOOKS_DIR", dir)],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
}

#[test]
fn a_failed_deploy_runs_its_failed_hooks_with_the_outcome() {
    let app = TestApp::new("hookfail");
    let hooks = TempDir::new("hooks");
    let out = hooks.join("seen");
    hook(
        hooks.path(),
        "failed",
        &format!(
            "{{ echo \"$MVK_HOOK_EVENT $MVK_OUTCOME $MVK_EXIT_CODE $MVK_FAILED_STEP $MVK_APP\"; jq -c .error.tool; }} > {}",
            out.display()
        ),
    );
    let dir = hooks.path().to_str().unwrap();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["/nonexistent"],
        &[("MVK_HOOKS_DIR", dir)],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("failed failed 2 mvk-build {}\n\"mvk-build\"\n", app.name)
    );
}

#[test]
fn sentry_and_webhook_hooks_report_a_good_deploy_and_a_failing_hook_does_not_undo_it() {
    let app = TestApp::new("hookok");
    let sentry = StubServer::start(|req| match req.path.ends_with("/deploys/") {
        true => (201, r#"{"id":"1","environment":"staging"}"#.into()),
        false => (201, r#"{"version":"x"}"#.into()),
    });
    let slack = StubServer::start(|_| (200, "ok".into()));
    let hooks = TempDir::new("hooks");
    for (event, shipped) in [
        ("post-deploy.sentry", "sentry"),
        ("post-deploy.webhook", "webhook"),
    ] {
        symlink(script("hooks").join(shipped), hooks.join(event)).unwrap();
    }
    let seen = hooks.join("seen");
    hook(
        hooks.path(),
        "post-deploy.a-record",
        &format!(
            "{{ echo \"$MVK_OUTCOME $MVK_RELEASE\"; jq -r .swap.live.release; }} > {}",
            seen.display()
        ),
    );
    hook(hooks.path(), "post-deploy.z-broken", "exit 5");

    let ctx = TempDir::new("ctx");
    write_context(
        ctx.path(),
        &[("MVK_E2E_APP", &app.name), ("DEMO_VERSION", "hooked")],
    );
    let sentry_url = sentry.url("");
    let webhook_url = slack.url("/hooks/T000/B000/XXXX");
    let run = run_script(
        &app,
        "mvk-deploy",
        &["--release", "r1", ctx.path().to_str().unwrap()],
        &[
            ("MVK_HOOKS_DIR", hooks.path().to_str().unwrap()),
            ("MVK_WATCH", "3s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
            ("SENTRY_AUTH_TOKEN", TOKEN),
            ("SENTRY_ORG", "my-org"),
            ("SENTRY_PROJECT", "shop web"),
            ("SENTRY_URL", &sentry_url),
            ("SENTRY_ENVIRONMENT", "staging"),
            ("SENTRY_RELEASE", "shop@%s"),
            ("MVK_WEBHOOK_URL", &webhook_url),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["release"], "r1");
    assert!(
        run.stderr
            .contains("the post-deploy hook post-deploy.z-broken failed (exit 5)"),
        "{}",
        run.stderr
    );
    assert_eq!(get(&app.nginx.url("/")).unwrap().1.trim(), "demo hooked");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "deployed r1\nr1\n");

    let requests = sentry.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for req in &requests {
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
    }
    assert_eq!(requests[0].path, "/api/0/organizations/my-org/releases/");
    let release: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(
        release,
        json!({"version": "shop@r1", "projects": ["shop", "web"]})
    );
    assert_eq!(
        requests[1].path,
        "/api/0/organizations/my-org/releases/shop%40r1/deploys/"
    );
    let deploy: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(deploy["environment"], "staging");
    assert_eq!(deploy["name"], "post-deploy of shop@r1");
    for date in ["dateStarted", "dateFinished"] {
        assert!(deploy[date].as_str().unwrap().ends_with('Z'), "{deploy}");
    }

    let posted = slack.requests();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].path, "/hooks/T000/B000/XXXX");
    let message: Value = serde_json::from_str(&posted[0].body).unwrap();
    assert_eq!(
        message["text"],
        format!(
            "Deployed {} r1 (was nothing): live, verified, alert gate passed",
            app.name
        )
    );

    let records = all_files_text(app.state.path());
    for secret in [TOKEN, "B000/XXXX"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} printed"
        );
        assert!(!records.contains(secret), "{secret} in the records");
    }
}

#[test]
fn post_rollback_hooks_run_after_the_automatic_rollback_and_after_an_undo() {
    let app = TestApp::new("hookback");
    let hooks = TempDir::new("hooks");
    let seen = hooks.join("seen");
    for name in ["post-rollback.log", "failed.log", "post-deploy.log"] {
        hook(
            hooks.path(),
            name,
            &format!(
                "echo \"$MVK_HOOK_EVENT $MVK_OUTCOME ${{MVK_EXIT_CODE:--}} ${{MVK_FAILED_STEP:--}} $MVK_RELEASE ${{MVK_PREVIOUS_RELEASE:--}}\" >> {}",
                seen.display()
            ),
        );
    }
    let env = |extra: &[(&'static str, &'static str)]| {
        let mut env = vec![
            ("MVK_HOOKS_DIR", hooks.path().to_str().unwrap().to_string()),
            ("MVK_WATCH", "2s".into()),
            ("MVK_EVERY", "1s".into()),
            ("MVK_NO_CACHE", "true".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        env
    };
    let deploy = |release: &str, extra: &[(&'static str, &'static str)]| {
        let ctx = mvk_e2e::demo::app_context(&app, release, &[]);
        let env = env(extra);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_script(
            &app,
            "mvk-deploy",
            &["--release", release, ctx.path().to_str().unwrap()],
            &env,
            "",
        )
    };
    assert_eq!(deploy("a", &[]).code, 0);
    // b fails its endpoint check after the swap: a is put back.
    let run = deploy("b", &[("MVK_CHECK", "/nope")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(get(&app.nginx.url("/")).unwrap().1.trim(), "demo a");
    let lines = |text: String| text.lines().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        lines(std::fs::read_to_string(&seen).unwrap()),
        [
            "post-deploy deployed 0 - a -",
            "post-rollback rolled-back 1 mvk-verify a a",
            "failed failed 1 mvk-verify b a",
        ]
    );
    assert_eq!(deploy("c", &[]).code, 0);
    std::fs::remove_file(&seen).unwrap();
    let env = env(&[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let undo = run_script(&app, "mvk-undo", &[], &env, "");
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    let back = get(&app.nginx.url("/")).unwrap().1;
    let back = back.trim().strip_prefix("demo ").unwrap();
    assert_ne!(back, "c");
    assert_eq!(
        lines(std::fs::read_to_string(&seen).unwrap()),
        [format!("post-rollback rolled-back 0 - {back} c")]
    );
}
