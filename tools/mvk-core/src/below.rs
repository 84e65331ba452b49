//! Directories and files below a root (`/` on a server, or an image being prepared), reached
//! without following symlinks: each directory on the way is opened `O_NOFOLLOW` from the one
//! before, and made (with an exact mode) in it when missing, so a symlink planted below the
//! root cannot send a write, a read or a removal anywhere else.

use crate::{atomic, Fail};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

const DIRECTORY: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_RDONLY)
    .union(OFlag::O_CLOEXEC);

/// An open directory below the root; `path` names it in messages.
pub struct Dir {
    fd: OwnedFd,
    pub path: PathBuf,
}

/// What is at a name in a [`Dir`].
#[derive(Debug, PartialEq)]
pub enum Entry {
    Missing,
    File(Vec<u8>),
    /// A symlink, directory, device or pipe: never read or written through.
    Other,
}

/// Opens `root/relative` (only the normal components of `relative` count), each directory
/// below `root` without following symlinks. A missing directory is made, `rwxr-xr-x` on the
/// way and the last with `create`'s mode (exactly, whatever the umask); without `create`, a
/// missing one is `Ok(None)`. A symlink or
/// non-directory on the way is refused (exit 1, naming it): nothing is made through it.
pub fn dir(root: &Path, relative: &Path, create: Option<u32>) -> Result<Option<Dir>> {
    let fd = open(root, DIRECTORY, Mode::empty())
        .with_context(|| format!("cannot open {}", root.display()))?;
    let mut dir = Dir {
        fd,
        path: root.to_path_buf(),
    };
    let parts: Vec<_> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let path = dir.path.join(part);
        let step = |at: &OwnedFd| {
            openat(
                at.as_fd(),
                *part,
                DIRECTORY | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )
        };
        let fd = match (step(&dir.fd), create) {
            (Ok(fd), _) => fd,
            (Err(Errno::ENOENT), None) => return Ok(None),
            (Err(Errno::ENOENT), Some(last)) => {
                let mode = if i + 1 == parts.len() { last } else { 0o755 };
                mkdirat(
                    dir.fd.as_fd(),
                    *part,
                    Mode::from_bits_truncate(mode & 0o700),
                )
                .with_context(|| format!("cannot create {}", path.display()))?;
                let fd =
                    step(&dir.fd).with_context(|| format!("cannot open {}", path.display()))?;
                fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))
                    .with_context(|| format!("cannot set the mode of {}", path.display()))?;
                fd
            }
            (Err(Errno::ELOOP | Errno::ENOTDIR), _) => return Err(planted(&path)),
            (Err(e), _) => {
                return Err(e).with_context(|| format!("cannot open {}", path.display()))
            }
        };
        dir = Dir { fd, path };
    }
    Ok(Some(dir))
}

/// The refusal of a symlink or non-directory where a directory must be.
pub fn planted(path: &Path) -> anyhow::Error {
    Fail::failed(
        "unsafe-path",
        format!(
            "{} is a symlink or not a directory: refusing to write through it",
            path.display()
        ),
    )
    .into()
}

impl Dir {
    /// What is at `name`, read without following a symlink there.
    pub fn read(&self, name: &str) -> Result<Entry> {
        let path = self.path.join(name);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Entry::Missing),
            Err(Errno::ELOOP) => return Ok(Entry::Other),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let stat = fstat(fd.as_fd()).with_context(|| format!("cannot read {}", path.display()))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Ok(Entry::Other);
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Entry::File(bytes))
    }

    /// Replaces `name` atomically ([`atomic::write_in`]), mode exact.
    pub fn write(&self, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        atomic::write_in(&self.fd, &self.path, name, bytes, mode)
    }

    /// Removes the file `name` (a missing one is fine).
    pub fn remove(&self, name: &str) -> Result<()> {
        match unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => {
                Err(e).with_context(|| format!("cannot remove {}", self.path.join(name).display()))
            }
        }
    }

    /// The open directory, for what else must happen in it without a path lookup.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvk-below-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn makes_the_missing_directories_with_their_mode_and_writes_in_the_last() {
        let root = scratch("make");
        assert!(dir(&root, Path::new("/a/b"), None).unwrap().is_none());
        let d = dir(&root, Path::new("/a/b"), Some(0o750)).unwrap().unwrap();
        assert_eq!(d.path, root.join("a/b"));
        d.write("f", b"x", 0o600).unwrap();
        assert_eq!(d.read("f").unwrap(), Entry::File(b"x".to_vec()));
        assert_eq!(d.read("g").unwrap(), Entry::Missing);
        let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            (mode("a"), mode("a/b"), mode("a/b/f")),
            (0o755, 0o750, 0o600)
        );
        d.remove("f").unwrap();
        d.remove("f").unwrap();
        assert!(!root.join("a/b/f").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_planted_symlink_on_the_way_or_at_the_name_is_not_followed() {
        let root = scratch("planted");
        let outside = scratch("outside");
        fs::write(outside.join("f"), "precious").unwrap();
        symlink(&outside, root.join("a")).unwrap();
        for create in [None, Some(0o755)] {
            let err = dir(&root, Path::new("a/b"), create).err().expect("refused");
            let fail = Fail::classify(&err);
            assert_eq!(
                (fail.exit, fail.kind.as_str()),
                (Exit::Failed, "unsafe-path")
            );
            assert!(fail.message.contains(&root.join("a").display().to_string()));
        }
        assert!(!outside.join("b").exists());
        fs::remove_file(root.join("a")).unwrap();
        fs::write(root.join("a"), "a file").unwrap();
        assert!(dir(&root, Path::new("a/b"), Some(0o755)).is_err());
        let d = dir(&root, Path::new(""), None).unwrap().unwrap();
        symlink(outside.join("f"), root.join("f")).unwrap();
        assert_eq!(d.read("f").unwrap(), Entry::Other);
        d.remove("f").unwrap();
        assert_eq!(fs::read_to_string(outside.join("f")).unwrap(), "precious");
        fs::remove_dir_all(&root).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }
}
