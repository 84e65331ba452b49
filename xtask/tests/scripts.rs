//! Each deploy script's source against its Command (xtask::scripts): the options the script
//! parses are the Command's own (or the tool's it reads on its behalf), and it hands its other
//! arguments to the tool whose options the Command shows.

use xtask::scripts::{all, parsed_options, Script};

/// The script's source with the shared library it sources (which parses `--app`).
fn source(name: &str) -> String {
    let root = xtask::root().join("scripts");
    let script = std::fs::read_to_string(root.join(name)).unwrap();
    let lib = if script.contains("mvk_init") {
        std::fs::read_to_string(root.join("lib/mvk.bash")).unwrap()
    } else {
        String::new()
    };
    format!("{script}\n{lib}")
}

/// How `source` and the script's Command disagree, each in a sentence.
fn disagreements(script: &Script, source: &str) -> Vec<String> {
    let name = script.name;
    let cmd = script.command();
    let longs = |args: Vec<&clap::Arg>| -> Vec<String> {
        args.into_iter()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    };
    let shown = longs(cmd.get_arguments().filter(|a| !a.is_hide_set()).collect());
    let own = longs((script.own)().iter().collect());
    let tool = (script.tool)();
    let parsed = parsed_options(source);
    let mut out = Vec::new();
    for option in &parsed {
        if !shown.contains(option) {
            out.push(format!(
                "{name} parses {option}, which its Command does not show"
            ));
        }
    }
    for option in &own {
        if !parsed.contains(option) {
            out.push(format!(
                "{name}'s Command has {option}, which the script never parses"
            ));
        }
    }
    if !source.contains(script.forwards) {
        out.push(format!(
            "{name} does not hand its arguments on as `{}`",
            script.forwards
        ));
    }
    if !script
        .forwards
        .starts_with(&format!("{} ", tool.get_name()))
    {
        out.push(format!(
            "{name} hands its arguments to `{}`, but its Command shows {}'s options",
            script.forwards,
            tool.get_name()
        ));
    }
    out
}

#[test]
fn every_script_parses_what_its_command_shows_and_hands_on_the_rest() {
    let scripts = all();
    assert_eq!(scripts.len(), 4);
    let mut found = Vec::new();
    for script in &scripts {
        found.extend(disagreements(script, &source(script.name)));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The scripts' own options are found in their sources at all.
    assert_eq!(
        parsed_options(&source("mvk-rollout")),
        ["--app", "--hosts", "--parallel"]
    );
    assert_eq!(
        parsed_options(&source("mvk-deploy")),
        ["--app", "--built", "--tethered"]
    );
}

/// The comparison itself: an option a script starts to parse, one it stops parsing, and
/// arguments handed to another tool are each found.
#[test]
fn a_script_that_drifts_from_its_command_is_caught() {
    let scripts = all();
    let rollout = scripts.iter().find(|s| s.name == "mvk-rollout").unwrap();
    let real = source("mvk-rollout");
    assert!(disagreements(rollout, &real).is_empty());
    let added = real.replace("    --parallel)\n", "    --dry-run | --parallel)\n");
    assert_eq!(
        disagreements(rollout, &added),
        ["mvk-rollout parses --dry-run, which its Command does not show"]
    );
    let dropped = real
        .replace("--parallel)", "--jobs)")
        .replace("--parallel=*)", "--jobs=*)");
    let found = disagreements(rollout, &dropped);
    assert!(
        found.contains(&"mvk-rollout parses --jobs, which its Command does not show".to_string())
            && found.contains(
                &"mvk-rollout's Command has --parallel, which the script never parses".to_string()
            ),
        "{found:?}"
    );
    let elsewhere = real.replace(
        r#"mvk-build --push "${args[@]}""#,
        r#"mvk-build "${args[@]}""#,
    );
    assert_eq!(disagreements(rollout, &elsewhere).len(), 1);
}

#[test]
fn case_arms_and_comparisons_are_read_as_options() {
    let src = r#"
# --commented) is no option
case $1 in
  --one) x ;;
  --two=*) y ;;
  --three | --four)
    z ;;
  --argjson code "$(x)" \
  *) rest ;;
esac
[ "${1:-}" = --five ] && [ "$x" = --six-and-more ]
"#;
    assert_eq!(
        parsed_options(src),
        [
            "--five",
            "--four",
            "--one",
            "--six-and-more",
            "--three",
            "--two"
        ]
    );
}
