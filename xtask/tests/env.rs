//! One env file configures every tool (DESIGN.md §2), so an `MVK_*` variable must mean the same
//! thing to every tool that reads it.

use std::collections::BTreeMap;

fn walk(cmd: &clap::Command, path: String, out: &mut BTreeMap<String, Vec<(String, String, String)>>) {
    for arg in cmd.get_arguments() {
        if let Some(env) = arg.get_env() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let default: Vec<_> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            out.entry(env.to_string_lossy().into_owned()).or_default().push((
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
        let options: std::collections::BTreeSet<_> = uses.iter().map(|u| u.0.rsplit(' ').next().unwrap()).collect();
        if defaults.len() > 1 || options.len() > 1 {
            clashes.push(format!("{env}: {uses:?}"));
        }
    }
    assert!(clashes.is_empty(), "env vars that differ between tools:\n{}", clashes.join("\n"));
}

fn flags(cmd: &clap::Command, out: &mut Vec<(clap::Command, String, String)>) {
    for arg in cmd.get_arguments() {
        if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
            if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                out.push((cmd.clone(), env.to_string_lossy().into_owned(), long.to_string()));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        flags(sub, out);
    }
}

#[test]
fn every_flag_reads_1_yes_on_from_its_variable() {
    let mut all = Vec::new();
    for tool in xtask::tools() {
        flags(&tool, &mut all);
    }
    assert!(all.len() >= 5, "expected the tools' flags, found {}", all.len());
    let mut refused = Vec::new();
    for (cmd, env, long) in all {
        for value in ["1", "yes", "on", "0"] {
            std::env::set_var(&env, value);
            if let Err(e) = cmd.clone().try_get_matches_from([cmd.get_name()]) {
                if e.kind() == clap::error::ErrorKind::InvalidValue && e.to_string().contains(&format!("--{long}")) {
                    refused.push(format!("{env}={value} (--{long})"));
                }
            }
            std::env::remove_var(&env);
        }
    }
    assert!(refused.is_empty(), "flags that refuse env-file values: {refused:?}");
}
