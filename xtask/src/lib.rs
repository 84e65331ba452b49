//! Generated docs: `man/<tool>.1` and `completions/` (bash, zsh, fish), rendered from each
//! tool's clap `Command` (and each deploy script's, described in `scripts`), so the docs
//! cannot drift from the flags; and `man/mvk.7`, rendered from the contract, docs/DESIGN.md.

mod contract;
pub mod scripts;

use clap_complete::Shell;
use std::path::PathBuf;

/// Every tool's command line, as its library exposes it.
pub fn tools() -> Vec<clap::Command> {
    vec![
        mvk_build::command(),
        mvk_healthwait::command(),
        mvk_swap::command(),
        mvk_verify::command(),
        mvk_rollback::command(),
        mvk_alerts::command(),
        mvk_init::command(),
    ]
}

/// Every command line with generated docs: the tools', then the deploy scripts'.
pub fn commands() -> Vec<clap::Command> {
    tools()
        .into_iter()
        .chain(scripts::all().iter().map(scripts::Script::command))
        .collect()
}

/// Each generated file: its path relative to the repository root, and its content.
pub fn render() -> Vec<(PathBuf, Vec<u8>)> {
    let design = std::fs::read_to_string(root().join("docs/DESIGN.md"))
        .expect("docs/DESIGN.md is the contract mvk(7) is made from");
    let mut files = vec![(
        PathBuf::from("man/mvk.7"),
        contract::man_page(&design, env!("CARGO_PKG_VERSION")),
    )];
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        files.push((
            PathBuf::from(format!("man/{name}.1")),
            man_page(cmd.clone()),
        ));
        // Subcommands get pages of their own, `man mvk-alerts-rules`, as git's do.
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub_name = format!("{name}-{}", sub.get_name());
            let page = man_page(sub.clone().name(sub_name.clone()));
            files.push((PathBuf::from(format!("man/{sub_name}.1")), page));
        }
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

fn man_page(cmd: clap::Command) -> Vec<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .expect("rendering to memory cannot fail");
    page
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
