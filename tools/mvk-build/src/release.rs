//! The release id: `--release`, else the context's git revision (short SHA, `-dirty` when the
//! work tree has uncommitted changes, untracked files included: they can end up in the
//! image), else the build time in UTC.

use mvk_core::time::compact_utc;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub id: String,
    /// The full commit SHA of the context, when it is in a git work tree.
    pub revision: Option<String>,
    /// Why git gave no revision, for a progress line.
    pub no_git: Option<String>,
}

pub fn resolve(given: Option<&str>, context: &Path, now: SystemTime) -> Release {
    let revision = git(context, &["rev-parse", "--verify", "HEAD"]);
    let (commit, no_git) = match revision {
        Ok(sha) => (Some(sha), None),
        Err(why) => (None, Some(why)),
    };
    let id = match (given, &commit) {
        (Some(given), _) => given.to_string(),
        (None, Some(_)) => {
            let short = git(context, &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
            let dirty = git(context, &["status", "--porcelain"])
                .map(|s| !s.is_empty())
                .unwrap_or(true);
            if dirty {
                format!("{short}-dirty")
            } else {
                short
            }
        }
        (None, None) => compact_utc(now),
    };
    Release {
        id,
        revision: commit,
        no_git,
    }
}

/// Runs git in `dir`; its trimmed stdout, or the first line of what went wrong.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .next()
            .unwrap_or("git failed")
            .trim()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::{Duration, UNIX_EPOCH};

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn from_git_clean_dirty_and_without_git() {
        let dir = std::env::temp_dir().join(format!("mvk-build-release-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("app")).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_795_701_600);

        let r = resolve(None, &dir.join("app"), now);
        assert_eq!(r.id, "20261126T140000Z");
        assert!(r.revision.is_none() && r.no_git.is_some());

        sh(&dir, &["init", "-q"]);
        fs::write(dir.join("app/Dockerfile"), "FROM scratch\n").unwrap();
        sh(&dir, &["add", "."]);
        sh(&dir, &["commit", "-q", "-m", "one"]);
        let r = resolve(None, &dir.join("app"), now);
        let sha = r.revision.clone().unwrap();
        assert_eq!(sha.len(), 40);
        assert!(sha.starts_with(&r.id) && r.id.len() >= 7, "{r:?}");

        fs::write(dir.join("untracked"), "x").unwrap();
        let r = resolve(None, &dir.join("app"), now);
        assert!(
            r.id.ends_with("-dirty") && sha.starts_with(r.id.trim_end_matches("-dirty")),
            "{r:?}"
        );

        let r = resolve(Some("v9"), &dir.join("app"), now);
        assert_eq!(
            (r.id.as_str(), r.revision.as_deref()),
            ("v9", Some(sha.as_str()))
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
