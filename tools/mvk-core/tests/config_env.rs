//! Options read `MVK_*` from the environment the way an env file writes them.
//! (Its own test binary, since it sets variables for the whole process.)

use clap::Parser;
use mvk_core::config::{Output, StateArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    state: StateArgs,
}

#[test]
fn env_values_as_env_files_spell_them() {
    for (value, quiet) in [
        ("1", true),
        ("yes", true),
        ("true", true),
        ("on", true),
        ("0", false),
        ("no", false),
        ("false", false),
    ] {
        std::env::set_var("MVK_QUIET", value);
        let cli = Cli::try_parse_from(["t"]).unwrap_or_else(|e| panic!("MVK_QUIET={value}: {e}"));
        assert_eq!(cli.output.quiet, quiet, "MVK_QUIET={value}");
    }
    std::env::set_var("MVK_QUIET", "maybe");
    assert!(Cli::try_parse_from(["t"]).is_err());
    std::env::remove_var("MVK_QUIET");
    std::env::set_var("MVK_STATE_DIR", "/srv/mvk");
    let cli = Cli::try_parse_from(["t"]).unwrap();
    assert_eq!(cli.state.state_dir, std::path::PathBuf::from("/srv/mvk"));
    assert!(!cli.output.quiet);
    // The command line wins over the environment.
    let cli = Cli::try_parse_from(["t", "--state-dir", "/x"]).unwrap();
    assert_eq!(cli.state.state_dir, std::path::PathBuf::from("/x"));
}
