//! Every shell script the project ships is strict bash and shellcheck-clean (the package's
//! POSIX sh maintainer scripts under scripts/debian/ are checked by the package test).

use mvk_e2e::demo::repo_root;
use std::path::PathBuf;
use std::process::Command;

/// The scripts: every file under scripts/ (but units and workflows) and .ci/run.
fn scripts() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let root = repo_root();
    let mut files = vec![root.join(".ci/run")];
    let mut dirs = vec![root.join("scripts")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["systemd", "ci", "debian"].contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    // Libraries are sourced, not run: they inherit the caller's options.
    files
        .into_iter()
        .partition(|f| f.extension().is_none_or(|e| e != "bash"))
}

#[test]
fn every_script_is_strict_bash_and_shellcheck_clean() {
    let (programs, libraries) = scripts();
    assert!(
        programs.len() >= 10 && !libraries.is_empty(),
        "{programs:?} {libraries:?}"
    );
    for f in &programs {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.starts_with("#!/usr/bin/env bash\n") || text.starts_with("#!/bin/bash\n"),
            "{} is not a bash script",
            f.display()
        );
        assert!(
            text.contains("\nset -euo pipefail\n"),
            "{} lacks set -euo pipefail",
            f.display()
        );
    }
    for f in programs.iter().chain(&libraries) {
        let syntax = Command::new("bash").arg("-n").arg(f).output().unwrap();
        assert!(
            syntax.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&syntax.stderr)
        );
    }
    let out = Command::new("shellcheck")
        .args(["--external-sources", "--severity=style"])
        .args(programs.iter().chain(&libraries))
        .output()
        .expect("run shellcheck (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
