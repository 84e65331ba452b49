//! mvk-init end to end: from an empty root it writes files that nginx and promtool accept,
//! the very next mvk-deploy goes live through a real nginx reading that site, a second run
//! changes nothing, a file the user edited is kept (difference shown, exit 1), and a site
//! nginx rejects leaves nothing behind.

use mvk_e2e::demo::write_context;
use mvk_e2e::{free_port, get, run_tool, script, tool, wait_for_port, TempDir, TestApp};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Setup {
    app: TestApp,
    root: TempDir,
    http: u16,
    metrics: u16,
}

impl Setup {
    fn new(label: &str) -> Setup {
        Setup {
            app: TestApp::new(label),
            root: TempDir::new("initroot"),
            http: free_port(),
            metrics: free_port(),
        }
    }

    fn init(&self, extra: &[&str]) -> mvk_e2e::Run {
        self.init_under(self.root.path(), extra)
    }

    /// mvk-init of this app below `root` (another app's root: two sites side by side).
    fn init_under(&self, root: &Path, extra: &[&str]) -> mvk_e2e::Run {
        let (http, blue, green, metrics) = (
            format!("127.0.0.1:{}", self.http),
            self.app.blue_port.to_string(),
            self.app.green_port.to_string(),
            self.metrics.to_string(),
        );
        let mut args = vec![
            self.app.name.as_str(),
            "--server-name",
            "localhost",
            "--root",
            root.to_str().unwrap(),
            "--http-listen",
            &http,
            "--blue-port",
            &blue,
            "--green-port",
            &green,
            "--metrics-port",
            &metrics,
        ];
        args.extend_from_slice(extra);
        run_tool("mvk-init", &args, &[], "")
    }

    fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).unwrap_or_default()
    }
}

/// nginx as Debian runs it, reading the root's /etc/nginx: a main file including conf.d.
struct RootNginx(Child);

impl RootNginx {
    /// Debian's main file, below the root: http level includes every site in conf.d.
    fn write_main(root: &Path) -> std::path::PathBuf {
        let d = root.display();
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n    \
             client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    \
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    \
             include conf.d/*.conf;\n}}\n"
        );
        let main = root.join("etc/nginx/nginx.conf");
        std::fs::write(&main, conf).unwrap();
        main
    }

    fn start(root: &Path, port: u16) -> RootNginx {
        let main = RootNginx::write_main(root);
        let child = Command::new("nginx")
            .arg("-c")
            .arg(main)
            .args(["-e", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start nginx");
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "nginx did not listen on {port}"
        );
        RootNginx(child)
    }
}

impl Drop for RootNginx {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn after_mvk_init_the_next_deploy_goes_live_through_nginx() {
    let s = Setup::new("init");
    let app = s.app.name.clone();
    let first = s.init(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    for path in [
        format!("etc/mvk/{app}.env"),
        format!("etc/nginx/mvk/{app}.upstream"),
        format!("etc/nginx/conf.d/mvk-{app}.conf"),
        format!("etc/prometheus/mvk/{app}.rules.yml"),
        format!("etc/prometheus/mvk/{app}.scrape.yml"),
    ] {
        assert!(
            first.stderr.contains(&format!("created /{path}")),
            "{path}: {}",
            first.stderr
        );
    }
    let env = s.file(&format!("etc/mvk/{app}.env"));
    assert!(
        env.contains(&format!("MVK_URL=http://localhost:{}\n", s.http)),
        "{env}"
    );
    let rules = s.root.join(&format!("etc/prometheus/mvk/{app}.rules.yml"));
    let checked = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(checked.status.success());

    // Idempotent: nothing is written again.
    let again = s.init(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        !again.stderr.contains("created") && !again.stderr.contains("updated"),
        "{}",
        again.stderr
    );

    let _nginx = RootNginx::start(s.root.path(), s.http);
    let ctx = TempDir::new("ctx");
    write_context(
        ctx.path(),
        &[("MVK_E2E_APP", &app), ("DEMO_VERSION", "init-v1")],
    );
    let bin = tool("mvk-init").parent().unwrap().to_path_buf();
    let r = |p: &str| s.root.join(p).display().to_string();
    let deploy = Command::new(script("mvk-deploy"))
        .args(["--release", "v1", ctx.path().to_str().unwrap()])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("MVK_CONFIG", r(&format!("etc/mvk/{app}.env")))
        // The root's own paths, where the server has them at /.
        .env(
            "MVK_UPSTREAM_FILE",
            r(&format!("etc/nginx/mvk/{app}.upstream")),
        )
        .env("MVK_NGINX_CONF", r("etc/nginx/nginx.conf"))
        .env("MVK_STATE_DIR", r("var/lib/mvk"))
        .envs([
            ("MVK_WATCH", "3s"),
            ("MVK_EVERY", "1s"),
            ("MVK_NO_CACHE", "true"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&deploy.stderr);
    assert_eq!(deploy.status.code(), Some(0), "mvk-deploy: {stderr}");
    let (status, body) = get(&format!("http://127.0.0.1:{}/", s.http)).unwrap();
    assert_eq!((status, body.contains("init-v1")), (200, true), "{body}");
    // The env file's MVK_KEEPALIVE: nginx keeps connections to the release open.
    let upstream = s.file(&format!("etc/nginx/mvk/{app}.upstream"));
    assert!(upstream.contains("    keepalive 16;\n}"), "{upstream}");
    // The site forwards WebSocket upgrades: the demo app's /ws greets through nginx.
    let (ws, greeting) = mvk_e2e::WsClient::connect(s.http, "/ws")
        .unwrap_or_else(|e| panic!("WebSocket through the site: {e}"));
    assert_eq!(greeting, "hello demo init-v1");
    assert_eq!(ws.close(), mvk_e2e::websocket::Ending::Closed(1000));
    let (status, metrics) = get(&format!("http://127.0.0.1:{}/metrics", s.metrics)).unwrap();
    assert!(
        status == 200 && metrics.contains("http_requests_total"),
        "{status} {metrics}"
    );

    // After the deploy the upstream is mvk-swap's: a new run leaves it and succeeds.
    let after = s.init(&[]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(!after.stderr.contains("updated"), "{}", after.stderr);
}

#[test]
fn two_apps_sites_pass_nginx_t_together() {
    let (a, b) = (Setup::new("inita"), Setup::new("initb"));
    for s in [&a, &b] {
        let run = s.init_under(a.root.path(), &[]);
        assert_eq!(run.code, 0, "{}: {}", s.app.name, run.stderr);
    }
    for s in [&a, &b] {
        let site = a.file(&format!("etc/nginx/conf.d/mvk-{}.conf", s.app.name));
        for line in [
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $mvk_upgrade_",
            "map $http_upgrade $mvk_upgrade_",
        ] {
            assert!(site.contains(line), "{line}: {site}");
        }
    }
    let main = RootNginx::write_main(a.root.path());
    let out = Command::new("nginx")
        .args(["-t", "-q", "-e", "stderr", "-c"])
        .arg(main)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_file_the_user_changed_is_kept_and_its_difference_shown() {
    let mut s = Setup::new("initkeep");
    let app = s.app.name.clone();
    let dry = s.init(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains(&format!("would create /etc/nginx/conf.d/mvk-{app}.conf")),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!("include mvk/{app}.upstream;")),
        "{}",
        dry.stdout
    );
    assert!(
        std::fs::read_dir(s.root.path()).unwrap().next().is_none(),
        "--dry-run wrote"
    );

    assert_eq!(s.init(&[]).code, 0);
    let env_path = format!("etc/mvk/{app}.env");
    let edited = s.file(&env_path) + "MVK_CONTEXT=/srv/mine\n";
    std::fs::write(s.root.join(&env_path), &edited).unwrap();
    // A changed option rewrites what is still mvk-init's, and keeps the user's file.
    s.metrics = free_port();
    let run = s.init(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("-MVK_CONTEXT=/srv/mine"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!("kept /etc/mvk/{app}.env")),
        "{}",
        run.stderr
    );
    assert_eq!(s.file(&env_path), edited);
    assert!(s
        .file(&format!("etc/nginx/conf.d/mvk-{app}.conf"))
        .contains(&format!("listen 127.0.0.1:{};", s.metrics)));
}

#[test]
fn a_site_nginx_rejects_leaves_nothing_behind() {
    let s = Setup::new("initbad");
    let missing = s.root.join("missing.pem").display().to_string();
    let run = s.init(&["--tls-cert", &missing, "--tls-key", &missing]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nginx -t failed") && run.stderr.contains("missing.pem"),
        "{}",
        run.stderr
    );
    let left: Vec<_> = walk(s.root.path());
    assert!(left.is_empty(), "left behind: {left:?}");
    let bad = s.init(&["--server-name", "a;b"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn tls_gives_http2_on_443_and_a_redirect_from_80() {
    let s = Setup::new("inittls");
    let ca = mvk_e2e::TestCa::new();
    let cert = ca.issue("localhost", 30);
    let https = free_port();
    let listen = format!("127.0.0.1:{https}");
    let (c, k) = (
        cert.cert.display().to_string(),
        cert.key.display().to_string(),
    );
    let run = s.init(&["--tls-cert", &c, "--tls-key", &k, "--https-listen", &listen]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let site = s.file(&format!("etc/nginx/conf.d/mvk-{}.conf", s.app.name));
    assert!(
        site.contains(&format!("listen 127.0.0.1:{https} ssl http2;")),
        "{site}"
    );
    assert!(
        site.contains(&format!("return 301 https://$host:{https}$request_uri;")),
        "{site}"
    );
    let env = s.file(&format!("etc/mvk/{}.env", s.app.name));
    assert!(
        env.contains(&format!("MVK_URL=https://localhost:{https}\n")),
        "{env}"
    );
    let _nginx = RootNginx::start(s.root.path(), s.http);
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg(format!("http://127.0.0.1:{}/x", s.http))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("301 https://127.0.0.1:{https}/x")
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// `--root`: the timers are enabled in the root (systemd's own `systemctl --root … is-enabled`
/// agrees) once their units are installed there, never on this host; a second run changes
/// nothing; a symlink planted in the root's systemd directory is refused, nothing made through
/// it.
#[test]
fn timers_are_enabled_below_the_root_once_their_units_are_there() {
    let s = Setup::new("inittimers");
    let app = s.app.name.clone();
    let units: Vec<String> = ["mvk-verify", "mvk-alerts"]
        .iter()
        .map(|t| format!("{t}@{app}.timer"))
        .collect();
    let wants = |root: &Path, unit: &str| {
        root.join("etc/systemd/system/timers.target.wants")
            .join(unit)
    };
    let run = s.init(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "mvk-verify@.timer is not installed below {}",
            s.root.path().display()
        )),
        "{}",
        run.stderr
    );
    assert!(!s.root.join("etc/systemd").exists());

    let install_units = |root: &Path| {
        let dir = root.join("lib/systemd/system");
        std::fs::create_dir_all(&dir).unwrap();
        for unit in [
            "mvk-verify@.timer",
            "mvk-verify@.service",
            "mvk-alerts@.timer",
            "mvk-alerts@.service",
        ] {
            std::fs::copy(mvk_e2e::script("systemd").join(unit), dir.join(unit)).unwrap();
        }
    };
    install_units(s.root.path());
    let run = s.init(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for unit in &units {
        assert!(
            run.stderr.contains(&format!("enabled {unit} below")),
            "{}",
            run.stderr
        );
        let template = unit.replace(&format!("@{app}."), "@.");
        assert_eq!(
            std::fs::read_link(wants(s.root.path(), unit)).unwrap(),
            Path::new("/lib/systemd/system").join(&template)
        );
        assert!(
            !wants(Path::new("/"), unit).exists(),
            "{unit} enabled on this host"
        );
    }
    let enabled = Command::new("systemctl")
        .arg("--root")
        .arg(s.root.path())
        .arg("is-enabled")
        .args(&units)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&enabled.stdout),
        "enabled\nenabled\n",
        "{}",
        String::from_utf8_lossy(&enabled.stderr)
    );
    let again = s.init(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("enabled mvk-"), "{}", again.stderr);

    let planted = TempDir::new("initroot");
    let outside = TempDir::new("outside");
    install_units(planted.path());
    std::fs::create_dir_all(planted.join("etc/systemd/system")).unwrap();
    std::os::unix::fs::symlink(
        outside.path(),
        planted.join("etc/systemd/system/timers.target.wants"),
    )
    .unwrap();
    let run = s.init_under(planted.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is a symlink or not a directory: refusing to write through it"),
        "{}",
        run.stderr
    );
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "a link was made through the planted symlink"
    );
}

/// Every file and directory below `dir`, symlinks included (not followed), as paths relative
/// to it.
fn entries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A symlink planted below --root at any level on the way to what mvk-init writes (the top
/// directory, nginx's, its conf.d, the state directory, the textfile directory's parent), or a
/// file where a directory must be, is refused before anything is written, with its path named,
/// exit 1, for --dry-run too; nothing appears outside. A symlink at a file's own name (to a
/// secret outside) is kept as the user's: not written through, and what it points at is never
/// shown.
#[test]
fn symlinks_planted_below_the_root_are_refused_and_nothing_is_written() {
    let s = Setup::new("initplant");
    let app = s.app.name.clone();
    let plants = [
        "etc".to_string(),
        "etc/nginx".to_string(),
        "etc/nginx/conf.d".to_string(),
        format!("var/lib/mvk/{app}"),
        "var/lib/prometheus".to_string(),
    ];
    for plant in &plants {
        for dry_run in [false, true] {
            let root = TempDir::new("initroot");
            let outside = TempDir::new("outside");
            let at = root.join(plant);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(outside.path(), &at).unwrap();
            let before = entries(root.path());
            let extra: &[&str] = if dry_run { &["--dry-run"] } else { &[] };
            let run = s.init_under(root.path(), extra);
            assert_eq!(run.code, 1, "{plant}: {}", run.stderr);
            assert!(
                run.stderr.contains(&format!(
                    "{} is a symlink or not a directory: refusing to write through it",
                    at.display()
                )),
                "{plant}: {}",
                run.stderr
            );
            assert_eq!(
                entries(root.path()),
                before,
                "{plant}: written below the root"
            );
            assert!(
                entries(outside.path()).is_empty(),
                "{plant}: written outside"
            );
        }
    }

    // A file where a directory must be.
    let root = TempDir::new("initroot");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/mvk"), "not a directory").unwrap();
    let run = s.init_under(root.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{} is a symlink or not a directory",
            root.join("etc/mvk").display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(entries(root.path()), ["etc", "etc/mvk"]);

    // A symlink at the env file's own name, to a secret outside.
    let root = TempDir::new("initroot");
    let outside = TempDir::new("outside");
    let secret = outside.join("secret");
    std::fs::write(&secret, "TOPSECRET\n").unwrap();
    std::fs::create_dir_all(root.join("etc/mvk")).unwrap();
    let env = root.join(&format!("etc/mvk/{app}.env"));
    std::os::unix::fs::symlink(&secret, &env).unwrap();
    for extra in [&["--dry-run"][..], &[]] {
        let run = s.init_under(root.path(), extra);
        assert_eq!(
            run.code,
            if extra.is_empty() { 1 } else { 0 },
            "{}",
            run.stderr
        );
        assert!(
            !run.stdout.contains("TOPSECRET") && !run.stderr.contains("TOPSECRET"),
            "{}{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout
                .contains(&format!("/etc/mvk/{app}.env is not a plain file")),
            "{}",
            run.stdout
        );
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "TOPSECRET\n");
    assert!(std::fs::symlink_metadata(&env).unwrap().is_symlink());
    assert_eq!(entries(outside.path()), ["secret"]);
}

/// The env file sets MVK_TEXTFILE_DIR (deploys then write mvk_deploy_APP.prom there) only when
/// node_exporter's textfile directory is there below the root; otherwise it is left commented
/// out and mvk-init says so, --dry-run too. Made later, the next run sets it.
#[test]
fn the_env_file_sets_the_textfile_directory_only_when_it_is_there() {
    let s = Setup::new("inittextfile");
    let app = s.app.name.clone();
    let dir = "/var/lib/prometheus/node-exporter";
    let set = format!("\nMVK_TEXTFILE_DIR={dir}\n");
    let dry = s.init(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(&format!(
            "{} is not there: MVK_TEXTFILE_DIR is left unset, deploys write no metrics",
            s.root.join(&dir[1..]).display()
        )),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stdout.contains(&format!("\n#MVK_TEXTFILE_DIR={dir}\n")) && !dry.stdout.contains(&set),
        "{}",
        dry.stdout
    );
    let run = s.init(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let env_path = format!("etc/mvk/{app}.env");
    assert!(!s.file(&env_path).contains(&set), "{}", s.file(&env_path));
    assert!(
        !s.root.join("var/lib/prometheus").exists(),
        "made below --root"
    );

    std::fs::create_dir_all(s.root.join(&dir[1..])).unwrap();
    let dry = s.init(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(&format!(
            "deploys write their metrics into {dir} (MVK_TEXTFILE_DIR)"
        )),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stdout.contains(&format!("would update /{env_path}"))
            && dry.stdout.contains(&format!("\n+MVK_TEXTFILE_DIR={dir}\n")),
        "{}",
        dry.stdout
    );
    let run = s.init(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("updated /{env_path}")),
        "{}",
        run.stderr
    );
    let env = s.file(&env_path);
    assert!(env.contains(&set), "{env}");
    // The tools read it as the option: mvk-swap's --textfile-dir comes from this file.
    let vars = run_tool(
        "mvk-healthwait",
        &["--print-env", s.root.join(&env_path).to_str().unwrap()],
        &[],
        "",
    );
    assert!(
        vars.stdout
            .split('\0')
            .any(|kv| kv == format!("MVK_TEXTFILE_DIR={dir}")),
        "{:?}",
        vars.stdout
    );
    let again = s.init(&[]);
    assert!(!again.stderr.contains("updated"), "{}", again.stderr);
}
