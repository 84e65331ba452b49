//! The build context as `docker build` (classic builder) sends it: the files of the context
//! directory that `.dockerignore` does not exclude, walked in the order and with the exception
//! rules of moby's `TarWithOptions`, plus the Dockerfile and `.dockerignore` themselves
//! (the daemon needs them, and removes them again when they are ignored).

use crate::dockerignore::{self, Matcher};
use mvk_core::Fail;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::ErrorKind;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What one tar entry is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    /// A further name of a file already in the archive.
    HardLink {
        target: Vec<u8>,
    },
    Fifo,
    Char {
        major: u64,
        minor: u64,
    },
    Block {
        major: u64,
        minor: u64,
    },
}

/// Where a file's content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The name in the archive: relative, `/`-separated, directories ending in `/`.
    pub name: Vec<u8>,
    pub kind: Kind,
    pub source: Source,
    /// Permission, setuid, setgid and sticky bits.
    pub mode: u32,
    /// Seconds since the epoch (tar keeps whole seconds).
    pub mtime: u64,
}

impl Entry {
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File { size } => size,
            _ => 0,
        }
    }
}

#[derive(Debug)]
pub struct Context {
    pub dir: PathBuf,
    /// The Dockerfile's path inside the archive, as the daemon is told.
    pub dockerfile: String,
    pub entries: Vec<Entry>,
    /// Sockets, which tar cannot hold (docker skips them too).
    pub skipped: Vec<PathBuf>,
    /// The files the builder reads but the image must not get, because `.dockerignore` leaves
    /// them out (or the Dockerfile lies outside the context): sent all the same, for the
    /// classic builder to read and drop.
    pub only_for_the_builder: BuildFiles,
}

/// Which of the builder's own files are in the archive only for it to read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct BuildFiles {
    pub dockerignore: bool,
    pub dockerfile: bool,
}

impl Context {
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }

    /// The Dockerfile's text, as it goes into the archive.
    pub fn dockerfile_text(&self) -> Result<String, Fail> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.name == self.dockerfile.as_bytes());
        let bytes = match entry.map(|e| &e.source) {
            Some(Source::Bytes(b)) => b.clone(),
            Some(Source::Path(p)) => fs::read(p).map_err(|e| {
                Fail::usage(format!("cannot read the Dockerfile {}: {e}", p.display()))
            })?,
            None => Vec::new(),
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Resolves the context directory and the Dockerfile and walks the context. `file` is taken
/// relative to the current directory, as `docker build -f` takes it. Every problem is bad
/// input (exit 2), found before anything is sent.
pub fn prepare(dir: &Path, file: Option<&Path>) -> Result<Context, Fail> {
    let dir = fs::canonicalize(dir).map_err(|e| {
        Fail::usage(format!(
            "the build context {} cannot be used: {e}",
            dir.display()
        ))
    })?;
    if !dir.is_dir() {
        return Err(Fail::usage(format!(
            "the build context {} is not a directory",
            dir.display()
        )));
    }
    let dockerfile = locate_dockerfile(&dir, file)?;
    let excludes = read_dockerignore(&dir)?;
    let matcher = Matcher::new(&excludes)
        .map_err(|e| Fail::usage(format!("{}: {e}", dir.join(".dockerignore").display())))?;

    let inside = dockerfile
        .strip_prefix(&dir)
        .ok()
        .map(|rel| rel.as_os_str().as_bytes().to_vec());
    // Like `TrimBuildFilesFromExcludes`: ignored or not, the daemon must receive both files.
    let mut patterns = excludes;
    let mut only_for_the_builder = BuildFiles {
        dockerignore: matcher.matches(".dockerignore"),
        dockerfile: inside.is_none(),
    };
    if only_for_the_builder.dockerignore {
        patterns.push("!.dockerignore".into());
    }
    if let Some(rel) = &inside {
        let rel = String::from_utf8_lossy(rel).into_owned();
        if matcher.matches(&rel) {
            only_for_the_builder.dockerfile = true;
            patterns.push(format!("!{rel}"));
        }
    }
    let matcher = Matcher::new(&patterns).map_err(Fail::usage)?;

    let mut walk = Walk {
        matcher: &matcher,
        entries: Vec::new(),
        skipped: Vec::new(),
        links: HashMap::new(),
    };
    walk.dir(&dir, b"", None)?;
    let mut context = Context {
        dockerfile: String::new(),
        dir,
        entries: walk.entries,
        skipped: walk.skipped,
        only_for_the_builder,
    };
    match inside {
        Some(rel) => context.dockerfile = String::from_utf8_lossy(&rel).into_owned(),
        None => add_outside_dockerfile(&mut context, &dockerfile)?,
    }
    Ok(context)
}

/// `--file`, else `Dockerfile` (or `dockerfile`) in the context, with symlinks resolved.
fn locate_dockerfile(dir: &Path, file: Option<&Path>) -> Result<PathBuf, Fail> {
    let path = match file {
        Some(f) => std::path::absolute(f)
            .map_err(|e| Fail::usage(format!("the Dockerfile {}: {e}", f.display())))?,
        None => {
            let default = dir.join("Dockerfile");
            let lower = dir.join("dockerfile");
            if !default.exists() && lower.exists() {
                lower
            } else {
                default
            }
        }
    };
    let resolved = fs::canonicalize(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Fail::usage(format!("there is no Dockerfile at {}", path.display())),
        _ => Fail::usage(format!(
            "the Dockerfile {} cannot be used: {e}",
            path.display()
        )),
    })?;
    if !resolved.is_file() {
        return Err(Fail::usage(format!(
            "the Dockerfile {} is not a file",
            path.display()
        )));
    }
    File::open(&resolved).map_err(|e| {
        Fail::usage(format!(
            "cannot read the Dockerfile {}: {e}",
            path.display()
        ))
    })?;
    Ok(resolved)
}

/// The patterns of `.dockerignore`; none when there is no such file.
fn read_dockerignore(dir: &Path) -> Result<Vec<String>, Fail> {
    let path = dir.join(".dockerignore");
    match fs::read(&path) {
        Ok(bytes) => Ok(dockerignore::read_patterns(&bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Fail::usage(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A Dockerfile outside the context travels inside it under a random name, and that name is
/// added to `.dockerignore` so the daemon drops it from the context again (as `docker build`
/// does it).
fn add_outside_dockerfile(context: &mut Context, path: &Path) -> Result<(), Fail> {
    let content = fs::read(path).map_err(|e| {
        Fail::usage(format!(
            "cannot read the Dockerfile {}: {e}",
            path.display()
        ))
    })?;
    context.hide_dockerfile(content)
}

impl Context {
    /// Makes the builder read `text` as the Dockerfile, from a file the image does not get:
    /// the Dockerfile's own entry when the daemon drops it anyway, else a new file listed in
    /// `.dockerignore`. False, changing nothing, when that would change what the image can
    /// copy: a `.dockerignore` that does not leave itself out is part of the context.
    pub fn replace_dockerfile(&mut self, text: Vec<u8>) -> Result<bool, Fail> {
        if self.only_for_the_builder.dockerfile {
            if let Some(entry) = self
                .entries
                .iter_mut()
                .find(|e| e.name == self.dockerfile.as_bytes())
            {
                entry.kind = Kind::File {
                    size: text.len() as u64,
                };
                entry.source = Source::Bytes(text);
                return Ok(true);
            }
        }
        let shown = self.entries.iter().any(|e| e.name == b".dockerignore")
            && !self.only_for_the_builder.dockerignore;
        if shown {
            return Ok(false);
        }
        self.hide_dockerfile(text)?;
        self.only_for_the_builder.dockerfile = true;
        Ok(true)
    }

    /// Adds `content` as the Dockerfile under a random name that `.dockerignore` lists, so the
    /// daemon reads it and then drops it from the context (as `docker build` sends a
    /// Dockerfile from outside the context).
    fn hide_dockerfile(&mut self, content: Vec<u8>) -> Result<(), Fail> {
        let name = format!(".dockerfile.{}", random_hex(20));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let memory = |name: &str, bytes: Vec<u8>| Entry {
            name: name.as_bytes().to_vec(),
            kind: Kind::File {
                size: bytes.len() as u64,
            },
            source: Source::Bytes(bytes),
            mode: 0o600,
            mtime: now,
        };
        match self.entries.iter_mut().find(|e| e.name == b".dockerignore") {
            Some(entry) => {
                let mut bytes = match &entry.source {
                    Source::Path(p) => fs::read(p)
                        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", p.display())))?,
                    Source::Bytes(b) => b.clone(),
                };
                bytes.extend_from_slice(format!("\n{name}\n").as_bytes());
                entry.kind = Kind::File {
                    size: bytes.len() as u64,
                };
                entry.source = Source::Bytes(bytes);
            }
            None => self.entries.push(memory(
                ".dockerignore",
                format!(".dockerignore\n{name}\n").into_bytes(),
            )),
        }
        self.entries.push(memory(&name, content));
        self.dockerfile = name;
        Ok(())
    }
}

/// Hex digits that differ between runs and processes (no need for a cryptographic source:
/// the name only has to avoid a file of the context).
fn random_hex(len: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < len {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

struct Walk<'a> {
    matcher: &'a Matcher,
    entries: Vec<Entry>,
    skipped: Vec<PathBuf>,
    /// (device, inode) of files with several names → the first name archived.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl Walk<'_> {
    /// Walks `path` (the archive name `rel`, empty at the root), whose per-pattern match
    /// results are `parent` (`None` at the root), in file-name order like Go's `WalkDir`.
    fn dir(&mut self, path: &Path, rel: &[u8], parent: Option<&[bool]>) -> Result<(), Fail> {
        let unreadable =
            |e: std::io::Error| Fail::usage(format!("cannot read {}: {e}", path.display()));
        let mut names: Vec<OsString> = fs::read_dir(path)
            .map_err(unreadable)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(unreadable)?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            // A big tree takes a while: stop here, nothing has been sent yet.
            mvk_core::signal::check()?;
            let child = path.join(&name);
            let mut child_rel = rel.to_vec();
            if !child_rel.is_empty() {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(name.as_bytes());
            let meta = fs::symlink_metadata(&child)
                .map_err(|e| Fail::usage(format!("cannot read {}: {e}", child.display())))?;
            let text = String::from_utf8_lossy(&child_rel).into_owned();
            let (skip, info) = self.matcher.matches_using_parent_results(&text, parent);
            let is_dir = meta.file_type().is_dir();
            if skip {
                // An excluded directory is still entered when an exception may re-include
                // something below it, but is not itself archived.
                let dir_slash = format!("{text}/");
                let reenter =
                    is_dir
                        && self.matcher.exclusions()
                        && self.matcher.patterns().iter().any(|p| {
                            p.exclusion() && format!("{}/", p.text()).starts_with(&dir_slash)
                        });
                if reenter {
                    self.dir(&child, &child_rel, Some(&info))?;
                }
                continue;
            }
            self.add(&child, child_rel.clone(), &meta)?;
            if is_dir {
                self.dir(&child, &child_rel, Some(&info))?;
            }
        }
        Ok(())
    }

    fn add(&mut self, path: &Path, mut name: Vec<u8>, meta: &Metadata) -> Result<(), Fail> {
        let ft = meta.file_type();
        let (major, minor) = dev_numbers(meta.rdev());
        let kind = if ft.is_dir() {
            name.push(b'/');
            Kind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| {
                Fail::usage(format!("cannot read the symlink {}: {e}", path.display()))
            })?;
            Kind::Symlink {
                target: target.into_os_string().into_vec(),
            }
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                    let target = first.clone();
                    return self.push(path, name, Kind::HardLink { target }, meta);
                }
                self.links.insert((meta.dev(), meta.ino()), name.clone());
            }
            // Fail now, as `docker build` does, rather than halfway through the upload.
            File::open(path)
                .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
            Kind::File { size: meta.len() }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::Char { major, minor }
        } else if ft.is_block_device() {
            Kind::Block { major, minor }
        } else {
            self.skipped.push(path.to_path_buf());
            return Ok(());
        };
        self.push(path, name, kind, meta)
    }

    fn push(
        &mut self,
        path: &Path,
        name: Vec<u8>,
        kind: Kind,
        meta: &Metadata,
    ) -> Result<(), Fail> {
        self.entries.push(Entry {
            name,
            kind,
            source: Source::Path(path.to_path_buf()),
            mode: meta.mode() & 0o7777,
            mtime: meta.mtime().max(0) as u64,
        });
        Ok(())
    }
}

/// glibc's `major()`/`minor()` of a device number.
fn dev_numbers(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdir::Tmp;

    fn names(c: &Context) -> Vec<String> {
        c.entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect()
    }

    #[test]
    fn walks_in_docker_order_with_exceptions() {
        let t = Tmp::new("walk");
        t.file("Dockerfile", "FROM scratch\n");
        t.file(".dockerignore", "# comment\n/build\n**/*.log\nnode_modules\n!node_modules/keep/**\ndocs/*\n!docs/README.md\nDockerfile\n.dockerignore\n");
        for f in [
            "build/out.bin",
            "src/main.rs",
            "src/deep/x.log",
            "app.log",
            "node_modules/a/index.js",
            "node_modules/keep/k.js",
            "docs/README.md",
            "docs/other.md",
            "B.txt",
            "a.txt",
        ] {
            t.file(f, "x");
        }
        let c = prepare(&t.0, None).unwrap();
        assert_eq!(
            names(&c),
            [
                ".dockerignore",
                "B.txt",
                "Dockerfile",
                "a.txt",
                "docs/",
                "docs/README.md",
                "node_modules/keep/k.js",
                "src/",
                "src/deep/",
                "src/main.rs",
            ]
        );
        assert_eq!(c.dockerfile, "Dockerfile");
        assert_eq!(
            c.only_for_the_builder,
            BuildFiles {
                dockerignore: true,
                dockerfile: true
            }
        );
        t.file(".dockerignore", "*.log\n.dockerignore\n");
        let c = prepare(&t.0, None).unwrap();
        assert_eq!(
            c.only_for_the_builder,
            BuildFiles {
                dockerignore: true,
                dockerfile: false
            }
        );
        t.file(".dockerignore", "*.log\n");
        let c = prepare(&t.0, None).unwrap();
        assert_eq!(c.only_for_the_builder, BuildFiles::default());
    }

    /// The bytes of the entry `name`.
    fn bytes(c: &Context, name: &str) -> Vec<u8> {
        let entry = c
            .entries
            .iter()
            .find(|e| e.name == name.as_bytes())
            .unwrap();
        match &entry.source {
            Source::Bytes(b) => b.clone(),
            Source::Path(p) => fs::read(p).unwrap(),
        }
    }

    #[test]
    fn a_replaced_dockerfile_is_one_the_image_never_gets() {
        let t = Tmp::new("replace");
        t.file("Dockerfile", "FROM scratch\n");
        t.file("app.txt", "x");
        // No .dockerignore: one that leaves itself and the new file out is added.
        let mut c = prepare(&t.0, None).unwrap();
        assert!(c
            .replace_dockerfile(b"FROM scratch\nLABEL a=b\n".to_vec())
            .unwrap());
        assert!(c.dockerfile.starts_with(".dockerfile."), "{}", c.dockerfile);
        assert_eq!(bytes(&c, &c.dockerfile), b"FROM scratch\nLABEL a=b\n");
        assert_eq!(
            bytes(&c, "Dockerfile"),
            b"FROM scratch\n",
            "the image's copy stays"
        );
        let ignore = String::from_utf8(bytes(&c, ".dockerignore")).unwrap();
        assert_eq!(ignore, format!(".dockerignore\n{}\n", c.dockerfile));

        // A .dockerignore that leaves itself out gets the new file's name too.
        t.file(".dockerignore", "*.log\n.dockerignore\n");
        let mut c = prepare(&t.0, None).unwrap();
        assert!(c.replace_dockerfile(b"X".to_vec()).unwrap());
        let ignore = String::from_utf8(bytes(&c, ".dockerignore")).unwrap();
        assert_eq!(
            ignore,
            format!("*.log\n.dockerignore\n\n{}\n", c.dockerfile)
        );

        // The Dockerfile is dropped by the daemon anyway: its own entry is replaced.
        t.file(".dockerignore", "*.log\nDockerfile\n");
        let mut c = prepare(&t.0, None).unwrap();
        assert!(c.replace_dockerfile(b"X".to_vec()).unwrap());
        assert_eq!(c.dockerfile, "Dockerfile");
        assert_eq!(bytes(&c, "Dockerfile"), b"X");
        assert_eq!(bytes(&c, ".dockerignore"), b"*.log\nDockerfile\n");

        // A .dockerignore the image could copy must stay as it is: nothing changes.
        t.file(".dockerignore", "*.log\n");
        let mut c = prepare(&t.0, None).unwrap();
        let before = c.entries.clone();
        assert!(!c.replace_dockerfile(b"X".to_vec()).unwrap());
        assert_eq!(c.entries, before);
        assert_eq!(c.dockerfile, "Dockerfile");
    }

    #[test]
    fn dockerfile_outside_the_context_travels_under_a_random_name() {
        let t = Tmp::new("outside");
        t.file("ctx/app.txt", "x");
        t.file("elsewhere/Build.docker", "FROM scratch\n");
        let c = prepare(&t.0.join("ctx"), Some(&t.0.join("elsewhere/Build.docker"))).unwrap();
        assert!(
            c.dockerfile.starts_with(".dockerfile.") && c.dockerfile.len() == 32,
            "{}",
            c.dockerfile
        );
        let ignore = c
            .entries
            .iter()
            .find(|e| e.name == b".dockerignore")
            .unwrap();
        assert_eq!(
            ignore.source,
            Source::Bytes(format!(".dockerignore\n{}\n", c.dockerfile).into_bytes())
        );
        let df = c
            .entries
            .iter()
            .find(|e| e.name == c.dockerfile.as_bytes())
            .unwrap();
        assert_eq!(df.source, Source::Bytes(b"FROM scratch\n".to_vec()));
        assert_eq!(df.mode, 0o600);
        assert!(c.only_for_the_builder.dockerfile);
    }

    #[test]
    fn symlinks_hardlinks_and_modes() {
        let t = Tmp::new("links");
        t.file("Dockerfile", "FROM scratch\n");
        t.file("bin/tool", "#!/bin/sh\n");
        fs::set_permissions(
            t.0.join("bin/tool"),
            std::os::unix::fs::PermissionsExt::from_mode(0o4755),
        )
        .unwrap();
        std::os::unix::fs::symlink("bin/tool", t.0.join("tool")).unwrap();
        std::os::unix::fs::symlink("/nowhere", t.0.join("dangling")).unwrap();
        fs::hard_link(t.0.join("bin/tool"), t.0.join("z-again")).unwrap();
        let c = prepare(&t.0, None).unwrap();
        let by_name = |n: &str| {
            c.entries
                .iter()
                .find(|e| e.name == n.as_bytes())
                .unwrap()
                .clone()
        };
        assert_eq!(by_name("bin/tool").mode, 0o4755);
        assert_eq!(by_name("bin/tool").kind, Kind::File { size: 10 });
        assert_eq!(
            by_name("tool").kind,
            Kind::Symlink {
                target: b"bin/tool".to_vec()
            }
        );
        assert_eq!(
            by_name("dangling").kind,
            Kind::Symlink {
                target: b"/nowhere".to_vec()
            }
        );
        assert_eq!(
            by_name("z-again").kind,
            Kind::HardLink {
                target: b"bin/tool".to_vec()
            }
        );
    }

    #[test]
    fn bad_input_is_exit_2() {
        let t = Tmp::new("bad");
        let err = prepare(&t.0.join("missing"), None).unwrap_err();
        assert_eq!(err.exit, mvk_core::Exit::Usage);
        assert!(err.message.contains("missing"), "{}", err.message);

        let err = prepare(&t.0, None).unwrap_err();
        assert!(err.message.contains("no Dockerfile"), "{}", err.message);

        t.file("Dockerfile", "FROM scratch\n");
        fs::create_dir(t.0.join(".dockerignore")).unwrap();
        let err = prepare(&t.0, None).unwrap_err();
        assert_eq!(err.exit, mvk_core::Exit::Usage);
        assert!(err.message.contains(".dockerignore"), "{}", err.message);
        fs::remove_dir(t.0.join(".dockerignore")).unwrap();

        t.file(".dockerignore", "a[\n");
        let err = prepare(&t.0, None).unwrap_err();
        assert!(err.message.contains("a["), "{}", err.message);

        fs::remove_file(t.0.join(".dockerignore")).unwrap();
        let err = prepare(&t.0, Some(&t.0)).unwrap_err();
        assert!(err.message.contains("not a file"), "{}", err.message);
    }

    #[test]
    fn lowercase_dockerfile_is_found() {
        let t = Tmp::new("lower");
        t.file("dockerfile", "FROM scratch\n");
        assert_eq!(prepare(&t.0, None).unwrap().dockerfile, "dockerfile");
    }
}
