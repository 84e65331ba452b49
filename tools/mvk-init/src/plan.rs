//! Deciding, per file, whether to create it, update it, leave it, or keep the user's edit;
//! writing the changes, and putting every file back when the result does not validate.
//!
//! mvk-init remembers what it last wrote (`<state-dir>/<app>/init.json`): a file whose
//! content is still that is mvk-init's to update; any other content is the user's.

use crate::files::{self, File};
use crate::{activate, check, Args};
use anyhow::{Context, Result};
use mvk_core::below::{self, Entry};
use mvk_core::{Fail, Progress};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, PartialEq)]
enum Action {
    Create,
    Update,
    Unchanged,
    /// A create-only file its owner has changed since.
    Owned,
    /// The user changed it (or it is not a plain file): left alone.
    Keep,
}

/// `path` (absolute, on the target system) below `root`.
pub fn under(root: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join(relative)
}

pub fn run(args: &Args, progress: &Progress) -> Result<()> {
    if !args.root.is_dir() {
        return Err(
            Fail::usage(format!("--root {} is not a directory", args.root.display())).into(),
        );
    }
    if args.root != Path::new("/") {
        crate::enable::check(&args.root, &args.app)?;
    }
    let textfile = activate::textfile_dir_ready(&args.root, progress)?;
    let files = files::render(args, textfile)?;
    let record_path = args.state.state_dir.join(&args.app).join("init.json");
    // Every read goes through the same no-symlink walk as the writes: a symlink planted on
    // the way to any file is refused here, before anything is written.
    let written = last_written(&args.root, &record_path)?;
    let mut plan = Vec::new();
    for file in &files {
        let target = under(&args.root, &file.path);
        let current = read(&args.root, &file.path)?;
        let action = decide(file, &current, written.get(&key(file)));
        plan.push((file, target, current, action));
    }
    if args.dry_run {
        return dry_run(&plan);
    }

    let mut changed = Vec::new();
    for (file, target, current, action) in &plan {
        if matches!(action, Action::Create | Action::Update) {
            let result = write(&args.root, file);
            changed.push((*file, target.clone(), current));
            if let Err(e) = result {
                restore(&args.root, &changed);
                return Err(e);
            }
            let verb = if *action == Action::Create {
                "created"
            } else {
                "updated"
            };
            progress.say(format!("{verb} {}", file.path.display()));
        }
    }
    if !changed.is_empty() {
        if let Err(e) = check::all(args, progress) {
            restore(&args.root, &changed);
            return Err(
                e.context("the new files did not validate; every file was put back as it was")
            );
        }
    }
    save_written(&args.root, &record_path, &plan)?;
    let nginx_changed = changed
        .iter()
        .any(|(_, t, _)| t.starts_with(under(&args.root, Path::new("/etc/nginx"))));
    activate::run(args, nginx_changed, progress)?;

    let kept: Vec<&PathBuf> = plan
        .iter()
        .filter(|(_, _, _, a)| *a == Action::Keep)
        .map(|(f, _, _, _)| &f.path)
        .collect();
    for (file, target, current, action) in &plan {
        if *action == Action::Keep {
            show_difference(&file.path, target, current, &file.content)?;
        }
    }
    if !kept.is_empty() {
        let names: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
        return Err(Fail::failed(
            "changed-file",
            format!(
                "kept {} as you changed it (the difference to mvk-init's is above); remove it and run mvk-init again to get mvk-init's",
                names.join(", ")
            ),
        )
        .into());
    }
    progress.say(format!("{} is set up", args.app));
    Ok(())
}

fn key(file: &File) -> String {
    file.path.display().to_string()
}

fn decide(file: &File, current: &Entry, written: Option<&Value>) -> Action {
    let bytes = match current {
        Entry::Missing => return Action::Create,
        // A symlink, directory or device: the user's, never written through.
        Entry::Other => return Action::Keep,
        Entry::File(bytes) => bytes,
    };
    let c = String::from_utf8_lossy(bytes);
    match () {
        _ if c == file.content => Action::Unchanged,
        _ if written.and_then(Value::as_str) == Some(&*c) => Action::Update,
        // Changed by its owner (mvk-swap, on a deploy): not mvk-init's any more.
        _ if file.create_only => Action::Owned,
        _ => Action::Keep,
    }
}

/// What is at `path` (on the target system) below `root`, reached without following a
/// symlink; a missing directory on the way is a missing file.
fn read(root: &Path, path: &Path) -> Result<Entry> {
    let (dir, name) = split(path);
    match below::dir(root, dir, None)? {
        Some(d) => d.read(name),
        None => Ok(Entry::Missing),
    }
}

/// A file path's directory and name.
fn split(path: &Path) -> (&Path, &str) {
    let name = path.file_name().and_then(|n| n.to_str());
    (
        path.parent().unwrap_or(Path::new("/")),
        name.expect("mvk-init's paths end in a UTF-8 name"),
    )
}

/// Writes `bytes` at `path` below `root` with `mode`, every directory on the way opened (or
/// made, `rwxr-xr-x`) without following symlinks.
fn write_below(root: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let (dir, name) = split(path);
    let d = below::dir(root, dir, Some(0o755))?.expect("made when missing");
    d.write(name, bytes, mode)
}

fn last_written(root: &Path, path: &Path) -> Result<Map<String, Value>> {
    match read(root, path)? {
        Entry::File(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            // A damaged record only makes every existing file count as the user's.
            _ => Ok(Map::new()),
        },
        Entry::Missing | Entry::Other => Ok(Map::new()),
    }
}

fn save_written(root: &Path, path: &Path, plan: &[(&File, PathBuf, Entry, Action)]) -> Result<()> {
    let mut record = last_written(root, path)?;
    for (file, _, _, action) in plan {
        if !matches!(action, Action::Keep | Action::Owned) {
            record.insert(key(file), Value::from(file.content.clone()));
        }
    }
    let text = serde_json::to_string_pretty(&Value::Object(record))? + "\n";
    // Only root reads it, in the app's own state directory (rwx------, as the tools make it).
    let (dir, name) = split(path);
    let d = below::dir(root, dir, Some(0o700))?.expect("made when missing");
    d.write(name, text.as_bytes(), 0o600)
}

fn write(root: &Path, file: &File) -> Result<()> {
    write_below(root, &file.path, file.content.as_bytes(), file.mode)
}

/// Puts each changed file back: its old content (with the file's mode), or no file.
fn restore(root: &Path, changed: &[(&File, PathBuf, &Entry)]) {
    for (file, _, old) in changed.iter().rev() {
        let _ = match old {
            Entry::File(bytes) => write_below(root, &file.path, bytes, file.mode),
            _ => {
                let (dir, name) = split(&file.path);
                match below::dir(root, dir, None) {
                    Ok(Some(d)) => d.remove(name),
                    other => other.map(|_| ()),
                }
            }
        };
    }
}

fn dry_run(plan: &[(&File, PathBuf, Entry, Action)]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for (file, target, current, action) in plan {
        let path = file.path.display();
        match action {
            Action::Create => {
                writeln!(out, "would create {path} (mode {:o}):", file.mode)?;
                out.write_all(file.content.as_bytes())?;
            }
            Action::Update => {
                writeln!(out, "would update {path}:")?;
                out.flush()?;
                show_difference(&file.path, target, current, &file.content)?;
            }
            Action::Unchanged | Action::Owned => writeln!(out, "unchanged {path}")?,
            Action::Keep => {
                writeln!(out, "would keep {path}: you changed it")?;
                out.flush()?;
                show_difference(&file.path, target, current, &file.content)?;
            }
        }
    }
    Ok(())
}

/// `diff -u` between the file as it is and what mvk-init would write, on stdout. A symlink or
/// other non-file is only named: what it points at is not mvk-init's to show.
fn show_difference(path: &Path, target: &Path, current: &Entry, new: &str) -> Result<()> {
    if *current == Entry::Other {
        println!(
            "{} is not a plain file (a symlink?): left as it is",
            path.display()
        );
        return Ok(());
    }
    let mut child = Command::new("diff")
        .arg("-u")
        .arg("--label")
        .arg(format!("{} (as it is)", path.display()))
        .arg("--label")
        .arg(format!("{} (mvk-init's)", path.display()))
        .arg(target)
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run diff")?;
    let mut stdin = child.stdin.take().expect("piped");
    let _ = stdin.write_all(new.as_bytes());
    drop(stdin);
    child.wait().context("cannot run diff")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str, create_only: bool) -> File {
        File {
            path: "/etc/x".into(),
            mode: 0o644,
            content: content.into(),
            create_only,
        }
    }

    #[test]
    fn a_file_is_mvk_inits_to_update_only_while_it_holds_what_mvk_init_wrote() {
        let new = file("new", false);
        let old = Value::from("old");
        let is = |s: &str| Entry::File(s.as_bytes().to_vec());
        assert_eq!(decide(&new, &Entry::Missing, None), Action::Create);
        assert_eq!(decide(&new, &Entry::Other, Some(&old)), Action::Keep);
        assert_eq!(decide(&new, &is("new"), None), Action::Unchanged);
        assert_eq!(decide(&new, &is("old"), Some(&old)), Action::Update);
        assert_eq!(decide(&new, &is("edited"), Some(&old)), Action::Keep);
        assert_eq!(decide(&new, &is("old"), None), Action::Keep);
        // The upstream file is mvk-swap's once a deploy changed it.
        assert_eq!(
            decide(&file("new", true), &is("old"), Some(&old)),
            Action::Update
        );
        assert_eq!(
            decide(&file("new", true), &is("live"), Some(&old)),
            Action::Owned
        );
    }

    #[test]
    fn paths_land_below_the_root() {
        assert_eq!(
            under(Path::new("/r"), Path::new("/etc/mvk/a.env")),
            Path::new("/r/etc/mvk/a.env")
        );
        assert_eq!(
            under(Path::new("/"), Path::new("/etc/x")),
            Path::new("/etc/x")
        );
        assert_eq!(
            under(Path::new("/r"), Path::new("/../etc/x")),
            Path::new("/r/etc/x")
        );
    }
}
