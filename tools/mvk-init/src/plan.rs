//! Deciding, per file, whether to create it, update it, leave it, or keep the user's edit;
//! writing the changes, and putting every file back when the result does not validate.
//!
//! mvk-init remembers what it last wrote (`<state-dir>/<app>/init.json`): a file whose
//! content is still that is mvk-init's to update; any other content is the user's.

use crate::files::{self, File};
use crate::{activate, check, Args};
use anyhow::{Context, Result};
use mvk_core::{atomic, Fail, Progress};
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
    let files = files::render(args)?;
    let record_path = under(
        &args.root,
        &args.state.state_dir.join(&args.app).join("init.json"),
    );
    let written = last_written(&record_path)?;
    let mut plan = Vec::new();
    for file in &files {
        let target = under(&args.root, &file.path);
        let current = read_plain(&target)?;
        let action = decide(file, current.as_deref(), written.get(&key(file)));
        plan.push((file, target, current, action));
    }
    if args.dry_run {
        return dry_run(&plan);
    }

    let mut changed = Vec::new();
    for (file, target, current, action) in &plan {
        if matches!(action, Action::Create | Action::Update) {
            let result = write(target, file);
            changed.push((target.clone(), current.clone()));
            if let Err(e) = result {
                restore(&changed);
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
            restore(&changed);
            return Err(
                e.context("the new files did not validate; every file was put back as it was")
            );
        }
    }
    save_written(&record_path, &plan)?;
    let nginx_changed = changed
        .iter()
        .any(|(t, _)| t.starts_with(under(&args.root, Path::new("/etc/nginx"))));
    activate::run(args, nginx_changed, progress)?;

    let kept: Vec<&PathBuf> = plan
        .iter()
        .filter(|(_, _, _, a)| *a == Action::Keep)
        .map(|(f, _, _, _)| &f.path)
        .collect();
    for (file, target, _, action) in &plan {
        if *action == Action::Keep {
            show_difference(&file.path, target, &file.content)?;
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

fn decide(file: &File, current: Option<&str>, written: Option<&Value>) -> Action {
    match current {
        None => Action::Create,
        Some(c) if c == file.content => Action::Unchanged,
        Some(c) if written.and_then(Value::as_str) == Some(c) => Action::Update,
        // Changed by its owner (mvk-swap, on a deploy): not mvk-init's any more.
        Some(_) if file.create_only => Action::Owned,
        Some(_) => Action::Keep,
    }
}

/// A file's content; `None` when it does not exist. Anything but a plain UTF-8 file (a
/// symlink, a directory) is reported as the user's own and never written through.
fn read_plain(path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(meta) if !meta.file_type().is_file() => {
            Ok(Some(format!("(not a plain file: {:?})", meta.file_type())))
        }
        Ok(_) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

fn last_written(path: &Path) -> Result<Map<String, Value>> {
    match read_plain(path)? {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(m),
            // A damaged record only makes every existing file count as the user's.
            _ => Ok(Map::new()),
        },
    }
}

fn save_written(path: &Path, plan: &[(&File, PathBuf, Option<String>, Action)]) -> Result<()> {
    let mut record = last_written(path)?;
    for (file, _, _, action) in plan {
        if !matches!(action, Action::Keep | Action::Owned) {
            record.insert(key(file), Value::from(file.content.clone()));
        }
    }
    let dir = path.parent().expect("the record is in the app's state dir");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = serde_json::to_string_pretty(&Value::Object(record))? + "\n";
    atomic::write_with_mode(path, text.as_bytes(), 0o600)
}

fn write(target: &Path, file: &File) -> Result<()> {
    let dir = target.parent().expect("files have a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    atomic::write_with_mode(target, file.content.as_bytes(), file.mode)
}

/// Puts each changed file back: its old content, or no file.
fn restore(changed: &[(PathBuf, Option<String>)]) {
    for (target, old) in changed.iter().rev() {
        let _ = match old {
            Some(text) => atomic::write(target, text.as_bytes()),
            None => std::fs::remove_file(target).map_err(Into::into),
        };
    }
}

fn dry_run(plan: &[(&File, PathBuf, Option<String>, Action)]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for (file, target, _, action) in plan {
        let path = file.path.display();
        match action {
            Action::Create => {
                writeln!(out, "would create {path} (mode {:o}):", file.mode)?;
                out.write_all(file.content.as_bytes())?;
            }
            Action::Update => {
                writeln!(out, "would update {path}:")?;
                out.flush()?;
                show_difference(&file.path, target, &file.content)?;
            }
            Action::Unchanged | Action::Owned => writeln!(out, "unchanged {path}")?,
            Action::Keep => {
                writeln!(out, "would keep {path}: you changed it")?;
                out.flush()?;
                show_difference(&file.path, target, &file.content)?;
            }
        }
    }
    Ok(())
}

/// `diff -u` between the file as it is and what mvk-init would write, on stdout.
fn show_difference(path: &Path, target: &Path, new: &str) -> Result<()> {
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
        assert_eq!(decide(&new, None, None), Action::Create);
        assert_eq!(decide(&new, Some("new"), None), Action::Unchanged);
        assert_eq!(decide(&new, Some("old"), Some(&old)), Action::Update);
        assert_eq!(decide(&new, Some("edited"), Some(&old)), Action::Keep);
        assert_eq!(decide(&new, Some("old"), None), Action::Keep);
        // The upstream file is mvk-swap's once a deploy changed it.
        assert_eq!(
            decide(&file("new", true), Some("old"), Some(&old)),
            Action::Update
        );
        assert_eq!(
            decide(&file("new", true), Some("live"), Some(&old)),
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
