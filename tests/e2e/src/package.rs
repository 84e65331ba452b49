//! The Debian package as scripts/package builds it from the test build, and where each of
//! its files must land.

use crate::cmd::{run_command, tool};
use crate::demo::repo_root;
use crate::script::script;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The names in a directory of the checkout, sorted.
pub fn names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file the package must install, with its mode.
pub fn expected() -> Vec<(String, u32)> {
    let mut files = vec![
        ("usr/lib/mvk/mvk.bash".to_string(), 0o644),
        ("usr/share/doc/maverick/copyright".to_string(), 0o644),
        ("usr/share/doc/maverick/changelog.gz".to_string(), 0o644),
    ];
    for tool in names("tools").into_iter().filter(|t| t != "mvk-core") {
        files.push((format!("usr/bin/{tool}"), 0o755));
    }
    for page in names("man") {
        let section = page.rsplit('.').next().unwrap().to_string();
        files.push((format!("usr/share/man/man{section}/{page}.gz"), 0o644));
    }
    for c in names("completions") {
        let path = if let Some(name) = c.strip_suffix(".bash") {
            format!("usr/share/bash-completion/completions/{name}")
        } else if c.ends_with(".fish") {
            format!("usr/share/fish/vendor_completions.d/{c}")
        } else {
            format!("usr/share/zsh/vendor-completions/{c}")
        };
        files.push((path, 0o644));
    }
    // The scripts (mvk-deploy, mvk-undo, mvk-canary) and the shipped hooks.
    for script in names("scripts")
        .into_iter()
        .filter(|s| s.starts_with("mvk-"))
    {
        files.push((format!("usr/bin/{script}"), 0o755));
    }
    for hook in names("scripts/hooks") {
        files.push((format!("usr/lib/mvk/hooks/{hook}"), 0o755));
    }
    for unit in names("scripts/systemd") {
        files.push((format!("lib/systemd/system/{unit}"), 0o644));
    }
    files
}

/// `scripts/package` of the test build into `out`; the .deb's path.
pub fn build_package(out: &Path) -> PathBuf {
    let bin_dir = tool("mvk-swap").parent().unwrap().to_path_buf();
    let mut cmd = Command::new(script("package"));
    cmd.args([
        "--bin-dir",
        bin_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let built = run_command(cmd, "");
    assert_eq!(built.code, 0, "scripts/package: {}", built.stderr);
    let deb = PathBuf::from(built.stdout.trim());
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("maverick_{}_", env!("CARGO_PKG_VERSION")))
            && name.ends_with(".deb"),
        "{name}"
    );
    deb
}
