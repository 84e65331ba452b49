//! One env file configures every tool (DESIGN.md §2), so an `MVK_*` variable must mean the same
//! thing to every tool that reads it.

use std::collections::BTreeMap;

fn walk(
    cmd: &clap::Command,
    path: String,
    out: &mut BTreeMap<String, Vec<(String, String, String)>>,
) {
    for arg in cmd.get_arguments() {
        if let Some(env) = arg.get_env() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let default: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            out.entry(env.to_string_lossy().into_owned())
                .or_default()
                .push((
                    format!("{path} --{}", arg.get_long().unwrap_or("")),
                    help,
                    default.join(","),
                ));
        }
    }
    for sub in cmd.get_subcommands() {
        walk(sub, format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_env_var_means_one_thing() {
    let mut seen = BTreeMap::new();
    for tool in xtask::tools() {
        let name = tool.get_name().to_string();
        walk(&tool, name, &mut seen);
    }
    let mut clashes = Vec::new();
    for (env, uses) in &seen {
        let defaults: std::collections::BTreeSet<_> = uses.iter().map(|u| &u.2).collect();
        let options: std::collections::BTreeSet<_> = uses
            .iter()
            .map(|u| u.0.rsplit(' ').next().unwrap())
            .collect();
        if defaults.len() > 1 || options.len() > 1 {
            clashes.push(format!("{env}: {uses:?}"));
        }
    }
    assert!(
        clashes.is_empty(),
        "env vars that differ between tools:\n{}",
        clashes.join("\n")
    );
}

/// The flags that read a variable: (variable, long name).
fn flags(cmd: &clap::Command, out: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments() {
        if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
            if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                out.push((env.to_string_lossy().into_owned(), long.to_string()));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        flags(sub, out);
    }
}

/// Parses the flag `--long` alone, in a command of its own so that no other argument's error
/// (a missing `--app`) hides its own. clap reads a variable when the command is built, so the
/// commands are built anew after the variable is set.
fn parse_flag(long: &str) -> Result<bool, clap::Error> {
    fn find(cmd: &clap::Command, long: &str) -> Option<clap::Arg> {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .cloned()
            .or_else(|| cmd.get_subcommands().find_map(|s| find(s, long)))
    }
    let arg = xtask::tools()
        .iter()
        .find_map(|t| find(t, long))
        .expect("the flag exists");
    let m = clap::Command::new("flag")
        .arg(arg.id("flag"))
        .try_get_matches_from(["flag"])?;
    Ok(m.get_flag("flag"))
}

#[test]
fn every_flag_reads_1_yes_on_from_its_variable() {
    let mut all = Vec::new();
    for tool in xtask::tools() {
        flags(&tool, &mut all);
    }
    all.sort();
    all.dedup();
    assert!(
        all.len() >= 5,
        "expected the tools' flags, found {}",
        all.len()
    );
    let mut refused = Vec::new();
    for (env, long) in all {
        for (value, expected) in [
            ("1", true),
            ("yes", true),
            ("on", true),
            ("true", true),
            ("0", false),
            ("no", false),
        ] {
            std::env::set_var(&env, value);
            match parse_flag(&long) {
                Ok(got) if got == expected => {}
                Ok(got) => refused.push(format!("{env}={value} (--{long}) read as {got}")),
                Err(e) => refused.push(format!("{env}={value} (--{long}): {}", e.kind())),
            }
            std::env::remove_var(&env);
        }
    }
    assert!(
        refused.is_empty(),
        "flags that misread env-file values: {refused:?}"
    );
}
