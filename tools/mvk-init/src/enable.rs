//! `--root DIR`: the app's timers enabled in the image or root, as `systemctl enable` does it
//! on a server: a link `etc/systemd/system/<target>.wants/<unit>` to the unit file, for each
//! `WantedBy=` of its [Install] section. Made here rather than by `systemctl --root`, which
//! (systemd 252) follows a symlink planted below the root to a directory outside it: every
//! directory on the way is opened without following symlinks, and the link is made in the one
//! opened.

use anyhow::{bail, Context, Result};
use mvk_core::{Fail, Progress};
use nix::errno::Errno;
use nix::fcntl::{open, openat, readlinkat, OFlag};
use nix::sys::stat::{fchmod, mkdirat, Mode};
use nix::unistd::symlinkat;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Where systemd looks for unit files, below the root; the first that has it wins.
const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Enables mvk-verify@APP.timer and mvk-alerts@APP.timer below `root`. A timer whose unit is
/// not installed there (the package not yet installed into the image) is said and skipped.
pub fn timers(root: &Path, app: &str, progress: &Progress) -> Result<()> {
    for tool in ["mvk-verify", "mvk-alerts"] {
        let template = format!("{tool}@.timer");
        let unit = format!("{tool}@{app}.timer");
        let Some(dir) = UNIT_DIRS
            .iter()
            .find(|d| root.join(d).join(&template).is_file())
        else {
            progress.say(format!(
                "{template} is not installed below {} (install the package there first): \
                 {unit} not enabled",
                root.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(root.join(dir).join(&template))
            .with_context(|| format!("cannot read {template} below {}", root.display()))?;
        let target = format!("/{dir}/{template}");
        let mut made = false;
        for wanting in wanted_by(&text) {
            let wants = format!("etc/systemd/system/{wanting}.wants");
            made |= link(root, &wants, &unit, &target)?;
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

/// Makes the symlink `root/dir/name` → `target`, creating the directories of `dir` (0755) as
/// needed; false when it is there already. A symlink or non-directory on the way, or another
/// file at `name`, is refused (exit 1) and nothing is made through it.
fn link(root: &Path, dir: &str, name: &str, target: &str) -> Result<bool> {
    let directory = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mut fd: OwnedFd = open(root, directory, Mode::empty())
        .with_context(|| format!("cannot open {}", root.display()))?;
    let mut at = root.to_path_buf();
    for part in dir.split('/') {
        at.push(part);
        let step = |fd: &OwnedFd| openat(fd, part, directory | OFlag::O_NOFOLLOW, Mode::empty());
        fd = match step(&fd) {
            Ok(next) => next,
            Err(Errno::ENOENT) => {
                mkdirat(&fd, part, Mode::from_bits_truncate(0o755))
                    .with_context(|| format!("cannot create {}", at.display()))?;
                let next = step(&fd).with_context(|| format!("cannot open {}", at.display()))?;
                fchmod(&next, Mode::from_bits_truncate(0o755))
                    .with_context(|| format!("cannot set the mode of {}", at.display()))?;
                next
            }
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(refused(format!(
                    "{} is a symlink or not a directory: refusing to enable timers through it",
                    at.display()
                )))
            }
            Err(e) => bail!("cannot open {}: {e}", at.display()),
        };
    }
    let path = at.join(name);
    match readlinkat(&fd, name) {
        Ok(existing) if existing == target => return Ok(false),
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
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
    symlinkat(target, &fd, name).with_context(|| format!("cannot create {}", path.display()))?;
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
