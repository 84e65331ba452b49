//! Debian images made on this machine, the suite's fixtures: nothing can be pulled here, so the
//! base is `debootstrap --variant=minbase bookworm` from the mirror apt already uses, imported
//! with `docker import`; its variants add Debian packages on top.
//!
//! Each is built once per engine and found by its tag afterwards; the tag carries a hash of its
//! recipe, so a changed recipe builds a new image instead of reusing a stale one. Tests never
//! delete them (they are the suite's cache, like the build cache). A file lock keeps parallel
//! test processes from building the same image twice.

use crate::cmd::docker;
use crate::tmp::TempDir;
use nix::fcntl::{Flock, FlockArg};
use std::fs::OpenOptions;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The repository all of the suite's Debian fixtures are tagged in.
pub const REPO: &str = "maverick-test-fixture/debian";
const SUITE: &str = "bookworm";

/// Keeps images slim as Debian's own slim images do: no documentation, manuals or translations
/// (a test that needs manuals, such as the package test, removes this file first).
pub const DPKG_EXCLUDES: &str = "/etc/dpkg/dpkg.cfg.d/maverick-slim";
const EXCLUDES: &str = "path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
";

/// What the base image leaves out of debootstrap's tree: downloaded packages, package lists
/// and what the excludes above keep out of later installs.
const TRIM: &[&str] = &[
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    /// debootstrap's minbase: apt, bash, coreutils; what `FROM` lines of test apps start from.
    Base,
    /// Base with systemd as PID 1 (`/lib/systemd/systemd`): a clean server.
    Systemd,
    /// Systemd with nginx (installed disabled, no default site): the host Maverick deploys on.
    Server,
}

impl Image {
    fn name(self) -> &'static str {
        match self {
            Image::Base => "",
            Image::Systemd => "systemd",
            Image::Server => "server",
        }
    }

    fn parent(self) -> Option<Image> {
        match self {
            Image::Base => None,
            Image::Systemd => Some(Image::Base),
            Image::Server => Some(Image::Systemd),
        }
    }

    /// The Dockerfile steps a variant adds to its parent.
    fn steps(self) -> &'static str {
        match self {
            Image::Base => "",
            Image::Systemd => {
                "RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv \
                 && rm -rf /var/lib/apt/lists/*\n\
                 STOPSIGNAL SIGRTMIN+3\n\
                 CMD [\"/lib/systemd/systemd\"]\n"
            }
            // With the container on the host's network, a running nginx would take port 80:
            // tests start it with their own site.
            Image::Server => {
                "RUN apt-get update && apt-get install -y --no-install-recommends nginx-light \
                 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
                 && systemctl disable nginx\n"
            }
        }
    }

    /// Everything that decides what the image holds, hashed into its tag.
    fn recipe(self) -> String {
        let own = format!(
            "debootstrap --variant=minbase {SUITE}\n{EXCLUDES}{}\n{}",
            TRIM.join(" "),
            self.steps()
        );
        match self.parent() {
            Some(p) => format!("{}\n{own}", p.recipe()),
            None => own,
        }
    }

    /// `maverick-test-fixture/debian:bookworm-<variant>-<recipe hash>`.
    pub fn tag(self) -> String {
        let hash = fnv1a(self.recipe().as_bytes());
        match self.name() {
            "" => format!("{REPO}:{SUITE}-{:010x}", hash >> 24),
            name => format!("{REPO}:{SUITE}-{name}-{:010x}", hash >> 24),
        }
    }

    /// The image's tag, building it (and its parents) first if this engine lacks it.
    pub fn ensure(self) -> String {
        // Threads of one test process queue here; other processes at the file lock.
        static IN_PROCESS: Mutex<()> = Mutex::new(());
        let tag = self.tag();
        if exists(&tag) {
            return tag;
        }
        // The parent first, before this image's locks: neither lock is reentrant, so a parent
        // ensured under them would wait on itself forever.
        let parent = self.parent().map(Image::ensure);
        let _guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        let _lock = lock();
        if exists(&tag) {
            return tag;
        }
        match parent {
            None => build_base(&tag),
            Some(parent) => build_variant(&tag, &parent, self.steps()),
        }
        tag
    }
}

fn exists(tag: &str) -> bool {
    docker(&["image", "inspect", "-f", "{{.Id}}", tag]).is_ok()
}

/// The machine-wide build lock, held until dropped (and released by the kernel if the test
/// process dies).
fn lock() -> Flock<std::fs::File> {
    let path = std::env::temp_dir().join("maverick-test-fixture-debian.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    Flock::lock(file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock {}: {e}", path.display()))
}

/// 64-bit FNV-1a: a stable hash (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// The Debian mirror apt uses on this machine: the first `URIs:` of a deb822 source, or the
/// URI of a one-line `deb` source, that serves the suite's main archive (not its security one).
pub fn mirror() -> String {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.push("/etc/apt/sources.list".into());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let uris: Vec<&str> = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("URIs:"))
                .flat_map(str::split_whitespace)
                .collect(),
            Some("list") => text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("deb "))
                .filter_map(|l| l.split_whitespace().find(|w| w.contains("://")))
                .collect(),
            _ => continue,
        };
        if let Some(uri) = uris.into_iter().find(|u| !u.contains("security")) {
            return uri.to_string();
        }
    }
    panic!("no Debian mirror in /etc/apt/sources.list.d or /etc/apt/sources.list");
}

/// debootstrap into a temporary root, trim it, and `docker import` it as `tag`.
fn build_base(tag: &str) {
    let dir = TempDir::new("debootstrap");
    let root = dir.join("root");
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", SUITE])
        .arg(&root)
        .arg(mirror())
        .output()
        .expect("run debootstrap (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "debootstrap --variant=minbase {SUITE} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for path in TRIM {
        let _ = std::fs::remove_dir_all(root.join(path));
        std::fs::create_dir_all(root.join(path)).unwrap();
    }
    std::fs::create_dir_all(root.join("var/lib/apt/lists/partial")).unwrap();
    std::fs::create_dir_all(root.join("var/cache/apt/archives/partial")).unwrap();
    std::fs::write(root.join(DPKG_EXCLUDES.trim_start_matches('/')), EXCLUDES).unwrap();

    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tar");
    let label = format!("LABEL org.maverick.test-fixture={tag}");
    let import = Command::new("docker")
        .args(["import", "--change", &label])
        .args(["--change", "ENV LANG=C.UTF-8"])
        .args(["--change", "CMD [\"bash\"]", "-", tag])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .expect("run docker import");
    let tarred = tar.wait().unwrap();
    assert!(
        tarred.success() && import.status.success(),
        "tar {tarred} | docker import {tag}: {}",
        String::from_utf8_lossy(&import.stderr)
    );
}

/// `docker build` of `FROM parent` plus `steps` as `tag`.
fn build_variant(tag: &str, parent: &str, steps: &str) {
    let ctx = TempDir::new("fixture");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {parent}\nENV DEBIAN_FRONTEND=noninteractive\n{steps}LABEL org.maverick.test-fixture={tag}\n"
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()])
        .unwrap_or_else(|e| panic!("docker build {tag}: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_fixture_and_change_with_the_recipe() {
        let tags: Vec<String> = [Image::Base, Image::Systemd, Image::Server]
            .iter()
            .map(|i| i.tag())
            .collect();
        assert!(tags[0].starts_with("maverick-test-fixture/debian:bookworm-"));
        assert!(tags[1].starts_with("maverick-test-fixture/debian:bookworm-systemd-"));
        assert!(tags[2].starts_with("maverick-test-fixture/debian:bookworm-server-"));
        // A variant's tag changes with its parent's recipe.
        assert!(Image::Server.recipe().contains(Image::Systemd.steps()));
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }

    #[test]
    fn the_mirror_is_apts_own() {
        let mirror = mirror();
        assert!(mirror.contains("://"), "{mirror}");
        assert!(!mirror.contains("security"), "{mirror}");
    }
}
