//! Generated docs: `man/<tool>.1` and `completions/` (bash, zsh, fish), rendered from each
//! tool's clap `Command`, so the docs cannot drift from the flags.

use clap_complete::Shell;
use std::path::PathBuf;

/// Every tool's command line, as its library exposes it.
pub fn tools() -> Vec<clap::Command> {
    vec![]
}

/// Each generated file: its path relative to the repository root, and its content.
pub fn render() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for cmd in tools() {
        let name = cmd.get_name().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut page)
            .expect("rendering to memory cannot fail");
        files.push((PathBuf::from(format!("man/{name}.1")), page));
        for (shell, file) in [
            (Shell::Bash, format!("completions/{name}.bash")),
            (Shell::Zsh, format!("completions/_{name}")),
            (Shell::Fish, format!("completions/{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
            files.push((PathBuf::from(file), out));
        }
    }
    files
}

/// The repository root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Generated files whose committed copy differs or is missing.
pub fn stale() -> Vec<PathBuf> {
    render()
        .into_iter()
        .filter(|(path, content)| std::fs::read(root().join(path)).ok().as_ref() != Some(content))
        .map(|(path, _)| path)
        .collect()
}
