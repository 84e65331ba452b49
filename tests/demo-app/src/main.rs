//! The demo app. Behaviour comes from `DEMO_*` environment variables (see `config`).

mod config;
mod metrics;
mod server;
mod websocket;

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

extern "C" fn on_stop(_: i32) {
    server::STOPPING.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let config = match config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo-app: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return if server::healthcheck(config.port) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match std::env::args().nth(1).as_deref() {
        Some("migrate") => return migrate(&config.version, std::env::args().skip(2).collect()),
        Some("orphan-parent") => return orphan_parent(),
        Some("orphan") => {
            std::thread::sleep(std::time::Duration::from_millis(100));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    for _ in 0..config.orphans {
        // The parent is waited for; its child, orphaned, is PID 1's to reap.
        let parent = std::process::Command::new("/proc/self/exe")
            .arg("orphan-parent")
            .status();
        if let Err(e) = parent {
            eprintln!("demo-app: cannot start a process: {e}");
            return ExitCode::FAILURE;
        }
    }
    for n in 1..=config.log_lines {
        println!("log line {n}");
    }
    if let Some(msg) = &config.crash {
        eprintln!("demo-app {}: fatal: {msg}", config.version);
        return ExitCode::from(3);
    }
    if !config.no_signal_handler {
        let handler = if config.ignore_sigterm {
            SigHandler::SigIgn
        } else {
            SigHandler::Handler(on_stop)
        };
        let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
        for signal in [Signal::SIGTERM, Signal::SIGINT] {
            // SAFETY: the handler only stores into an atomic.
            unsafe { sigaction(signal, &action) }.expect("sigaction");
        }
    }
    eprintln!("demo-app {}: starting", config.version);
    std::thread::sleep(config.start_delay);
    // Every page touched, so it counts against the container's memory limit.
    let ballast = vec![1u8; config.alloc_mb << 20];
    std::hint::black_box(&ballast);
    let listener = match TcpListener::bind(("0.0.0.0", config.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo-app: cannot listen on port {}: {e}", config.port);
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "demo-app {}: listening on port {}",
        config.version, config.port
    );
    if let Some(after) = config.crash_after {
        let version = config.version.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            eprintln!("demo-app {version}: fatal: crashed while serving");
            std::process::exit(3);
        });
    }
    match server::serve(Arc::new(server::App::new(config)), listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-app: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `demo-app orphan-parent`: starts `demo-app orphan` (which ends 100 ms later) and exits at
/// once, never waiting for it.
fn orphan_parent() -> ExitCode {
    match std::process::Command::new("/proc/self/exe")
        .arg("orphan")
        .spawn()
    {
        // Dropping a Child neither waits for it nor kills it.
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-app: cannot start a process: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `demo-app migrate [--fail MESSAGE]`: a one-off task such as a release runs before it starts
/// (`mvk-healthwait --before`); `--fail` makes it fail the way a broken migration does.
fn migrate(version: &str, args: Vec<String>) -> ExitCode {
    eprintln!("demo-app {version}: migrating");
    match args.split_first() {
        Some((flag, message)) if flag == "--fail" => {
            eprintln!(
                "demo-app {version}: migration failed: {}",
                message.join(" ")
            );
            ExitCode::FAILURE
        }
        _ => {
            println!("demo-app {version}: migrated");
            ExitCode::SUCCESS
        }
    }
}
