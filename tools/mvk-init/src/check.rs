//! The result must be what nginx and Prometheus accept: `nginx -t` and `promtool check`.

use crate::plan::under;
use crate::Args;
use anyhow::{Context, Result};
use mvk_core::{Fail, Progress};
use std::path::Path;
use std::process::Command;

pub fn all(args: &Args, progress: &Progress) -> Result<()> {
    nginx(args)?;
    let prometheus = under(&args.root, Path::new("/etc/prometheus/mvk"));
    let app = &args.app;
    let rules = prometheus.join(format!("{app}.rules.yml"));
    let scrape = prometheus.join(format!("{app}.scrape.yml"));
    if !on_path("promtool") {
        progress.say(
            "promtool is not installed (package prometheus): the Prometheus files were not checked",
        );
        return Ok(());
    }
    run(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(&rules),
        "promtool check rules",
    )?;
    run(
        Command::new("promtool")
            .args(["check", "config"])
            .arg(&scrape),
        "promtool check config",
    )?;
    Ok(())
}

/// `nginx -t`: of the server's configuration when writing to `/`; below another root, of the
/// site alone, in a throwaway main file beside it (the site's `include mvk/…` is relative to
/// the directory of the main file, as on the server).
fn nginx(args: &Args) -> Result<()> {
    if !on_path("nginx") {
        return Err(Fail::unavailable(
            "nginx-missing",
            "nginx is not installed (the site cannot be checked): apt-get install nginx",
        )
        .into());
    }
    if args.root == Path::new("/") {
        return run(Command::new("nginx").args(["-t", "-q"]), "nginx -t");
    }
    // The site was just written there, through the same no-symlink walk.
    let dir = mvk_core::below::dir(&args.root, Path::new("/etc/nginx"), Some(0o755))?
        .expect("made when missing");
    let name = format!(".mvk-init-check-{}.conf", std::process::id());
    let main = dir.path.join(&name);
    let conf = format!(
        "# mvk-init's check of the site alone; removed at once.\n\
         error_log stderr;\nevents {{}}\nhttp {{\n    include conf.d/mvk-{}.conf;\n}}\n",
        args.app
    );
    dir.write(&name, conf.as_bytes(), 0o600)?;
    let result = run(
        Command::new("nginx")
            .args(["-t", "-q", "-e", "stderr", "-c"])
            .arg(&main),
        "nginx -t",
    );
    let _ = dir.remove(&name);
    result
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Runs a checker; its complaint, if any, is the error.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string()
        + String::from_utf8_lossy(&out.stdout).trim();
    Err(Fail::failed("invalid-config", format!("{what} failed: {said}")).into())
}
