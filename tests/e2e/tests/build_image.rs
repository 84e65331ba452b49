//! mvk-build --image: a release built and pushed elsewhere (as CI does, here with mvk-build
//! --push), gone from this host, is pulled by digest (or tag) from a real local registry, with
//! and without credentials, pinned by digest in a build's record, and deployed by the pipeline
//! and by `mvk-deploy --image` (the CI workflow's server side); bad references are exit 2, an
//! unreachable or refusing registry exit 4 naming it and never the secret.

use mvk_e2e::demo::app_context;
use mvk_e2e::registry::RemoveRepo;
use mvk_e2e::{docker, free_port, get, run_script, Registry, Run, TempDir, TestApp};

/// Builds the demo app as `<repo>:<release>`, pushes it, removes it from this host, and
/// returns its registry digest and image id.
fn push_elsewhere(app: &TestApp, repo: &str, release: &str, config: &TempDir) -> (String, String) {
    let ctx = app_context(app, release, &[]);
    let run = app.run(
        "mvk-build",
        &[
            "--release",
            release,
            "--repo",
            repo,
            "--push",
            ctx.path().to_str().unwrap(),
        ],
        &[("DOCKER_CONFIG", config.path().to_str().unwrap())],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    let digest = r["build"]["digest"].as_str().unwrap().to_string();
    let id = r["image_id"].as_str().unwrap().to_string();
    docker(&["rmi", "-f", &id]).unwrap();
    assert!(
        docker(&["image", "inspect", &id]).is_err(),
        "{id} is still here"
    );
    (digest, id)
}

fn image(app: &TestApp, args: &[&str], config: &TempDir) -> Run {
    app.run(
        "mvk-build",
        args,
        &[("DOCKER_CONFIG", config.path().to_str().unwrap())],
        "",
    )
}

#[test]
fn an_image_built_elsewhere_is_pulled_by_digest_and_deployed() {
    let app = TestApp::new("build-image");
    let registry = Registry::start();
    let repo = registry.repo(&app.name);
    let _images = RemoveRepo(repo.clone());
    let no_config = TempDir::new("docker-config");
    let (digest, id) = push_elsewhere(&app, &repo, "ci1", &no_config);

    let pinned = format!("{repo}@{digest}");
    let built = image(&app, &["--image", &pinned], &no_config);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let r = built.record();
    assert_eq!(r["image"], pinned.as_str());
    assert_eq!(r["image_id"], id.as_str(), "the very image pushed");
    assert_eq!(r["build"]["digest"], digest.as_str());
    // The release is the image's mvk.release label, as mvk-build --push set it.
    assert_eq!(r["release"], "ci1");
    assert_eq!(r["build"]["healthcheck"], true);
    assert!(r["build"]["checks"].as_array().unwrap().len() >= 3, "{r}");

    let health = app.run("mvk-healthwait", &[], &[], &built.stdout);
    assert_eq!(health.code, 0, "{}", health.stderr);
    let swap = app.run("mvk-swap", &[], &[], &health.stdout);
    assert_eq!(swap.code, 0, "{}", swap.stderr);
    assert_eq!(swap.record()["image"], pinned.as_str());
    let (status, body) = get(&app.nginx.url("/")).unwrap();
    assert_eq!((status, body.contains("demo ci1")), (200, true), "{body}");
}

#[test]
fn mvk_deploy_image_deploys_a_pushed_release_by_digest_as_the_ci_workflow_does() {
    let app = TestApp::new("build-image-deploy");
    let registry = Registry::start();
    let repo = registry.repo(&app.name);
    let _images = RemoveRepo(repo.clone());
    let no_config = TempDir::new("docker-config");
    let (digest, _) = push_elsewhere(&app, &repo, "ci3", &no_config);
    let pinned = format!("{repo}@{digest}");
    let config = no_config.path().to_str().unwrap();
    // The app's env file also configures builds on the server (the workflow's other flow):
    // those settings are left unused, not a conflict.
    let etc = TempDir::new("etc-mvk");
    let env_file = etc.join("app.env");
    std::fs::write(
        &env_file,
        format!(
            "MVK_CONTEXT=/srv/{0}\nMVK_REPO={repo}\nMVK_PUSH=true\nMVK_NO_CACHE=1\n",
            app.name
        ),
    )
    .unwrap();
    let run = run_script(
        &app,
        "mvk-deploy",
        &["--image", &pinned],
        &[
            ("DOCKER_CONFIG", config),
            ("MVK_CONFIG", env_file.to_str().unwrap()),
            ("MVK_WATCH", "3s"),
            ("MVK_EVERY", "1s"),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "--image: MVK_CONTEXT, MVK_NO_CACHE, MVK_REPO, MVK_PUSH from the environment left unused"
        ),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert_eq!(
        (r["image"].as_str(), r["release"].as_str()),
        (Some(pinned.as_str()), Some("ci3"))
    );
    let (status, body) = get(&app.nginx.url("/")).unwrap();
    assert_eq!((status, body.contains("demo ci3")), (200, true), "{body}");
}

#[test]
fn credentials_come_from_the_docker_config_and_never_show() {
    let app = TestApp::new("build-image-auth");
    let registry = Registry::start_with_auth();
    let host = registry.host();
    let repo = registry.repo(&app.name);
    let _images = RemoveRepo(repo.clone());
    let login = registry.login_config();
    let (digest, id) = push_elsewhere(&app, &repo, "ci2", &login);

    // Without credentials the registry refuses: exit 4, naming it, with no secret anywhere.
    let none = TempDir::new("docker-config");
    let refused = image(&app, &["--image", &format!("{repo}@{digest}")], &none);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    let r = refused.record();
    assert_eq!(r["error"]["kind"], "registry");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains(&host), "{message}");
    for secret in [Registry::PASSWORD, Registry::AUTH] {
        assert!(
            !refused.stdout.contains(secret) && !refused.stderr.contains(secret),
            "{secret} leaked"
        );
    }

    // With them, by tag: pinned by the digest the registry has, --release wins over labels.
    let run = image(
        &app,
        &["--image", &format!("{repo}:ci2"), "--release", "given"],
        &login,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["image"], format!("{repo}@{digest}").as_str());
    assert_eq!(
        (r["image_id"].as_str(), r["release"].as_str()),
        (Some(id.as_str()), Some("given"))
    );
    for secret in [Registry::PASSWORD, Registry::AUTH] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }

    // Pruned again before the candidate starts: mvk-healthwait --pull fetches the pinned
    // image as it is (no tag to set on a repo@digest reference).
    docker(&["rmi", "-f", &id]).unwrap();
    let config = ("DOCKER_CONFIG", login.path().to_str().unwrap());
    let health = app.run("mvk-healthwait", &["--pull"], &[config], &run.stdout);
    assert_eq!(health.code, 0, "{}", health.stderr);
    assert_eq!(health.record()["image_id"], id.as_str());
}

#[test]
fn bad_references_are_exit_2_and_an_unreachable_registry_exit_4() {
    let app = TestApp::new("build-image-bad");
    let none = TempDir::new("docker-config");
    for args in [
        &["--image", "Shop Bad"][..],
        &["--image", "shop@sha256:123"],
        &["--image", "shop:v1", "--push"],
        &["--image", "shop:v1", "/tmp"],
    ] {
        let run = image(&app, args, &none);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    // Where they truly conflict: a build asked for on the command line beside an image to
    // deploy, on the command line or from the environment.
    let pinned = format!("{}@sha256:{}", app.name, "a".repeat(64));
    let env_image = [
        ("DOCKER_CONFIG", none.path().to_str().unwrap()),
        ("MVK_IMAGE", pinned.as_str()),
    ];
    for (args, env, says) in [
        (
            &["--image", &pinned, "--push"][..],
            &env_image[..1],
            "--push cannot be used with --image",
        ),
        (
            &["--image", &pinned, "--repo", "shop"],
            &env_image[..1],
            "--repo cannot be used with --image",
        ),
        (
            &["--push"],
            &env_image[..],
            "--push asks for a build here, but MVK_IMAGE (from the environment)",
        ),
        (
            &["/tmp"],
            &env_image[..],
            "a context directory asks for a build here, but MVK_IMAGE",
        ),
    ] {
        let run = app.run("mvk-build", args, env, "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(run.record()["error"]["kind"], "bad-input");
    }
    let host = format!("127.0.0.1:{}", free_port());
    let run = image(
        &app,
        &["--image", &format!("{host}/{}:v1", app.name)],
        &none,
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "registry");
    assert!(
        r["error"]["message"].as_str().unwrap().contains(&host),
        "{r}"
    );
}
