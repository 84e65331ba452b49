//! The deploy scripts' command lines (scripts/mvk-deploy, mvk-undo, mvk-canary, mvk-rollout) as
//! clap Commands, so that their man pages and completions are generated like the tools'.
//!
//! A script parses only a few options of its own and hands every other argument to the tool
//! it runs first (`mvk-build "$@"`), so its Command is that tool's, renamed, with the script's
//! own options added and the tool's options the script has no use for hidden. The tests
//! (xtask/tests/scripts.rs) hold each script's source to its Command: the options it parses
//! are the Command's, and it passes the rest on as the Command says.

use clap::{Arg, ArgAction, Command};

/// One script's interface.
pub struct Script {
    /// Its name, as in scripts/.
    pub name: &'static str,
    /// How the script hands its remaining arguments on: the line must appear in its source.
    pub forwards: &'static str,
    /// The tool that gets them.
    pub tool: fn() -> Command,
    /// The tool's options (ids) the script takes no part in: hidden from its docs.
    pub withheld: &'static [&'static str],
    /// The options the script parses itself, besides those it reads on the tool's behalf
    /// (`--app`, which picks the app's env file).
    pub own: fn() -> Vec<Arg>,
    pub about: &'static str,
    pub long_about: &'static str,
    pub after_help: &'static str,
}

impl Script {
    /// The script's Command: the tool's options under the script's name, its own added.
    pub fn command(&self) -> Command {
        let tool = (self.tool)();
        let mut cmd = tool
            .name(self.name)
            .bin_name(self.name)
            .about(self.about)
            .long_about(self.long_about)
            .after_help(None::<&str>)
            .after_long_help(format!("{COMMON}\n\n{}", self.after_help))
            // The scripts answer neither: every argument they do not parse goes to the tool.
            .disable_help_flag(true)
            .disable_version_flag(true)
            .args((self.own)());
        for id in self.withheld {
            cmd = cmd.mut_arg(*id, |a| a.hide(true));
        }
        cmd
    }
}

/// Where a deploy's configuration and records come from, as every script reads them.
const COMMON: &str = "Configuration: the app is --app, else $MVK_APP. /etc/mvk/APP.env (or the \
file $MVK_CONFIG names) configures every tool; it is parsed as systemd's EnvironmentFile= reads \
it, never executed, and MVK_* variables already in the environment win over it.

Script variables:
  MVK_CONFIG       the env file [default: /etc/mvk/APP.env]
  MVK_LOCK_WAIT    seconds to wait for another deploy of the app to finish [default: 0: fail at \
once, exit 4, nothing changed]
  MVK_LOG_DIR      where each step's record is kept as NN-TOOL.json [default: \
STATE-DIR/APP/deploys/UTC-TIME-LABEL/]
  MVK_HOOKS_DIR    the app's hooks [default: /etc/mvk/APP.hooks/]
  MVK_HOOK_TIMEOUT each hook's time limit in seconds [default: 60]

The script holds the app's deploy lock (STATE-DIR/APP/deploy.lock) while it runs, so deploys, \
canaries and rollbacks of one app never overlap.";

fn deploy() -> Script {
    Script {
        name: "mvk-deploy",
        forwards: r#"mvk-build "${build_args[@]}""#,
        tool: mvk_build::command,
        withheld: &[],
        own: || {
            vec![
                Arg::new("built")
                    .long("built")
                    .action(ArgAction::SetTrue)
                    .help(
                        "Deploy a release built and pushed elsewhere: its mvk-build --push \
                         record on stdin, the image pulled by digest when missing (first \
                         argument only; then only --tethered and --app are read)",
                    ),
                Arg::new("tethered")
                    .long("tethered")
                    .action(ArgAction::SetTrue)
                    .help(
                        "With --built, right after it: the record is the first line on stdin, \
                         and stdin ending before the deploy does interrupts it as SIGTERM \
                         would (how mvk-rollout runs it over SSH: an interrupted rollout, or a \
                         lost connection, interrupts the deploy there)",
                    ),
            ]
        },
        about: "Ship one release of an app with zero downtime, rolled back when it fails",
        long_about: "Ship one release of an app with zero downtime:

  mvk-build | mvk-healthwait | mvk-swap | mvk-verify | mvk-alerts --watch $MVK_WATCH

Every option but --built goes to mvk-build. If a step before the swap fails (build, health), \
the live release was never touched and nothing is rolled back. If verification or the alert \
gate fails after the swap, the release live before is put back at once (mvk-rollback | \
mvk-healthwait | mvk-swap). The final record goes to stdout: the deploy's, or after an \
automatic rollback the rollback's, carrying the deploy's error as rollback.cause.

Exit codes: 0 the new release is live, verified and gated; otherwise the exit code of the step \
that failed (1 failed, 2 bad input, 3 a broken record, 4 the environment, 130 interrupted), \
also after an automatic rollback.",
        after_help: concat!(
            "This script's variables:\n  MVK_WATCH        how long the alert gate watches the new release [default: 60s]\n\n",
            "Hooks (executables in MVK_HOOKS_DIR, owned by root, writable by no one else; the record \
on stdin): pre-deploy before the build (one that fails stops the deploy, exit 1, nothing \
changed); post-deploy after the release went live, was verified and gated; failed after a \
failed deploy (MVK_EXIT_CODE, MVK_FAILED_STEP); post-rollback after the automatic rollback.\n\n",
            "Examples:\n  mvk-deploy --app shop ./shop\n  \
mvk-deploy --app shop --image ghcr.io/acme/shop@sha256:...\n  \
ssh web1 mvk-deploy --built --app shop < build.json\n\nSee also: mvk-undo(1), mvk-canary(1), \
mvk-rollout(1), mvk(7)",
        ),
    }
}

fn undo() -> Script {
    Script {
        name: "mvk-undo",
        forwards: r#"mvk-rollback "${rollback_args[@]}""#,
        tool: mvk_rollback::command,
        // The script's own pipeline needs a record, and it is no deploy's automatic rollback.
        withheld: &["live", "cause"],
        own: || {
            vec![
                Arg::new("dry-run")
                    .long("dry-run")
                    .action(ArgAction::SetTrue)
                    .help(
                        "Print the record of where the undo would go (mvk-rollback alone) and \
                         change nothing; exit 1 when there is nothing to go back to",
                    ),
                Arg::new("hosts").long("hosts").value_name("HOST,...").help(
                    "Roll back (or with --list: list) these hosts over SSH instead, \
                         comma-separated as ssh takes them: A-Z a-z 0-9 . _ @ -, never \
                         starting with -; then only --app, --to, --pull, --parallel and --list \
                         are taken",
                ),
                Arg::new("parallel")
                    .long("parallel")
                    .env("MVK_PARALLEL")
                    .value_name("N")
                    .default_value("1")
                    .value_parser(clap::value_parser!(u16).range(1..=999))
                    .requires("hosts")
                    .help("With --hosts: how many hosts roll back at once, in waves"),
                Arg::new("tethered")
                    .long("tethered")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("hosts")
                    .help(
                        "Stdin ending before the undo does interrupts it as SIGTERM would (how \
                         mvk-undo --hosts runs it over SSH: an interrupted run, or a lost \
                         connection, interrupts the undo there)",
                    ),
            ]
        },
        about: "Put back the release that was live before the live one: the manual rollback, \
                here or on several hosts",
        long_about: "The manual rollback in one command:

  mvk-rollback | mvk-healthwait | mvk-swap

Puts back the release that was live before the live one (or --to RELEASE; --pull pulls its \
image again when it was pruned). A second mvk-undo undoes the first. Every option goes to \
mvk-rollback. Prints the final record. --list (the history) and --dry-run (where it would go) \
read the app's env file like the rollback, take no lock and change nothing.

With --hosts, on several hosts over SSH ($MVK_SSH), by mvk-rollout's rules: every host is \
checked first (ssh HOST mvk-undo --dry-run; unreachable: exit 4, nothing to go back to: exit \
1, and nothing changes anywhere), then each runs mvk-undo --tethered --to the release its \
check found (its own env file, state, deploy lock, nginx, hooks). When a host fails, the hosts \
already rolled back get their release back, newest first, and the hosts after it are never \
touched. Interrupted, the undo running on a host is interrupted there, the hosts rolled back \
stay so, and the run exits 130. \
Output: one JSON line per host, {host, outcome, exit_code, seconds, record}, outcome one of \
rolled-back, failed, restored, restore-failed, unreachable, not-reached; a summary on stderr. \
With --hosts and --list: one line per host, {host, outcome, exit_code, live, candidates, \
history}, every reachable host listed; candidates are the releases --to takes there, newest \
first.

Exit codes: 0 the earlier release is live again (on every host); otherwise the exit code of the \
step (or the first host) that failed (1: nothing to roll back to, unknown release, image gone; \
4: a host unreachable).",
        after_help: "Hooks (see mvk-deploy(1)): post-rollback when the earlier release is live \
again, failed when the rollback failed.\n\nWith --hosts the run holds STATE-DIR/APP/fleet.lock \
here instead of the deploy lock, so this machine may be one of the hosts.\n\nExamples:\n  \
mvk-undo --app shop\n  mvk-undo --app shop --to 9ab12cd --pull\n  \
mvk-undo --app shop --hosts web1,web2 --list\n  mvk-undo --app shop --hosts web1,web2\n\n\
See also: mvk-deploy(1), mvk-rollout(1), mvk-rollback(1), mvk(7)",
    }
}

fn canary() -> Script {
    Script {
        name: "mvk-canary",
        forwards: r#"mvk-build "$@""#,
        tool: mvk_build::command,
        withheld: &[],
        own: Vec::new,
        about: "Ship one release as a canary, step by step, promoted or aborted by analysis",
        long_about: "Ship one release as a canary:

  mvk-build | mvk-healthwait                  the candidate, healthy, taking no traffic
  each step N:  mvk-swap --weight N | mvk-alerts --canary --watch $MVK_CANARY_WATCH
  then promote: mvk-swap                      the old release drained and stopped
  or abort:     mvk-swap --weight 0           the candidate out and removed

Every option goes to mvk-build. The live release keeps serving throughout: an abort only takes \
the canary's share back. The final record goes to stdout: the promotion's, or the abort's.

Exit codes: 0 promoted; 1 the analysis aborted the canary; otherwise the exit code of the step \
that failed, after aborting if the canary had taken traffic.",
        after_help: "This script's variables:\n  MVK_CANARY_STEPS    the canary's weights in %, in order [default: \
10,25,50]\n  MVK_CANARY_WATCH    how long each step is analysed [default: 60s]\n  \
MVK_CANARY_FAILURES failed analyses that abort the canary [default: 1]; below it a step is \
analysed again\n\nExamples:\n  mvk-canary --app shop ./shop\n  \
MVK_CANARY_STEPS=5,50 mvk-canary --app shop --image ghcr.io/acme/shop@sha256:...\n\n\
See also: mvk-deploy(1), mvk-swap(1), mvk-alerts(1)",
    }
}

fn rollout() -> Script {
    Script {
        name: "mvk-rollout",
        forwards: r#"mvk-build --push "${args[@]}""#,
        tool: mvk_build::command,
        // It always builds here and pushes, for the hosts to pull.
        withheld: &["push", "image"],
        own: || {
            vec![
                Arg::new("hosts")
                    .long("hosts")
                    .env("MVK_HOSTS")
                    .value_name("HOST,...")
                    .required(true)
                    .help(
                        "The hosts, comma-separated, as ssh takes them (ssh_config aliases, \
                         user@host): A-Z a-z 0-9 . _ @ -, never starting with -",
                    ),
                Arg::new("parallel")
                    .long("parallel")
                    .env("MVK_PARALLEL")
                    .value_name("N")
                    .default_value("1")
                    .value_parser(clap::value_parser!(u16).range(1..=999))
                    .help("How many hosts deploy at once, in waves"),
            ]
        },
        about: "Ship one release to several hosts over SSH, rolled back everywhere when one fails",
        long_about: "Ship one release to several hosts over SSH:

  mvk-build --push                           once, here
  for each host, in order: ssh HOST mvk-deploy --built --tethered   (the record on stdin)
  on the first failure:    ssh HOST mvk-undo             the hosts already switched, newest first

Every option but --hosts and --parallel goes to mvk-build. Before the build every host is \
checked (reachable, mvk-deploy and mvk-undo installed): one that is not is exit 4 and nothing is \
built or changed anywhere. When a host fails (it puts its own previous release back), the \
hosts switched before it are rolled back with mvk-undo, and the hosts after it are never \
touched. SIGINT or SIGTERM interrupts the build or the deploys running (their stdin is closed, \
which --tethered makes an interrupt there); the hosts deployed keep the release; exit 130.

Output: one JSON line per host: {host, outcome, exit_code, seconds, record}, outcome one of \
deployed, failed, rolled-back, rollback-failed, unreachable, not-reached; a summary on stderr.

Exit codes: 0 every host runs the release; otherwise the exit code of the first host that \
failed (4 for an unreachable host), or of the build.",
        after_help: "This script's variables:\n  MVK_SSH    the ssh command, split on spaces [default: ssh]; \
BatchMode is always on\n\nExamples:\n  \
mvk-rollout --hosts web1,web2 --app shop --repo registry.example.com/shop ./shop\n  \
MVK_SSH='ssh -F fleet.conf' mvk-rollout --hosts web1,web2,web3 --parallel 2 --app shop ./shop\n\n\
See also: mvk-deploy(1), mvk-undo(1)",
    }
}

/// Every script, with its interface.
pub fn all() -> Vec<Script> {
    vec![deploy(), undo(), canary(), rollout()]
}

/// The options a script's source parses itself: the patterns of its `case` arms (`--name)`,
/// `--name=*)`, `--a | --b)`) and the arguments it compares (`[ "$1" = --name ]`).
pub fn parsed_options(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let option = |s: &str| -> Option<(String, usize)> {
        let s = s.strip_prefix("--")?;
        let len = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(s.len());
        (len > 0).then(|| (format!("--{}", &s[..len]), len + 2))
    };
    for line in source.lines().map(str::trim_start) {
        if line.starts_with('#') {
            continue;
        }
        // A case arm: options separated by `|`, each maybe `=*`, closed by `)`.
        if let Some((arm, _)) = line.split_once(')') {
            let names: Option<Vec<String>> = arm
                .split('|')
                .map(|alt| {
                    let alt = alt.trim();
                    let (name, len) = option(alt)?;
                    matches!(&alt[len..], "" | "=*").then_some(name)
                })
                .collect();
            found.extend(names.unwrap_or_default());
        }
        for (at, _) in line.match_indices("= --") {
            if let Some((name, len)) = option(&line[at + 2..]) {
                if line[at + 2 + len..].starts_with(" ]") {
                    found.push(name);
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}
