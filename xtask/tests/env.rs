//! One env file configures every tool (DESIGN.md §2), so an `MVK_*` variable must mean the same
//! thing to every tool that reads it: the same option, the same default and the same value
//! parser.

use std::collections::BTreeMap;

/// Values a parser is tried on: what an env file plausibly holds for any option (ports, counts,
/// shares, durations, sizes, flags, names, paths, addresses, headers). Two parsers of one
/// variable must accept exactly the same ones.
const PROBES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "2",
    "50",
    "51",
    "8000",
    "65535",
    "65536",
    "0.05",
    "1.5",
    "yes",
    "off",
    "0s",
    "5s",
    "500ms",
    "10m",
    "100MB",
    "runtime",
    "shop",
    "Shop",
    "127.0.0.1:8000",
    "localhost",
    "/health",
    "health",
    "KEY=VALUE",
    "X-Token: abc",
    "http://127.0.0.1:9090",
    "json",
    "blue",
];

/// How one option reads its variable: where it is, and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    option: String,
    default: String,
    parser: String,
}

/// The option `arg` as a `Reading`: its long name, default, and its value parser described by
/// the type it yields, its action, and which of the probes it accepts.
fn reading(arg: &clap::Arg) -> Reading {
    let default: Vec<_> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let probe = clap::Arg::new("v")
        .long("v")
        .action(arg.get_action().clone())
        .value_parser(arg.get_value_parser().clone());
    let accepted: Vec<&str> = if arg.get_action().takes_values() {
        PROBES
            .iter()
            .copied()
            .filter(|value| {
                clap::Command::new("probe")
                    .arg(probe.clone())
                    .try_get_matches_from(["probe", "--v", value])
                    .is_ok()
            })
            .collect()
    } else {
        Vec::new()
    };
    Reading {
        option: format!("--{}", arg.get_long().unwrap_or("")),
        default: default.join(","),
        parser: format!(
            "{:?} {:?} accepts {accepted:?}",
            arg.get_value_parser().type_id(),
            arg.get_action()
        ),
    }
}

/// Every variable any of `commands` (or their subcommands) reads, with each reading of it.
fn readings(commands: &[clap::Command]) -> BTreeMap<String, Vec<(String, Reading)>> {
    fn walk(cmd: &clap::Command, path: String, out: &mut BTreeMap<String, Vec<(String, Reading)>>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.entry(env.to_string_lossy().into_owned())
                    .or_default()
                    .push((path.clone(), reading(arg)));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, format!("{path} {}", sub.get_name()), out);
        }
    }
    let mut out = BTreeMap::new();
    for cmd in commands {
        walk(cmd, cmd.get_name().to_string(), &mut out);
    }
    out
}

/// The variables whose readings differ, each with how.
fn clashes(commands: &[clap::Command]) -> Vec<String> {
    readings(commands)
        .into_iter()
        .filter(|(_, uses)| uses.iter().any(|(_, r)| *r != uses[0].1))
        .map(|(env, uses)| {
            let uses: Vec<_> = uses
                .iter()
                .map(|(path, r)| {
                    format!(
                        "  {path} {}: default {:?}, {}",
                        r.option, r.default, r.parser
                    )
                })
                .collect();
            format!("{env}:\n{}", uses.join("\n"))
        })
        .collect()
}

#[test]
fn every_env_var_means_one_thing() {
    let tools = xtask::commands();
    let shared = readings(&tools)
        .values()
        .filter(|uses| uses.len() > 1)
        .count();
    assert!(
        shared >= 5,
        "expected variables several tools share, found {shared}"
    );
    let clashes = clashes(&tools);
    assert!(
        clashes.is_empty(),
        "env vars that differ between tools:\n{}",
        clashes.join("\n")
    );
}

/// The comparison itself: a variable read with another option name, another default or another
/// value parser (a port that accepts 0 beside one that does not) is a clash.
#[test]
fn a_clash_in_name_default_or_parser_is_found() {
    fn tool(name: &str, arg: clap::Arg) -> clap::Command {
        clap::Command::new(name.to_string()).arg(arg.env("MVK_X"))
    }
    let port = || clap::Arg::new("p").long("port").default_value("8000");
    let same = [
        tool(
            "a",
            port().value_parser(clap::value_parser!(u16).range(1..)),
        ),
        tool(
            "b",
            port().value_parser(clap::value_parser!(u16).range(1..)),
        ),
    ];
    assert!(clashes(&same).is_empty());
    for other in [
        port().value_parser(clap::value_parser!(u16)),
        port().value_parser(clap::value_parser!(u32).range(1..)),
        port()
            .long("listen")
            .value_parser(clap::value_parser!(u16).range(1..)),
        port()
            .default_value("8001")
            .value_parser(clap::value_parser!(u16).range(1..)),
    ] {
        let pair = [same[0].clone(), tool("b", other.clone())];
        assert_eq!(clashes(&pair).len(), 1, "not caught: {other:?}");
    }
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
    let arg = xtask::commands()
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
    for tool in xtask::commands() {
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
            ("off", false),
            ("false", false),
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
