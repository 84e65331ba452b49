//! Every unit in scripts/systemd/, checked without a running systemd: `systemd-analyze verify`
//! in a temporary root holding the units and the programs they start, `systemd-analyze
//! security` on the timer-driven services, the settings DESIGN.md and the issue ask for, and
//! each timer-driven service's `ExecStart` run as systemd would run it against the demo app.

use mvk_e2e::demo::repo_root;
use mvk_e2e::systemd::{command_line, read_env_file, unit_files, Unit};
use mvk_e2e::{DemoContainer, DemoImage, TempDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The most exposure `systemd-analyze security` may score a timer-driven service, ×10
/// (its `--threshold` scale): 2.0, well inside its "OK" band.
const MAX_EXPOSURE: &str = "20";

fn units() -> Vec<Unit> {
    let units: Vec<Unit> = unit_files(&repo_root().join("scripts/systemd"))
        .iter()
        .map(|p| Unit::read(p))
        .collect();
    assert!(
        units.iter().any(|u| u.name == "mvk-verify@.service"),
        "scripts/systemd has no mvk-verify@.service"
    );
    units
}

fn services(units: &[Unit]) -> impl Iterator<Item = &Unit> {
    units.iter().filter(|u| u.name.ends_with(".service"))
}

/// Services a timer starts: the periodic checks, which must be locked down.
fn timed(units: &[Unit]) -> Vec<&Unit> {
    services(units)
        .filter(|s| {
            units
                .iter()
                .any(|t| t.name == s.name.replace(".service", ".timer"))
        })
        .collect()
}

/// The program an `ExecStart=` path names, from this checkout: a built tool, or a script.
fn program(exec: &str) -> PathBuf {
    let name = Path::new(exec).file_name().unwrap().to_str().unwrap();
    let script = repo_root().join("scripts").join(name);
    if script.is_file() {
        script
    } else {
        mvk_e2e::tool(name)
    }
}

/// A root for `systemd-analyze --root`: systemd's own units, ours, and every program they start
/// at the path they name.
fn analysis_root(units: &[Unit]) -> TempDir {
    let root = TempDir::new("sdroot");
    let lib = root.join("usr/lib/systemd");
    std::fs::create_dir_all(&lib).unwrap();
    let copied = Command::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(&lib)
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "copy /usr/lib/systemd/system (is systemd installed?)"
    );
    let etc = root.join("etc/systemd/system");
    std::fs::create_dir_all(&etc).unwrap();
    for unit in units {
        std::fs::copy(
            repo_root().join("scripts/systemd").join(&unit.name),
            etc.join(&unit.name),
        )
        .unwrap();
        for exec in unit.values("Service", "ExecStart") {
            let path = command_line(exec, &HashMap::new()).remove(0);
            let target = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(program(&path), &target).unwrap();
        }
    }
    root
}

fn analyze(root: &TempDir, args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(format!("--root={}", root.path().display()))
        .output()
        .expect("run systemd-analyze (is systemd installed?)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_unit_passes_systemd_analyze_verify() {
    let units = units();
    let root = analysis_root(&units);
    for unit in &units {
        // Man pages are not installed here; everything else is checked.
        let (ok, text) = analyze(&root, &["verify", "--man=no", &unit.name]);
        // Unknown keys and bad values are only warnings: any word about our unit fails it.
        assert!(
            ok && !text.contains(unit.prefix()),
            "systemd-analyze verify {}:\n{text}",
            unit.name
        );
    }

    // The check itself can fail: a misspelt setting and a program missing are both caught.
    let service = root.join("etc/systemd/system/mvk-verify@.service");
    let good = std::fs::read_to_string(&service).unwrap();
    std::fs::write(&service, good.replace("ProtectSystem=", "ProtectSystm=")).unwrap();
    let (_, text) = analyze(&root, &["verify", "--man=no", "mvk-verify@.service"]);
    assert!(text.contains("Unknown key 'ProtectSystm'"), "{text}");
    std::fs::write(&service, &good).unwrap();
    std::fs::remove_file(root.join("usr/local/bin/mvk-verify")).unwrap();
    let (ok, text) = analyze(&root, &["verify", "--man=no", "mvk-verify@.service"]);
    assert!(!ok && text.contains("is not executable"), "{text}");
}

#[test]
fn services_read_the_app_env_file_and_timed_ones_are_locked_down() {
    let units = units();
    for s in services(&units) {
        let at = &s.name;
        assert!(s.is_template(), "{at}: a template, one instance per app");
        assert_eq!(
            s.value("Service", "EnvironmentFile"),
            Some("/etc/mvk/%i.env"),
            "{at}"
        );
        assert_eq!(s.value("Service", "Type"), Some("oneshot"), "{at}");
        assert_eq!(
            s.value("Service", "StandardInput"),
            Some("null"),
            "{at}: no record on stdin"
        );
        assert_eq!(s.value("Service", "NoNewPrivileges"), Some("yes"), "{at}");
        assert_eq!(s.value("Service", "PrivateTmp"), Some("yes"), "{at}");
    }
    let timed = timed(&units);
    assert!(timed.iter().any(|u| u.name == "mvk-verify@.service"));
    let root = analysis_root(&units);
    for s in timed {
        let at = &s.name;
        let own_user = s.value("Service", "DynamicUser") == Some("yes")
            || s.value("Service", "User").is_some_and(|u| u != "root");
        assert!(own_user, "{at}: DynamicUser=yes or a dedicated User=");
        assert_eq!(s.value("Service", "ProtectSystem"), Some("strict"), "{at}");
        assert_eq!(s.value("Service", "ProtectHome"), Some("yes"), "{at}");
        for path in s.values("Service", "ReadWritePaths") {
            assert!(
                path.trim_start_matches('-').starts_with('/'),
                "{at}: ReadWritePaths={path}"
            );
        }
        let (ok, text) = analyze(
            &root,
            &[
                "security",
                "--offline=true",
                &format!("--threshold={MAX_EXPOSURE}"),
                &s.instance_name("shop"),
            ],
        );
        let level = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or("no exposure level");
        assert!(ok, "{at}: exposure over {MAX_EXPOSURE}/10: {level}\n{text}");
    }
}

#[test]
fn timers_start_their_service_every_minute_and_catch_up() {
    let units = units();
    let timers: Vec<&Unit> = units
        .iter()
        .filter(|u| u.name.ends_with(".timer"))
        .collect();
    assert!(timers.iter().any(|t| t.name == "mvk-verify@.timer"));
    for t in timers {
        let at = &t.name;
        let service = t
            .value("Timer", "Unit")
            .map_or(t.name.replace(".timer", ".service"), str::to_string);
        assert!(
            units.iter().any(|u| u.name == service),
            "{at}: no {service} beside it"
        );
        assert_eq!(t.value("Timer", "Persistent"), Some("true"), "{at}");
        assert!(
            t.value("Timer", "RandomizedDelaySec").is_some(),
            "{at}: RandomizedDelaySec"
        );
        assert_eq!(
            t.value("Install", "WantedBy"),
            Some("timers.target"),
            "{at}"
        );
        match (
            t.value("Timer", "OnCalendar"),
            t.value("Timer", "OnUnitActiveSec"),
        ) {
            (Some(spec), _) => {
                let out = Command::new("systemd-analyze")
                    .args(["calendar", spec])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    text.contains("Normalized form: *-*-* *:*:00\n"),
                    "{at}: OnCalendar={spec} is not every minute:\n{text}"
                );
            }
            (None, Some(every)) => assert!(
                ["1min", "1m", "60s", "60"].contains(&every),
                "{at}: OnUnitActiveSec={every}"
            ),
            (None, None) => panic!("{at}: neither OnCalendar= nor OnUnitActiveSec="),
        }
    }
}

#[test]
fn each_timed_service_exec_start_runs_against_the_demo_app() {
    let units = units();
    let name = format!("e2e-units-{}", std::process::id());
    let image = DemoImage::build(&format!("{name}:v1"), &[("DEMO_VERSION", "v1")]);
    let demo = DemoContainer::run(&image.tag, &name, &[]);
    assert!(
        demo.wait_answering(Duration::from_secs(15)),
        "{}",
        demo.logs()
    );
    let app = name.clone();
    // /etc/mvk/<app>.env as an operator writes it for this app. A unit whose tool needs more
    // settings adds them here.
    let etc = TempDir::new("etc-mvk");
    let env_file = etc.join(&format!("{app}.env"));
    std::fs::write(
        &env_file,
        format!(
            "# the app's front, as the timers check it\nMVK_URL=\"{}\"\nMVK_METRICS_URL={}\n\
             # the app's own variables, which the timers' throwaway user cannot read\n\
             MVK_ENV_FILE=/nonexistent/{app}.app.env\n",
            demo.url(""),
            demo.url("/metrics")
        ),
    )
    .unwrap();

    for s in timed(&units) {
        let at = &s.name;
        assert_eq!(
            s.expand(s.value("Service", "EnvironmentFile").unwrap(), &app),
            format!("/etc/mvk/{app}.env")
        );
        // The unit's own Environment= first, then the env file, as systemd orders them.
        let mut env: HashMap<String, String> = HashMap::new();
        for line in s.values("Service", "Environment") {
            for word in command_line(&s.expand(line, &app), &HashMap::new()) {
                let (k, v) = word.split_once('=').unwrap();
                env.insert(k.into(), v.into());
            }
        }
        env.extend(read_env_file(&env_file));
        for name in s
            .values("Service", "UnsetEnvironment")
            .iter()
            .flat_map(|v| v.split_whitespace())
        {
            env.remove(name);
        }
        // Each path it may write is a fresh directory here.
        let writable: Vec<(String, TempDir)> = s
            .values("Service", "ReadWritePaths")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(|p| (p.trim_start_matches('-').to_string(), TempDir::new("rw")))
            .collect();
        for exec in s.values("Service", "ExecStart") {
            let mut argv = command_line(&s.expand(exec, &app), &env);
            argv[0] = program(&argv[0]).display().to_string();
            for arg in argv.iter_mut() {
                for (path, dir) in &writable {
                    *arg = arg.replace(path.as_str(), dir.path().to_str().unwrap());
                }
            }
            let out = Command::new(&argv[0])
                .args(&argv[1..])
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .envs(&env)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{at}: {argv:?} exited {:?}\nstdout: {}\nstderr: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for (path, dir) in &writable {
            let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert!(
                !files.is_empty(),
                "{at}: wrote nothing in {path}, so why may it write there?"
            );
            for file in files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "prom"))
            {
                let text = std::fs::read_to_string(file).unwrap();
                assert!(
                    text.contains(&format!("app=\"{app}\"")),
                    "{at}: {}:\n{text}",
                    file.display()
                );
                let check = Command::new("promtool")
                    .args(["check", "metrics"])
                    .stdin(std::fs::File::open(file).unwrap())
                    .output()
                    .unwrap();
                assert!(
                    check.status.success() && check.stderr.is_empty(),
                    "{at}: promtool check metrics {}: {}",
                    file.display(),
                    String::from_utf8_lossy(&check.stderr)
                );
            }
        }
    }
}
