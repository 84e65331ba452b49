//! A scratch directory for the unit tests that walk and tar real files, removed on drop.

use std::fs;
use std::path::PathBuf;

pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(label: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("mvk-build-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }

    /// Writes `content` to `rel`, making its directories.
    pub fn file(&self, rel: &str, content: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
