//! `--root DIR`: the app's timers enabled in the image or root, as `systemctl enable` does it
//! on a server: a link `etc/systemd/system/<target>.wants/<unit>` to the unit file, for each
//! `WantedBy=` of its [Install] section. Made here rather than by `systemctl --root`, which
//! (systemd 252) follows a symlink planted below the root to a directory outside it: every
//! directory on the way is opened without following symlinks (`mvk_core::below`), and the link
//! is made in the one opened.

use anyhow::{Context, Result};
use mvk_core::below;
use mvk_core::{Fail, Progress};
use nix::errno::Errno;
use nix::fcntl::readlinkat;
use nix::unistd::symlinkat;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Where systemd looks for unit files, below the root; the first that has it wins.
const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// A link that enables a unit: `<dir>/<name>` → `target`.
struct Link {
    dir: PathBuf,
    name: String,
    target: String,
}

/// The links that enable mvk-verify@APP.timer and mvk-alerts@APP.timer below `root`, by unit.
/// A timer whose unit is not installed there (the package not yet installed into the image)
/// is said and skipped.
fn links(root: &Path, app: &str, progress: Option<&Progress>) -> Result<Vec<(String, Vec<Link>)>> {
    let mut out = Vec::new();
    for tool in ["mvk-verify", "mvk-alerts"] {
        let template = format!("{tool}@.timer");
        let unit = format!("{tool}@{app}.timer");
        let Some(dir) = UNIT_DIRS
            .iter()
            .find(|d| root.join(d).join(&template).is_file())
        else {
            if let Some(progress) = progress {
                progress.say(format!(
                    "{template} is not installed below {} (install the package there first): \
                     {unit} not enabled",
                    root.display()
                ));
            }
            continue;
        };
        let text = std::fs::read_to_string(root.join(dir).join(&template))
            .with_context(|| format!("cannot read {template} below {}", root.display()))?;
        let target = format!("/{dir}/{template}");
        let wanted: Vec<Link> = wanted_by(&text)
            .into_iter()
            .map(|wanting| Link {
                dir: PathBuf::from(format!("etc/systemd/system/{wanting}.wants")),
                name: unit.clone(),
                target: target.clone(),
            })
            .collect();
        out.push((unit, wanted));
    }
    Ok(out)
}

/// Before anything is written: a symlink planted on the way to a link's directory is refused.
pub fn check(root: &Path, app: &str) -> Result<()> {
    for (_, links) in links(root, app, None)? {
        for link in links {
            below::dir(root, &link.dir, None)?;
        }
    }
    Ok(())
}

/// Enables mvk-verify@APP.timer and mvk-alerts@APP.timer below `root`.
pub fn timers(root: &Path, app: &str, progress: &Progress) -> Result<()> {
    for (unit, links) in links(root, app, Some(progress))? {
        let mut made = false;
        for l in &links {
            made |= link(root, l)?;
        }
        if made {
            progress.say(format!("enabled {unit} below {}", root.display()));
        }
    }
    Ok(())
}

/// The units of the `WantedBy=` lines of a unit file's [Install] section.
fn wanted_by(unit: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Install]" {
            if let Some(units) = line.strip_prefix("WantedBy=") {
                out.extend(units.split_whitespace().map(str::to_string));
            }
        }
    }
    out
}

/// Makes the symlink, creating the directories of `dir` (0755) as needed, none through a
/// symlink; false when it is there already. Another file at its name is refused (exit 1).
fn link(root: &Path, l: &Link) -> Result<bool> {
    let dir = below::dir(root, &l.dir, Some(0o755))?.expect("made when missing");
    let path = dir.path.join(&l.name);
    let target = &l.target;
    match readlinkat(dir.fd().as_fd(), l.name.as_str()) {
        Ok(existing) if existing == target.as_str() => return Ok(false),
        Ok(existing) => {
            return Err(refused(format!(
                "{} points at {}, not {target}: left as it is",
                path.display(),
                existing.to_string_lossy()
            )))
        }
        Err(Errno::ENOENT) => {}
        Err(Errno::EINVAL) => {
            return Err(refused(format!(
                "{} is there and is not a symlink: left as it is",
                path.display()
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    symlinkat(target.as_str(), dir.fd().as_fd(), l.name.as_str())
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(true)
}

fn refused(message: String) -> anyhow::Error {
    Fail::failed("timers-failed", message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_by_reads_the_install_section_only() {
        let unit = "[Unit]\nWantedBy=nope.target\n[Timer]\nOnCalendar=minutely\n\
                    [Install]\nWantedBy=timers.target other.target\nWantedBy=third.target\n";
        assert_eq!(
            wanted_by(unit),
            ["timers.target", "other.target", "third.target"]
        );
    }

    #[test]
    fn the_shipped_timers_are_wanted_by_timers_target() {
        for timer in ["mvk-verify@.timer", "mvk-alerts@.timer"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scripts/systemd")
                .join(timer);
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(wanted_by(&text), ["timers.target"], "{timer}");
        }
    }
}
