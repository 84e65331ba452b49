//! The package on a clean server: a Debian bookworm container with systemd as PID 1 (the
//! suite's fixture) gets the .deb scripts/package builds. `dpkg -i` stops at the missing
//! dependencies, `apt-get -f install` pulls them from Debian, every file lands where it should,
//! `man mvk-swap`, `man mvk-deploy` and the completions work, systemd knows the units and runs
//! the installed tools, and a purge removes the package but leaves the app's state alone.

use mvk_e2e::debian::{Image, DPKG_EXCLUDES};
use mvk_e2e::package::{build_package, expected};
use mvk_e2e::{docker, Server, TempDir};

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
        false,
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

    let first = server.exec(&["dpkg", "-i", "/root/maverick.deb"]);
    assert_ne!(
        first.code, 0,
        "dpkg -i without the dependencies: {}",
        first.stdout
    );
    assert!(
        first.stderr.contains("dependency problems"),
        "{}",
        first.stderr
    );
    server.sh("DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq --no-install-recommends");
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
