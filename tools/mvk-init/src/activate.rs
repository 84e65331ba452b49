//! After the files validate, on the server itself: nginx reloaded when its files changed, the
//! textfile directory the timers write made, and the app's verification and alert timers
//! enabled when systemd runs. Below another --root (an image), only the timers are enabled
//! there, for its systemd to start.

use crate::Args;
use anyhow::{Context, Result};
use mvk_core::{below, Fail, Progress};
use nix::sys::stat::{fchmod, Mode};
use std::path::Path;
use std::process::Command;

/// node_exporter's textfile directory as Debian's prometheus-node-exporter reads it by default
/// (the package ships it); the timed units and deploys write there.
pub const TEXTFILE_DIR: &str = "/var/lib/prometheus/node-exporter";

/// The textfile directory deploys may write, for the env file: there below the root, or about
/// to be made here on the server (by [`run`], for group mvk). A symlink planted on the way is
/// refused as any other write's.
pub fn textfile_dir_ready(root: &Path, progress: &Progress) -> Result<Option<&'static Path>> {
    let dir = Path::new(TEXTFILE_DIR);
    let there = below::dir(root, dir, None)?.is_some();
    let made = root == Path::new("/") && mvk_group().is_some();
    if there || made {
        progress.say(format!(
            "deploys write their metrics into {TEXTFILE_DIR} (MVK_TEXTFILE_DIR)"
        ));
        Ok(Some(dir))
    } else {
        progress.say(format!(
            "{} is not there: MVK_TEXTFILE_DIR is left unset, deploys write no metrics",
            crate::plan::under(root, dir).display()
        ));
        Ok(None)
    }
}

fn mvk_group() -> Option<nix::unistd::Group> {
    nix::unistd::Group::from_name("mvk").ok().flatten()
}

pub fn run(args: &Args, nginx_changed: bool, progress: &Progress) -> Result<()> {
    if args.root != Path::new("/") {
        progress.say(format!(
            "wrote below {}: nothing reloaded or started there",
            args.root.display()
        ));
        return crate::enable::timers(&args.root, &args.app, progress);
    }
    let systemd = Path::new("/run/systemd/system").is_dir();
    if nginx_changed {
        reload_nginx(systemd, progress)?;
    }
    textfile_dir(progress)?;
    if systemd {
        let timers = [
            format!("mvk-verify@{}.timer", args.app),
            format!("mvk-alerts@{}.timer", args.app),
        ];
        let out = Command::new("systemctl")
            .args(["enable", "--now", "--quiet"])
            .args(&timers)
            .output()
            .context("cannot run systemctl")?;
        if !out.status.success() {
            return Err(Fail::failed(
                "timers-failed",
                format!(
                    "systemctl enable --now {} failed: {}",
                    timers.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )
            .into());
        }
        progress.say(format!("enabled {}", timers.join(" and ")));
    } else {
        progress
            .say("systemd does not run here: the verification and alert timers were not enabled");
    }
    Ok(())
}

/// nginx reloads only a configuration that `nginx -t` passed (checked before this).
fn reload_nginx(systemd: bool, progress: &Progress) -> Result<()> {
    let running = if systemd {
        Command::new("systemctl")
            .args(["is-active", "--quiet", "nginx"])
            .status()
            .is_ok_and(|s| s.success())
    } else {
        Path::new("/run/nginx.pid").exists()
    };
    if !running {
        progress.say("nginx is not running: it reads the new site when it starts");
        return Ok(());
    }
    let status = if systemd {
        Command::new("systemctl").args(["reload", "nginx"]).status()
    } else {
        Command::new("nginx").args(["-s", "reload"]).status()
    }
    .context("cannot reload nginx")?;
    if !status.success() {
        return Err(Fail::failed("reload-failed", "nginx did not reload").into());
    }
    progress.say("reloaded nginx");
    Ok(())
}

/// The directory mvk-verify@ and mvk-alerts@ write for node_exporter: group mvk may write it.
/// Made without following a symlink on the way, its group set before it is group-writable.
fn textfile_dir(progress: &Progress) -> Result<()> {
    let (root, dir) = (Path::new("/"), Path::new(TEXTFILE_DIR));
    if below::dir(root, dir, None)?.is_some() {
        return Ok(());
    }
    let Some(group) = mvk_group() else {
        progress.say(format!(
            "no group mvk (the package makes it): {TEXTFILE_DIR} not made"
        ));
        return Ok(());
    };
    let made = below::dir(root, dir, Some(0o755))?.expect("made when missing");
    nix::unistd::fchown(made.fd(), None, Some(group.gid))
        .with_context(|| format!("cannot give {TEXTFILE_DIR} to group mvk"))?;
    fchmod(made.fd(), Mode::from_bits_truncate(0o2775))
        .with_context(|| format!("cannot set the mode of {TEXTFILE_DIR}"))?;
    progress.say(format!("made {TEXTFILE_DIR} (group mvk)"));
    Ok(())
}
