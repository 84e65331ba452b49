//! The systemd units under a real systemd: a Debian server in a container (systemd as PID 1, no
//! `--privileged`), Maverick installed as README's "Setting up a server" says. The timers fire
//! and their services write the textfiles through all their hardening, a failing check fails
//! the unit visibly, and `systemctl start mvk-deploy@APP` deploys through the host's engine and
//! fails when the deploy fails.

use mvk_e2e::debian::{mirror, Image};
use mvk_e2e::{docker, get, DemoContainer, DemoImage, Server, TestApp};
use std::time::Duration;

const TEXTFILES: &str = "/var/lib/prometheus/node-exporter";

#[test]
fn the_debian_fixture_is_found_by_its_tag_and_uses_apts_mirror() {
    let tag = Image::Base.ensure();
    assert_eq!(
        Image::Base.ensure(),
        tag,
        "a second call finds the same image"
    );
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.maverick.test-fixture\"}}",
            &tag
        ])
        .unwrap(),
        tag
    );
    let out = docker(&[
        "run",
        "--rm",
        &tag,
        "bash",
        "-c",
        "cat /etc/debian_version /etc/apt/sources.list",
    ])
    .unwrap();
    assert!(out.starts_with("12."), "{out}");
    assert!(
        out.contains(&format!("deb {} bookworm main", mirror())),
        "{out}"
    );
}

/// Makes the timer also fire a second after it starts, so the test need not wait for the
/// minute; its own schedule stays as shipped (checked below).
fn fire_soon(server: &Server, timer: &str) {
    server.write(
        &format!("/etc/systemd/system/{timer}.d/soon.conf"),
        "[Timer]\nOnActiveSec=1s\n",
    );
}

/// The service's result once its current run is over: `success`, `exit-code`, ….
fn finished_result(server: &Server, service: &str, timeout: Duration) -> String {
    let done = server.wait_for(&format!("{service} to run"), timeout, || {
        server.property(service, "ActiveState") != "activating"
            && server.property(service, "ExecMainExitTimestampMonotonic") != "0"
    });
    assert!(
        done,
        "{service} never finished:\n{}",
        server.journal(service)
    );
    server.property(service, "Result")
}

#[test]
fn timers_fire_their_services_write_textfiles_and_a_failing_check_fails_the_unit() {
    let app = "rs-timers";
    let image = DemoImage::build(&format!("{app}-demo:1"), &[("MVK_E2E_APP", app)]);
    let demo = DemoContainer::run(
        &image.tag,
        &format!("{app}-demo-{}", std::process::id()),
        &[],
    );
    assert!(
        demo.wait_answering(Duration::from_secs(20)),
        "{}",
        demo.logs()
    );
    let server = Server::start(
        &format!("{app}-{}", std::process::id()),
        Image::Systemd,
        false,
    );
    server.install_from_checkout();
    server.write(
        &format!("/etc/mvk/{app}.env"),
        &format!(
            "MVK_URL={url}\nMVK_METRICS_URL={url}/metrics\nMVK_DOWN_FOR=0s\nMVK_RETRIES=0\n",
            url = demo.url("")
        ),
    );
    let timers = [
        format!("mvk-verify@{app}.timer"),
        format!("mvk-alerts@{app}.timer"),
    ];
    for timer in &timers {
        fire_soon(&server, timer);
    }
    server.sh(&format!(
        "systemctl daemon-reload && systemctl enable --now {} {}",
        timers[0], timers[1]
    ));
    for timer in &timers {
        assert_eq!(server.property(timer, "UnitFileState"), "enabled");
        assert!(
            server
                .property(timer, "TimersCalendar")
                .contains("OnCalendar=*-*-* *:*:00"),
            "{timer}: {}",
            server.property(timer, "TimersCalendar")
        );
    }

    // Both services ran from their timers, as their throwaway users, and wrote their files.
    let verify = format!("mvk-verify@{app}.service");
    let alerts = format!("mvk-alerts@{app}.service");
    assert_eq!(
        finished_result(&server, &verify, Duration::from_secs(60)),
        "success"
    );
    assert_eq!(
        finished_result(&server, &alerts, Duration::from_secs(90)),
        "success"
    );
    let verify_prom = server.sh(&format!("cat {TEXTFILES}/mvk_verify_{app}.prom"));
    assert!(
        verify_prom.contains(&format!("mvk_verify_success{{app=\"{app}\"}} 1")),
        "{verify_prom}"
    );
    let alerts_prom = server.sh(&format!("cat {TEXTFILES}/mvk_alerts_{app}.prom"));
    let down = format!("mvk_alerts_firing{{app=\"{app}\",alertname=\"ServiceDown\"}}");
    assert!(alerts_prom.contains(&format!("{down} 0")), "{alerts_prom}");
    // Written by the units' throwaway users (root owns nothing there), readable by a collector.
    let owners = server.sh(&format!("stat -c '%u %a' {TEXTFILES}/*.prom"));
    for line in owners.lines() {
        assert!(
            !line.starts_with("0 ") && line.ends_with(" 644"),
            "{owners}"
        );
    }

    // The app goes down: each check fails its unit, and says why in the journal. The timers
    // are stopped first: one firing meanwhile would start a unit again, and a unit running
    // again is no longer listed as failed.
    server.sh(&format!("systemctl stop {} {}", timers[0], timers[1]));
    drop(demo);
    server.sh(&format!("systemctl start --no-block {verify} {alerts}"));
    for service in [&verify, &alerts] {
        assert_eq!(
            finished_result(&server, service, Duration::from_secs(90)),
            "exit-code",
            "{}",
            server.journal(service)
        );
        let status = server.exec(&["systemctl", "status", "--no-pager", "-l", service]);
        assert_eq!(status.code, 3, "status of a failed unit: {}", status.stdout);
        assert!(status.stdout.contains("failed"), "{}", status.stdout);
        assert!(
            status.stdout.contains("status=1/FAILURE"),
            "{}",
            status.stdout
        );
    }
    let journal = server.journal(&verify);
    assert!(journal.contains("error"), "{journal}");
    let journal = server.journal(&alerts);
    assert!(journal.contains("ServiceDown"), "{journal}");
    let verify_prom = server.sh(&format!("cat {TEXTFILES}/mvk_verify_{app}.prom"));
    assert!(
        verify_prom.contains(&format!("mvk_verify_success{{app=\"{app}\"}} 0")),
        "{verify_prom}"
    );
    let alerts_prom = server.sh(&format!("cat {TEXTFILES}/mvk_alerts_{app}.prom"));
    assert!(alerts_prom.contains(&format!("{down} 1")), "{alerts_prom}");
    let failed = server.sh("systemctl --failed --no-legend --plain");
    assert!(
        failed.contains(&verify) && failed.contains(&alerts),
        "{failed}"
    );
}

/// Sets the server up to deploy `app` through the host's engine: Maverick, an nginx site on
/// `port` including the app's upstream, and the app's env file.
fn deploy_host(app: &TestApp, server: &Server, port: u16) {
    server.install_from_checkout();
    let name = &app.name;
    server.write(
        &format!("/etc/nginx/mvk/{name}.upstream"),
        &format!(
            "upstream {name} {{\n    server 127.0.0.1:{};\n}}\n",
            app.blue_port
        ),
    );
    server.write(
        &format!("/etc/nginx/sites-enabled/{name}"),
        &format!(
            "include /etc/nginx/mvk/{name}.upstream;\nserver {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://{name}; }}\n}}\n"
        ),
    );
    server.sh("systemctl enable --now nginx");
    server.write(
        &format!("/etc/mvk/{name}.env"),
        &format!(
            "MVK_CONTEXT=/srv/{name}\nMVK_BLUE_PORT={}\nMVK_GREEN_PORT={}\nMVK_WATCH=3s\nMVK_EVERY=1s\nMVK_NO_CACHE=true\n",
            app.blue_port, app.green_port
        ),
    );
}

#[test]
fn systemctl_start_mvk_deploy_deploys_through_the_hosts_engine_and_fails_when_it_fails() {
    let app = TestApp::new("rs-unit");
    let server = Server::start(&app.name, Image::Server, true);
    let port = mvk_e2e::free_port();
    deploy_host(&app, &server, port);
    let unit = format!("mvk-deploy@{}", app.name);
    let front = format!("http://127.0.0.1:{port}/");

    server.put_context(&app.name, "a", "");
    server.sh(&format!("echo MVK_RELEASE=a >> /etc/mvk/{}.env", app.name));
    let run = server.exec(&["systemctl", "start", &unit]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, server.journal(&unit));
    assert_eq!(get(&front).unwrap(), (200, "demo a\n".to_string()));
    let journal = server.journal(&unit);
    assert!(
        journal.contains("is live, verified and passed the alert gate"),
        "{journal}"
    );
    assert!(
        journal.contains("\"release\":\"a\""),
        "the final record: {journal}"
    );
    let records = server.sh(&format!("ls /var/lib/mvk/{}/deploys/*/", app.name));
    assert!(records.contains("05-mvk-alerts.json"), "{records}");

    // A release whose build fails: the unit fails, says why, and a keeps serving.
    server.put_context(&app.name, "b", "RUN [\"/no-such-program\"]\n");
    server.sh(&format!(
        "sed -i s/^MVK_RELEASE=.*/MVK_RELEASE=b/ /etc/mvk/{}.env",
        app.name
    ));
    let run = server.exec(&["systemctl", "start", &unit]);
    assert_ne!(run.code, 0, "a failed deploy fails `systemctl start`");
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    assert_eq!(server.property(&unit, "Result"), "exit-code");
    assert_eq!(server.property(&unit, "ActiveState"), "failed");
    let journal = server.journal(&unit);
    assert!(journal.contains("mvk-build"), "{journal}");
    assert!(journal.contains("nothing to roll back"), "{journal}");
    assert_eq!(get(&front).unwrap(), (200, "demo a\n".to_string()));
}
