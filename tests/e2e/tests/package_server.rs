//! The package on a clean server: a Debian bookworm container with systemd as PID 1 (the
//! suite's fixture) gets the .deb scripts/package builds, installed as README says
//! (`apt-get install ./maverick_….deb` pulls the dependencies), every file lands where it should,
//! `man mvk-swap`, `man mvk-deploy` and the completions work, systemd knows the units and runs
//! the installed tools, README's "Setting up a server" works as written (install, mvk-init,
//! deploy; through the host's engine), the deploy's metrics reach Debian's own
//! prometheus-node-exporter as installed (its default textfile directory, which the package
//! makes for group mvk), and a purge removes the package but leaves the app's state alone.

use mvk_e2e::debian::{Image, DPKG_EXCLUDES};
use mvk_e2e::package::{build_package, expected};
use mvk_e2e::wait::wait_until;
use mvk_e2e::{docker, free_port, get, Server, TempDir, TestApp};
use std::time::Duration;

/// An app's state, as a server that ran Maverick holds it: (path, content).
const APP_STATE: &[(&str, &str)] = &[
    ("/etc/mvk/shop.env", "MVK_URL=http://127.0.0.1:9\n"),
    ("/var/lib/mvk/shop/state.json", "{\"live\":null}\n"),
    (
        "/etc/nginx/mvk/shop.upstream",
        "upstream shop {\n    server 127.0.0.1:9;\n}\n",
    ),
];

#[test]
fn the_package_installs_on_a_clean_debian_server_and_purges_leaving_the_apps_state() {
    let out = TempDir::new("pkgout");
    let deb = build_package(out.path());
    let server = Server::start(
        &format!("rs-pkg-{}", std::process::id()),
        Image::Systemd,
        true,
    );
    docker(&[
        "cp",
        deb.to_str().unwrap(),
        &format!("{}:/root/maverick.deb", server.name),
    ])
    .unwrap();
    // A server keeps manuals (the fixture leaves them out); services the dependencies bring
    // are not started here (the container shares the host's network: nginx would take :80).
    server.sh(&format!(
        "rm {DPKG_EXCLUDES} && printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d \
         && chmod +x /usr/sbin/policy-rc.d && apt-get update -qq"
    ));

    // A clean server: none of the dependencies yet.
    let before = server.exec(&["dpkg-query", "-W", "nginx-common", "docker.io", "jq"]);
    assert_ne!(before.code, 0, "already installed: {}", before.stdout);
    // README's step 1, as written there: apt pulls the dependencies from Debian.
    server.sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         /root/maverick.deb",
    );
    let status =
        server.sh("dpkg-query -W -f '${db:Status-Abbrev}' maverick nginx-common docker.io passwd");
    assert_eq!(status.matches("ii ").count(), 4, "installed: {status}");
    // What a reader of manuals has.
    server
        .sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends man-db");

    // Every file where it should be, with its mode; the tools run.
    let listed = server.sh("dpkg -L maverick");
    for (path, mode) in expected() {
        let stat = server.sh(&format!("stat -c %a /{path}"));
        assert_eq!(stat.trim(), format!("{mode:o}"), "/{path}");
        assert!(
            listed.contains(&format!("/{path}\n")),
            "dpkg -L lacks /{path}"
        );
    }
    assert!(server.sh("mvk-swap --version").starts_with("mvk-swap "));
    assert!(server.sh("getent group mvk").starts_with("mvk:"));

    for page in ["mvk-swap", "mvk-deploy"] {
        let man = server.sh(&format!("MANWIDTH=80 man -P cat {page}"));
        assert!(man.contains(page) && man.contains("SYNOPSIS"), "{man}");
    }
    // bash's completion for mvk-swap offers its options.
    let words = server.sh("source /usr/share/bash-completion/completions/mvk-swap \
         && f=$(complete -p mvk-swap | grep -o -- '-F [^ ]*' | cut -c4-) \
         && COMP_WORDS=(mvk-swap --dr) COMP_CWORD=1 COMP_LINE='mvk-swap --dr' COMP_POINT=13 \
         && $f mvk-swap --dr mvk-swap && printf '%s\\n' \"${COMPREPLY[@]}\"");
    assert!(words.lines().any(|w| w.trim() == "--drain"), "{words}");

    // systemd knows the units and starts the installed tools through them.
    server.sh("systemctl daemon-reload");
    let units = server.sh("systemctl list-unit-files --no-legend 'mvk-*'");
    for unit in [
        "mvk-deploy@.service",
        "mvk-verify@.service",
        "mvk-verify@.timer",
        "mvk-alerts@.service",
        "mvk-alerts@.timer",
    ] {
        assert!(units.contains(unit), "{units}");
    }
    readme_steps_2_and_3(&server);

    for (path, content) in APP_STATE {
        server.write(path, content);
    }
    let run = server.exec(&["systemctl", "start", "mvk-verify@shop.service"]);
    assert_ne!(run.code, 0, "nothing listens on :9");
    let journal = server.journal("mvk-verify@shop.service");
    assert!(journal.contains("mvk-verify: error: "), "{journal}");

    // Purge: the package's files go, the app's state stays as it was.
    server.sh("apt-get purge -y -qq maverick");
    for (path, _) in expected() {
        let gone = server.exec(&["test", "-e", &format!("/{path}")]);
        assert_ne!(gone.code, 0, "/{path} is left after purge");
    }
    for (path, content) in APP_STATE {
        assert_eq!(&server.sh(&format!("cat {path}")), content, "{path}");
    }
    assert!(
        server.sh("getent group mvk").starts_with("mvk:"),
        "an app still uses the group"
    );
}

/// The deploy wrote `mvk_deploy_APP.prom` into the directory the package made (mvk-init set
/// MVK_TEXTFILE_DIR, as it was there), and Debian's prometheus-node-exporter, installed after
/// the package and run with its defaults, serves it (its textfile collector reads there).
fn deploy_metrics_reach_node_exporter(server: &Server, app: &str) {
    let dir = "/var/lib/prometheus/node-exporter";
    let env = server.sh(&format!("cat /etc/mvk/{app}.env"));
    assert!(
        env.contains(&format!("\nMVK_TEXTFILE_DIR={dir}\n")),
        "{env}"
    );
    let prom = server.sh(&format!("cat {dir}/mvk_deploy_{app}.prom"));
    let info = format!("mvk_release_info{{app=\"{app}\"");
    assert!(prom.contains(&info), "{prom}");
    server.sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         prometheus-node-exporter",
    );
    // Installing it leaves the directory as the package made it.
    assert_eq!(server.sh(&format!("stat -c '%G %a' {dir}")), "mvk 2775\n");
    let port = free_port();
    let pid = server.sh(&format!(
        "runuser -u prometheus -- prometheus-node-exporter --web.listen-address=127.0.0.1:{port} \
         --collector.disable-defaults --collector.textfile >/dev/null 2>&1 & echo $!"
    ));
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_until(
        "node_exporter serves the deploy's metrics",
        Duration::from_secs(30),
        || get(&url).is_ok_and(|(status, body)| status == 200 && body.contains(&info)),
    );
    server.sh(&format!("kill {}", pid.trim()));
}

/// README's "Setting up a server", steps 2 and 3, as written there: mvk-init on this server
/// (nginx reloaded, the timers enabled and started, as systemd runs), then the first deploy of
/// a checkout at /srv/APP, through the host's engine, answering through the site mvk-init made.
fn readme_steps_2_and_3(server: &Server) {
    let app = TestApp::new("pkg-init");
    let name = &app.name;
    let (http, metrics) = (free_port(), free_port());
    // Debian's default site would take the host's :80 (the server shares its network).
    server.sh("rm -f /etc/nginx/sites-enabled/default && systemctl start nginx");
    let init = server.exec(&[
        "mvk-init",
        name,
        "--server-name",
        "localhost",
        "--http-listen",
        &format!("127.0.0.1:{http}"),
        "--metrics-port",
        &metrics.to_string(),
        "--blue-port",
        &app.blue_port.to_string(),
        "--green-port",
        &app.green_port.to_string(),
    ]);
    assert_eq!(init.code, 0, "mvk-init: {}", init.stderr);
    assert!(init.stderr.contains("reloaded nginx"), "{}", init.stderr);
    let timers = format!("mvk-verify@{name}.timer mvk-alerts@{name}.timer");
    assert_eq!(
        server.sh(&format!("systemctl is-enabled {timers}")),
        "enabled\nenabled\n"
    );
    assert_eq!(
        server.sh(&format!("systemctl is-active {timers}")),
        "active\nactive\n"
    );

    server.put_context(name, "readme", "");
    let deploy = server.exec(&[
        "env",
        &format!("MVK_APP={name}"),
        "MVK_WATCH=3s",
        "MVK_EVERY=1s",
        "mvk-deploy",
        &format!("/srv/{name}"),
    ]);
    assert_eq!(deploy.code, 0, "mvk-deploy: {}", deploy.stderr);
    assert_eq!(
        get(&format!("http://127.0.0.1:{http}/")).unwrap(),
        (200, "demo readme\n".to_string())
    );
    deploy_metrics_reach_node_exporter(server, name);
    // The timers stop with the server; the app's containers and images go with `app`.
    server.sh(&format!("systemctl disable --now {timers}"));
}
