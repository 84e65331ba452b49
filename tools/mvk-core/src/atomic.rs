//! Replacing a file so that readers see the old content or the new, never a mix.

use anyhow::{Context, Result};
use nix::fcntl::{open, openat, renameat, OFlag};
use nix::sys::stat::{fchmod, Mode};
use nix::unistd::{fsync, unlinkat, UnlinkatFlags};
use std::fs::{DirBuilder, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Writes `bytes` to a temp file beside `path`, fsyncs it, renames it over `path`, and fsyncs
/// the directory so the rename survives a crash. A failure leaves `path` as it was. The file
/// is `rw-r--r--`: for what others must read (nginx's upstream, node_exporter's textfiles).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with_mode(path, bytes, 0o644)
}

/// [`write`] with the file's mode, set exactly whatever the umask. The temp file has an
/// unpredictable name and is created exclusively without following symlinks, so a file or
/// symlink planted in the directory (a group-writable textfile directory, say) is never
/// written through; one planted at `path` itself is replaced, not followed.
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let fd = open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open directory {}", dir.display()))?;
    write_in(&fd, dir, &name.to_string_lossy(), bytes, mode)
}

/// [`write_with_mode`] of `name` in the open directory `dir` (`dir_path` names it in
/// messages): nothing on the way to it is looked up again, so a caller that opened it without
/// following symlinks ([`crate::below`]) writes nowhere else.
pub fn write_in(dir: &OwnedFd, dir_path: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let path = dir_path.join(name);
    let (mut file, tmp) = create_temp(dir, dir_path, name, mode)?;
    let result = (|| -> Result<()> {
        file.write_all(bytes)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("cannot write {}", dir_path.join(&tmp).display()))?;
        renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), name).with_context(|| {
            format!(
                "cannot rename {} to {}",
                dir_path.join(&tmp).display(),
                path.display()
            )
        })?;
        fsync(dir.as_fd()).with_context(|| format!("cannot sync directory {}", dir_path.display()))
    })();
    if result.is_err() {
        let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Creates `.<name>.tmp.<random>` in `dir` with `O_EXCL | O_NOFOLLOW` (and close-on-exec), and
/// gives it `mode` exactly. A leading dot keeps half-written files out of globs such as nginx's
/// `*.conf` or the textfile collector's `*.prom`.
fn create_temp(dir: &OwnedFd, dir_path: &Path, name: &str, mode: u32) -> Result<(File, String)> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut last = None;
    // A name taken (by chance or by a planted file) is skipped, not written through.
    for _ in 0..16 {
        let tmp = format!(".{name}.tmp.{:016x}", random()?);
        match openat(
            dir.as_fd(),
            tmp.as_str(),
            flags,
            Mode::from_bits_truncate(mode & 0o600),
        ) {
            Ok(fd) => {
                fchmod(fd.as_fd(), Mode::from_bits_truncate(mode)).with_context(|| {
                    format!("cannot set the mode of {}", dir_path.join(&tmp).display())
                })?;
                return Ok((File::from(fd), tmp));
            }
            Err(e @ nix::errno::Errno::EEXIST) => last = Some(e),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create {}", dir_path.join(&tmp).display()))
            }
        }
    }
    Err(last.expect("tried at least once"))
        .with_context(|| format!("cannot create a temp file in {}", dir_path.display()))
}

/// 64 unpredictable bits from the kernel.
fn random() -> Result<u64> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(u64::from_ne_bytes(bytes))
}

/// Creates `dir` (and its parents) if missing, the last one `rwx------`: for what only root
/// may read (state, deploy records, locks). An existing directory is left as it is.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("mvk-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.conf");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.conf")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_leaves_the_old_file() {
        let dir = std::env::temp_dir().join(format!("mvk-atomic-fail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x");
        write(&path, b"old").unwrap();
        // A directory in the way of the rename makes it fail after the temp file is written.
        let blocked = dir.join("sub");
        fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(write(&blocked, b"new").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".sub.tmp."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn modes_are_exact_whatever_the_umask() {
        let dir = std::env::temp_dir().join(format!("mvk-atomic-mode-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        write(&dir.join("public"), b"x").unwrap();
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0));
        write_with_mode(&dir.join("private"), b"x", 0o600).unwrap();
        nix::sys::stat::umask(old);
        let mode = |n: &str| fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode("public"), mode("private")), (0o644, 0o600));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_at_the_path_is_replaced_not_followed() {
        let dir = std::env::temp_dir().join(format!("mvk-atomic-link-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("x.prom")).unwrap();
        write(&dir.join("x.prom"), b"new").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
        assert!(!fs::symlink_metadata(dir.join("x.prom"))
            .unwrap()
            .is_symlink());
        fs::remove_dir_all(&dir).unwrap();
    }
}
