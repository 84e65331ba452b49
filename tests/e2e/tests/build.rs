//! mvk-build on the real engine: multi-stage builds, .dockerignore (compared with `docker
//! build` itself), the image checks, --strict, build errors, pushes to a real registry (with
//! and without credentials, and an unreachable one), bad input, and an interrupted upload.

use mvk_e2e::registry::{docker_config, RemoveRepo};
use mvk_e2e::{demo_binary, docker, free_port, tool, Registry, Run, TempDir, TestApp};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const GOOD_TAIL: &str = "USER 10001:10001\nEXPOSE 8000\nHEALTHCHECK --interval=1s CMD [\"/demo-app\", \"healthcheck\"]\n";

/// A context directory holding `files` (path, content).
fn context(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("build-ctx");
    for (path, content) in files {
        write(dir.path(), path, content.as_bytes());
    }
    dir
}

fn write(dir: &Path, path: &str, content: &[u8]) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn build(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Run {
    app.run("mvk-build", args, env, "")
}

fn inspect(image: &str, format: &str) -> String {
    docker(&["image", "inspect", "-f", format, image])
        .unwrap_or_else(|e| panic!("inspect {image}: {e}"))
}

fn label(image: &str, name: &str) -> String {
    inspect(image, &format!("{{{{index .Config.Labels \"{name}\"}}}}"))
}

fn check<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["build"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {record}"))
}

fn failed_checks(record: &Value) -> Vec<String> {
    let checks = record["build"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{record}");
    checks
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Removes, on drop, every image of a repository outside the app's own (a registry's).
/// Removes, on drop, the untagged images labelled for the app: a builder stage's last image,
/// and an image whose tag a later build of the same release took over.
struct Leftovers(String);
impl Drop for Leftovers {
    fn drop(&mut self) {
        let filter = format!("label=mvk.app={}", self.0);
        for _ in 0..5 {
            let ids = docker(&[
                "images",
                "-q",
                "--no-trunc",
                "-f",
                "dangling=true",
                "-f",
                &filter,
            ])
            .unwrap_or_default();
            if ids.is_empty() {
                break;
            }
            for id in ids.lines() {
                let _ = docker(&["rmi", id]);
            }
        }
    }
}

/// A test app and the cleanup of its leftovers (dropped first, then the app).
fn test_app(label: &str) -> (TestApp, Leftovers) {
    let app = TestApp::new(label);
    let leftovers = Leftovers(app.name.clone());
    (app, leftovers)
}

#[test]
fn multi_stage_build_with_a_build_arg_and_a_target() {
    let (app, _leftovers) = test_app("build-multi");
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM scratch AS builder\nARG GREETING=none\nCOPY demo-app /demo-app\nLABEL mvk.app={app}\n\n\
             FROM scratch AS runtime\nARG GREETING\nCOPY --from=builder /demo-app /demo-app\n\
             LABEL greeting=$GREETING\n{GOOD_TAIL}ENTRYPOINT [\"/demo-app\"]\n\n\
             FROM runtime AS debug\nLABEL debug=yes\n",
            app = app.name
        ),
    )]);
    std::fs::copy(demo_binary(), ctx.join("demo-app")).unwrap();
    let dir = ctx.path().to_str().unwrap();
    // The default (auto: BuildKit here) and the classic builder, both as the tool's contract says.
    for (builder, release, log_line) in [
        ("auto", "v1", "mvk-build: #"),
        ("classic", "v2", "mvk-build: Step 1/"),
    ] {
        let run = build(
            &app,
            &[
                "--builder",
                builder,
                "--build-arg",
                "GREETING=hello",
                "--target",
                "runtime",
                "--release",
                release,
                dir,
            ],
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.record();
        let image = app.tag(release);
        assert_eq!(r["app"], app.name.as_str());
        assert_eq!(r["release"], release);
        assert_eq!(r["image"], image.as_str());
        assert_eq!(r["image_id"], inspect(&image, "{{.Id}}").as_str());
        assert_eq!(r["steps"][0]["tool"], "mvk-build");
        assert_eq!(r["steps"][0]["ok"], true);
        assert!(r["error"].is_null());

        assert_eq!(label(&image, "greeting"), "hello", "{builder}");
        assert_eq!(
            label(&image, "debug"),
            "",
            "--target stops before the debug stage"
        );
        assert_eq!(label(&image, "mvk.app"), app.name);
        assert_eq!(label(&image, "mvk.release"), release);
        assert_eq!(
            label(&image, "org.opencontainers.image.revision"),
            release,
            "no git: the release id"
        );
        assert!(label(&image, "org.opencontainers.image.created").ends_with('Z'));

        let b = &r["build"];
        assert_eq!(b["user"], "10001:10001");
        assert_eq!(b["healthcheck"], true);
        assert_eq!(
            b["size_bytes"].as_u64().unwrap().to_string(),
            inspect(&image, "{{.Size}}")
        );
        assert!(b["seconds"].as_f64().unwrap() > 0.0);
        assert!(b.get("digest").is_none());
        assert!(failed_checks(&r).is_empty(), "{r}");
        // The demo binary came through the builder stage.
        assert!(b["size_bytes"].as_u64().unwrap() > 500_000, "{b}");
        assert!(run.stderr.contains(log_line), "{}", run.stderr);
        assert!(
            run.stderr.contains("mvk-build: Successfully tagged"),
            "{}",
            run.stderr
        );
    }
}

/// The `LABEL` steps of an image's history, oldest first.
fn label_steps(image: &str) -> Vec<String> {
    let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).unwrap();
    let mut steps: Vec<String> = history
        .lines()
        .filter(|l| l.contains("LABEL"))
        .map(str::to_string)
        .collect();
    steps.reverse();
    steps
}

/// The content of `path` in the image's filesystem, if it has one.
fn file_in(image: &str, path: &str) -> Option<String> {
    let id = docker(&["create", image]).unwrap();
    let out = Command::new("sh")
        .args(["-c", &format!("docker export {id} | tar -xO {path}")])
        .output()
        .unwrap();
    docker(&["rm", &id]).unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_classic_builder_takes_the_labels_in_one_step_and_the_image_copies_the_context_as_it_is() {
    let (app, _leftovers) = test_app("build-labels");
    let dockerfile = format!("FROM scratch\nCOPY . /ctx/\n{GOOD_TAIL}ENTRYPOINT [\"/demo-app\"]\n");
    let ctx = context(&[("Dockerfile", &dockerfile), ("app.txt", "app\n")]);
    std::fs::copy(demo_binary(), ctx.join("demo-app")).unwrap();
    let dir = ctx.path().to_str().unwrap();
    let labelled = |release: &str| {
        let run = build(
            &app,
            &["--builder", "classic", "--release", release, dir],
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let image = app.tag(release);
        assert_eq!(label(&image, "mvk.app"), app.name);
        assert_eq!(label(&image, "mvk.release"), release);
        assert_eq!(label(&image, "org.opencontainers.image.revision"), release);
        assert!(label(&image, "org.opencontainers.image.created").ends_with('Z'));
        (run, image)
    };

    let (_, image) = labelled("r1");
    let steps = label_steps(&image);
    assert_eq!(steps.len(), 1, "{steps:?}");
    for name in [
        "mvk.app",
        "mvk.release",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.created",
    ] {
        assert!(steps[0].contains(name), "{steps:?}");
    }
    // The image copied the context as `docker build` sends it: the Dockerfile as written, and
    // neither the labelled copy the daemon read nor the .dockerignore that hid it.
    assert_eq!(
        file_in(&image, "ctx/Dockerfile").as_deref(),
        Some(dockerfile.as_str())
    );
    assert_eq!(file_in(&image, "ctx/app.txt").as_deref(), Some("app\n"));
    assert_eq!(file_in(&image, "ctx/.dockerignore"), None);
    let listing = Command::new("sh")
        .args(["-c", &format!("id=$(docker create {image}) && docker export $id | tar -t; docker rm $id >/dev/null")])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(!listing.contains(".dockerfile."), "{listing}");

    // A .dockerignore the image copies must reach it as written: one step per label then.
    write(ctx.path(), ".dockerignore", b"*.log\n");
    let (run, image) = labelled("r2");
    assert!(
        run.stderr.contains("labels one step each"),
        "{}",
        run.stderr
    );
    assert_eq!(label_steps(&image).len(), 4, "{:?}", label_steps(&image));
    assert_eq!(
        file_in(&image, "ctx/.dockerignore").as_deref(),
        Some("*.log\n")
    );
}

#[test]
fn buildkit_rebuilds_an_unchanged_context_under_a_new_release_from_the_cache() {
    let (app, _leftovers) = test_app("build-cache");
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM scratch\nCOPY demo-app /demo-app\n{GOOD_TAIL}ENTRYPOINT [\"/demo-app\"]\n"),
    )]);
    std::fs::copy(demo_binary(), ctx.join("demo-app")).unwrap();
    let dir = ctx.path().to_str().unwrap();
    let first = build(
        &app,
        &["--builder", "buildkit", "--release", "r1", dir],
        &[],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = build(
        &app,
        &["--builder", "buildkit", "--release", "r2", dir],
        &[],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    // The copy step came from the cache; only the labels differ.
    let copy = second
        .stderr
        .lines()
        .find(|l| l.contains("COPY demo-app /demo-app"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| panic!("no COPY step: {}", second.stderr));
    assert!(
        second.stderr.contains(&format!("mvk-build: {copy} CACHED")),
        "{}",
        second.stderr
    );
    assert_eq!(label(&app.tag("r2"), "mvk.release"), "r2");
    assert_eq!(label(&app.tag("r1"), "mvk.release"), "r1");
    assert_ne!(first.record()["image_id"], second.record()["image_id"]);

    // With --no-cache the step runs again.
    let fresh = build(
        &app,
        &[
            "--builder",
            "buildkit",
            "--no-cache",
            "--release",
            "r3",
            dir,
        ],
        &[],
    );
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert!(
        !fresh.stderr.contains(&format!("{copy} CACHED")),
        "{}",
        fresh.stderr
    );
}

/// `perms owner size name` of everything under /ctx in the image (its files as COPY left them).
fn ctx_listing(image: &str, container: &str) -> Vec<String> {
    docker(&["create", "--name", container, image, "/none"]).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker export {container} | tar -tv --numeric-owner --quoting-style=literal"
        ))
        .output()
        .unwrap();
    docker(&["rm", "-f", container]).unwrap();
    assert!(out.status.success());
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f[5..].join(" ");
            name.starts_with("ctx/")
                .then(|| format!("{} {} {} {name}", f[0], f[1], f[2]))
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn dockerignore_keeps_a_large_file_out_exactly_as_docker_build_does() {
    let (app, _leftovers) = test_app("build-ignore");
    let long = format!("deep/{}/{}", "d".repeat(110), "f".repeat(120));
    let ctx = context(&[
        ("Dockerfile", &format!("FROM scratch\nCOPY . /ctx/\n{GOOD_TAIL}")),
        (
            ".dockerignore",
            "# build outputs\n*.bin\n!keep.bin\n**/*.log\n/build\n./tmp/\ndocs/*\n!docs/README.md\n\
             node_modules\n!node_modules/keep/**\nsrc/**/secret?.txt\nDockerfile\n.dockerignore\n",
        ),
        ("keep.bin", "small and wanted"),
        ("app.log", "x"),
        ("src/main.rs", "fn main() {}"),
        ("src/a/b/trace.log", "x"),
        ("src/a/secret1.txt", "x"),
        ("src/a/secret12.txt", "kept: two characters"),
        ("build/out.o", "x"),
        ("tmp/scratch", "x"),
        ("docs/README.md", "kept"),
        ("docs/guide.md", "x"),
        ("node_modules/left/index.js", "x"),
        ("node_modules/keep/index.js", "kept"),
        ("grüße.txt", "utf-8"),
        (&long, "a long path"),
    ]);
    // Sparse: 150 MB on paper, none on disk; sent, it would fail the size check.
    std::fs::File::create(ctx.join("big.bin"))
        .unwrap()
        .set_len(150_000_000)
        .unwrap();
    std::fs::create_dir(ctx.join("empty")).unwrap();
    std::os::unix::fs::symlink("src/main.rs", ctx.join("link")).unwrap();
    std::fs::set_permissions(
        ctx.join("src/main.rs"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap();
    let dir = ctx.path().to_str().unwrap();

    let run = build(&app, &["--release", "mine", dir], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // BuildKit would keep the ignored Dockerfile in the context: auto takes the classic builder.
    assert!(
        run.stderr.contains("building with the classic builder"),
        "{}",
        run.stderr
    );
    let r = run.record();
    assert!(failed_checks(&r).is_empty(), "{r}");
    assert!(
        r["build"]["size_bytes"].as_u64().unwrap() < 1_000_000,
        "{r}"
    );

    docker(&["build", "-q", "-t", &app.tag("docker"), dir]).unwrap();
    let ours = ctx_listing(&app.tag("mine"), &format!("{}-ls1", app.name));
    let theirs = ctx_listing(&app.tag("docker"), &format!("{}-ls2", app.name));
    assert_eq!(ours, theirs);
    let names: Vec<&str> = ours
        .iter()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap())
        .collect();
    for wanted in [
        "ctx/keep.bin",
        "ctx/docs/README.md",
        "ctx/node_modules/keep/index.js",
        "ctx/src/a/secret12.txt",
        "ctx/grüße.txt",
        "ctx/link -> src/main.rs",
        "ctx/empty/",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing: {names:#?}");
    }
    assert!(
        names.contains(&format!("ctx/{long}").as_str()),
        "{names:#?}"
    );
    for gone in [
        "big.bin",
        "app.log",
        "trace.log",
        "secret1.txt",
        "build/",
        "tmp/",
        "guide.md",
        "left",
        "Dockerfile",
        ".dockerignore",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(gone)),
            "{gone} was sent: {names:#?}"
        );
    }
    assert!(
        ours.iter()
            .any(|l| l.starts_with("-rwxr-x--x 0/0") && l.ends_with("ctx/src/main.rs")),
        "{ours:#?}"
    );

    // And asked for BuildKit, that is refused before anything is built.
    let refused = build(
        &app,
        &["--builder", "buildkit", "--release", "refused", dir],
        &[],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(docker(&["image", "inspect", &app.tag("refused")]).is_err());

    // With the Dockerfile kept (and .dockerignore ignoring itself), BuildKit gets the same files.
    let ignore = std::fs::read_to_string(ctx.join(".dockerignore")).unwrap();
    std::fs::write(
        ctx.join(".dockerignore"),
        ignore.replace("\nDockerfile\n", "\n"),
    )
    .unwrap();
    let run = build(
        &app,
        &["--builder", "buildkit", "--release", "kit", dir],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    docker(&["build", "-q", "-t", &app.tag("docker-kit"), dir]).unwrap();
    let kit = ctx_listing(&app.tag("kit"), &format!("{}-ls5", app.name));
    assert_eq!(
        kit,
        ctx_listing(&app.tag("docker-kit"), &format!("{}-ls6", app.name))
    );
    assert!(
        kit.iter().any(|l| l.ends_with("ctx/Dockerfile")),
        "{kit:#?}"
    );
    assert!(!kit.iter().any(|l| l.contains(".dockerignore")), "{kit:#?}");

    // A Dockerfile outside the context travels under a random name and stays out of the image.
    let outside = context(&[(
        "Dockerfile.other",
        &format!("FROM scratch\nCOPY . /ctx/\n{GOOD_TAIL}"),
    )]);
    std::fs::remove_file(ctx.join(".dockerignore")).unwrap();
    std::fs::remove_file(ctx.join("big.bin")).unwrap();
    let file = outside.join("Dockerfile.other");
    let run = build(
        &app,
        &["--release", "mine2", "--file", file.to_str().unwrap(), dir],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    docker(&[
        "build",
        "-q",
        "-t",
        &app.tag("docker2"),
        "-f",
        file.to_str().unwrap(),
        dir,
    ])
    .unwrap();
    let ours = ctx_listing(&app.tag("mine2"), &format!("{}-ls3", app.name));
    assert_eq!(
        ours,
        ctx_listing(&app.tag("docker2"), &format!("{}-ls4", app.name))
    );
    assert!(
        !ours
            .iter()
            .any(|l| l.contains(".dockerfile.") || l.contains(".dockerignore")),
        "{ours:#?}"
    );
    assert!(
        ours.iter().any(|l| l.ends_with("ctx/Dockerfile")),
        "the context's own Dockerfile is plain content now"
    );
}

#[test]
fn each_check_fails_on_a_purpose_made_image_and_strict_fails_the_step() {
    let (app, _leftovers) = test_app("build-checks");
    let payload = "x".repeat(2000);
    let cases: [(&str, &str, &[&str]); 5] = [
        ("good", GOOD_TAIL, &[]),
        (
            "root",
            "EXPOSE 8000\nHEALTHCHECK CMD [\"/f\"]\n",
            &["non-root"],
        ),
        ("nohealth", "USER app\nEXPOSE 8000\n", &["healthcheck"]),
        ("big", GOOD_TAIL, &["size"]),
        (
            "port",
            "USER 1000\nEXPOSE 9000\nHEALTHCHECK CMD [\"/f\"]\n",
            &["exposes-port"],
        ),
    ];
    for (release, tail, want_failed) in cases {
        let ctx = context(&[
            ("Dockerfile", &format!("FROM scratch\nCOPY f /f\n{tail}")),
            ("f", &payload),
        ]);
        let max = if release == "big" { "1000" } else { "100MB" };
        let run = build(
            &app,
            &[
                "--release",
                release,
                "--max-size",
                max,
                ctx.path().to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(run.code, 0, "{release}: {}", run.stderr);
        let r = run.record();
        assert_eq!(failed_checks(&r), want_failed, "{release}: {r}");
        for name in want_failed {
            assert!(
                run.stderr
                    .contains(&format!("warning: check {name} failed")),
                "{}",
                run.stderr
            );
        }
    }
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY f /f\nEXPOSE 8000\nHEALTHCHECK CMD [\"/f\"]\n",
        ),
        ("f", &payload),
    ]);
    let dir = ctx.path().to_str().unwrap();
    assert!(check(
        &build(&app, &["--release", "root2", dir], &[]).record(),
        "non-root"
    )["detail"]
        .as_str()
        .unwrap()
        .contains("root"));
    let run = build(&app, &["--release", "strict", "--strict", dir], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["tool"], "mvk-build");
    assert_eq!(r["error"]["kind"], "checks");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("non-root"),
        "{r}"
    );
    // The image is built and still reported.
    assert_eq!(r["image"], app.tag("strict").as_str());
    assert_eq!(
        r["image_id"],
        inspect(&app.tag("strict"), "{{.Id}}").as_str()
    );
    assert_eq!(check(&r, "non-root")["ok"], false);
    assert_eq!(r["steps"][0]["ok"], false);
    // MVK_STRICT does the same.
    let run = build(&app, &["--release", "strict2", dir], &[("MVK_STRICT", "1")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn a_dockerfile_syntax_error_fails_with_the_daemons_message() {
    let (app, _leftovers) = test_app("build-syntax");
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPPY f /f\n"), ("f", "x")]);
    let run = build(
        &app,
        &["--release", "v1", ctx.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "build");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message
            .to_lowercase()
            .contains("unknown instruction: coppy"),
        "{message}"
    );
    assert!(r.get("image_id").is_none(), "{r}");
    assert_eq!(docker(&["images", "-q", &app.name]).unwrap(), "");

    // A failing step: the daemon's message, and the log tail in the record.
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPY missing.txt /x\n")]);
    let run = build(
        &app,
        &["--release", "v2", ctx.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.record();
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing.txt"),
        "{r}"
    );
    assert!(
        r["error"]["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("COPY missing.txt")),
        "{r}"
    );
    assert_eq!(docker(&["images", "-q", &app.name]).unwrap(), "");
}

/// The digest the registry serves for `name:tag`.
fn manifest_digest(port: u16, name: &str, tag: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "HEAD /v2/{name}/manifests/{tag} HTTP/1.0\r\nHost: 127.0.0.1\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Docker-Content-Digest: "))
        .unwrap_or_else(|| panic!("no digest: {text}"))
        .trim()
        .to_string()
}

fn catalog(port: u16) -> String {
    mvk_e2e::get(&format!("http://127.0.0.1:{port}/v2/_catalog"))
        .unwrap()
        .1
}

#[test]
fn push_to_a_registry_on_loopback() {
    let (app, _leftovers) = test_app("build-push");
    let registry = Registry::start();
    let repo = registry.repo(&app.name);
    let _registry_images = RemoveRepo(repo.clone());
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("FROM scratch\nCOPY f /f\n{GOOD_TAIL}"),
        ),
        ("f", "payload"),
    ]);
    let no_config = TempDir::new("docker-config");
    let run = build(
        &app,
        &[
            "--release",
            "v1",
            "--repo",
            &repo,
            "--push",
            ctx.path().to_str().unwrap(),
        ],
        &[("DOCKER_CONFIG", no_config.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["image"], format!("{repo}:v1").as_str());
    assert_eq!(
        r["image_id"],
        inspect(&format!("{repo}:v1"), "{{.Id}}").as_str()
    );
    let digest = r["build"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{r}");
    assert!(
        catalog(registry.port).contains(&format!("\"{}\"", app.name)),
        "{}",
        catalog(registry.port)
    );
    assert_eq!(manifest_digest(registry.port, &app.name, "v1"), digest);
    assert!(
        run.stderr.contains(&format!("pushed {repo}:v1")),
        "{}",
        run.stderr
    );
}

#[test]
fn push_with_credentials_from_the_docker_config() {
    let (app, _leftovers) = test_app("build-auth");
    let registry = Registry::start_with_auth();
    let host = registry.host();
    let repo = format!("{host}/{}", app.name);
    let _registry_images = RemoveRepo(repo.clone());
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("FROM scratch\nCOPY f /f\n{GOOD_TAIL}"),
        ),
        ("f", "payload"),
    ]);
    let dir = ctx.path().to_str().unwrap();
    let args = |release| ["--release", release, "--repo", &repo, "--push", dir];

    // base64("mvk:s3cret-pw")
    let good = docker_config(&format!(
        r#"{{"auths": {{"http://{host}": {{"auth": "bXZrOnMzY3JldC1wdw=="}}}}}}"#
    ));
    let run = build(
        &app,
        &args("v1"),
        &[("DOCKER_CONFIG", good.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let digest = run.record()["build"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digest.starts_with("sha256:"));

    // username/password fields work as well as `auth`.
    let plain = docker_config(&format!(
        r#"{{"auths": {{"{host}": {{"username": "mvk", "password": "s3cret-pw"}}}}}}"#
    ));
    let run = build(
        &app,
        &args("v2"),
        &[("DOCKER_CONFIG", plain.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // base64("mvk:wrong-pw-123")
    let wrong = docker_config(&format!(
        r#"{{"auths": {{"{host}": {{"auth": "bXZrOndyb25nLXB3LTEyMw=="}}}}}}"#
    ));
    let none = TempDir::new("docker-config");
    for (release, config) in [("v3", &wrong), ("v4", &none)] {
        let run = build(
            &app,
            &args(release),
            &[("DOCKER_CONFIG", config.path().to_str().unwrap())],
        );
        assert_eq!(run.code, 4, "{}", run.stderr);
        let r = run.record();
        assert_eq!(r["error"]["kind"], "registry");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains(&host), "{message}");
        for secret in ["wrong-pw-123", "bXZrOndyb25nLXB3LTEyMw", "s3cret-pw"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} leaked"
            );
        }
        // Built and reported, just not pushed.
        assert_eq!(r["image"], format!("{repo}:{release}").as_str());
        assert!(r["build"].get("digest").is_none());
    }
}

#[test]
fn push_to_an_unreachable_registry_is_exit_4() {
    let (app, _leftovers) = test_app("build-unreach");
    let host = format!("127.0.0.1:{}", free_port());
    let repo = format!("{host}/{}", app.name);
    let _registry_images = RemoveRepo(repo.clone());
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("FROM scratch\nCOPY f /f\n{GOOD_TAIL}"),
        ),
        ("f", "payload"),
    ]);
    let run = build(
        &app,
        &[
            "--release",
            "v1",
            "--repo",
            &repo,
            "--push",
            ctx.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "registry");
    assert!(
        r["error"]["message"].as_str().unwrap().contains(&host),
        "{r}"
    );
    assert_eq!(
        r["image_id"],
        inspect(&format!("{repo}:v1"), "{{.Id}}").as_str()
    );
}

#[test]
fn the_release_is_the_git_revision_and_dirty_when_the_tree_is() {
    let (app, _leftovers) = test_app("build-git");
    let ctx = context(&[
        (
            "app/Dockerfile",
            &format!("FROM scratch\nCOPY f /f\n{GOOD_TAIL}"),
        ),
        ("app/f", "v1"),
    ]);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(ctx.path())
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let short = git(&["rev-parse", "--short", "HEAD"]);
    let full = git(&["rev-parse", "HEAD"]);
    let dir = ctx.join("app");
    let run = build(&app, &["--context", dir.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["release"], short.as_str());
    let image = app.tag(&short);
    assert_eq!(r["image"], image.as_str());
    assert_eq!(label(&image, "org.opencontainers.image.revision"), full);
    assert_eq!(label(&image, "mvk.release"), short);

    std::fs::write(ctx.join("app/f"), "changed").unwrap();
    let run = build(&app, &[], &[("MVK_CONTEXT", dir.to_str().unwrap())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.record()["release"], format!("{short}-dirty").as_str());
}

#[test]
fn bad_input_is_exit_2_and_starts_no_build() {
    let (app, _leftovers) = test_app("build-bad");
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPY f /f\n"), ("f", "x")]);
    let dir = ctx.path().to_str().unwrap();
    let missing = ctx.join("missing");
    // An engine that does not exist: exit 2, not 4, shows the input was checked first.
    let no_docker = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    let record_cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![missing.to_str().unwrap()], "missing"),
        (
            vec!["--file", missing.to_str().unwrap(), dir],
            "no Dockerfile",
        ),
        (
            vec!["--build-arg", "NOT_SET_ANYWHERE_MVK", dir],
            "NOT_SET_ANYWHERE_MVK",
        ),
    ];
    for (args, needle) in &record_cases {
        let run = build(&app, args, &no_docker);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    let empty = context(&[("f", "x")]);
    let run = build(&app, &[empty.path().to_str().unwrap()], &no_docker);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "bad-input");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no Dockerfile"),
        "{r}"
    );

    std::fs::create_dir(ctx.join(".dockerignore")).unwrap();
    let run = build(&app, &[dir], &no_docker);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.record()["error"]["message"]
        .as_str()
        .unwrap()
        .contains(".dockerignore"));
    std::fs::remove_dir(ctx.join(".dockerignore")).unwrap();
    std::fs::write(ctx.join(".dockerignore"), "ok\nbad[\n").unwrap();
    let run = build(&app, &[dir], &no_docker);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.record()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("bad["));
    std::fs::remove_file(ctx.join(".dockerignore")).unwrap();

    for args in [
        vec!["--build-arg", "=value", dir],
        vec!["--build-arg", "A B=1", dir],
        vec!["--release", "not/a/tag", dir],
        vec!["--repo", "Not-Lowercase", dir],
        vec!["--max-size", "lots", dir],
        vec!["--app", "Bad App", dir],
    ] {
        let run = build(&app, &args, &no_docker);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    assert_eq!(docker(&["images", "-q", &app.name]).unwrap(), "");
}

#[test]
fn an_unreachable_docker_is_exit_4() {
    let app = TestApp::new("build-nodocker");
    let ctx = context(&[("Dockerfile", "FROM scratch\n")]);
    let run = build(
        &app,
        &[ctx.path().to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.record();
    assert_eq!(r["error"]["kind"], "docker");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/docker.sock"),
        "{r}"
    );
}

#[test]
fn an_interrupted_upload_stops_and_tags_nothing() {
    let (app, _leftovers) = test_app("build-int");
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPY . /ctx/\n")]);
    // Sparse, so cheap to make, but 4 GB to read and send.
    std::fs::File::create(ctx.join("huge"))
        .unwrap()
        .set_len(4_000_000_000)
        .unwrap();
    let mut child = Command::new(tool("mvk-build"))
        .args(["--release", "v1", ctx.path().to_str().unwrap()])
        .envs(app.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("mvk-build: building") {
        assert_ne!(stderr.read_line(&mut seen).unwrap(), 0, "{seen}");
    }
    // The upload is under way: mvk-build has read 256 MB of the context.
    let proc_field = |file: &str, key: &str| {
        std::fs::read_to_string(format!("/proc/{}/{file}", child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    mvk_e2e::wait_until("the upload to start", Duration::from_secs(60), || {
        proc_field("io", "rchar:").is_some_and(|n| n > 256 << 20)
    });
    // Streamed, not held in memory: its peak resident size stays far below what it sent.
    let peak_kib = proc_field("status", "VmHWM:").unwrap();
    eprintln!("mvk-build peaked at {peak_kib} KiB, 256 MB into the upload");
    assert!(peak_kib < 128 << 10, "mvk-build peaked at {peak_kib} KiB");
    mvk_e2e::signal(&child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    mvk_e2e::schema::check_output(
        &String::from_utf8_lossy(&out.stdout),
        out.status.code().unwrap_or(-1),
    );
    stderr.read_to_string(&mut seen).unwrap();
    assert_eq!(out.status.code(), Some(130), "{seen}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["error"]["kind"], "interrupted", "{r}");
    assert_eq!(docker(&["images", "-q", &app.name]).unwrap(), "");
}
