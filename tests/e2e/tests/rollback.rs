//! mvk-rollback on a real Docker engine (and a real registry for `--pull`, open or wanting the
//! Docker config's credentials): which release it picks, the fast path, pruned images, bad
//! input, and state files of an older format.

use mvk_e2e::demo::repo_root;
use mvk_e2e::registry::docker_config;
use mvk_e2e::{docker, run_script, DemoImage, Registry, TempDir, TestApp};
use serde_json::{json, Value};

/// One history entry as mvk-swap records it.
fn entry(app: &TestApp, release: &str, image: &str, image_id: &str, slot: &str) -> Value {
    let port = if slot == "blue" {
        app.blue_port
    } else {
        app.green_port
    };
    json!({"release": release, "image": image, "image_id": image_id, "slot": slot, "port": port,
           "deployed_at": "2026-01-01T00:00:00Z"})
}

/// Writes a state whose history is `entries` (newest first), the first one live.
fn write_state(app: &TestApp, entries: &[Value]) {
    let state = json!({"version": 1, "app": app.name, "live": entries.first(), "history": entries});
    std::fs::create_dir_all(app.state_file().parent().unwrap()).unwrap();
    std::fs::write(
        app.state_file(),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
}

/// A demo image only this test has: images built from the same context share an id, and
/// another test removing its copy by id would take this one with it.
fn image(app: &TestApp, tag: &str, version: &str) -> DemoImage {
    DemoImage::build(
        tag,
        &[("MVK_TEST_APP", &app.name), ("DEMO_VERSION", version)],
    )
}

fn rollback(app: &TestApp, args: &[&str]) -> mvk_e2e::Run {
    app.run("mvk-rollback", args, &[], "")
}

/// Deploys `image` as mvk-build's record would carry it: `mvk-healthwait | mvk-swap`.
/// Returns mvk-swap's record.
fn deploy(app: &TestApp, image: &DemoImage) -> Value {
    let release = image.tag.rsplit_once(':').unwrap().1;
    let built = json!({"schema": "mvk.release/v1", "app": app.name, "release": release,
                       "image": image.tag, "image_id": image.id, "steps": [], "error": null});
    let health = app.run("mvk-healthwait", &[], &[], &format!("{built}\n"));
    assert_eq!(health.code, 0, "{}", health.stderr);
    let swap = app.run("mvk-swap", &[], &[], &health.stdout);
    assert_eq!(swap.code, 0, "{}", swap.stderr);
    swap.record()
}

fn container_id(name: &str) -> String {
    docker(&["inspect", "-f", "{{.Id}}", name]).unwrap_or_default()
}

fn live_releases(app: &TestApp) -> Vec<(String, bool)> {
    let run = rollback(app, &["--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            (
                l["release"].as_str().unwrap().to_string(),
                l["live"] == true,
            )
        })
        .collect()
}

#[test]
fn nothing_to_roll_back_to_is_exit_1_and_creates_nothing() {
    let app = TestApp::new("rb-nothing");
    let run = rollback(&app, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "nothing-to-roll-back");
    assert!(
        run.stderr.contains("nothing was deployed yet"),
        "{}",
        run.stderr
    );
    assert!(
        !app.state_file().exists(),
        "rollback must not create a state file"
    );

    let a = image(&app, &app.tag("a"), "a");
    write_state(&app, &[entry(&app, "a", &a.tag, &a.id, "blue")]);
    let before = std::fs::read(app.state_file()).unwrap();
    let run = rollback(&app, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("only ever run release a"),
        "{}",
        run.stderr
    );
    assert!(run.record().get("rollback").is_none());
    assert_eq!(std::fs::read(app.state_file()).unwrap(), before);
}

#[test]
fn to_an_unknown_or_the_live_release_is_exit_1() {
    let app = TestApp::new("rb-unknown");
    let a = image(&app, &app.tag("a"), "a");
    let b = image(&app, &app.tag("b"), "b");
    write_state(
        &app,
        &[
            entry(&app, "b", &b.tag, &b.id, "green"),
            entry(&app, "a", &a.tag, &a.id, "blue"),
        ],
    );
    let run = rollback(&app, &["--to", "nope"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "unknown-release");
    assert!(
        run.stderr.contains("release nope is not in the history") && run.stderr.contains("b, a"),
        "{}",
        run.stderr
    );
    let run = rollback(&app, &["--to", "b"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("already live"), "{}", run.stderr);
    // --list and --to together is a usage error.
    assert_eq!(rollback(&app, &["--list", "--to", "a"]).code, 2);
}

#[test]
fn picks_the_release_before_the_live_one_or_to_and_lists_history() {
    let app = TestApp::new("rb-pick");
    let a = image(&app, &app.tag("a"), "a");
    let b = image(&app, &app.tag("b"), "b");
    let c = image(&app, &app.tag("c"), "c");
    write_state(
        &app,
        &[
            entry(&app, "c", &c.tag, &c.id, "blue"),
            entry(&app, "b", &b.tag, &b.id, "green"),
            entry(&app, "a", &a.tag, &a.id, "blue"),
        ],
    );
    let run = rollback(&app, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["app"], app.name.as_str());
    assert_eq!(r["release"], "b");
    assert_eq!(r["image"], b.tag.as_str());
    assert_eq!(r["image_id"], b.id.as_str());
    assert_eq!(
        r["rollback"],
        json!({"from": "c", "to": "b", "pulled": false})
    );
    assert!(
        r.get("candidate").is_none(),
        "no container in the idle slot: {r}"
    );
    assert_eq!(r["steps"][0]["tool"], "mvk-rollback");

    let run = rollback(&app, &["--to", "a"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["release"], "a");
    assert_eq!(run.record()["image_id"], a.id.as_str());

    let run = rollback(&app, &["--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        json!({"release": "c", "image": c.tag, "image_id": c.id, "slot": "blue",
               "deployed_at": "2026-01-01T00:00:00Z", "live": true})
    );
    assert_eq!(
        (lines[1]["release"].as_str(), lines[1]["live"].as_bool()),
        (Some("b"), Some(false))
    );
    assert_eq!(lines[2]["release"], "a");
}

#[test]
fn the_stopped_container_in_the_idle_slot_is_the_fast_path() {
    let app = TestApp::new("rb-fast");
    let a = image(&app, &app.tag("a"), "a");
    let b = image(&app, &app.tag("b"), "b");
    write_state(
        &app,
        &[
            entry(&app, "b", &b.tag, &b.id, "blue"),
            entry(&app, "a", &a.tag, &a.id, "green"),
        ],
    );
    let green = format!("{}-green", app.name);
    let publish = format!("127.0.0.1:{}:8000", app.green_port);
    let (app_label, slot_label) = (
        format!("mvk.app={}", app.name),
        "mvk.slot=green".to_string(),
    );
    // A stopped slot container as mvk-swap leaves it: labelled, publishing the slot's port.
    let create = |publish: &str, labels: &[&str], image: &str| {
        let _ = docker(&["rm", "-f", &green]);
        let mut args = vec!["create", "--name", &green, "-p", publish];
        for l in labels {
            args.extend(["--label", l]);
        }
        args.push(image);
        docker(&args).unwrap()
    };
    let id = create(&publish, &[&app_label, &slot_label], &a.tag);

    let run = rollback(&app, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(
        r["candidate"],
        json!({"slot": "green", "port": app.green_port, "container": green, "container_id": id, "image": a.tag, "reused": true, "started": false})
    );
    assert!(run.stderr.contains("fast path"), "{}", run.stderr);
    // Reading Docker changed nothing: the container is still there, still stopped.
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &green]).unwrap(),
        "created"
    );

    // Another image, another port, or a container that is not the slot's: no fast path.
    let other = format!("127.0.0.1:{}:8000", mvk_e2e::free_port());
    for (publish, labels, image, why) in [
        (
            &publish,
            vec![&app_label, &slot_label],
            &b.tag,
            "runs another image",
        ),
        (
            &other,
            vec![&app_label, &slot_label],
            &a.tag,
            "does not publish",
        ),
        (&publish, vec![&app_label], &a.tag, "is not labelled"),
    ] {
        let labels: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
        create(publish, &labels, image);
        let run = rollback(&app, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.record().get("candidate").is_none(), "{}", run.stdout);
        assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
    }
}

/// Removes the registry-tagged images a test pushed, also when it fails.
struct Untag(Vec<String>);

impl Drop for Untag {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = docker(&["rmi", "-f", tag]);
        }
    }
}

#[test]
fn a_pruned_image_fails_without_pull_and_is_pulled_back_with_it() {
    let app = TestApp::new("rb-pull");
    let registry = Registry::start();
    let repo = registry.repo(&app.name);
    let (a_ref, b_ref) = (format!("{repo}:a"), format!("{repo}:b"));
    let _untag = Untag(vec![a_ref.clone(), b_ref.clone()]);
    let a = image(&app, &a_ref, "a");
    let b = image(&app, &b_ref, "b");
    docker(&["push", &a_ref]).unwrap();
    write_state(
        &app,
        &[
            entry(&app, "b", &b_ref, &b.id, "green"),
            entry(&app, "a", &a_ref, &a.id, "blue"),
        ],
    );
    // Pruned, as mvk-swap --keep-images does it.
    docker(&["rmi", &a_ref]).unwrap();

    let run = rollback(&app, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "image-gone");
    assert!(
        run.stderr.contains("no longer on this host") && run.stderr.contains("--pull"),
        "{}",
        run.stderr
    );
    assert!(
        docker(&["image", "inspect", &a_ref]).is_err(),
        "nothing may be pulled without --pull"
    );

    let run = rollback(&app, &["--pull"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["image"], a_ref.as_str());
    assert_eq!(r["image_id"], a.id.as_str());
    assert_eq!(r["rollback"]["pulled"], true);
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Id}}", &a_ref]).unwrap(),
        a.id
    );

    // Present again, it is used without pulling.
    let run = rollback(&app, &["--pull"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["rollback"]["pulled"], false);
}

#[test]
fn pull_from_a_private_registry_uses_the_docker_config() {
    let app = TestApp::new("rb-auth");
    let registry = Registry::start_with_auth();
    let host = registry.host();
    let repo = registry.repo(&app.name);
    let (a_ref, b_ref) = (format!("{repo}:a"), format!("{repo}:b"));
    let _untag = Untag(vec![a_ref.clone(), b_ref.clone()]);
    let a = image(&app, &a_ref, "a");
    let b = image(&app, &b_ref, "b");
    let login = registry.login_config();
    docker(&["--config", login.path().to_str().unwrap(), "push", &a_ref]).unwrap();
    write_state(
        &app,
        &[
            entry(&app, "b", &b_ref, &b.id, "green"),
            entry(&app, "a", &a_ref, &a.id, "blue"),
        ],
    );
    docker(&["rmi", &a_ref]).unwrap();
    let pull = |config: &TempDir| {
        app.run(
            "mvk-rollback",
            &["--pull"],
            &[("DOCKER_CONFIG", config.path().to_str().unwrap())],
            "",
        )
    };
    let no_secret = |run: &mvk_e2e::Run, secrets: &[&str]| {
        for secret in secrets {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} leaked: {}{}",
                run.stdout,
                run.stderr
            );
        }
    };

    // No credentials for it, or wrong ones (base64 of "mvk:wrong-pw-123"): the registry
    // refuses, exit 4 naming it, and nothing is pulled.
    let none = TempDir::new("docker-config");
    let wrong = docker_config(&format!(
        r#"{{"auths": {{"{host}": {{"auth": "bXZrOndyb25nLXB3LTEyMw=="}}}}}}"#
    ));
    for config in [&none, &wrong] {
        let run = pull(config);
        assert_eq!(run.code, 4, "{}", run.stderr);
        let r = run.record();
        assert_eq!(r["error"]["kind"], "registry", "{r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains(&host), "{message}");
        no_secret(
            &run,
            &[
                Registry::PASSWORD,
                Registry::AUTH,
                "wrong-pw-123",
                "bXZrOndyb25nLXB3LTEyMw",
            ],
        );
        assert!(docker(&["image", "inspect", &a_ref]).is_err());
    }

    // An `auth` that is not base64 of user:password is bad input: exit 2 naming the registry,
    // not the secret.
    let bad = docker_config(&format!(
        r#"{{"auths": {{"{host}": {{"auth": "bm9jb2xvbg=="}}}}}}"#
    ));
    let run = pull(&bad);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let message = run.record()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(&host), "{message}");
    no_secret(&run, &["bm9jb2xvbg", "nocolon"]);

    // With the credentials, the release's very image comes back.
    let run = pull(&login);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["image"], a_ref.as_str());
    assert_eq!(r["image_id"], a.id.as_str());
    assert_eq!(r["rollback"]["pulled"], true);
    assert!(
        run.stderr
            .contains(&format!("from {host} (credentials from")),
        "{}",
        run.stderr
    );
    no_secret(&run, &[Registry::PASSWORD, Registry::AUTH]);
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Id}}", &a_ref]).unwrap(),
        a.id
    );
}

#[test]
fn a_tag_pushed_again_since_is_not_used_and_leaves_no_tag_behind() {
    let app = TestApp::new("rb-changed");
    let registry = Registry::start();
    let a_ref = format!("{}:a", registry.repo(&app.name));
    let _untag = Untag(vec![a_ref.clone()]);
    let old = image(&app, &a_ref, "a");
    let old_id = old.id.clone();
    docker(&["rmi", &a_ref]).unwrap();
    let new = image(&app, &a_ref, "rebuilt");
    docker(&["push", &a_ref]).unwrap();
    docker(&["rmi", &a_ref]).unwrap();
    let b = image(&app, &app.tag("b"), "b");
    write_state(
        &app,
        &[
            entry(&app, "b", &b.tag, &b.id, "green"),
            entry(&app, "a", &a_ref, &old_id, "blue"),
        ],
    );

    let run = rollback(&app, &["--pull"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "image-changed");
    assert!(
        run.stderr.contains(&new.id) && run.stderr.contains(&old_id),
        "{}",
        run.stderr
    );
    assert!(
        docker(&["image", "inspect", &a_ref]).is_err(),
        "the wrong image must not stay tagged"
    );
}

#[test]
fn an_unreachable_registry_or_engine_is_exit_4() {
    let app = TestApp::new("rb-unreach");
    let gone = format!("127.0.0.1:{}/{}:a", mvk_e2e::free_port(), app.name);
    let b = image(&app, &app.tag("b"), "b");
    write_state(
        &app,
        &[
            entry(&app, "b", &b.tag, &b.id, "green"),
            entry(
                &app,
                "a",
                &gone,
                &format!("sha256:{}", "0".repeat(64)),
                "blue",
            ),
        ],
    );
    let run = rollback(&app, &["--pull"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "registry");

    let run = app.run(
        "mvk-rollback",
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        "",
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "docker");
}

#[test]
fn a_version_0_state_file_is_read_and_listed() {
    let app = TestApp::new("rb-v0");
    let a = image(&app, &app.tag("v1"), "v1");
    let fixture =
        std::fs::read_to_string(repo_root().join("tests/e2e/fixtures/state-v0.json")).unwrap();
    let mut v0: Value = serde_json::from_str(&fixture).unwrap();
    assert!(
        v0.get("version").is_none() && v0["releases"].is_array(),
        "the fixture is a version-0 file"
    );
    // Point the fixture at this test's app, images and ports.
    v0["app"] = app.name.clone().into();
    for e in v0["releases"].as_array_mut().unwrap() {
        e["image"] = app.tag(e["release"].as_str().unwrap()).into();
        e["port"] = if e["slot"] == "blue" {
            app.blue_port
        } else {
            app.green_port
        }
        .into();
    }
    std::fs::create_dir_all(app.state_file().parent().unwrap()).unwrap();
    std::fs::write(app.state_file(), serde_json::to_string_pretty(&v0).unwrap()).unwrap();

    let run = rollback(&app, &["--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shown: Vec<_> = lines
        .iter()
        .map(|l| (l["release"].as_str().unwrap(), l["live"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, [("v2", true), ("v1", false)]);

    // Version 0 recorded no image ids: the image is found by its tag, and its id recorded.
    let run = rollback(&app, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(
        (r["release"].as_str(), r["image_id"].as_str()),
        (Some("v1"), Some(a.id.as_str()))
    );
    assert_eq!(r["rollback"]["from"], "v2");
}

/// Release a deployed, then b: a's container is stopped and kept for an undo.
struct AThenB {
    a_slot: String,
    a_container: String,
    images: [DemoImage; 2],
}

fn deploy_a_then_b(app: &TestApp) -> AThenB {
    let a = image(app, &app.tag("a"), "a");
    let b = image(app, &app.tag("b"), "b");
    let first = deploy(app, &a);
    let a_slot = first["swap"]["live"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.serving(), "demo a\n");
    deploy(app, &b);
    assert_eq!(app.serving(), "demo b\n");
    AThenB {
        a_container: container_id(&a_slot),
        a_slot,
        images: [a, b],
    }
}

#[test]
fn deploy_a_deploy_b_undo_puts_a_back_by_starting_its_stopped_container() {
    let app = TestApp::new("rb-undo");
    let AThenB {
        a_slot,
        a_container,
        images: _images,
    } = deploy_a_then_b(&app);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &a_slot]).unwrap(),
        "false"
    );

    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(
        r["rollback"],
        json!({"from": "b", "to": "a", "pulled": false})
    );
    assert_eq!(r["swap"]["live"]["release"], "a");
    assert_eq!(r["candidate"]["reused"], true, "{r}");
    assert_eq!(r["candidate"]["container_id"], a_container.as_str());
    assert_eq!(app.serving(), "demo a\n");
    assert_eq!(
        container_id(&a_slot),
        a_container,
        "the fast path starts the same container"
    );
    let tools: Vec<_> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["mvk-rollback", "mvk-healthwait", "mvk-swap"]);
    // Each step's record is kept.
    let deploys = app.state.path().join(&app.name).join("deploys");
    let runs: Vec<_> = std::fs::read_dir(&deploys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .ends_with("-undo"));
    for f in [
        "01-mvk-rollback.json",
        "02-mvk-healthwait.json",
        "03-mvk-swap.json",
    ] {
        let text = std::fs::read_to_string(runs[0].join(f)).unwrap();
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    assert_eq!(
        std::fs::read_to_string(runs[0].join("03-mvk-swap.json")).unwrap(),
        run.stdout
    );

    // A second undo undoes the first.
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["swap"]["live"]["release"], "b");
    assert_eq!(app.serving(), "demo b\n");
    let history = live_releases(&app);
    let want: Vec<(String, bool)> = [("b", true), ("a", false), ("b", false), ("a", false)]
        .iter()
        .map(|(r, l)| (r.to_string(), *l))
        .collect();
    assert_eq!(history, want);
}

/// mvk-undo whose swap fails (here nginx rejects the configuration) leaves what it found: the
/// previous release's container, which the health wait started again, is stopped again (the
/// same container, kept for the next undo), and the live release keeps serving.
#[test]
fn undo_whose_swap_fails_stops_the_started_container_again() {
    let app = TestApp::new("rb-undo-fail");
    let AThenB {
        a_slot,
        a_container,
        images: _images,
    } = deploy_a_then_b(&app);
    let dir = TempDir::new("undo-fail");
    let nginx = dir.join("nginx");
    std::fs::write(
        &nginx,
        "#!/bin/sh\ncase \"$1\" in -T) echo 'nginx: [emerg] refused by the test' >&2; exit 1;; esac\nexec nginx \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&nginx, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let run = run_script(
        &app,
        "mvk-undo",
        &[],
        &[("MVK_NGINX", nginx.to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.record()["error"]["kind"],
        "nginx-config",
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("stopped again"), "{}", run.stderr);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &a_slot]).unwrap(),
        "false"
    );
    assert_eq!(container_id(&a_slot), a_container, "kept, not removed");
    assert_eq!(app.serving(), "demo b\n");

    // The next undo finds it as before.
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.record()["candidate"]["container_id"],
        a_container.as_str()
    );
    assert_eq!(app.serving(), "demo a\n");
}

#[test]
fn undo_with_nothing_to_roll_back_to_or_an_unknown_release_changes_nothing() {
    let app = TestApp::new("rb-undo-none");
    let a = image(&app, &app.tag("a"), "a");
    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing to roll back to"),
        "{}",
        run.stderr
    );
    assert_eq!(run.record()["error"]["tool"], "mvk-rollback");

    deploy(&app, &a);
    let before = std::fs::read(app.state_file()).unwrap();
    for args in [&[][..], &["--to", "nope"][..]] {
        let run = run_script(&app, "mvk-undo", args, &[], "");
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.record()["error"]["kind"].is_string());
        assert_eq!(app.serving(), "demo a\n");
        assert_eq!(
            std::fs::read(app.state_file()).unwrap(),
            before,
            "the state must not change"
        );
    }
}

#[test]
fn undo_to_a_pruned_release_fails_without_pull_and_pulls_it_from_the_registry_with_it() {
    let app = TestApp::new("rb-undo-pull");
    let registry = Registry::start();
    let a_ref = format!("{}:a", registry.repo(&app.name));
    let _untag = Untag(vec![a_ref.clone()]);
    let a = image(&app, &a_ref, "a");
    let b = image(&app, &app.tag("b"), "b");
    docker(&["push", &a_ref]).unwrap();
    let first = deploy(&app, &a);
    deploy(&app, &b);
    // Pruned: its stopped container and its image are gone from the host.
    docker(&["rm", first["swap"]["live"]["container"].as_str().unwrap()]).unwrap();
    docker(&["rmi", &a_ref]).unwrap();
    let before = std::fs::read(app.state_file()).unwrap();

    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.record()["error"]["kind"], "image-gone");
    assert!(run.stderr.contains("--pull"), "{}", run.stderr);
    assert_eq!(app.serving(), "demo b\n");
    assert_eq!(std::fs::read(app.state_file()).unwrap(), before);

    let run = run_script(&app, "mvk-undo", &["--pull"], &[], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["rollback"]["pulled"], true);
    assert_eq!(r["image_id"], a.id.as_str());
    assert_eq!(r["candidate"]["reused"], false);
    assert_eq!(r["swap"]["live"]["release"], "a");
    assert_eq!(app.serving(), "demo a\n");
}

#[test]
fn a_version_0_state_file_is_migrated_by_the_tools_keeping_its_history() {
    let app = TestApp::new("rb-v0-undo");
    let v1 = image(&app, &app.tag("v1"), "v1");
    let v2 = image(&app, &app.tag("v2"), "v2");
    let slot_of = |r: &Value| r["swap"]["live"]["slot"].as_str().unwrap().to_string();
    let (s1, s2) = (slot_of(&deploy(&app, &v1)), slot_of(&deploy(&app, &v2)));
    // The host as an older mvk left it: the same two releases, in a version-0 state file.
    let fixture =
        std::fs::read_to_string(repo_root().join("tests/e2e/fixtures/state-v0.json")).unwrap();
    let mut v0: Value = serde_json::from_str(&fixture).unwrap();
    v0["app"] = app.name.clone().into();
    for (e, slot) in v0["releases"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip([&s2, &s1])
    {
        e["image"] = app.tag(e["release"].as_str().unwrap()).into();
        e["slot"] = slot.as_str().into();
        e["port"] = if slot == "blue" {
            app.blue_port
        } else {
            app.green_port
        }
        .into();
    }
    std::fs::write(app.state_file(), serde_json::to_string_pretty(&v0).unwrap()).unwrap();

    let run = run_script(&app, "mvk-undo", &[], &[], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["swap"]["live"]["release"], "v1");
    assert_eq!(app.serving(), "demo v1\n");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(app.state_file()).unwrap()).unwrap();
    assert_eq!(state["version"], 1);
    assert!(state.get("releases").is_none(), "{state}");
    let releases: Vec<_> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["release"].as_str().unwrap())
        .collect();
    assert_eq!(releases, ["v1", "v2", "v1"]);
    assert_eq!(state["live"]["release"], "v1");
    assert_eq!(state["live"]["image_id"], v1.id.as_str());
    assert_eq!(
        state["owner"], "team-shop",
        "unknown fields survive the migration"
    );
    assert_eq!(state["history"][2]["deployed_by"], "ops");
    assert_eq!(state["history"][2]["deployed_at"], "2025-06-01T10:00:00Z");
}

#[test]
fn cause_keeps_the_failed_deploys_error_and_a_bad_cause_file_is_exit_2() {
    let app = TestApp::new("rb-cause");
    let dir = mvk_e2e::TempDir::new("cause");
    let failed = dir.join("failed.json");
    let error =
        json!({"tool": "mvk-alerts", "kind": "firing", "message": "HighErrorRate is firing"});
    let record = json!({"schema": "mvk.release/v1", "app": app.name, "release": "b", "steps": [], "error": error});
    std::fs::write(&failed, format!("{record}\n")).unwrap();
    // Even when the rollback cannot happen, its record says why it was attempted.
    let run = rollback(&app, &["--cause", failed.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["rollback"]["cause"], error);
    assert_eq!(r["error"]["kind"], "nothing-to-roll-back");

    for bad in [dir.join("missing.json"), dir.path().to_path_buf()] {
        let run = rollback(&app, &["--cause", bad.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("--cause"), "{}", run.stderr);
    }
    std::fs::write(&failed, "{not json").unwrap();
    let run = rollback(&app, &["--cause", failed.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("invalid JSON"), "{}", run.stderr);
}

#[test]
fn undo_ignores_mvk_list_and_mvk_to_from_the_environment_and_the_env_file() {
    let app = TestApp::new("rb-undo-env");
    let a = image(&app, &app.tag("a"), "a");
    let b = image(&app, &app.tag("b"), "b");
    deploy(&app, &a);
    deploy(&app, &b);
    let dir = TempDir::new("undo-env");
    let env_file = dir.join("app.env");
    std::fs::write(&env_file, "MVK_LIST=1\nMVK_TO=nope\n").unwrap();
    let env_file = env_file.to_str().unwrap();
    let leaked = [("MVK_LIST", "1"), ("MVK_TO", "nope")];
    let from_file = [("MVK_CONFIG", env_file)];

    // Where it would go: the record of a dry run, not the listing, not the named release.
    for extra in [&leaked[..], &from_file[..]] {
        let run = run_script(&app, "mvk-undo", &["--dry-run"], extra, "");
        assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "{extra:?}: {}", run.stdout);
        assert_eq!(run.record()["rollback"]["to"], "a", "{extra:?}");
    }
    // The rollback itself, back and forth: each goes to the release before the live one.
    for (extra, to) in [(&leaked[..], "a"), (&from_file[..], "b")] {
        let run = run_script(&app, "mvk-undo", &[], extra, "");
        assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
        let r = run.record();
        assert_eq!(r["swap"]["live"]["release"], to, "{extra:?}: {r}");
        assert_eq!(app.serving(), format!("demo {to}\n"));
    }
    // What it is told still counts: --to and --list.
    let run = run_script(&app, "mvk-undo", &["--to", "a"], &leaked, "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(app.serving(), "demo a\n");
    let run = run_script(&app, "mvk-undo", &["--list"], &[("MVK_TO", "nope")], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 5, "{}", run.stdout);
}
