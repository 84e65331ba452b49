//! The app's upstream file: replaced atomically, and put back byte for byte when the swap
//! cannot go through.

use anyhow::{Context, Result};
use mvk_core::{atomic, Fail};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct UpstreamFile {
    pub path: PathBuf,
    /// The content before this swap; `None` when there was no file.
    before: Option<Vec<u8>>,
    mode: u32,
}

impl UpstreamFile {
    /// Remembers the file as it is now.
    pub fn open(path: &Path) -> Result<UpstreamFile> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(Fail::unavailable(
                "nginx",
                format!(
                    "the upstream file's directory {} does not exist: create it and `include {}` in the nginx site",
                    dir.display(),
                    path.display()
                ),
            )
            .into());
        }
        let (before, mode) = match fs::read(path) {
            Ok(bytes) => {
                // The file's own mode is kept, but never writable by others, executable or
                // set-id: root writes it.
                let mode = fs::metadata(path)
                    .map(|m| m.permissions().mode() & 0o644)
                    .unwrap_or(0o644);
                (Some(bytes), mode)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, 0o644),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(UpstreamFile {
            path: path.to_path_buf(),
            before,
            mode,
        })
    }

    /// The port the file routed to before this swap.
    pub fn port_before(&self) -> Option<u16> {
        mvk_core::nginx::upstream_port(&String::from_utf8_lossy(self.before.as_deref()?))
    }

    /// True when the file already holds exactly `text`.
    pub fn holds(&self, text: &str) -> bool {
        self.before.as_deref() == Some(text.as_bytes())
    }

    pub fn write(&self, text: &str) -> Result<()> {
        atomic::write_with_mode(&self.path, text.as_bytes(), self.mode)
            .with_context(|| format!("cannot write the upstream file {}", self.path.display()))
    }

    /// Puts back the content from before (or removes the file if there was none).
    pub fn restore(&self) -> Result<()> {
        match &self.before {
            Some(bytes) => atomic::write_with_mode(&self.path, bytes, self.mode),
            None => match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
        }
        .with_context(|| format!("cannot restore the upstream file {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("mvk-swap-upstream-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn restores_the_old_bytes_and_mode() {
        let d = dir("restore");
        let path = d.join("shop.upstream");
        let old = b"# hand-made\nupstream shop { server 127.0.0.1:8000; }  \n\n".to_vec();
        fs::write(&path, &old).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let file = UpstreamFile::open(&path).unwrap();
        assert_eq!(file.port_before(), Some(8000));
        file.write(&mvk_core::nginx::upstream_conf("shop", 8001))
            .unwrap();
        assert_eq!(mvk_core::nginx::live_port(&path).unwrap(), Some(8001));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        file.restore().unwrap();
        assert_eq!(fs::read(&path).unwrap(), old);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn restoring_a_file_that_was_not_there_removes_it() {
        let d = dir("absent");
        let path = d.join("shop.upstream");
        let file = UpstreamFile::open(&path).unwrap();
        assert_eq!(file.port_before(), None);
        file.write("x").unwrap();
        file.restore().unwrap();
        assert!(!path.exists());
        file.restore().unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_directory_is_exit_4() {
        let err = UpstreamFile::open(Path::new("/nonexistent-mvk/x.upstream"))
            .err()
            .unwrap();
        let fail = Fail::classify(&err);
        assert_eq!(fail.exit, mvk_core::Exit::Unavailable);
        assert!(fail.message.contains("does not exist"), "{}", fail.message);
    }
}
