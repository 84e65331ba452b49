//! scripts/package: the .deb holds every tool, script, man page, completion and unit where
//! Debian looks for them, passes lintian without errors, installs into a throwaway root
//! (`dpkg --root`, maintainer scripts honouring DPKG_ROOT), runs from there, and purges
//! cleanly, leaving an app's state alone.

use mvk_e2e::cmd::run_command;
use mvk_e2e::demo::repo_root;
use mvk_e2e::package::{build_package, expected, names};
use mvk_e2e::TempDir;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const TEXTFILE_DIR: &str = "var/lib/prometheus/node-exporter";

/// Runs a prepared command to the end, with empty stdin.
fn run(cmd: &mut Command) -> mvk_e2e::Run {
    run_command(std::mem::replace(cmd, Command::new("true")), "")
}

fn dpkg(root: &Path, args: &[&str]) -> mvk_e2e::Run {
    let root_arg = format!("--root={}", root.display());
    let mut cmd = Command::new("dpkg");
    cmd.args([root_arg.as_str(), "--force-script-chrootless"])
        .args(args);
    run(&mut cmd)
}

/// A root dpkg can install into: its database and the group files groupadd edits.
fn empty_root() -> TempDir {
    let root = TempDir::new("pkgroot");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/gshadow"), "root:*::\n").unwrap();
    root
}

#[test]
fn the_package_installs_runs_and_purges_cleanly() {
    let out = TempDir::new("pkgout");
    let deb = build_package(out.path());

    let lint = run(Command::new("lintian").arg(&deb));
    let errors: Vec<&str> = lint
        .stdout
        .lines()
        .filter(|l| l.starts_with("E:"))
        .collect();
    assert!(
        errors.is_empty() && lint.code == 0,
        "lintian: {}{}",
        lint.stdout,
        lint.stderr
    );
    // Every program in /usr/bin, the scripts too, has its man page.
    assert!(
        !lint.stdout.contains("binary-without-manpage"),
        "lintian: {}",
        lint.stdout
    );
    let info = run(Command::new("dpkg-deb").args([
        "--field",
        deb.to_str().unwrap(),
        "Depends",
        "Recommends",
    ]));
    assert!(
        info.stdout.contains("nginx")
            && info.stdout.contains("docker.io")
            && info.stdout.contains("Recommends: prometheus"),
        "{}",
        info.stdout
    );

    let maintainer: Vec<PathBuf> = ["postinst", "postrm"]
        .iter()
        .map(|s| repo_root().join("scripts/debian").join(s))
        .collect();
    let check = run(Command::new("shellcheck")
        .args(["--shell", "sh"])
        .args(&maintainer));
    assert_eq!(check.code, 0, "shellcheck: {}", check.stdout);

    let root = empty_root();
    // Dependencies (nginx, docker.io) are not in the throwaway root: a clean Debian
    // container resolves them (the realserver tests).
    let installed = dpkg(
        root.path(),
        &["--force-depends", "-i", deb.to_str().unwrap()],
    );
    assert_eq!(installed.code, 0, "dpkg -i: {}", installed.stderr);
    for (path, mode) in expected() {
        let meta = std::fs::metadata(root.join(&path))
            .unwrap_or_else(|e| panic!("{path} is not installed: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
    }
    for dir in ["etc/mvk", "etc/nginx/mvk", "var/lib/mvk"] {
        assert!(root.join(dir).is_dir(), "{dir}");
    }
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("mvk:")), "{group}");
    // node_exporter's textfile directory (Debian's default), for group mvk as the root knows it.
    let gid: u32 = group
        .lines()
        .find_map(|l| l.strip_prefix("mvk:x:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("{group}"));
    let textfile = std::fs::metadata(root.join(TEXTFILE_DIR)).expect("textfile directory");
    assert_eq!(
        (textfile.is_dir(), textfile.gid(), textfile.mode() & 0o7777),
        (true, gid, 0o2775)
    );
    // The units run the package's tools.
    for unit in names("scripts/systemd") {
        let text =
            std::fs::read_to_string(root.join(&format!("lib/systemd/system/{unit}"))).unwrap();
        for exec in text.lines().filter_map(|l| l.strip_prefix("ExecStart=")) {
            let bin = exec.split_whitespace().next().unwrap();
            assert!(
                bin.starts_with("/usr/bin/") && root.join(&bin[1..]).exists(),
                "{unit}: {exec}"
            );
        }
    }
    // The installed scripts find their library where the package put it.
    let lib = run(Command::new(root.join("usr/bin/mvk-deploy")).env("MVK_APP", "Not valid"));
    assert_eq!(lib.code, 2, "{}", lib.stderr);
    assert!(
        lib.stderr.contains("not a valid app name"),
        "{}",
        lib.stderr
    );

    let version = run(Command::new(root.join("usr/bin/mvk-swap")).arg("--version"));
    assert_eq!(version.code, 0, "{}", version.stderr);
    assert_eq!(
        version.stdout.trim(),
        format!("mvk-swap {}", env!("CARGO_PKG_VERSION"))
    );
    // A tool's page, and a script's (its options are mvk-build's and its own).
    for (page, expected) in [("mvk-swap", "--textfile-dir"), ("mvk-deploy", "--built")] {
        let man = run(Command::new("man")
            .args(["-P", "cat", page])
            .env("MANPATH", root.join("usr/share/man"))
            .env("MANWIDTH", "80"));
        assert_eq!(man.code, 0, "man {page}: {}", man.stderr);
        assert!(
            man.stdout.contains(page) && man.stdout.contains(expected),
            "{}",
            man.stdout
        );
    }
    assert!(
        std::fs::read_to_string(root.join("usr/share/bash-completion/completions/mvk-deploy"))
            .unwrap()
            .contains("--built"),
        "mvk-deploy's bash completion"
    );

    // An app's state survives the purge; everything the package made goes.
    std::fs::create_dir_all(root.join("var/lib/mvk/shop")).unwrap();
    std::fs::write(root.join("var/lib/mvk/shop/state.json"), "{}").unwrap();
    let purged = dpkg(root.path(), &["--purge", "maverick"]);
    assert_eq!(purged.code, 0, "dpkg --purge: {}", purged.stderr);
    for (path, _) in expected() {
        assert!(!root.join(&path).exists(), "{path} is left after purge");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/mvk/shop/state.json")).unwrap(),
        "{}"
    );
    for gone in ["usr", "lib", "etc/mvk", "etc/nginx"] {
        assert!(!root.join(gone).exists(), "{gone} is left after purge");
    }
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(!group.lines().any(|l| l.starts_with("mvk:")), "{group}");
}

/// An existing textfile directory (prometheus-node-exporter's, root's and 0755) is given to
/// group mvk; a symlink planted in its place is not followed.
#[test]
fn the_package_gives_an_existing_textfile_directory_to_group_mvk_and_follows_no_symlink() {
    let out = TempDir::new("pkgout");
    let deb = build_package(out.path());
    let root = empty_root();
    let dir = root.join(TEXTFILE_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("other.prom"), "x 1\n").unwrap();
    let installed = dpkg(
        root.path(),
        &["--force-depends", "-i", deb.to_str().unwrap()],
    );
    assert_eq!(installed.code, 0, "dpkg -i: {}", installed.stderr);
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o2775);
    assert_ne!(meta.gid(), 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("other.prom")).unwrap(),
        "x 1\n"
    );

    let planted = empty_root();
    let outside = TempDir::new("pkgoutside");
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(planted.join("var/lib")).unwrap();
    std::os::unix::fs::symlink(outside.path(), planted.join("var/lib/prometheus")).unwrap();
    let installed = dpkg(
        planted.path(),
        &["--force-depends", "-i", deb.to_str().unwrap()],
    );
    assert_eq!(installed.code, 0, "dpkg -i: {}", installed.stderr);
    assert!(
        installed.stderr.contains("is a symlink"),
        "{}",
        installed.stderr
    );
    assert!(!outside.join("node-exporter").exists());
    let meta = std::fs::metadata(outside.path()).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o700, 0));
    for deb_root in [root.path(), planted.path()] {
        let purged = dpkg(deb_root, &["--purge", "maverick"]);
        assert_eq!(purged.code, 0, "dpkg --purge: {}", purged.stderr);
    }
}
