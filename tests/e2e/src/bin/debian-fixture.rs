//! `debian-fixture [base|systemd|server]`: prints the tag of the suite's Debian image, building
//! it first if this engine lacks it (for scripts that need the same image as the tests).

use mvk_e2e::debian::Image;
use std::process::ExitCode;

fn main() -> ExitCode {
    let image = match std::env::args().nth(1).as_deref().unwrap_or("base") {
        "base" => Image::Base,
        "systemd" => Image::Systemd,
        "server" => Image::Server,
        other => {
            eprintln!("debian-fixture: unknown image `{other}` (base, systemd or server)");
            return ExitCode::from(2);
        }
    };
    println!("{}", image.ensure());
    ExitCode::SUCCESS
}
