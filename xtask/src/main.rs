//! `cargo run -p xtask -- docs` writes the man pages and completions; `check-docs` fails
//! when the committed ones are out of date.

use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("docs") => {
            for (path, content) in xtask::render() {
                let path = xtask::root().join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, content).unwrap();
            }
            ExitCode::SUCCESS
        }
        Some("check-docs") => {
            let stale = xtask::stale();
            for path in &stale {
                eprintln!(
                    "xtask: {} is out of date: run `cargo run -p xtask -- docs`",
                    path.display()
                );
            }
            if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- docs|check-docs");
            ExitCode::from(2)
        }
    }
}
